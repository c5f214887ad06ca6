//! `lossbench doctor` explains this machine: versions, the CUDA backend, each GPU or why
//! there is none; and `--device cuda` without a usable GPU stops before any run with that
//! reason and exit status 2.

mod common;

use common::{lossbench, sweep, text};

/// The reasons doctor may give for seeing no GPU.
const REASONS: [&str; 5] = [
    "CPU-only libtorch",
    "libtorch's CUDA backend is not loaded",
    "no NVIDIA driver",
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA driver",
];

fn doctor_json(visible: Option<&str>) -> serde_json::Value {
    let mut command = std::process::Command::new(common::BIN);
    command.args(["doctor", "--json"]);
    if let Some(v) = visible {
        command.env("CUDA_VISIBLE_DEVICES", v);
    }
    let out = command.output().expect("doctor runs");
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("doctor --json prints JSON")
}

#[test]
fn doctor_names_the_versions_the_backend_and_each_gpu_or_why_none() {
    let report = doctor_json(None);
    let version = text(&lossbench(&["--version"]));
    for key in ["lossbench", "commit", "libtorch"] {
        let value = report[key].as_str().expect(key);
        assert!(version.contains(value), "{key} = {value} not in {version}");
    }
    assert!(report["threads"].as_i64().expect("threads") >= 1);
    assert!(report["mkl"].is_boolean() && report["onednn"].is_boolean());
    let backend = report["cuda_backend"].as_str().expect("cuda_backend");
    assert!(
        ["loaded", "cpu-only", "failed"].contains(&backend),
        "{backend}"
    );
    if backend == "loaded" {
        assert!(report["cudnn_built"].is_string(), "{report}");
    }
    match report["gpus"].as_array().expect("gpus").len() {
        0 => {
            let why = report["no_gpu"].as_str().expect("a reason for no GPU");
            assert!(REASONS.iter().any(|r| why.contains(r)), "{why}");
        }
        _ => assert!(report["no_gpu"].is_null(), "{report}"),
    }
    let out = lossbench(&["doctor"]);
    let page = text(&out);
    assert!(out.status.success(), "{page}");
    for line in [
        "lossbench ",
        "libtorch ",
        "built with CUDA ",
        "CUDA backend: ",
        "GPUs: ",
        "threads: ",
    ] {
        assert!(page.contains(line), "{line} missing from {page}");
    }
}

#[test]
fn an_empty_cuda_visible_devices_is_named_when_the_driver_is_there() {
    let report = doctor_json(Some(""));
    let why = report["no_gpu"]
        .as_str()
        .expect("no GPU with every one hidden");
    if report["cuda_backend"] == "loaded" && !why.starts_with("no NVIDIA driver") {
        assert!(
            why.contains("CUDA_VISIBLE_DEVICES is set and empty"),
            "{why}"
        );
    }
    assert_eq!(report["cuda_visible_devices"], "");
}

#[test]
fn cuda_without_a_usable_gpu_stops_before_any_run_with_the_reason() {
    let report = doctor_json(None);
    let gpus = report["gpus"].as_array().expect("gpus").len();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = sweep(dir.path(), "gpu", 1, "seed = [1]");
    let device = if gpus == 0 {
        "cuda".to_string()
    } else {
        format!("cuda:{gpus}")
    };
    let out = lossbench(&["run", file.to_str().expect("utf-8"), "--device", &device]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        !dir.path().join("results/gpu/runs").exists(),
        "a run started: {said}"
    );
    if gpus == 0 {
        let why = report["no_gpu"].as_str().expect("reason");
        let reason = why.split(" (").next().unwrap_or(why);
        assert!(said.contains("libtorch sees no CUDA device"), "{said}");
        assert!(said.contains(reason), "{reason} not in {said}");
    } else {
        assert!(
            said.contains(&format!("sees only {gpus} CUDA device(s)")),
            "{said}"
        );
    }
}

#[test]
fn gpu_check_runs_its_cpu_part_and_exits_3_saying_why_without_a_gpu() {
    let gpus = doctor_json(None)["gpus"]
        .as_array()
        .map_or(0, |gpus| gpus.len());
    if gpus > 0 {
        println!("skipped: this machine has a GPU; `make gpu-check` runs the whole check there");
        return;
    }
    let out_dir = tempfile::tempdir().expect("tempdir");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gpu-check.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg(common::BIN)
        .env("OUT", out_dir.path())
        .env("EPOCHS", "1")
        .output()
        .expect("gpu-check runs");
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains("no usable GPU here"), "{said}");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("gpu-check.json")).expect("gpu-check.json"),
    )
    .expect("JSON");
    assert!(report["gpu"].is_null(), "{report}");
    let why = report["no_gpu"].as_str().expect("no_gpu");
    assert!(REASONS.iter().any(|r| why.contains(r)), "{why}");
    assert!(report["cpu_train_seconds"].as_f64().expect("seconds") > 0.0);
    let epochs = std::fs::read_to_string(out_dir.path().join("train-cpu.txt")).expect("epochs");
    assert_eq!(epochs.lines().count(), 1, "{epochs}");
}
