//! libtorch's CUDA backend is loaded when a run asks for CUDA and only then: in this
//! process (the library loaded by name beside libtorch_cpu.so registers libtorch's CUDA
//! hooks, GPU or not), and in the binary (a CPU run never loads it; `auto` does).

mod common;

use std::process::Command;

use lossbench::device::{self, Backend};

/// One test, so that nothing in this process asks libtorch a CUDA question before the
/// backend is loaded (libtorch answers its first one for good).
#[test]
fn asking_for_cuda_registers_libtorchs_cuda_backend_and_cpu_does_not_load_it() {
    assert!(
        !device::cuda_library_loaded(),
        "the test executable needs libtorch_cuda.so: every CPU run would pay for it"
    );
    assert_eq!(
        lossbench::config::parse_device("cpu").ok(),
        Some(tch::Device::Cpu)
    );
    let sum = tch::Tensor::ones([4], (tch::Kind::Float, tch::Device::Cpu)).sum(tch::Kind::Float);
    assert_eq!(sum.double_value(&[]), 4.0);
    assert!(
        !device::cuda_library_loaded(),
        "a CPU device loaded the CUDA backend"
    );

    let device = lossbench::config::parse_device("auto").expect("auto always resolves");
    match device::load_cuda() {
        Backend::Loaded(path) => {
            assert!(device::cuda_library_loaded(), "{}", path.display());
            // hasCUDART answers true only from the registered CUDA hooks; hasCUDA also
            // needs a GPU, so it is false on a machine without one.
            assert!(
                tch::utils::has_cudart(),
                "loaded, yet libtorch's CUDA hooks are not registered"
            );
            assert_eq!(tch::utils::has_cuda(), device::gpu_count() > 0);
            assert_eq!(device.is_cuda(), device::gpu_count() > 0);
            assert!(device::built_cudnn().is_some());
            let cuda = device::built_cuda();
            assert!(cuda.contains('.'), "CUDA version {cuda}");
        }
        Backend::CpuOnly(folder) => {
            assert_eq!(device, tch::Device::Cpu);
            let why = device::why_none().to_string();
            assert!(why.starts_with("CPU-only libtorch"), "{why}");
            common::skipped(&format!(
                "the libtorch in {} is a CPU build; `make libtorch` installs a CUDA one",
                folder.display()
            ));
        }
        Backend::Failed { path, error } => panic!("{} did not load: {error}", path.display()),
    }
}

/// `lossbench train` on `device` with the loader reporting the files it opens.
fn train_on(device: &str) -> String {
    let out = Command::new(common::BIN)
        .args(["train", "--set", &format!("device=\"{device}\"")])
        .args(
            [
                "data.height=16",
                "data.width=16",
                "data.train_images=8",
                "data.val_images=4",
                "model.depth=2",
                "model.base_channels=4",
                "train.epochs=1",
                "train.batch_size=4",
            ]
            .iter()
            .flat_map(|s| ["--set", s]),
        )
        .env("LD_DEBUG", "files")
        .output()
        .expect("lossbench runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "train on {device}: {stderr}");
    stderr
}

#[test]
fn a_cpu_run_of_the_binary_never_loads_the_cuda_backend_and_auto_does() {
    let opened = |log: &str| {
        log.lines()
            .any(|l| l.contains("file=") && l.contains(device::CUDA_LIBRARY))
    };
    assert!(
        !opened(&train_on("cpu")),
        "a CPU run loaded {}",
        device::CUDA_LIBRARY
    );
    let has_cuda_library =
        device::libtorch_lib().is_some_and(|lib| lib.join(device::CUDA_LIBRARY).exists());
    if has_cuda_library {
        assert!(
            opened(&train_on("auto")),
            "auto did not load {}",
            device::CUDA_LIBRARY
        );
    } else {
        common::skipped("a CPU build of libtorch has no CUDA backend to load");
    }
}
