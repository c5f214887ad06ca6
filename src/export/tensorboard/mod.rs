//! `lossbench export tensorboard`: one TensorBoard event file per run folder of a sweep,
//! with every numeric per-epoch column of the run's frame as a scalar, its configuration as
//! text and its grid axes as hparams.
//!
//! `DIR/<run label>/events.out.tfevents.<start>.lossbench.<run-id>`: the label made safe for
//! a file name (and unique, with the run id added when two labels meet), so TensorBoard
//! names each run by its label. The file is TFRecord framing ([`record`], with the `crc32c`
//! crate) of `prost`-encoded events ([`event`]); exporting again writes the same file and
//! removes every other event file of the run's folder, so no scalar appears twice. While a
//! sweep runs, [`live`] writes the same events as its runs record their epochs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::Context;
use polars::prelude::*;

use super::STEP;
use crate::plan::display_value;
use crate::store::{self, RunStatus};
use event::Event;

pub mod event;
pub mod live;
pub mod record;

/// One run written.
#[derive(Debug, Clone)]
pub struct Exported {
    pub id: String,
    pub label: String,
    /// The run's folder under the export folder: TensorBoard's name of the run.
    pub folder: String,
    pub file: PathBuf,
    pub epochs: usize,
    /// The scalar tags: the frame's column names.
    pub tags: Vec<String>,
}

/// A run folder left out, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub id: String,
    pub reason: String,
}

/// What an export did.
#[derive(Debug, Default)]
pub struct Export {
    pub runs: Vec<Exported>,
    pub skipped: Vec<Skipped>,
}

/// A run folder's parts the event file is made of.
struct Run {
    status: RunStatus,
    frame: DataFrame,
    config: String,
    /// When its frame was last written (seconds since the epoch): the end of its last epoch.
    end: f64,
}

/// Writes one event file per run folder of the sweep `results` (`results/<sweep>`) under
/// `out`; run folders without a status, without a finished epoch or damaged are skipped.
pub fn export(results: &Path, out: &Path) -> anyhow::Result<Export> {
    let dirs = store::run_dirs(results)?;
    let mut export = Export::default();
    let mut runs = Vec::new();
    for dir in dirs {
        let id = dir
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        match read_run(&dir) {
            Ok(run) => runs.push(run),
            Err(reason) => export.skipped.push(Skipped { id, reason }),
        }
    }
    let losses = loss_names(results);
    runs.sort_by(|a, b| a.status.label.cmp(&b.status.label));
    let names: Vec<(&str, &str)> = runs
        .iter()
        .map(|r| (r.status.label.as_str(), r.status.id.as_str()))
        .collect();
    let folders = folder_names(&names);
    for (run, folder) in runs.iter().zip(folders) {
        export
            .runs
            .push(write_run(run, losses.get(&run.status.id), out, folder)?);
    }
    Ok(export)
}

/// Run id → the run's loss name (`focal γ=1` for a loss table on the loss axis), from the
/// sweep's `runs.parquet`; empty when the sweep has none yet (shards not collected).
fn loss_names(results: &Path) -> BTreeMap<String, String> {
    let Ok(runs) = store::read_parquet(&results.join("runs.parquet")) else {
        return BTreeMap::new();
    };
    let text = |name: &str| -> Vec<String> {
        runs.column(name)
            .and_then(|c| c.str().cloned())
            .map(|c| {
                c.iter()
                    .map(|v| v.unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    text("run_id").into_iter().zip(text("loss")).collect()
}

/// A run folder's status, frame and configuration; the reason it is skipped otherwise.
fn read_run(dir: &Path) -> Result<Run, String> {
    let problems = store::damage(dir);
    if !problems.is_empty() {
        return Err(format!("damaged: {}", problems.join("; ")));
    }
    let status = match store::read_status(dir) {
        Ok(Some(status)) => status,
        Ok(None) => return Err("no status.json: the run never started".into()),
        Err(e) => return Err(format!("{e:#}")),
    };
    let frame_path = dir.join("metrics.parquet");
    if !frame_path.is_file() {
        return Err("no metrics.parquet: no epoch finished yet".into());
    }
    let frame = store::read_parquet(&frame_path).map_err(|e| format!("{e:#}"))?;
    let end = std::fs::metadata(&frame_path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    let config_path = dir.join("config.toml");
    let config = std::fs::read_to_string(&config_path)
        .map_err(|e| format!("cannot read {}: {e}", config_path.display()))?;
    Ok(Run {
        status,
        frame,
        config,
        end,
    })
}

/// A folder name per `(label, run id)`, in their order: the label with every character but
/// letters, digits and `=,.+-_` replaced by `_`, and `-<run id>` added to each of the
/// labels that would otherwise share a name.
pub fn folder_names(runs: &[(&str, &str)]) -> Vec<String> {
    let safe = |label: &str| -> String {
        let name: String = label
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || "=,.+-_".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        match name.trim_matches('.') {
            "" => "run".to_string(),
            _ => name,
        }
    };
    let names: Vec<String> = runs.iter().map(|(label, _)| safe(label)).collect();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for name in &names {
        *count.entry(name).or_default() += 1;
    }
    names
        .iter()
        .zip(runs)
        .map(|(name, (_, id))| match count[name.as_str()] {
            1 => name.clone(),
            _ => format!("{name}-{id}"),
        })
        .collect()
}

/// The numeric columns of a run's frame but the step, as `f64` (a missing value as NaN).
fn scalar_columns(frame: &DataFrame) -> anyhow::Result<Vec<(String, Vec<f64>)>> {
    super::metric_columns(frame)
        .map(|c| {
            let values = c.cast(&DataType::Float64)?;
            let values = values.f64()?.iter().map(|v| v.unwrap_or(f64::NAN));
            Ok((c.name().to_string(), values.collect()))
        })
        .collect()
}

/// The text summary of a run: its label and id, the commit of the build that trained it,
/// and its `config.toml`.
fn config_markdown(status: &RunStatus, config: &str) -> String {
    format!(
        "**{}** (run `{}`, trained by lossbench commit `{}`)\n\n```toml\n{}\n```\n",
        status.label,
        status.id,
        status.lossbench_commit,
        config.trim_end()
    )
}

/// The events that open a run's event file, at wall time `start`: the file version, the
/// run's configuration as text, and its grid axes as hparams (the loss axis named `loss`,
/// e.g. `focal γ=1`, when given).
fn header(status: &RunStatus, config: &str, loss: Option<&String>, start: f64) -> Vec<Event> {
    let mut events = vec![
        event::file_version(start),
        event::text(start, 0, "config", &config_markdown(status, config)),
    ];
    if !status.axes.is_empty() {
        let hparams = status
            .axes
            .iter()
            .map(|(k, v)| {
                let text = match loss {
                    Some(name) if k == "loss" => name.clone(),
                    _ => display_value(v),
                };
                (k.clone(), event::hparam(v, text))
            })
            .collect();
        events.push(event::hparams(start, "", hparams));
    }
    events
}

/// A run frame's epochs and its scalars: every numeric column but the step, one value per
/// epoch.
type Scalars = (Vec<i64>, Vec<(String, Vec<f64>)>);

/// The epochs and scalars of the frame of run `status`.
fn scalars_of(status: &RunStatus, frame: &DataFrame) -> anyhow::Result<Scalars> {
    let frame_name = || format!("the frame of run {} ({})", status.id, status.label);
    let steps = frame.column(STEP).and_then(|c| c.cast(&DataType::Int64));
    let steps =
        anyhow::Context::with_context(steps, || format!("{} has no {STEP} column", frame_name()))?;
    let steps: Vec<i64> = steps.i64()?.iter().map(|e| e.unwrap_or(0)).collect();
    let scalars = scalar_columns(frame).with_context(frame_name)?;
    Ok((steps, scalars))
}

/// The event file's name for run `id` started at `start` (seconds since the Unix epoch).
fn file_name(start: f64, id: &str) -> String {
    format!("events.out.tfevents.{:010}.lossbench.{id}", start as u64)
}

/// `events` framed as TFRecords.
fn records(events: &[Event]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for e in events {
        record::append_record(&mut bytes, &prost::Message::encode_to_vec(e));
    }
    bytes
}

/// The event file of one run, written to `out/<folder>/`, replacing the folder's other
/// event files.
fn write_run(
    run: &Run,
    loss: Option<&String>,
    out: &Path,
    folder: String,
) -> anyhow::Result<Exported> {
    let s = &run.status;
    let (steps, scalars) = scalars_of(s, &run.frame)?;
    // Wall times: the epochs end `seconds` apart, the last one when the frame was written.
    let seconds = scalars
        .iter()
        .find(|(name, _)| name == "seconds")
        .map(|(_, v)| {
            v.iter()
                .map(|s| if s.is_finite() { *s } else { 0.0 })
                .collect()
        })
        .unwrap_or_else(|| vec![0.0; steps.len()]);
    let start = run.end - seconds.iter().sum::<f64>();
    let mut wall = start;
    let mut events = header(s, &run.config, loss, start);
    for (i, &step) in steps.iter().enumerate() {
        wall += seconds[i];
        for (tag, values) in &scalars {
            events.push(event::scalar(wall, step, tag, values[i]));
        }
    }
    let dir = out.join(&folder);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = file_name(start, &s.id);
    let file = dir.join(&name);
    store::write_atomic(&file, &records(&events))?;
    remove_other_event_files(&dir, &name)?;
    Ok(Exported {
        id: s.id.clone(),
        label: s.label.clone(),
        folder,
        file,
        epochs: steps.len(),
        tags: scalars.into_iter().map(|(tag, _)| tag).collect(),
    })
}

/// Removes every event file of `dir` but `keep`: an earlier export's, whose scalars
/// TensorBoard would show a second time.
fn remove_other_event_files(dir: &Path, keep: &str) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        if name.contains("tfevents") && name != keep && path.is_file() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove the earlier export {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_safe_for_a_file_system_and_unique() {
        let names = folder_names(&[
            ("loss=focal γ=1,seed=2", "aaa"),
            ("a/b", "bbb"),
            ("a b", "ccc"),
            ("..", "ddd"),
            ("loss=bce,seed=1", "eee"),
        ]);
        assert_eq!(
            names,
            [
                "loss=focal_γ=1,seed=2",
                "a_b-bbb",
                "a_b-ccc",
                "run",
                "loss=bce,seed=1"
            ]
        );
    }

    #[test]
    fn every_numeric_column_but_the_epoch_is_a_scalar() {
        let frame = df!(
            "epoch" => [1u32, 2],
            "train_loss" => [0.5f64, 0.25],
            "iou_0" => [Some(0.1f64), None],
            "note" => ["a", "b"],
        )
        .expect("frame");
        let columns = scalar_columns(&frame).expect("columns");
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["train_loss", "iou_0"]);
        assert_eq!(columns[0].1, [0.5, 0.25]);
        assert!(columns[1].1[1].is_nan());
    }
}
