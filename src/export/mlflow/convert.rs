//! What one lossbench run folder becomes in MLflow: params (its configuration flattened to
//! dotted keys), metrics (every numeric column of its frame, one value per epoch), tags,
//! status and times.

use std::path::Path;
use std::time::UNIX_EPOCH;

use anyhow::Context;
use polars::prelude::*;

use super::client::{Metric, Tag};
use crate::config::RunConfig;
use crate::export::{metric_columns, STEP};
use crate::store::{self, State};

/// The tag holding the sweep's name, on every run the export makes.
pub const SWEEP_TAG: &str = "lossbench.sweep";
/// The tag holding the lossbench run id of a run.
pub const RUN_ID_TAG: &str = "lossbench.run_id";
/// `true` on the sweep's parent run, which holds the report.
pub const PARENT_TAG: &str = "lossbench.parent";
/// lossbench's own state (`done`, `diverged`, ...), finer than MLflow's status.
pub const STATE_TAG: &str = "lossbench.state";
/// The run's error, when it failed.
pub const ERROR_TAG: &str = "lossbench.error";
/// MLflow's tags for a run's name and its parent.
pub const RUN_NAME_TAG: &str = "mlflow.runName";
pub const PARENT_RUN_TAG: &str = "mlflow.parentRunId";
/// MLflow's tag for the commit of the code that made a run (the git hash alone).
pub const GIT_COMMIT_TAG: &str = "mlflow.source.git.commit";
/// The commit of the lossbench build that trained the run, `-dirty` included.
pub const COMMIT_TAG: &str = "lossbench.commit";
/// MLflow's run description, shown in its UI.
pub const NOTE_TAG: &str = "mlflow.note.content";

/// The longest param value MLflow takes, in characters; longer values are cut to it.
pub const PARAM_LIMIT: usize = 6000;
/// The longest tag value MLflow takes, in characters.
pub const TAG_LIMIT: usize = 8000;

/// A run folder as the export sends it.
#[derive(Debug)]
pub struct RunRecord {
    pub id: String,
    pub label: String,
    pub state: State,
    /// The configuration as dotted keys, every value a string of at most [`PARAM_LIMIT`]
    /// characters.
    pub params: Vec<Tag>,
    /// The keys whose values were cut to [`PARAM_LIMIT`].
    pub cut: Vec<String>,
    /// Ordered by epoch, then by column.
    pub metrics: Vec<Metric>,
    /// The last epoch of the frame (0 when it has none).
    pub last_epoch: i64,
    /// The state and commit tags and, for a run that failed, its error.
    pub state_tags: Vec<Tag>,
    /// Milliseconds since the Unix epoch.
    pub start_time: i64,
    pub end_time: i64,
}

impl RunRecord {
    /// Reads the run folder `dir` (`config.toml`, `status.json`, `metrics.parquet`); `None`
    /// when it has no `status.json` (a run that never started).
    pub fn read(dir: &Path) -> anyhow::Result<Option<RunRecord>> {
        let Some(status) = store::read_status(dir)? else {
            return Ok(None);
        };
        let config = store::read_run_config(dir)?;
        let (params, cut) = params(&config)?;
        let status_path = dir.join("status.json");
        let end_time = modified_ms(&status_path)?;
        let start_time = (end_time - (status.seconds * 1000.0).round() as i64).max(0);
        let frame_path = dir.join("metrics.parquet");
        let (metrics, last_epoch) = if frame_path.exists() {
            let frame = store::read_parquet(&frame_path)?;
            metrics(&frame, start_time, end_time)
                .with_context(|| format!("cannot read the epochs of {}", frame_path.display()))?
        } else {
            (Vec::new(), 0)
        };
        let mut state_tags = vec![
            tag(STATE_TAG, status.state.name()),
            tag(COMMIT_TAG, &status.lossbench_commit),
        ];
        if let Some(hash) = crate::provenance::hash(&status.lossbench_commit) {
            state_tags.push(tag(GIT_COMMIT_TAG, hash));
        }
        if let Some(error) = &status.error {
            state_tags.push(tag(ERROR_TAG, &cut_to(error, TAG_LIMIT)));
        }
        Ok(Some(RunRecord {
            id: status.id,
            label: status.label,
            state: status.state,
            params,
            cut,
            metrics,
            last_epoch,
            state_tags,
            start_time,
            end_time,
        }))
    }
}

/// A tag (or param) `key = value`.
pub fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.to_string(),
        value: value.to_string(),
    }
}

/// MLflow's status for lossbench's state: done → `FINISHED`, diverged and failed →
/// `FAILED`, interrupted → `KILLED`, running → `RUNNING`.
pub fn status(state: State) -> &'static str {
    match state {
        State::Done => "FINISHED",
        State::Diverged | State::Failed => "FAILED",
        State::Interrupted => "KILLED",
        State::Running => "RUNNING",
    }
}

/// `config` flattened to dotted keys (`optim.lr`, `loss.weights.bce`), lists written as
/// TOML (`[1, 2]`), strings bare; and the keys whose values were cut to [`PARAM_LIMIT`].
pub fn params(config: &RunConfig) -> anyhow::Result<(Vec<Tag>, Vec<String>)> {
    let value = toml::Value::try_from(config).context("cannot write the run configuration")?;
    let mut flat = Vec::new();
    flatten("", &value, &mut flat);
    let mut cut = Vec::new();
    let params = flat
        .into_iter()
        .map(|(key, value)| {
            if value.chars().count() > PARAM_LIMIT {
                cut.push(key.clone());
            }
            Tag {
                value: cut_to(&value, PARAM_LIMIT),
                key,
            }
        })
        .collect();
    Ok((params, cut))
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::Table(table) => {
            for (key, value) in table {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, value, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// `text` cut to at most `limit` characters, ending in `…` when cut.
fn cut_to(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(limit - 1).collect();
    cut.push('…');
    cut
}

/// Every numeric column of a run's frame but `epoch`, one metric per epoch with the epoch
/// as its step, in epoch order; and the last epoch. An epoch's timestamp is `start` plus
/// the seconds of the epochs up to it (the frame's `seconds` column), at most `end`.
/// Missing values are left out.
fn metrics(frame: &DataFrame, start: i64, end: i64) -> anyhow::Result<(Vec<Metric>, i64)> {
    let int = |name: &str| -> anyhow::Result<Vec<Option<i64>>> {
        let column = frame.column(name)?.cast(&DataType::Int64)?;
        Ok(column.i64()?.iter().collect())
    };
    let float = |column: &Column| -> anyhow::Result<Vec<Option<f64>>> {
        Ok(column.cast(&DataType::Float64)?.f64()?.iter().collect())
    };
    let epochs = int(STEP)?;
    let timestamps: Vec<i64> = match frame.column("seconds") {
        Ok(seconds) => float(seconds)?
            .iter()
            .scan(0.0, |total, s| {
                *total += s.unwrap_or(0.0);
                Some((start + (*total * 1000.0).round() as i64).min(end))
            })
            .collect(),
        Err(_) => vec![end; frame.height()],
    };
    let columns: Vec<(&str, Vec<Option<f64>>)> = metric_columns(frame)
        .map(|c| Ok((c.name().as_str(), float(c)?)))
        .collect::<anyhow::Result<_>>()?;
    let mut out = Vec::with_capacity(frame.height() * columns.len());
    for (row, epoch) in epochs.iter().enumerate() {
        let Some(step) = *epoch else { continue };
        for (key, values) in &columns {
            if let Some(value) = values[row] {
                out.push(Metric {
                    key: key.to_string(),
                    value,
                    timestamp: timestamps[row],
                    step,
                });
            }
        }
    }
    let last = epochs.iter().flatten().copied().max().unwrap_or(0);
    Ok((out, last))
}

/// The modification time of `path`, in milliseconds since the Unix epoch.
fn modified_ms(path: &Path) -> anyhow::Result<i64> {
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .with_context(|| format!("cannot read the modification time of {}", path.display()))?;
    Ok(modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::loss::ClassWeights;

    #[test]
    fn the_configuration_becomes_dotted_string_params() {
        let mut config = RunConfig::default();
        config.optim.lr = 0.02;
        config.loss.class_weights = Some(ClassWeights::Given(vec![0.5, 2.0]));
        let (params, cut) = params(&config).expect("flattens");
        let get = |key: &str| {
            params
                .iter()
                .find(|p| p.key == key)
                .map(|p| p.value.as_str())
        };
        assert_eq!(get("optim.lr"), Some("0.02"));
        assert_eq!(get("loss.name"), Some("cce"));
        assert_eq!(get("loss.class_weights"), Some("[0.5, 2.0]"));
        assert_eq!(get("data.kind"), Some("synthetic"));
        assert_eq!(get("optim.name"), Some("adam"));
        assert!(params.iter().all(|p| !p.key.starts_with('.')));
        assert!(cut.is_empty());
    }

    #[test]
    fn a_value_longer_than_mlflow_takes_is_cut_and_named() {
        let mut config = RunConfig::default();
        config.loss.class_weights = Some(ClassWeights::Given(vec![0.125; 2000]));
        let (params, cut) = params(&config).expect("flattens");
        assert_eq!(cut, ["loss.class_weights"]);
        let value = &params
            .iter()
            .find(|p| p.key == "loss.class_weights")
            .expect("kept")
            .value;
        assert_eq!(value.chars().count(), PARAM_LIMIT);
        assert!(value.ends_with('…'));
    }

    #[test]
    fn every_numeric_column_but_epoch_is_a_metric_per_epoch() {
        let frame = df!(
            "epoch" => [1u32, 2],
            "train_loss" => [0.5, f64::NAN],
            "iou_0" => [Some(0.25), None],
            "schedule" => ["constant", "constant"],
            "seconds" => [1.5, 2.0],
        )
        .expect("a frame");
        let (metrics, last) = metrics(&frame, 10_000, 20_000).expect("metrics");
        assert_eq!(last, 2);
        let keys: Vec<(&str, i64, i64)> = metrics
            .iter()
            .map(|m| (m.key.as_str(), m.step, m.timestamp))
            .collect();
        assert_eq!(
            keys,
            [
                ("train_loss", 1, 11_500),
                ("iou_0", 1, 11_500),
                ("seconds", 1, 11_500),
                ("train_loss", 2, 13_500),
                ("seconds", 2, 13_500),
            ]
        );
        assert!(metrics[3].value.is_nan());
        assert_eq!(metrics[1].value, 0.25);
    }

    #[test]
    fn states_map_to_mlflow_statuses() {
        let all = [
            State::Done,
            State::Diverged,
            State::Failed,
            State::Interrupted,
            State::Running,
        ];
        let statuses: Vec<&str> = all.into_iter().map(status).collect();
        assert_eq!(
            statuses,
            ["FINISHED", "FAILED", "FAILED", "KILLED", "RUNNING"]
        );
    }
}
