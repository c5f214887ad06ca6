//! `lossbench export tensorboard`: the event files, read back by TensorBoard's own
//! `EventAccumulator` from the venv, hold every per-epoch value of every run's frame (as
//! float32) at its epoch, the run's configuration and its axes; exporting again leaves one
//! event file per run.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{lossbench, skip_unless_ci, sweep, text};
use lossbench::export::tensorboard::folder_names;
use lossbench::store::{read_parquet, read_status};
use polars::prelude::*;
use serde_json::Value;

/// Reads every run folder under argv[1] with TensorBoard's EventAccumulator and prints, as
/// JSON: its files, its scalars (tag -> [[step, value or null for NaN]]), its texts and the
/// hparams of its session start.
const READ_BACK: &str = r#"
import json, math, os, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
out = {}
for folder in sorted(os.listdir(sys.argv[1])):
    path = os.path.join(sys.argv[1], folder)
    acc = EventAccumulator(path, size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    scalars = {t: [[e.step, None if math.isnan(e.value) else e.value] for e in acc.Scalars(t)]
               for t in tags["scalars"]}
    texts = {t: [e.tensor_proto.string_val[0].decode() for e in acc.Tensors(t)]
             for t in tags["tensors"]}
    hparams = {}
    for content in acc.PluginTagToContent("hparams").values():
        info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
        hparams = {k: getattr(v, v.WhichOneof("kind")) for k, v in info.hparams.items()}
    out[folder] = {"files": sorted(os.listdir(path)), "scalars": scalars, "texts": texts,
                   "hparams": hparams}
print(json.dumps(out))
"#;

/// The venv's python when it has TensorBoard; `None`, saying so, otherwise.
fn tensorboard_python() -> Option<std::path::PathBuf> {
    let python = common::python()?;
    let found = Command::new(&python)
        .args(["-c", "import tensorboard"])
        .status()
        .is_ok_and(|s| s.success());
    if found {
        Some(python)
    } else {
        skip_unless_ci(&format!(
            "{} has no tensorboard (pip install tensorboard==2.21.0, as .ci/run does)",
            python.display()
        ));
        None
    }
}

/// What TensorBoard reads from the export folder `dir`, folder by folder.
fn read_back(python: &Path, dir: &Path) -> BTreeMap<String, Value> {
    let out = Command::new(python)
        .args(["-c", READ_BACK])
        .arg(dir)
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// Every numeric column of `frame` but the epoch, as TensorBoard should hold it: tag ->
/// [[epoch, value as f32 or null]].
fn expected_scalars(frame: &DataFrame) -> BTreeMap<String, Vec<(i64, Option<f32>)>> {
    let epochs: Vec<i64> = frame
        .column("epoch")
        .and_then(|c| c.cast(&DataType::Int64))
        .expect("epoch")
        .i64()
        .expect("i64")
        .into_no_null_iter()
        .collect();
    frame
        .columns()
        .iter()
        .filter(|c| c.name() != "epoch" && c.dtype().is_primitive_numeric())
        .map(|c| {
            let values = c.cast(&DataType::Float64).expect("cast");
            let values = values.f64().expect("f64").iter();
            let points = epochs
                .iter()
                .zip(values)
                .map(|(&e, v)| (e, v.filter(|v| !v.is_nan()).map(|v| v as f32)))
                .collect();
            (c.name().to_string(), points)
        })
        .collect()
}

fn found_scalars(run: &Value) -> BTreeMap<String, Vec<(i64, Option<f32>)>> {
    let scalars = run["scalars"].as_object().expect("scalars");
    scalars
        .iter()
        .map(|(tag, points)| {
            let points = points.as_array().expect("points");
            let points = points
                .iter()
                .map(|p| {
                    let step = p[0].as_i64().expect("step");
                    // TensorBoard's value is the float32 widened to a Python float.
                    (step, p[1].as_f64().map(|v| v as f32))
                })
                .collect();
            (tag.clone(), points)
        })
        .collect()
}

#[test]
fn tensorboard_reads_back_every_value_of_every_run_and_a_second_export_replaces_the_first() {
    let Some(python) = tensorboard_python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep(
        dir.path(),
        "tb",
        2,
        "loss = [\"cce\", \"bce\", { name = \"focal\", gamma = 1 }]\nseed = [1]",
    );
    let out = lossbench(&["run", path.to_str().expect("utf-8"), "--jobs", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    let results = dir.path().join("results/tb");
    let logdir = dir.path().join("tensorboard");
    let export = || {
        let out = lossbench(&[
            "export",
            "tensorboard",
            results.to_str().expect("utf-8"),
            logdir.to_str().expect("utf-8"),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        text(&out)
    };
    let printed = export();
    assert!(printed.contains("3 runs written"), "{printed}");
    // An event file of an earlier export that the next one must remove.
    std::fs::write(
        logdir.join("loss=cce,seed=1/events.out.tfevents.1.old"),
        b"",
    )
    .expect("write");
    export();

    let found = read_back(&python, &logdir);
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        [
            "loss=bce,seed=1",
            "loss=cce,seed=1",
            "loss=focal_γ=1,seed=1"
        ]
    );
    let runs = std::fs::read_dir(results.join("runs")).expect("runs");
    for run_dir in runs.map(|e| e.expect("entry").path()) {
        let status = read_status(&run_dir).expect("status").expect("a status");
        let folder = &folder_names(&[(&status.label, &status.id)])[0];
        let run = &found[folder];
        let files = run["files"].as_array().expect("files");
        assert_eq!(files.len(), 1, "{}: {files:?}", status.label);
        let frame = read_parquet(&run_dir.join("metrics.parquet")).expect("frame");
        let expected = expected_scalars(&frame);
        assert!(expected.contains_key("val_miou") && expected.contains_key("iou_0"));
        assert_eq!(found_scalars(run), expected, "{}", status.label);

        let config = std::fs::read_to_string(run_dir.join("config.toml")).expect("config");
        let texts = run["texts"]["config"].as_array().expect("a config text");
        assert_eq!(texts.len(), 1);
        let markdown = texts[0].as_str().expect("text");
        let fenced = format!("```toml\n{}\n```", config.trim_end());
        assert!(markdown.contains(&fenced), "{markdown}");
        assert!(markdown.contains(&status.id), "{markdown}");
        let commit = format!("lossbench commit `{}`", status.lossbench_commit);
        assert!(markdown.contains(&commit), "{markdown}");

        let loss = status.label.trim_start_matches("loss=").split(',').next();
        assert_eq!(run["hparams"]["loss"].as_str(), loss);
        assert_eq!(run["hparams"]["seed"].as_f64(), Some(1.0));
    }
}

#[test]
fn exporting_a_folder_that_is_not_a_sweeps_results_says_what_to_give() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nothing");
    let out = lossbench(&[
        "export",
        "tensorboard",
        missing.to_str().expect("utf-8"),
        dir.path().join("tb").to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("results/<sweep>"), "{}", text(&out));
}

/// The scalars, texts and hparams TensorBoard reads for each run folder of `found`,
/// without the event files' names.
fn values(found: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    found
        .iter()
        .map(|(folder, run)| {
            let mut run = run.clone();
            if let Some(run) = run.as_object_mut() {
                run.remove("files");
            }
            (folder.clone(), run)
        })
        .collect()
}

#[test]
fn live_tensorboard_holds_every_recorded_epoch_after_a_kill_and_ends_as_the_export() {
    let Some(python) = tensorboard_python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep(
        dir.path(),
        "live",
        3,
        "loss = [\"cce\", \"dice\"]\nseed = [1]",
    );
    let path = path.to_str().expect("utf-8");
    let live = dir.path().join("live");
    let live_arg = live.to_str().expect("utf-8");
    // Killed inside the second run, after its first epoch is recorded.
    let out = std::process::Command::new(common::BIN)
        .args(["run", path, "--jobs", "1", "--tensorboard", live_arg])
        .env("LOSSBENCH_KILL_AT", "epoch#5")
        .output()
        .expect("lossbench runs");
    assert!(!out.status.success(), "{}", text(&out));
    let results = dir.path().join("results/live");
    let found = read_back(&python, &live);
    for run_dir in std::fs::read_dir(results.join("runs")).expect("runs") {
        let run_dir = run_dir.expect("entry").path();
        let status = read_status(&run_dir).expect("status").expect("a status");
        let folder = &folder_names(&[(&status.label, &status.id)])[0];
        let frame = read_parquet(&run_dir.join("metrics.parquet")).expect("frame");
        // Every epoch the run folder holds, as TensorBoard reads it while the sweep is down.
        assert_eq!(
            found_scalars(&found[folder]),
            expected_scalars(&frame),
            "{folder}"
        );
    }
    assert_eq!(found.len(), 2, "{:?}", found.keys());

    let out = lossbench(&["run", path, "--jobs", "1", "--tensorboard", live_arg]);
    assert!(out.status.success(), "{}", text(&out));
    let exported = dir.path().join("exported");
    let out = lossbench(&[
        "export",
        "tensorboard",
        results.to_str().expect("utf-8"),
        exported.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let live_found = read_back(&python, &live);
    for run in live_found.values() {
        assert_eq!(run["files"].as_array().map(Vec::len), Some(1), "{run}");
        for (tag, points) in run["scalars"].as_object().expect("scalars") {
            let steps: Vec<i64> = points
                .as_array()
                .expect("points")
                .iter()
                .filter_map(|p| p[0].as_i64())
                .collect();
            assert!(steps.windows(2).all(|w| w[0] < w[1]), "{tag}: {steps:?}");
        }
    }
    assert_eq!(values(&live_found), values(&read_back(&python, &exported)));
}
