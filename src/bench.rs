//! Support for `make bench` (bench/compare.py): timing the training loop's own step on a
//! run configuration, to set beside PyTorch eager running the same step; and a synthetic
//! results folder of many runs, to time `lossbench report` on a sweep far larger than one
//! a benchmark could train.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::sweep::Sweep;
use crate::config::RunConfig;
use crate::plan;
use crate::run::train::{self, Learner};
use crate::store::{EpochRow, RunStatus, State, SweepStore, EXAMPLES};

/// Trains `warmup + steps` steps of `config` exactly as a run does ([`Learner::step`]) and
/// prints one JSON line per timed step: `{"step_seconds": s}`.
pub fn step(config: &RunConfig, warmup: usize, steps: usize) -> anyhow::Result<()> {
    let data = config.data.load()?;
    let threads = config.threads_or(crate::run::scheduler::cores());
    let mut learner = Learner::new(config, &data, threads)?;
    for seconds in train::step_times(&mut learner, &data, warmup, steps)? {
        println!("{}", serde_json::json!({ "step_seconds": seconds }));
    }
    Ok(())
}

/// Writes the results folder of the sweep at `path` as if every run had trained: the
/// dataset, and per run its configuration, a `done` status, `train.epochs` rows of made-up
/// but plausible curves (seeded by the run's index) and example predictions; then the
/// sweep's frame. Returns the number of runs.
pub fn synthetic_results(path: &Path, overrides: &[String]) -> anyhow::Result<usize> {
    let plan = plan::expand(Sweep::load(path, overrides)?)?;
    let store = SweepStore::new(plan.sweep.results_dir());
    let Some(first) = plan.run(0) else {
        anyhow::bail!("{} has no runs", path.display());
    };
    let data = first.config()?.data.load()?;
    store.write_dataset(&data, None)?;
    let classes = data.num_classes() as usize;
    let predictions = data.val.first(EXAMPLES)?.masks.to_kind(tch::Kind::Int64);
    for run in plan.runs() {
        let config = run.config()?;
        let mut status = RunStatus::starting(&run, config.train.epochs, tch::Device::Cpu, 1);
        store.start_run(&run, &toml::to_string(&config)?, &status)?;
        let rows = made_up_rows(run.index() as u64, config.train.epochs, classes);
        store.write_rows(&status.id, &rows)?;
        store.write_predictions(&status.id, &predictions)?;
        status.state = State::Done;
        status.epochs_done = rows.len();
        status.seconds = rows.iter().map(|r| r.seconds).sum();
        store.write_status(&status)?;
    }
    store.rebuild_frame(&plan)?;
    Ok(plan.len())
}

/// Quality metrics that follow the run's mIoU: a Dice of the IoU, calibration that worsens
/// as it rises, boundary distances that shrink.
fn made_up_quality(miou: f64, classes: usize) -> crate::metrics::Quality {
    let mut q = crate::metrics::Quality::missing(classes);
    let dice = 2.0 * miou / (1.0 + miou);
    q.dice_per_class = vec![Some(dice); classes];
    q.mean_dice = dice;
    q.calibration.ece = 0.02 + 0.1 * miou;
    q.calibration.brier = 1.0 - miou;
    q.calibration.nll = 2.0 * (1.0 - miou);
    q.boundary.hd95_per_class = vec![Some(10.0 * (1.0 - miou)); classes];
    q.boundary.nsd_per_class = vec![Some(miou); classes];
    q.boundary.biou_per_class = vec![Some(0.8 * miou); classes];
    q.boundary.hd95 = 10.0 * (1.0 - miou);
    q.boundary.nsd = miou;
    q.boundary.biou = 0.8 * miou;
    q
}

/// Saturating learning curves with noise: loss falls, mIoU rises towards a per-run ceiling.
fn made_up_rows(seed: u64, epochs: usize, classes: usize) -> Vec<EpochRow> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let ceiling = rng.random_range(0.5..0.9);
    let rate = rng.random_range(0.05..0.3);
    (1..=epochs)
        .map(|epoch| {
            let progress = 1.0 - (-rate * epoch as f64).exp();
            let mut noise = || rng.random_range(-0.02..0.02);
            let miou = ceiling * progress + noise();
            let iou_per_class: Vec<f64> = (0..classes)
                .map(|_| (miou + noise()).clamp(0.0, 1.0))
                .collect();
            let share = 1.0 / classes as f64;
            EpochRow {
                epoch,
                train_loss: 2.0 * (1.0 - progress) + 0.1 + noise(),
                val_loss: 2.0 * (1.0 - progress) + 0.15 + noise(),
                val_miou: miou,
                pixel_accuracy: (miou + 0.1).min(1.0),
                binary_accuracy: (miou + 0.2).min(1.0),
                binary_accuracy_sigmoid: (miou + 0.2).min(1.0),
                binary_accuracy_softmax: (miou + 0.2).min(1.0),
                iou_per_class,
                grad_norm: 1.0 + noise(),
                grad_share: vec![share; classes],
                quality: made_up_quality(miou, classes),
                lr: 1e-3,
                seconds: 1.0 + noise(),
                data_seconds: 0.01,
                skipped_steps: None,
                selected_epoch: None,
                test: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::read_parquet;
    use crate::testing::tiny_sweep;

    #[test]
    fn synthetic_results_make_a_frame_the_report_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = tiny_sweep(
            dir.path(),
            "big",
            "loss = [\"cce\", \"dice\"]\nseed = [1, 2, 3]",
        );
        let overrides = ["train.epochs=4".to_string()];
        assert_eq!(synthetic_results(&path, &overrides).expect("results"), 6);
        let root = dir.path().join("results").join("big");
        let frame = read_parquet(&root.join("metrics.parquet")).expect("frame");
        assert_eq!(frame.height(), 6 * 4);
        let index = crate::report::build(&root, None).expect("report");
        assert!(index.exists());
    }

    #[test]
    fn step_times_times_every_step_after_the_warm_up() {
        let config = RunConfig::from_overrides(&[
            "data.height=16".into(),
            "data.width=16".into(),
            "data.train_images=8".into(),
            "data.val_images=2".into(),
            "model.depth=2".into(),
            "model.base_channels=4".into(),
            "train.batch_size=4".into(),
        ])
        .expect("config");
        let data = config.data.load().expect("data");
        let mut learner = Learner::new(&config, &data, 1).expect("learner");
        let times = train::step_times(&mut learner, &data, 1, 3).expect("steps");
        assert_eq!(times.len(), 3);
        assert!(times.iter().all(|t| *t > 0.0), "{times:?}");
    }
}
