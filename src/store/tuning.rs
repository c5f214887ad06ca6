//! A tuned sweep's record of its tuning, beside its frame: `tuning.json` (how the tuning
//! was made, every trial, the chosen settings, the compute spent) and the trials as a
//! frame, `tuning.parquet` and `tuning.csv`, one row per trial run.

use std::path::Path;

use anyhow::Context;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::atomic::{write_atomic, write_frame};

/// The record's file in the sweep's results folder.
pub const TUNING_JSON: &str = "tuning.json";

/// One trial: one candidate setting of one grid point, at one rung, on one tuning seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The grid point tuned (`loss=bce,optim.name=sgd`), seed left out.
    pub group: String,
    /// The loss as the frames name it.
    pub loss: String,
    /// The candidate's value per tuned key, in [`Tuning::keys`]' order.
    pub values: Vec<f64>,
    /// The candidate's values as written in labels (`0.001`, `"sgd"`).
    pub labels: Vec<String>,
    /// 0 for the first rung (every candidate); a full-budget tuning has rung 0 only.
    pub rung: usize,
    pub epochs: usize,
    pub seed: i64,
    pub run_id: String,
    /// The run's validation score at its judged epoch; `None` for a run that diverged.
    pub score: Option<f64>,
}

/// What one grid point's tuning chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub group: String,
    pub loss: String,
    /// The chosen value per tuned key, as written in labels.
    pub labels: Vec<String>,
    /// Its mean score over the tuning seeds at the last rung it reached; `None` when every
    /// candidate diverged (the first is then kept).
    pub score: Option<f64>,
    /// The run-epochs its tuning trained.
    pub run_epochs: usize,
}

/// A tuned sweep's tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// The tuned keys.
    pub keys: Vec<String>,
    /// Per key, whether its space is a `log_uniform` range (its figure's axis is then
    /// logarithmic).
    pub log_scale: Vec<bool>,
    /// `grid` or `random`.
    pub sampler: String,
    /// `full`, or `successive halving (reduction 2, from 1 epoch)`.
    pub scheduler: String,
    /// The candidate settings per grid point.
    pub candidates: usize,
    pub seeds: Vec<i64>,
    /// The validation metric the choice maximises (or, for a loss, minimises).
    pub metric: String,
    /// The final seeds each tuned grid point then trains on.
    pub final_seeds: Vec<i64>,
    pub trials: Vec<Trial>,
    pub choices: Vec<Choice>,
    /// The run-epochs the tuning trained, over every grid point.
    pub run_epochs: usize,
    /// The run-epochs a full grid of the same candidates and seeds would have trained.
    pub full_grid_run_epochs: usize,
    /// The results folder of the same grid untuned (`[base]`'s settings, the final seeds),
    /// relative to the sweep's, when the sweep trains it.
    pub untuned: Option<String>,
}

/// Writes `tuning` into the results folder `root`: the JSON record and the trials' frame.
pub fn write_tuning(root: &Path, tuning: &Tuning) -> anyhow::Result<()> {
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    write_atomic(&root.join(TUNING_JSON), &serde_json::to_vec_pretty(tuning)?)?;
    let trials = &tuning.trials;
    let text = |get: &dyn Fn(&Trial) -> String| trials.iter().map(get).collect::<Vec<_>>();
    let mut columns = vec![
        Column::new("group".into(), text(&|t| t.group.clone())),
        Column::new("loss".into(), text(&|t| t.loss.clone())),
    ];
    for (k, key) in tuning.keys.iter().enumerate() {
        columns.push(Column::new(
            key.as_str().into(),
            trials
                .iter()
                .map(|t| t.values.get(k).copied().unwrap_or(f64::NAN))
                .collect::<Vec<f64>>(),
        ));
    }
    columns.extend([
        Column::new(
            "rung".into(),
            trials.iter().map(|t| t.rung as u32).collect::<Vec<u32>>(),
        ),
        Column::new(
            "epochs".into(),
            trials.iter().map(|t| t.epochs as u32).collect::<Vec<u32>>(),
        ),
        Column::new(
            "seed".into(),
            trials.iter().map(|t| t.seed).collect::<Vec<i64>>(),
        ),
        Column::new("run_id".into(), text(&|t| t.run_id.clone())),
        Column::new(
            tuning.metric.as_str().into(),
            trials.iter().map(|t| t.score).collect::<Vec<Option<f64>>>(),
        ),
    ]);
    let mut frame = DataFrame::new(trials.len(), columns)?;
    write_frame(&mut frame, root, "tuning")
}

/// The tuning record of the results folder `root`, `None` when the sweep was not tuned.
pub fn read_tuning(root: &Path) -> anyhow::Result<Option<Tuning>> {
    let path = root.join(TUNING_JSON);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let tuning = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a tuning record", path.display()))?;
    Ok(Some(tuning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tuning_record_reads_back_and_its_trials_open_as_a_frame() {
        let dir = tempfile::tempdir().expect("dir");
        let tuning = Tuning {
            keys: vec!["optim.lr".into()],
            log_scale: vec![true],
            sampler: "grid".into(),
            scheduler: "full".into(),
            candidates: 2,
            seeds: vec![101],
            metric: "val_miou".into(),
            final_seeds: vec![1, 2],
            trials: vec![Trial {
                group: "loss=bce".into(),
                loss: "bce".into(),
                values: vec![0.01],
                labels: vec!["0.01".into()],
                rung: 0,
                epochs: 2,
                seed: 101,
                run_id: "0123456789ab".into(),
                score: None,
            }],
            choices: vec![],
            run_epochs: 4,
            full_grid_run_epochs: 4,
            untuned: None,
        };
        write_tuning(dir.path(), &tuning).expect("writes");
        let back = read_tuning(dir.path()).expect("reads").expect("some");
        assert_eq!(back, tuning);
        let frame = crate::store::read_parquet(&dir.path().join("tuning.parquet")).expect("frame");
        assert!(frame.column("optim.lr").is_ok() && frame.column("val_miou").is_ok());
        assert!(read_tuning(&dir.path().join("none"))
            .expect("no record")
            .is_none());
    }
}
