// torch.autocast's enter and exit for one device type, as torch/amp/autocast_mode.py makes
// them, for src/run/precision.rs. tch wraps only CUDA's autocast (and skips it without a
// GPU); PyTorch's CPU autocast, which the parity tests compare with, needs the device type.
#include <ATen/autocast_mode.h>

extern "C" {

// What lossbench_autocast_enter replaced, for lossbench_autocast_exit to put back.
struct lossbench_autocast_prev {
  bool enabled;
  int8_t dtype;
  bool cache_enabled;
};

// Enables autocast to `dtype` (a c10::ScalarType) for `device` (a c10::DeviceType) on this
// thread; returns false when libtorch refuses (then nothing changed).
bool lossbench_autocast_enter(int8_t device, int8_t dtype,
                              struct lossbench_autocast_prev *prev) {
  try {
    auto type = static_cast<c10::DeviceType>(device);
    prev->cache_enabled = at::autocast::is_autocast_cache_enabled();
    prev->enabled = at::autocast::is_autocast_enabled(type);
    prev->dtype = static_cast<int8_t>(at::autocast::get_autocast_dtype(type));
    at::autocast::set_autocast_enabled(type, true);
    at::autocast::set_autocast_dtype(type, static_cast<c10::ScalarType>(dtype));
    at::autocast::increment_nesting();
    at::autocast::set_autocast_cache_enabled(true);
    return true;
  } catch (...) {
    return false;
  }
}

// Leaves the autocast lossbench_autocast_enter entered: clears the cast cache when it was
// the outermost, and restores what it replaced.
void lossbench_autocast_exit(int8_t device,
                             const struct lossbench_autocast_prev *prev) {
  try {
    auto type = static_cast<c10::DeviceType>(device);
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    at::autocast::set_autocast_enabled(type, prev->enabled);
    at::autocast::set_autocast_dtype(type, static_cast<c10::ScalarType>(prev->dtype));
    at::autocast::set_autocast_cache_enabled(prev->cache_enabled);
  } catch (...) {
  }
}
}
