//! How a sweep stands, read from its results folder alone while `lossbench run` trains it
//! (from another terminal, a Slurm login node): its runs by state, each running run's epoch
//! and last validation score, the time since the run started and an estimate of the time
//! left from the epochs measured so far, and the best run so far per loss. A tuned sweep's
//! stages (sub-folders with runs of their own) stand each on their own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::Serialize;

use super::lock::{holders, Holder};
use super::status::{read_status, run_dirs, RunStatus, State};
use super::{read_parquet, read_sweep_info};

/// The score a standing reports: the validation mIoU.
pub const SCORE: &str = "val_miou";

/// Runs by state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub done: usize,
    pub running: usize,
    pub pending: usize,
    pub failed: usize,
    pub diverged: usize,
    /// Stopped before their end: interrupted, or running when their process died.
    pub interrupted: usize,
}

/// A run in progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Running {
    pub id: String,
    pub label: String,
    pub epoch: usize,
    pub epochs: usize,
    /// [`SCORE`] at its last recorded epoch.
    pub score: Option<f64>,
}

/// The best finished run of one loss so far, by its last [`SCORE`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Best {
    pub loss: String,
    pub label: String,
    pub score: f64,
}

/// How one results folder stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Standing {
    pub root: PathBuf,
    /// Runs the sweep plans (from `sweep.json`), when known.
    pub planned: Option<usize>,
    pub counts: Counts,
    pub running: Vec<Running>,
    /// The processes training it now, by lock (`.lock`, or a shard's `.lock-shard-I-of-N`).
    pub holders: Vec<(String, Holder)>,
    /// Seconds since the earliest holder started.
    pub elapsed_seconds: Option<f64>,
    /// The epochs still to train times the seconds an epoch took so far, shared over the
    /// runs training side by side.
    pub left_seconds: Option<f64>,
    pub best: Vec<Best>,
    /// A tuned sweep's stages.
    pub stages: Vec<Standing>,
}

/// How the sweep in `root` (a `results/<sweep>` folder) stands now.
pub fn standing(root: &Path) -> anyhow::Result<Standing> {
    let mut here = if root.join("runs").is_dir() {
        of_folder(root)?
    } else {
        empty(root)
    };
    for stage in stages(root, 2)? {
        here.stages.push(of_folder(&stage)?);
    }
    if here.stages.is_empty() && !root.join("runs").is_dir() {
        anyhow::bail!(
            "{} is not a sweep's results folder (no runs/ in it); give results/<sweep>",
            root.display()
        );
    }
    Ok(here)
}

/// The folders under `root`, at most `depth` levels down, that hold runs of their own: a
/// tuned sweep's stages (`untuned/`, `tune/rung-0/`, ...), in path order.
fn stages(root: &Path, depth: usize) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    if depth == 0 {
        return Ok(found);
    }
    let mut children: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", root.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "runs"))
        .collect();
    children.sort();
    for child in children {
        if child.join("runs").is_dir() {
            found.push(child.clone());
        }
        found.extend(stages(&child, depth - 1)?);
    }
    Ok(found)
}

fn empty(root: &Path) -> Standing {
    Standing {
        root: root.to_path_buf(),
        planned: None,
        counts: Counts::default(),
        running: vec![],
        holders: holders(root),
        elapsed_seconds: None,
        left_seconds: None,
        best: vec![],
        stages: vec![],
    }
}

/// The standing of one folder with `runs/`.
fn of_folder(root: &Path) -> anyhow::Result<Standing> {
    let mut out = empty(root);
    out.planned = read_sweep_info(root).ok().map(|i| i.runs);
    let alive = !out.holders.is_empty();
    let (mut seconds, mut epochs_done, mut epochs_left, mut epochs_seen) = (0.0, 0, 0, Vec::new());
    let mut best: BTreeMap<String, Best> = BTreeMap::new();
    let mut started = 0;
    for dir in run_dirs(root)? {
        let Ok(Some(status)) = read_status(&dir) else {
            continue;
        };
        started += 1;
        seconds += status.seconds;
        epochs_done += status.epochs_done;
        epochs_seen.push(status.epochs);
        let score = last_score(&dir);
        match status.state {
            State::Done => {
                out.counts.done += 1;
                if let Some(score) = score {
                    keep_best(&mut best, &dir, &status, score);
                }
            }
            State::Diverged => out.counts.diverged += 1,
            State::Failed => out.counts.failed += 1,
            State::Interrupted => out.counts.interrupted += 1,
            State::Running if alive => {
                out.counts.running += 1;
                epochs_left += status.epochs.saturating_sub(status.epochs_done);
                out.running.push(Running {
                    id: status.id.clone(),
                    label: status.label.clone(),
                    epoch: status.epochs_done,
                    epochs: status.epochs,
                    score,
                });
            }
            State::Running => out.counts.interrupted += 1,
        }
    }
    out.counts.pending = out.planned.map_or(0, |p| p.saturating_sub(started));
    let typical = match epochs_seen.len() {
        0 => 0,
        n => epochs_seen.iter().sum::<usize>() / n,
    };
    epochs_left += out.counts.pending * typical;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    out.elapsed_seconds = out
        .holders
        .iter()
        .map(|(_, h)| h.started)
        .min()
        .map(|s| (now - s as f64).max(0.0));
    if alive && epochs_done > 0 {
        let side_by_side = out.counts.running.max(1) as f64;
        out.left_seconds = Some(epochs_left as f64 * seconds / epochs_done as f64 / side_by_side);
    }
    out.best = best.into_values().collect();
    Ok(out)
}

/// The run's loss: its `loss` axis, else the `loss.name` of its configuration.
fn loss_of(dir: &Path, status: &RunStatus) -> String {
    if let Some((_, v)) = status.axes.iter().find(|(k, _)| k == "loss") {
        return v.as_str().map_or_else(|| v.to_string(), str::to_string);
    }
    super::read_run_config(dir).map_or_else(|_| "?".to_string(), |c| c.loss.name.to_string())
}

fn keep_best(best: &mut BTreeMap<String, Best>, dir: &Path, status: &RunStatus, score: f64) {
    let loss = loss_of(dir, status);
    let better = best.get(&loss).is_none_or(|b| score > b.score);
    if better {
        best.insert(
            loss.clone(),
            Best {
                loss,
                label: status.label.clone(),
                score,
            },
        );
    }
}

/// [`SCORE`] at the last recorded epoch of the run in `dir`.
fn last_score(dir: &Path) -> Option<f64> {
    let frame = read_parquet(&dir.join("metrics.parquet")).ok()?;
    let column = frame.column(SCORE).ok()?.cast(&DataType::Float64).ok()?;
    let values = column.f64().ok()?;
    values.get(values.len().checked_sub(1)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run folder `dir` whose status says `state`.
    fn run(dir: &Path, id: &str, state: &str) {
        let dir = dir.join("runs").join(id);
        std::fs::create_dir_all(&dir).expect("a run folder");
        let status = serde_json::json!({
            "id": id, "label": format!("loss=cce,seed={id}"), "axes": [], "state": state,
            "epochs": 2, "epochs_done": 2, "diverged_epoch": null, "error": null,
            "seconds": 1.0, "lossbench_version": "0", "libtorch_version": "0",
            "device": "cpu", "threads": 1,
        });
        std::fs::write(dir.join("status.json"), status.to_string()).expect("status.json");
    }

    #[test]
    fn a_tuned_sweep_stands_stage_by_stage() {
        let root = tempfile::tempdir().expect("tempdir");
        let root = root.path();
        run(&root.join("tune/rung-0"), "1", "done");
        run(&root.join("tune/rung-0"), "2", "failed");
        run(&root.join("tune/rung-1"), "3", "diverged");
        run(&root.join("untuned"), "4", "done");
        let s = standing(root).expect("a standing");
        let folders: Vec<PathBuf> = s.stages.iter().map(|s| s.root.clone()).collect();
        assert_eq!(
            folders,
            ["tune/rung-0", "tune/rung-1", "untuned"].map(|f| root.join(f))
        );
        assert_eq!((s.stages[0].counts.done, s.stages[0].counts.failed), (1, 1));
        assert_eq!(s.stages[1].counts.diverged, 1);
        assert!(standing(&root.join("nothing")).is_err());
    }
}
