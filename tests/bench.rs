//! `make bench`'s PyTorch peer and driver: bench/pytorch_step.py trains the same network
//! with the same losses as lossbench, and bench/compare.py prints the table and a verdict
//! for every target. Both need the virtualenv's python (its torch is the libtorch lossbench
//! links): `LOSSBENCH_PYTHON`, or the one `make libtorch` installs.

mod common;

use std::path::Path;
use std::process::Command;

use lossbench::losses::{Criterion, Loss, Params};
use lossbench::model::UNetConfig;
use tch::{Device, Kind, Tensor};

const BIN: &str = env!("CARGO_BIN_EXE_lossbench");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn floats(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(&t.to_kind(Kind::Double).reshape([-1])).expect("floats")
}

#[test]
fn the_pytorch_peer_has_lossbench_parameter_count_and_losses() {
    let Some(python) = common::python() else {
        return;
    };
    tch::manual_seed(7);
    let (n, c, h, w) = (2, 7, 8, 8);
    let logits = Tensor::randn([n, c, h, w], (Kind::Float, Device::Cpu)) * 3.0;
    let targets = Tensor::randint(c, [n, h, w], (Kind::Int64, Device::Cpu));
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("case.json");
    let case = serde_json::json!({
        "shape": [n, c, h, w],
        "logits": floats(&logits),
        "targets": Vec::<i64>::try_from(&targets.reshape([-1])).expect("targets"),
    });
    std::fs::write(&input, case.to_string()).expect("write the case");
    let out = Command::new(python)
        .arg(root().join("bench/pytorch_step.py"))
        .args([
            "check",
            "--classes",
            "7",
            "--base",
            "16",
            "--depth",
            "4",
            "--input",
        ])
        .arg(&input)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let got: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
    assert_eq!(
        got["parameters"].as_i64(),
        Some(UNetConfig::default().parameter_count()),
        "the Python U-Net differs from lossbench's: {got}"
    );
    for (name, loss) in [("cce", Loss::Cce), ("dice", Loss::Dice)] {
        let want = Criterion::built_in(loss, Params::default())
            .compute(&logits, &targets, None)
            .expect("loss")
            .double_value(&[]);
        let python = got["losses"][name].as_f64().expect("a loss value");
        assert!(
            (python - want).abs() <= 1e-5 * want.abs().max(1e-3),
            "{name}: PyTorch peer {python}, lossbench {want}"
        );
    }
}

#[test]
fn the_bench_driver_prints_the_table_and_a_verdict_for_every_target() {
    let Some(python) = common::python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("bench.json");
    let out = Command::new(&python)
        .arg(root().join("bench/compare.py"))
        .arg("--lossbench")
        .arg(BIN)
        .arg("--python")
        .arg(&python)
        .args(["--sizes", "16x16", "--losses", "cce,dice", "--rounds", "2"])
        .args([
            "--steps",
            "1",
            "--warmup",
            "1",
            "--threads",
            "1",
            "--quiet-wait",
            "0",
        ])
        .args([
            "--only",
            "steps,kernels,report",
            "--report-seeds",
            "2",
            "--report-rounds",
            "1",
        ])
        .arg("--json")
        .arg(&json)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "| 16x16 cce |",
        "| 16x16 dice |",
        "- step ≤ 0.80× PyTorch default",
        "- step ≤ 1.0× PyTorch channels-last",
        "- report of 10 runs x 50 epochs",
        "| convolution backward_weights |",
        "| everything else (norms, ReLU, pooling, loss, optimizer, ...) |",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    let res: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON")).expect("JSON");
    for variant in [
        "lossbench",
        "lossbench_nchw",
        "torch_default",
        "torch_channels_last",
    ] {
        let times = res["steps"]["16x16 cce"]["times"][variant]
            .as_array()
            .expect("times");
        assert_eq!(times.len(), 2, "{variant}: one step per round");
    }
}
