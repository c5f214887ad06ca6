//! A tuned sweep through the binary: two losses, each with its learning rate tuned over four
//! values by successive halving on two tuning seeds, then trained at its own best on the
//! two final seeds and judged on a test split, beside the same grid untuned. Checked: the
//! rungs keep the best half by mean validation score, the final runs take each loss's
//! choice, the compute is what halving promises, a rerun trains nothing, and a sweep killed
//! with SIGKILL mid-tuning and run again gives the uninterrupted results bit for bit.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lossbench::store::{bitwise_difference, read_parquet, read_tuning, Tuning};
use polars::prelude::*;

mod common;
use common::{text, BIN};

const LRS: [f64; 4] = [0.3, 0.03, 0.003, 0.0003];

fn sweep(dir: &Path) -> PathBuf {
    common::sweep_with(
        dir,
        "tuned",
        4,
        "data.test_images = 8\ntrain.threads = 1",
        "loss = [\"cce\", \"bce\"]\nseed = [1, 2]\n\n[tune]\nspace.\"optim.lr\" = [0.3, 0.03, 0.003, 0.0003]\nscheduler = \"halving\"\nreduction = 2\nmin_epochs = 1\nseeds = [11, 12]\nuntuned = true\n",
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

fn tuning(dir: &Path) -> Tuning {
    read_tuning(&dir.join("results/tuned"))
        .expect("reads")
        .expect("a tuning record")
}

/// The mean score of `loss`'s candidate `lr` at `rung`.
fn mean(t: &Tuning, loss: &str, rung: usize, lr: f64) -> f64 {
    let scores: Vec<f64> = t
        .trials
        .iter()
        .filter(|x| x.loss == loss && x.rung == rung && x.values[0] == lr)
        .map(|x| x.score.unwrap_or(f64::NEG_INFINITY))
        .collect();
    assert_eq!(
        scores.len(),
        2,
        "{loss} lr {lr} rung {rung}: one trial per tuning seed"
    );
    scores.iter().sum::<f64>() / 2.0
}

/// The learning rates of `loss`'s trials at `rung`, distinct, sorted.
fn rung_lrs(t: &Tuning, loss: &str, rung: usize) -> Vec<f64> {
    let mut lrs: Vec<f64> = t
        .trials
        .iter()
        .filter(|x| x.loss == loss && x.rung == rung)
        .map(|x| x.values[0])
        .collect();
    lrs.sort_by(f64::total_cmp);
    lrs.dedup();
    lrs
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

fn column(frame: &DataFrame, name: &str) -> Vec<String> {
    frame
        .column(name)
        .expect(name)
        .cast(&DataType::String)
        .expect("cast")
        .str()
        .expect("str")
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect()
}

#[test]
fn each_loss_is_tuned_by_successive_halving_then_trained_at_its_own_best_on_the_final_seeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sweep(dir.path());
    let out = run(&path, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = tuning(dir.path());
    // Rungs of 1, 2 and 4 epochs; 4 candidates halve to 2, then to 1: chosen after rung 1.
    assert_eq!(t.trials.len(), 2 * (4 + 2) * 2, "{:?}", t.trials);
    for loss in ["cce", "bce"] {
        assert_eq!(rung_lrs(&t, loss, 0).len(), 4);
        let mut by = LRS.to_vec();
        by.sort_by(|a, b| mean(&t, loss, 0, *b).total_cmp(&mean(&t, loss, 0, *a)));
        let mut promoted = by[..2].to_vec();
        promoted.sort_by(f64::total_cmp);
        assert_eq!(
            rung_lrs(&t, loss, 1),
            promoted,
            "{loss}: rung 1 keeps the best half"
        );
        let best = *promoted
            .iter()
            .max_by(|a, b| mean(&t, loss, 1, **a).total_cmp(&mean(&t, loss, 1, **b)))
            .expect("a best");
        let choice = t.choices.iter().find(|c| c.loss == loss).expect("a choice");
        assert_eq!(
            choice.labels,
            [toml::Value::Float(best).to_string()],
            "{loss}"
        );
        assert!(t.trials.iter().all(|x| [11, 12].contains(&x.seed)));
    }
    // 16 one-epoch runs and 8 two-epoch runs, against 2 losses × 4 × 2 seeds × 4 epochs.
    assert_eq!((t.run_epochs, t.full_grid_run_epochs), (32, 64));
    let frame = read_parquet(&dir.path().join("results/tuned/metrics.parquet")).expect("frame");
    let (losses, lrs, seeds) = (
        column(&frame, "loss"),
        floats(&frame, "tuned.optim.lr"),
        floats(&frame, "seed"),
    );
    assert_eq!(
        frame.height(),
        2 * 2 * 4,
        "two losses × two final seeds × 4 epochs"
    );
    for i in 0..frame.height() {
        let choice = t
            .choices
            .iter()
            .find(|c| c.loss == losses[i])
            .expect("choice");
        assert_eq!(lrs[i].to_string(), choice.labels[0], "row {i}");
        assert!([1.0, 2.0].contains(&seeds[i]));
    }
    assert!(frame.column("test_miou").is_ok() && frame.column("test_ece").is_ok());
    for rung in ["rung-0", "rung-1"] {
        let trials = read_parquet(
            &dir.path()
                .join(format!("results/tuned/tune/{rung}/metrics.parquet")),
        )
        .expect("a rung's frame");
        assert!(
            trials.column("test_miou").is_err(),
            "no tuning trial is scored on the test split ({rung})"
        );
    }
    let untuned =
        read_parquet(&dir.path().join("results/tuned/untuned/metrics.parquet")).expect("untuned");
    assert_eq!(untuned.height(), 16);
    assert!(
        untuned.column("test_miou").is_ok(),
        "the untuned grid is judged on test"
    );
    assert!(floats(&untuned, "lr").iter().all(|&lr| lr == 1e-3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("tuning trained 32 run-epochs; a full grid of its 4 candidates would have trained 64 (50%)"),
        "{stdout}"
    );
    // Every stage is a results folder `lossbench verify` checks like any sweep's.
    for (stage, runs) in [
        ("tune/rung-0", 16),
        ("tune/rung-1", 8),
        ("", 4),
        ("untuned", 4),
    ] {
        let folder = dir.path().join("results/tuned").join(stage);
        let out = Command::new(BIN)
            .arg("verify")
            .arg(&folder)
            .output()
            .expect("verify runs");
        assert_eq!(out.status.code(), Some(0), "{stage}: {}", text(&out));
        assert!(
            text(&out).contains(&format!("{runs} run folders checked, 0 damaged")),
            "{stage}: {}",
            text(&out)
        );
    }
    let again = run(&path, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        !String::from_utf8_lossy(&again.stdout).contains("tuning tuned:"),
        "a rerun trains nothing: {}",
        text(&again)
    );
    assert_eq!(tuning(dir.path()), t);
}

#[test]
fn a_tuned_sweep_killed_mid_tuning_then_rerun_gives_the_uninterrupted_results() {
    let reference_dir = tempfile::tempdir().expect("tempdir");
    let reference = run(&sweep(reference_dir.path()), &[]);
    assert_eq!(reference.status.code(), Some(0), "{}", text(&reference));
    let final_frame =
        |dir: &Path| read_parquet(&dir.join("results/tuned/metrics.parquet")).expect("frame");
    // run-done#20: four runs into rung 1; step#70: inside rung 1's runs (rung 0 takes 64
    // steps: 16 runs of one 4-step epoch).
    for point in ["run-done#20", "step#70"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = sweep(dir.path());
        let killed = run(&path, &[("LOSSBENCH_KILL_AT", point)]);
        assert_eq!(
            killed.status.signal(),
            Some(9),
            "{point}: {}",
            text(&killed)
        );
        assert!(
            read_tuning(&dir.path().join("results/tuned"))
                .expect("reads")
                .is_none(),
            "{point}: killed before the tuning was decided"
        );
        let resumed = run(&path, &[]);
        assert_eq!(
            resumed.status.code(),
            Some(0),
            "{point}: {}",
            text(&resumed)
        );
        assert_eq!(tuning(dir.path()), tuning(reference_dir.path()), "{point}");
        let difference = bitwise_difference(
            &final_frame(reference_dir.path()),
            &final_frame(dir.path()),
            &lossbench::store::TIMINGS,
        )
        .expect("compare");
        assert_eq!(difference, None, "{point}: the resumed frame differs");
    }
}

#[test]
fn a_full_grid_trained_as_one_stage_records_each_losss_choice_when_the_stage_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::sweep_with(
        dir.path(),
        "tuned",
        2,
        "train.threads = 1",
        "loss = [\"cce\", \"bce\"]\nseed = [1]\n\n[tune]\nspace.\"optim.lr\" = [0.3, 0.003]\nscheduler = \"full\"\nseeds = [11]\n",
    );
    let out = Command::new(BIN)
        .arg("run")
        .arg(&path)
        .args(["--stage", "rung-0", "--jobs", "2"])
        .output()
        .expect("lossbench runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = tuning(dir.path());
    assert_eq!(t.choices.len(), 2, "one choice per loss");
    assert_eq!((t.run_epochs, t.full_grid_run_epochs), (8, 8));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("tuned loss=cce: optim.lr="), "{stdout}");
    assert!(
        !dir.path().join("results/tuned/metrics.parquet").exists(),
        "the final comparison is a stage of its own"
    );
}
