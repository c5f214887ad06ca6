//! Data as users have it, through the binary: `data example` writes a one-folder 0/255
//! layout, `data check` reads it (exit 0) or lists its problems (exit 2), and
//! `experiments/cv.toml` runs 5-fold cross-validation of the five losses on it, with the
//! fold column, the folds' files in dataset.json and the report's cross-validation section.

use std::process::{Command, Output};

mod common;
use common::text;

const BIN: &str = env!("CARGO_BIN_EXE_lossbench");

fn lossbench(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("lossbench runs")
}

#[test]
fn data_check_exits_zero_on_usable_data_and_two_listing_every_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("cells");
    let data_arg = data.to_str().expect("utf-8");
    let out = lossbench(&["data", "example", data_arg, "--images", "8", "--size", "16"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = lossbench(&["data", "check", data_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for expected in [
        "data.images = \"{split}/image\"",
        "data.val_fraction = 0.2",
        "data.class_map = { \"0\" = 0, \"255\" = 1 }",
        "usable",
    ] {
        assert!(text(&out).contains(expected), "{expected}: {}", text(&out));
    }
    std::fs::remove_file(data.join("train/label/img_001.png")).expect("rm");
    std::fs::write(data.join("train/image/img_002.png"), b"").expect("empty");
    let out = lossbench(&["data", "check", data_arg]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("img_001.png has no mask")
            && text(&out).contains("img_002.png is empty")
            && text(&out).contains("not usable: 2 problem(s)"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_cv_experiment_runs_five_folds_of_the_five_losses_paired_on_seed_and_fold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("cv-example");
    let out = lossbench(&[
        "data",
        "example",
        data.to_str().expect("utf-8"),
        "--images",
        "10",
        "--size",
        "16",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let experiment = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/cv.toml");
    let root = format!("data.root={}", data.display());
    let out = lossbench(&["data", "check", experiment, "--set", &root]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("fold 0: 2, fold 1: 2, fold 2: 2, fold 3: 2, fold 4: 2"),
        "{}",
        text(&out)
    );
    let sets = [
        root.clone(),
        format!("sweep.results=\"{}\"", dir.path().join("results").display()),
        format!("sweep.plots=\"{}\"", dir.path().join("plots").display()),
        "train.epochs=1".into(),
        "model.base_channels=4".into(),
        "model.depth=2".into(),
        "grid.seed=[1]".into(),
    ];
    let mut args = vec!["run", experiment, "--jobs", "2"];
    for s in &sets {
        args.extend(["--set", s.as_str()]);
    }
    let out = lossbench(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("25 runs: 25 done"), "{}", text(&out));

    let results = dir.path().join("results/cv");
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("dataset.json")).expect("dataset.json"))
            .expect("json");
    let folds = info["files"]["folds"].as_array().expect("the folds' files");
    assert_eq!(folds.len(), 5);
    assert_eq!(
        folds
            .iter()
            .map(|f| f.as_array().map_or(0, Vec::len))
            .sum::<usize>(),
        10
    );

    let findings: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("plots/cv/findings.json")).expect("findings.json"),
    )
    .expect("json");
    let per_fold = findings["folds"].as_array().expect("per-fold results");
    assert_eq!(per_fold.len(), 5, "one entry per loss");
    assert_eq!(per_fold[0]["per_fold"].as_array().map(Vec::len), Some(5));
    let pairs = findings["pooled_differences"][0]["n"].as_u64();
    assert_eq!(pairs, Some(5), "one seed x 5 folds pair with cce");
    let html = std::fs::read_to_string(dir.path().join("plots/cv/index.html")).expect("report");
    assert!(html.contains("Cross-validation: folds and seeds"));
}
