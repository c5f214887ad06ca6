//! A sweep with a test split and `train.select = "best_val"` through the binary: every run
//! keeps its best-validation epoch, records it, is scored on the test split there, and the
//! report judges on test and says so first; killed with SIGKILL mid-training (and after a
//! run trained, before it is marked done) and run again, the sweep gives the uninterrupted
//! frame bit for bit.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lossbench::store::{bitwise_difference, read_parquet};
use polars::prelude::*;

mod common;
use common::{text, BIN};

/// Two losses × 2 seeds, 4 epochs, an 8-image test split, best-validation selection.
fn sweep(dir: &Path) -> PathBuf {
    common::sweep_with(
        dir,
        "selection",
        4,
        "data.test_images = 8\ntrain.select = \"best_val\"\noptim.lr = 3e-2\ntrain.threads = 1",
        "loss = [\"cce\", \"bce\"]\nseed = [1, 2]",
    )
}

fn run(path: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .arg("run")
        .arg(path)
        .args(["--jobs", "2"])
        .envs(env.iter().copied())
        .output()
        .expect("lossbench runs")
}

fn floats(frame: &DataFrame, name: &str) -> Vec<f64> {
    frame
        .column(name)
        .expect(name)
        .cast(&DataType::Float64)
        .expect("cast")
        .f64()
        .expect("f64")
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect()
}

#[test]
fn every_run_is_scored_on_test_at_its_best_validation_epoch_and_the_report_judges_on_test() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(&sweep(dir.path()), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let frame = read_parquet(&dir.path().join("results/selection/metrics.parquet")).expect("frame");
    assert_eq!(frame.height(), 16);
    let ids: Vec<String> = frame
        .column("run_id")
        .expect("run_id")
        .str()
        .expect("str")
        .iter()
        .map(|s| s.unwrap_or_default().to_string())
        .collect();
    let (epoch, selected) = (floats(&frame, "epoch"), floats(&frame, "selected_epoch"));
    let (val, test) = (floats(&frame, "val_miou"), floats(&frame, "test_miou"));
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    for id in &distinct {
        let rows: Vec<usize> = (0..ids.len()).filter(|&i| &ids[i] == id).collect();
        let best = rows
            .iter()
            .copied()
            .reduce(|a, b| {
                if val[b] > val[a] || (val[b] == val[a] && epoch[b] < epoch[a]) {
                    b
                } else {
                    a
                }
            })
            .expect("rows");
        for &i in &rows {
            assert_eq!(
                selected[i], epoch[best],
                "run {id}: the best validation epoch"
            );
            assert_eq!(test[i].is_finite(), i == best, "run {id}: test only there");
        }
    }
    let findings: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("plots/selection/findings.json")).expect("findings"),
    )
    .expect("json");
    assert_eq!(findings["metric"], "test_miou");
    let verdict = findings["verdict"]["text"].as_str().expect("verdict");
    assert!(
        verdict.starts_with("Judged on the held-out test split"),
        "{verdict}"
    );
    let page =
        std::fs::read_to_string(dir.path().join("plots/selection/index.html")).expect("report");
    assert!(page.contains("Judged on the held-out test split"));
    assert!(
        page.contains("Final test mIoU and paired differences"),
        "the findings heading names the split it judges on"
    );
}

#[test]
fn a_selecting_sweep_killed_mid_training_then_rerun_gives_the_uninterrupted_frame() {
    let reference_dir = tempfile::tempdir().expect("tempdir");
    let reference = run(&sweep(reference_dir.path()), &[]);
    assert_eq!(reference.status.code(), Some(0), "{}", text(&reference));
    let expected = read_parquet(
        &reference_dir
            .path()
            .join("results/selection/metrics.parquet"),
    )
    .expect("frame");
    // 32 images in batches of 8: 4 steps an epoch, so step 11 of two runs side by side is
    // inside their second epoch; weights#1 is after a run trained and was tested.
    for point in ["step#11", "epoch#5", "weights#1"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = sweep(dir.path());
        let killed = run(&path, &[("LOSSBENCH_KILL_AT", point)]);
        assert_eq!(
            killed.status.signal(),
            Some(9),
            "{point}: {}",
            text(&killed)
        );
        let resumed = run(&path, &[]);
        assert_eq!(
            resumed.status.code(),
            Some(0),
            "{point}: {}",
            text(&resumed)
        );
        let frame =
            read_parquet(&dir.path().join("results/selection/metrics.parquet")).expect("frame");
        let difference =
            bitwise_difference(&expected, &frame, &lossbench::store::TIMINGS).expect("compare");
        assert_eq!(difference, None, "{point}: the resumed frame differs");
    }
}
