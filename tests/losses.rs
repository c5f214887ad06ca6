//! Losses as a sweep file sets them: parameters as grid axes and the names they give the
//! runs, a parameter on the wrong loss, and a TorchScript loss beside the built-ins (the
//! modules come from `peer/script_loss.py`, run with the virtualenv's python).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use lossbench::config::{LossConfig, RunConfig};
use lossbench::losses::Loss;
use lossbench::run::train;
use lossbench::store;

mod common;
use common::{lossbench, sweep_with, text};

/// Writes the script losses of `peer/script_loss.py` (and the broken ones) into `dir`;
/// `None` when there is no virtualenv python.
fn script_losses(dir: &Path) -> Option<PathBuf> {
    let python = common::python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peer/script_loss.py");
    let out = Command::new(python)
        .arg(script)
        .arg("--out")
        .arg(dir)
        .arg("--broken")
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", text(&out));
    Some(dir.to_path_buf())
}

/// The `loss` column of a sweep's `runs.parquet`, one row per run.
fn run_losses(results: &Path, sweep: &str) -> Vec<String> {
    let frame = store::read_parquet(&results.join(sweep).join("runs.parquet")).expect("runs");
    let column = frame.column("loss").expect("a loss column");
    column
        .str()
        .expect("text")
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_sweep_over_loss_gamma_names_each_focal_by_its_gamma_and_compares_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep_with(
        dir.path(),
        "gamma",
        1,
        "loss.name = \"focal\"",
        "\"loss.gamma\" = [0, 2]\nseed = [1, 2]",
    );
    let out = lossbench(&["run", path.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let losses = run_losses(&dir.path().join("results"), "gamma");
    assert_eq!(
        losses,
        ["focal γ=0", "focal γ=0", "focal γ=2", "focal γ=2"],
        "{}",
        text(&out)
    );
    let findings = std::fs::read_to_string(dir.path().join("plots/gamma/findings.json"))
        .expect("findings.json");
    assert!(
        findings.contains("focal γ=0") && findings.contains("focal γ=2"),
        "the report compares the two gammas as two losses: {findings}"
    );
}

#[test]
fn a_parameter_of_another_loss_is_refused_naming_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep_with(
        dir.path(),
        "wrong",
        1,
        "",
        "loss = [\"cce\", \"focal\"]\n\"loss.gamma\" = [1]",
    );
    let out = lossbench(&["plan", path.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("`loss.gamma` is a focal parameter; loss.name is cce")
            && text(&out).contains("{ name = \"focal\", gamma = ... }"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_script_loss_that_is_cce_in_pytorch_trains_bit_for_bit_as_cce() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(modules) = script_losses(dir.path()) else {
        return;
    };
    let mut config = RunConfig::default();
    config.model.depth = 2;
    config.model.base_channels = 4;
    config.train.epochs = 2;
    config.train.batch_size = 8;
    let lossbench::data::DataConfig::Synthetic(data) = &mut config.data else {
        panic!("the default data are synthetic");
    };
    (data.height, data.width, data.train_images, data.val_images) = (16, 16, 32, 8);
    let data = config.data.load().expect("data");
    let stop = AtomicBool::new(false);
    let cce = train::train(&config, &data, 1, &stop, None, |_, _| {}).expect("cce trains");
    config.loss = LossConfig {
        name: Loss::Script,
        path: Some(modules.join("cce.pt")),
        ..LossConfig::default()
    };
    let script = train::train(&config, &data, 1, &stop, None, |_, _| {}).expect("script trains");
    assert_eq!(cce.rows.len(), 2);
    for (a, b) in cce.rows.iter().zip(&script.rows) {
        let bits = |r: &store::EpochRow| {
            let mut v = vec![
                r.train_loss,
                r.val_loss,
                r.val_miou,
                r.grad_norm,
                r.binary_accuracy,
            ];
            v.extend(&r.iou_per_class);
            v.extend(&r.grad_share);
            v.into_iter().map(f64::to_bits).collect::<Vec<_>>()
        };
        assert_eq!(bits(a), bits(b), "epoch {}", a.epoch);
    }
}

#[test]
fn a_script_loss_is_named_by_its_file_and_editing_the_file_makes_new_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(modules) = script_losses(dir.path()) else {
        return;
    };
    let mine = dir.path().join("my_loss.pt");
    std::fs::copy(modules.join("cce.pt"), &mine).expect("copy");
    let grid = format!(
        "loss = [\"cce\", {{ name = \"script\", path = \"{}\" }}, {{ name = \"script\", path = \"{}\" }}]",
        mine.display(),
        modules.join("cce.pt").display()
    );
    let path = sweep_with(dir.path(), "script", 1, "", &grid);
    let path = path.to_str().expect("utf-8");
    let before = lossbench(&["plan", path]);
    assert_eq!(before.status.code(), Some(0), "{}", text(&before));
    let plan = text(&before);
    assert!(plan.contains("loss=my_loss "), "{plan}");
    // A script named like a built-in loss is told apart from it.
    assert!(plan.contains("loss=cce (script)"), "{plan}");
    std::fs::copy(modules.join("focal_gamma1.pt"), &mine).expect("edit");
    let after = lossbench(&["plan", path]);
    let id = |plan: &str| {
        plan.lines()
            .find(|l| l.contains("loss=my_loss"))
            .and_then(|l| l.split_whitespace().next())
            .map(str::to_string)
    };
    assert!(id(&plan).is_some());
    assert_ne!(id(&plan), id(&text(&after)), "{}", text(&after));
}

#[test]
fn broken_script_losses_are_refused_before_any_run_with_the_file_and_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(modules) = script_losses(dir.path()) else {
        return;
    };
    for (file, says) in [
        ("missing.pt", "cannot read loss.path"),
        ("not_torchscript.pt", "is not a TorchScript module"),
        ("one_input.pt", "its forward does not take (logits"),
        ("vector.pt", "not a scalar"),
        ("not_finite.pt", "returned NaN"),
        ("detached.pt", "no gradient reaches the logits"),
    ] {
        let module = modules.join(file);
        let name = file.trim_end_matches(".pt");
        let grid = format!(
            "loss = [\"cce\", {{ name = \"script\", path = \"{}\" }}]",
            module.display()
        );
        let path = sweep_with(dir.path(), name, 1, "", &grid);
        let out = lossbench(&["run", path.to_str().expect("utf-8")]);
        assert_eq!(out.status.code(), Some(2), "{file}: {}", text(&out));
        assert!(
            text(&out).contains(says) && text(&out).contains(&module.display().to_string()),
            "{file}: {}",
            text(&out)
        );
        let runs = dir.path().join("results").join(name).join("runs");
        assert!(!runs.exists(), "{file}: no run started");
    }
}

#[test]
fn verify_losses_checks_a_script_loss_against_reference_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(modules) = script_losses(dir.path()) else {
        return;
    };
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/losses.json");
    let script = modules.join("cce.pt");
    let args = |against: &'static str| {
        [
            "verify-losses".to_string(),
            reference.display().to_string(),
            "--script".to_string(),
            script.display().to_string(),
            "--against".to_string(),
            against.to_string(),
        ]
    };
    let run = |against| {
        let args = args(against);
        lossbench(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let same = run("cce");
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    let other = run("dice");
    assert_eq!(other.status.code(), Some(1), "{}", text(&other));
    assert!(text(&other).contains("FAIL"), "{}", text(&other));
}

#[test]
fn class_weights_by_frequency_are_written_out_in_the_runs_config_and_a_wrong_length_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep_with(
        dir.path(),
        "weights",
        1,
        "loss.class_weights = \"median_frequency\"",
        "loss = [\"cce\", \"focal\"]",
    );
    let out = lossbench(&["run", path.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let runs = dir.path().join("results/weights/runs");
    for entry in std::fs::read_dir(&runs).expect("run folders") {
        let run = entry.expect("entry").path();
        let written = std::fs::read_to_string(run.join("config.toml")).expect("config.toml");
        assert!(
            written.starts_with("# loss.class_weights below is derived"),
            "{written}"
        );
        let config: RunConfig = toml::from_str(&written).expect("a run configuration");
        let Some(lossbench::config::loss::ClassWeights::Given(w)) = config.loss.class_weights
        else {
            panic!("the weights are written as a list: {written}");
        };
        assert_eq!(w.len(), 7, "one per class of the synthetic data");
        assert!(w.iter().all(|x| x.is_finite() && *x > 0.0), "{w:?}");
    }
    let frame = store::read_parquet(&dir.path().join("results/weights/metrics.parquet"))
        .expect("the sweep frame");
    let schedules = frame.column("schedule").expect("a schedule column");
    assert_eq!(schedules.str().expect("text").get(0), Some("constant"));

    let wrong = sweep_with(
        dir.path(),
        "wrong",
        1,
        "loss.class_weights = [1, 2, 3]",
        "seed = [1]",
    );
    let out = lossbench(&["run", wrong.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("`loss.class_weights` has 3 values but the data have 7 classes"),
        "{}",
        text(&out)
    );
    assert!(
        !dir.path().join("results/wrong/runs").exists(),
        "no run started"
    );
}
