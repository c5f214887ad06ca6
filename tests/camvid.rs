//! The shipped camvid experiments on a handful of real camvid-small images: each sweep file
//! parses, loads the data (ignore 255, and the 7-class merge, and its real test split),
//! trains one short run and writes its frame. Skipped, saying so, when `../shared/data/camvid-small` is not beside
//! the checkout.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::RwLock;

mod common;
use common::BIN;

/// The timing test holds it for writing, so that no other test of this file trains beside
/// it on the same cores; the others hold it for reading and run beside each other.
static CORES: RwLock<()> = RwLock::new(());

/// The dataset beside the checkout (or at `LOSSBENCH_CAMVID`), if it is there.
fn camvid() -> Option<PathBuf> {
    let root = std::env::var_os("LOSSBENCH_CAMVID").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/camvid-small"),
        PathBuf::from,
    );
    if root.join("dataset.json").is_file() {
        Some(root)
    } else {
        common::skipped(&format!(
            "camvid-small is not at {} (set LOSSBENCH_CAMVID=/path/to/camvid-small to run these tests on it)",
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
    let _shared = CORES
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
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

/// The Dice, calibration and boundary metrics cost under 5% of a camvid-small epoch: one
/// epoch of `experiments/camvid-parity.toml`'s first run (cce, seed 1: training and the
/// whole evaluation, as the frame's `seconds` times it) against the same metrics computed
/// again on its validation split from the trained network's logits (the fastest of three
/// passes). It holds [`CORES`] so that no other test trains beside it while it times.
#[test]
fn the_new_metrics_take_under_five_percent_of_a_camvid_epoch() {
    use lossbench::metrics::{BoundaryAccumulator, CalibrationAccumulator};
    use tch::nn::ModuleT;
    let Some(root) = camvid() else { return };
    let _alone = CORES
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let sets: Vec<String> = [
        "data.kind=\"folder\"".to_string(),
        format!(
            "data.root={}",
            toml::Value::String(root.display().to_string())
        ),
        "data.ignore_index=255".into(),
        "data.normalize=false".into(),
        "model.base_channels=16".into(),
        "train.epochs=1".into(),
        "train.batch_size=16".into(),
        "train.seed=1".into(),
    ]
    .to_vec();
    let config = lossbench::config::RunConfig::from_overrides(&sets).expect("config");
    let data = config.data.load().expect("camvid-small loads");
    let threads = config.threads_or(std::thread::available_parallelism().map_or(1, usize::from));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let trained = lossbench::run::train::train(&config, &data, threads, &stop, None, |_, _| {})
        .expect("one epoch trains");
    let epoch = trained.rows[0].seconds;

    let _guard = tch::no_grad_guard();
    let classes = data.class_names.len();
    let size = common::split_tensors(&data, &data.val).1.size();
    let (n, h, w) = (size[0], size[1] as usize, size[2] as usize);
    let mut logits = Vec::new();
    for start in (0..n).step_by(16) {
        let len = 16.min(n - start);
        logits.push((
            start,
            len,
            trained.net.forward_t(
                &common::split_tensors(&data, &data.val)
                    .0
                    .narrow(0, start, len),
                false,
            ),
        ));
    }
    let pass = || {
        let started = std::time::Instant::now();
        let activation = lossbench::losses::Loss::Cce.activation();
        let mut calibration = CalibrationAccumulator::new(activation, Some(255), tch::Device::Cpu);
        let mut boundary = BoundaryAccumulator::new(classes, Some(255), 2.0);
        for (start, len, z) in &logits {
            let ys = common::split_tensors(&data, &data.val)
                .1
                .narrow(0, *start, *len);
            calibration.update(z, &ys);
            let predicted =
                Vec::<i64>::try_from(&z.argmax(1, false).reshape([-1])).expect("argmax");
            let target = Vec::<i64>::try_from(&ys.reshape([-1])).expect("masks");
            boundary.update(&predicted, &target, h, w);
        }
        let c = calibration.finish().expect("calibration");
        let b = boundary.finish();
        (started.elapsed().as_secs_f64(), c, b)
    };
    let (mut cost, c, b) = pass();
    for _ in 0..2 {
        cost = cost.min(pass().0);
    }
    eprintln!(
        "camvid-small: {n} validation images; the new metrics take {cost:.3} s, the epoch {epoch:.2} s: {:.2}% (ECE {:.4}, HD95 {:.2} px, surface Dice {:.4})",
        100.0 * cost / epoch,
        c.ece,
        b.hd95,
        b.nsd
    );
    assert!(cost < 0.05 * epoch, "{cost} s of a {epoch} s epoch");
}
