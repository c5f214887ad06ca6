//! The shipped camvid experiments on a handful of real camvid-small images: each sweep file
//! parses, loads the data (ignore 255, and the 7-class merge, and its real test split),
//! trains one short run and writes its frame. Skipped, saying so, when `../shared/data/camvid-small` is not beside
//! the checkout.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::BIN;

/// The dataset beside the checkout, if it is there.
fn camvid() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/camvid-small");
    if root.join("dataset.json").is_file() {
        Some(root)
    } else {
        common::skipped(&format!(
            "camvid-small is not at {} (it lives in the shared folder beside the checkout)",
            root.display()
        ));
        None
    }
}

/// Runs `experiment` with one loss, one seed, one epoch on 16 images per split, and
/// returns the dataset description it recorded.
fn smoke(experiment: &str, root: &Path) -> serde_json::Value {
    smoke_with(experiment, root, &[]).0
}

/// [`smoke`] with more `--set` arguments; also returns the sweep's frame.
fn smoke_with(
    experiment: &str,
    root: &Path,
    extra: &[&str],
) -> (serde_json::Value, polars::prelude::DataFrame) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join(experiment);
    let sets = [
        format!(
            "data.root={}",
            toml::Value::String(root.display().to_string())
        ),
        "data.limit=16".to_string(),
        "train.epochs=1".to_string(),
        "grid.loss=[\"cce\"]".to_string(),
        "grid.seed=[1]".to_string(),
        format!(
            "sweep.results={}",
            toml::Value::String(dir.path().join("r").display().to_string())
        ),
        format!(
            "sweep.plots={}",
            toml::Value::String(dir.path().join("p").display().to_string())
        ),
    ];
    let sets: Vec<String> = sets
        .into_iter()
        .chain(extra.iter().map(|s| s.to_string()))
        .collect();
    let mut command = Command::new(BIN);
    command.arg("run").arg(&file).args(["--jobs", "1"]);
    for set in &sets {
        command.arg("--set").arg(set);
    }
    let out = command.output().expect("lossbench runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("1 runs: 1 done"), "{text}");
    let sweep = std::fs::read_dir(dir.path().join("r"))
        .expect("results folder")
        .next()
        .expect("one sweep")
        .expect("entry")
        .path();
    let frame = lossbench::store::read_parquet(&sweep.join("metrics.parquet")).expect("frame");
    assert_eq!(frame.height(), 1, "one epoch of one run");
    let info = std::fs::read_to_string(sweep.join("dataset.json")).expect("dataset.json");
    (serde_json::from_str(&info).expect("json"), frame)
}

#[test]
fn camvid_test_folder_is_the_held_out_split_each_run_is_scored_on() {
    let Some(root) = camvid() else { return };
    let (info, frame) = smoke_with("camvid.toml", &root, &["data.test=\"test\""]);
    let test: Vec<&str> = info["files"]["test"]
        .as_array()
        .expect("the test split's files")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(test.len(), 16, "data.limit applies to the test split too");
    assert!(
        test.iter().all(|f| f.starts_with("images/test/")),
        "{test:?}"
    );
    let miou = frame
        .column("test_miou")
        .expect("test_miou")
        .f64()
        .expect("f64")
        .get(0)
        .expect("a value");
    assert!((0.0..=1.0).contains(&miou), "{miou}");
    assert!(frame.column("test_iou_10").is_ok());
}

#[test]
fn camvid_experiment_trains_on_real_images_with_255_ignored() {
    let Some(root) = camvid() else { return };
    let info = smoke("camvid.toml", &root);
    assert_eq!(info["class_names"].as_array().map(Vec::len), Some(11));
    assert_eq!(info["ignore_index"], 255);
    assert_eq!(info["height"], 96);
    assert_eq!(info["width"], 128);
}

#[test]
fn camvid7_experiment_merges_the_classes_into_seven() {
    let Some(root) = camvid() else { return };
    let info = smoke("camvid7.toml", &root);
    let names: Vec<&str> = info["class_names"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "sky",
            "building",
            "pole_sign",
            "road",
            "pavement",
            "tree",
            "moving"
        ]
    );
}
