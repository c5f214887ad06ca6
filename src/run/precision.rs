//! Mixed precision for a training step (`train.precision`): the forward pass under
//! libtorch's own autocast, entered and left as `torch.autocast(device_type, dtype)` does
//! (its op lists decide what runs in the lower precision: convolutions and matrix products;
//! the loss is computed on float32 logits), and fp16's dynamic loss scale, kept as
//! `torch.amp.GradScaler` keeps it with libtorch's own `_amp_` kernels (initial scale
//! 2¹⁶, ×2 after 2,000 steps without an overflow, ×0.5 and the step skipped on one).
//!
//! Validation and test scores are taken in float32 whatever the training's precision, so
//! that runs in different precisions are scored alike.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use tch::{Device, Kind, Tensor};

use crate::config::Precision;

/// What `lossbench_autocast_enter` (csrc/autocast.cpp) replaced on this thread.
#[repr(C)]
#[derive(Default)]
struct Previous {
    enabled: bool,
    dtype: i8,
    cache_enabled: bool,
}

extern "C" {
    fn lossbench_autocast_enter(device: i8, dtype: i8, previous: *mut Previous) -> bool;
    fn lossbench_autocast_exit(device: i8, previous: *const Previous);
}

/// c10's `DeviceType` of `device` (c10/core/DeviceType.h).
fn device_type(device: Device) -> anyhow::Result<i8> {
    match device {
        Device::Cpu => Ok(0),
        Device::Cuda(_) => Ok(1),
        other => bail!("mixed precision runs on the CPU and CUDA, not on {other:?}"),
    }
}

/// c10's `ScalarType` of the lower precision (c10/core/ScalarType.h); `None` for fp32.
fn scalar_type(precision: Precision) -> Option<i8> {
    match precision {
        Precision::Fp32 => None,
        Precision::Fp16 => Some(5),
        Precision::Bf16 => Some(15),
    }
}

/// Autocast on this thread while it lives, as inside `with torch.autocast(...)`.
struct Autocast {
    device: i8,
    previous: Previous,
}

impl Autocast {
    fn enter(device: Device, dtype: i8) -> anyhow::Result<Self> {
        let device = device_type(device)?;
        let mut previous = Previous::default();
        // SAFETY: the shim only reads and sets libtorch's thread-local autocast state and
        // writes `previous`, which outlives the call.
        let entered = unsafe { lossbench_autocast_enter(device, dtype, &mut previous) };
        if !entered {
            bail!("libtorch refused to enable autocast on this device");
        }
        Ok(Autocast { device, previous })
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        // SAFETY: puts back what `enter` replaced, on the thread that entered: the guard
        // lives and drops inside `forward`, which never hands it to another thread.
        unsafe { lossbench_autocast_exit(self.device, &self.previous) }
    }
}

/// Runs `forward` in `precision` on `device`: as it is for fp32, under autocast otherwise.
pub fn forward<T>(
    precision: Precision,
    device: Device,
    forward: impl FnOnce() -> T,
) -> anyhow::Result<T> {
    match scalar_type(precision) {
        None => Ok(forward()),
        Some(dtype) => {
            let _autocast = Autocast::enter(device, dtype)?;
            Ok(forward())
        }
    }
}

/// `torch.amp.GradScaler`'s defaults.
const INITIAL_SCALE: f64 = 65536.0;
const GROWTH_FACTOR: f64 = 2.0;
const BACKOFF_FACTOR: f64 = 0.5;
const GROWTH_INTERVAL: i64 = 2000;

/// The names of the scaler's state in a checkpoint.
const SCALE: &str = "amp.scale";
const GROWTH_TRACKER: &str = "amp.growth_tracker";

/// fp16's dynamic loss scale, as `torch.amp.GradScaler` keeps it: a float32 scale and an
/// int32 count of steps since the last overflow, on the run's device.
pub struct LossScaler {
    scale: Tensor,
    growth_tracker: Tensor,
}

impl LossScaler {
    /// The scaler `precision` needs: fp16's; none for fp32 and bf16 (whose range is
    /// float32's, and which `GradScaler` is not used with).
    pub fn of(precision: Precision, device: Device) -> Option<Self> {
        (precision == Precision::Fp16).then(|| LossScaler {
            scale: Tensor::full([], INITIAL_SCALE, (Kind::Float, device)),
            growth_tracker: Tensor::zeros([], (Kind::Int, device)),
        })
    }

    /// `loss` times the scale (`GradScaler.scale`).
    pub fn scale(&self, loss: &Tensor) -> Tensor {
        loss * &self.scale
    }

    /// Divides the gradients of `params` by the scale, in place, tells whether any of them
    /// holds an infinity or a NaN (`GradScaler.unscale_`: then the step is skipped), and
    /// updates the scale for the next step (`GradScaler.update`).
    pub fn unscale_and_update(&self, params: &[Tensor]) -> anyhow::Result<bool> {
        let inv_scale = self
            .scale
            .to_kind(Kind::Double)
            .reciprocal()
            .to_kind(Kind::Float);
        let device = self.scale.device();
        let mut found_inf = Tensor::zeros([1], (Kind::Float, device));
        for p in params {
            let mut grad = p.grad();
            if grad.defined() {
                grad.f_internal_amp_non_finite_check_and_unscale(&mut found_inf, &inv_scale)
                    .context("libtorch could not unscale the gradients")?;
            }
        }
        // GradScaler reads this back too: whether the optimizer steps.
        let overflow = found_inf.double_value(&[0]) != 0.0;
        self.update(&found_inf)?;
        Ok(overflow)
    }

    /// Halves the scale after an overflow, doubles it after [`GROWTH_INTERVAL`] steps
    /// without one (`GradScaler.update`, libtorch's `_amp_update_scale_`).
    fn update(&self, found_inf: &Tensor) -> anyhow::Result<()> {
        let mut scale = self.scale.shallow_clone();
        let _ = scale
            .f_internal_amp_update_scale_(
                &self.growth_tracker,
                found_inf,
                GROWTH_FACTOR,
                BACKOFF_FACTOR,
                GROWTH_INTERVAL,
            )
            .context("libtorch could not update the loss scale")?;
        Ok(())
    }

    /// The current scale.
    pub fn current(&self) -> f64 {
        self.scale.double_value(&[])
    }

    /// The state a checkpoint keeps (on the CPU).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        vec![
            (SCALE.into(), self.scale.to_device(Device::Cpu)),
            (
                GROWTH_TRACKER.into(),
                self.growth_tracker.to_device(Device::Cpu),
            ),
        ]
    }

    /// Restores the state [`LossScaler::state`] saved; an error when the checkpoint has
    /// none (it was written by a run in another precision).
    pub fn restore(&mut self, tensors: &BTreeMap<String, Tensor>) -> anyhow::Result<()> {
        let device = self.scale.device();
        let get = |name: &str, kind: Kind| {
            tensors
                .get(name)
                .with_context(|| {
                    format!("the checkpoint has no {name}: it was written by a run that did not train in fp16")
                })
                .map(|t| t.to_kind(kind).to_device(device))
        };
        self.scale = get(SCALE, Kind::Float)?;
        self.growth_tracker = get(GROWTH_TRACKER, Kind::Int)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_autocast_runs_a_convolution_in_bf16_and_ends_with_its_scope() {
        let x = Tensor::ones([1, 2, 4, 4], (Kind::Float, Device::Cpu));
        let w = Tensor::ones([3, 2, 3, 3], (Kind::Float, Device::Cpu));
        let conv = || x.conv2d(&w, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1);
        let inside = forward(Precision::Bf16, Device::Cpu, conv).expect("autocast");
        assert_eq!(inside.kind(), Kind::BFloat16);
        let half = forward(Precision::Fp16, Device::Cpu, conv).expect("autocast");
        assert_eq!(half.kind(), Kind::Half);
        assert_eq!(conv().kind(), Kind::Float, "autocast outlived its scope");
        let plain = forward(Precision::Fp32, Device::Cpu, conv).expect("fp32");
        assert_eq!(plain.kind(), Kind::Float);
        // An op outside autocast's lists runs in the type it is given.
        let sum = forward(Precision::Bf16, Device::Cpu, || x.relu()).expect("autocast");
        assert_eq!(sum.kind(), Kind::Float);
    }

    #[test]
    fn the_scaler_halves_and_skips_on_an_overflow_and_doubles_after_2000_good_steps() {
        let scaler = LossScaler::of(Precision::Fp16, Device::Cpu).expect("fp16 scales");
        assert!(LossScaler::of(Precision::Bf16, Device::Cpu).is_none());
        assert_eq!(scaler.current(), 65536.0);
        let p = Tensor::zeros([2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let backward = |value: f32| {
            let mut grad = p.grad();
            if grad.defined() {
                let _ = grad.zero_();
            }
            let loss = (&p * f64::from(value)).sum(Kind::Float);
            scaler.scale(&loss).backward();
        };
        backward(3.0);
        assert_eq!(
            Vec::<f32>::try_from(p.grad()).expect("grad"),
            vec![3.0 * 65536.0; 2]
        );
        assert!(!scaler
            .unscale_and_update(std::slice::from_ref(&p))
            .expect("unscale"));
        assert_eq!(Vec::<f32>::try_from(p.grad()).expect("grad"), vec![3.0; 2]);
        backward(f32::INFINITY);
        assert!(scaler
            .unscale_and_update(std::slice::from_ref(&p))
            .expect("unscale"));
        assert_eq!(scaler.current(), 32768.0);
        for _ in 0..GROWTH_INTERVAL {
            backward(1.0);
            assert!(!scaler
                .unscale_and_update(std::slice::from_ref(&p))
                .expect("unscale"));
        }
        assert_eq!(scaler.current(), 65536.0);
        let saved: BTreeMap<String, Tensor> = scaler.state().into_iter().collect();
        let mut other = LossScaler::of(Precision::Fp16, Device::Cpu).expect("fp16");
        backward(f32::NAN);
        assert!(other
            .unscale_and_update(std::slice::from_ref(&p))
            .expect("unscale"));
        other.restore(&saved).expect("restore");
        assert_eq!(other.current(), 65536.0);
        assert!(other.restore(&BTreeMap::new()).is_err());
    }
}
