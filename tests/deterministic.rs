//! `train.deterministic`: out of the run id while false, checked like every key, and once
//! a run asks for its device, libtorch's deterministic settings are on for the process
//! (what PyTorch's reproducibility notes list); a CPU run trains under them and repeats.

mod common;

use lossbench::config::RunConfig;
use lossbench::device;

#[test]
fn deterministic_is_out_of_the_canonical_form_until_set_and_typos_are_refused() {
    let plain = serde_json::to_string(&RunConfig::default()).expect("serialises");
    assert!(!plain.contains("deterministic"), "{plain}");
    let set =
        RunConfig::from_overrides(&["train.deterministic=true".to_string()]).expect("a boolean");
    assert!(set.train.deterministic);
    let json = serde_json::to_string(&set).expect("serialises");
    assert!(json.contains("\"deterministic\":true"), "{json}");
    let err = RunConfig::from_overrides(&["train.deterministic=\"yes\"".to_string()])
        .expect_err("a string is not a boolean");
    assert!(
        format!("{err:#}").contains("train.deterministic"),
        "{err:#}"
    );
}

#[test]
fn asking_a_deterministic_runs_device_turns_libtorchs_settings_on() {
    let config =
        RunConfig::from_overrides(&["train.deterministic=true".to_string()]).expect("a boolean");
    assert_eq!(config.device().expect("the CPU"), tch::Device::Cpu);
    // (deterministic algorithms, cuDNN deterministic, cuDNN benchmark)
    assert_eq!(device::deterministic_settings(), Some((true, true, false)));
    let workspace = std::env::var(device::CUBLAS_WORKSPACE).expect("set");
    assert!(!workspace.is_empty());
    assert!(
        !device::cuda_library_loaded(),
        "a deterministic CPU run loaded the CUDA backend"
    );
}

#[test]
fn a_deterministic_cpu_run_trains_and_repeats_its_rows() {
    let train = || {
        let mut args = vec!["train".to_string()];
        for set in [
            "train.deterministic=true",
            "data.height=16",
            "data.width=16",
            "data.train_images=8",
            "data.val_images=4",
            "model.depth=2",
            "model.base_channels=4",
            "train.epochs=2",
            "train.batch_size=4",
            "train.threads=1",
        ] {
            args.extend(["--set".to_string(), set.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = common::lossbench(&args);
        let said = common::text(&out);
        assert!(out.status.success(), "{said}");
        // The epoch lines without their times.
        said.lines()
            .filter(|l| l.starts_with("epoch"))
            .map(|l| l.rsplit_once("  ").map_or(l, |(rows, _)| rows).to_string())
            .collect::<Vec<_>>()
    };
    let first = train();
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(first, train());
}
