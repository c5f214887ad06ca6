//! Results on disk: one folder per run (`results/<sweep>/runs/<run-id>/` with `config.toml`,
//! `metrics.parquet`, `status.json` and the weights), and the sweep's frame rebuilt from
//! those folders (`results/<sweep>/metrics.parquet` and `.csv`). Every file is written
//! atomically (a temporary file in the same folder, then a rename), so a crash never leaves
//! a half-written file that a later step would trust.
//!
//! The store owns these formats: [`status`] (`status.json` and what damage it reveals),
//! [`frame`] (the epoch rows and the frames' columns), [`atomic`] writes and Parquet
//! reads, [`dataset`] (`sweep.json`, `dataset.json`, the PNG strips), [`checkpoint`]s and
//! the results folder's [`lock`], a tuned sweep's record of its [`tuning`], and how a sweep
//! [stands](standing) while it runs.

use std::path::{Path, PathBuf};

use anyhow::Context;
use polars::prelude::*;

pub mod atomic;
pub mod checkpoint;
pub mod dataset;
pub mod frame;
pub mod lock;
pub mod standing;
pub mod status;
#[cfg(test)]
mod tests;
pub mod tuning;

pub use atomic::{read_parquet, write_atomic, write_atomic_with, write_frame};
pub use dataset::{
    dataset_dir, read_dataset_info, read_sweep_info, DatasetInfo, SweepInfo, EXAMPLES,
};
pub use frame::{
    bitwise_difference, epoch_frame, epoch_rows, grad_share_column, iou_column,
    quality_class_column, quality_column, quality_columns, read_quality, record_selection,
    reliability_column, test_column, EpochRow, Selection, SplitScores, QUALITY_PER_CLASS,
    QUALITY_SCALARS, RELIABILITY_PARTS, SELECTED_EPOCH, TEST, TEST_PREFIX, TIMINGS, VAL,
};
pub use status::{
    damage, finished_by_commit, other_builds_warning, read_run_config, read_status, run_dirs,
    verify, RunStatus, State, LIBTORCH_VERSION, VOUCHED,
};
pub use tuning::{read_tuning, write_tuning, Choice, Trial, Tuning, TUNING_JSON};

use crate::plan::{Plan, PlannedRun};
use checkpoint::Checkpoint;
use frame::{runs_frame, with_lr, with_run_columns};
use status::{file_hash, inspect};

/// The trained (or selected) weights' file in a run's folder.
pub const WEIGHTS: &str = "weights.safetensors";

/// The folders of one sweep under `results/<sweep>/`.
#[derive(Debug, Clone)]
pub struct SweepStore {
    pub root: PathBuf,
}

impl SweepStore {
    /// The store of `plan`'s sweep; nothing is created until something is written.
    pub fn new(root: PathBuf) -> Self {
        SweepStore { root }
    }

    /// Creates the results folder if needed and takes its lock (`.lock`, or `.lock-<name>`
    /// for one shard's); fails with a plain message when the folder is a file, cannot be
    /// written, or another live process holds the lock.
    pub fn lock(&self, name: Option<&str>) -> anyhow::Result<lock::Lock> {
        if self.root.exists() && !self.root.is_dir() {
            anyhow::bail!(
                "the results folder {} is a file, not a folder; move the file away or set sweep.results to another folder",
                self.root.display()
            );
        }
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create the results folder {}", self.root.display()))?;
        let file = match name {
            None => ".lock".to_string(),
            Some(n) => format!(".lock-{n}"),
        };
        let lock = lock::Lock::acquire(&self.root.join(file))?;
        self.remove_stale_temporaries()?;
        Ok(lock)
    }

    /// Removes the temporary files that a killed process left half written in the sweep's
    /// folder (run folders are cleared when their run starts again).
    fn remove_stale_temporaries(&self) -> anyhow::Result<()> {
        let entries = std::fs::read_dir(&self.root)
            .with_context(|| format!("cannot list {}", self.root.display()))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some((_, pid)) = name.rsplit_once(".tmp.") else {
                continue;
            };
            let gone = pid
                .parse::<u32>()
                .is_ok_and(|pid| !Path::new("/proc").join(pid.to_string()).exists());
            if gone {
                std::fs::remove_file(entry.path())
                    .with_context(|| format!("cannot remove {}", entry.path().display()))?;
            }
        }
        Ok(())
    }

    /// `results/<sweep>/runs/<id>`.
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.root.join("runs").join(id)
    }

    /// Reads a run's status, `None` when the run has none yet.
    pub fn status(&self, id: &str) -> anyhow::Result<Option<RunStatus>> {
        read_status(&self.run_dir(id))
    }

    /// The checkpoint an earlier, unfinished attempt of run `id` left, with its rows up to
    /// the checkpoint's epoch: what a resumed run goes on from. `Ok(None)` when there is
    /// none; an error when there is one that cannot be used (the run then starts over).
    pub fn resumable(&self, id: &str) -> anyhow::Result<Option<(Checkpoint, Vec<EpochRow>)>> {
        let dir = self.run_dir(id);
        let path = dir.join(checkpoint::FILE);
        if !path.exists() {
            return Ok(None);
        }
        let checkpoint = checkpoint::read(&path)?;
        let mut rows = epoch_rows(&read_parquet(&dir.join("metrics.parquet"))?)?;
        let consistent = rows.len() >= checkpoint.epoch
            && rows
                .iter()
                .take(checkpoint.epoch)
                .enumerate()
                .all(|(i, r)| r.epoch == i + 1);
        if !consistent {
            anyhow::bail!(
                "{} holds {} epochs but the checkpoint is at epoch {}",
                dir.join("metrics.parquet").display(),
                rows.len(),
                checkpoint.epoch
            );
        }
        rows.truncate(checkpoint.epoch);
        Ok(Some((checkpoint, rows)))
    }

    /// Removes the run's checkpoint (a finished run needs none).
    pub fn remove_checkpoint(&self, id: &str) -> anyhow::Result<()> {
        let path = self.run_dir(id).join(checkpoint::FILE);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", path.display()))
            }
            _ => Ok(()),
        }
    }

    /// Writes the resolved `config.toml` (the text `config`) and a `running` status of a run
    /// that goes on from its checkpoint, keeping its folder.
    pub fn resume_run(
        &self,
        run: &PlannedRun<'_>,
        config: &str,
        status: &RunStatus,
    ) -> anyhow::Result<()> {
        // Temporary files of a write the kill cut short describe nothing.
        let dir = self.run_dir(&run.id());
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let path = entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if name.is_some_and(|n| n.ends_with(".tmp") || n.contains(".tmp.")) {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        write_atomic(&dir.join("config.toml"), config.as_bytes())?;
        self.write_status(status)
    }

    /// Creates the run's folder and writes its resolved `config.toml` (the text `config`)
    /// and a `running` status.
    pub fn start_run(
        &self,
        run: &PlannedRun<'_>,
        config: &str,
        status: &RunStatus,
    ) -> anyhow::Result<()> {
        let dir = self.run_dir(&run.id());
        // Nothing of an earlier, unfinished attempt (frames, weights, temporary files of a
        // killed write) describes this run any more.
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        write_atomic(&dir.join("config.toml"), config.as_bytes())?;
        self.write_status(status)
    }

    /// Writes `status.json`, with the hashes of the run's [`VOUCHED`] files as they are now.
    pub fn write_status(&self, status: &RunStatus) -> anyhow::Result<()> {
        let dir = self.run_dir(&status.id);
        let mut status = status.clone();
        status.files = VOUCHED
            .iter()
            .filter(|name| dir.join(name).is_file())
            .map(|name| Ok((name.to_string(), file_hash(&dir.join(name))?)))
            .collect::<anyhow::Result<_>>()?;
        let json = serde_json::to_vec_pretty(&status)?;
        write_atomic(&dir.join("status.json"), &json)
    }

    /// [`damage`] of run `id`'s folder.
    pub fn damage(&self, id: &str) -> Vec<String> {
        damage(&self.run_dir(id))
    }

    /// Run `id`'s status when its folder is sound; `None` when it has none, or when the
    /// folder is damaged (such a run counts as not started, and runs again).
    pub fn sound_status(&self, id: &str) -> Option<RunStatus> {
        match inspect(&self.run_dir(id)) {
            (status, problems) if problems.is_empty() => status,
            _ => None,
        }
    }

    /// Records a finished run's `selection` (when it made one) on its `rows` and writes them.
    pub fn write_selection(
        &self,
        id: &str,
        rows: &mut [EpochRow],
        selection: Option<&Selection>,
    ) -> anyhow::Result<()> {
        match selection {
            Some(selection) => {
                record_selection(rows, selection);
                self.write_rows(id, rows)
            }
            None => Ok(()),
        }
    }

    /// The rows run `id` wrote (`metrics.parquet`), read back.
    pub fn rows(&self, id: &str) -> anyhow::Result<Vec<EpochRow>> {
        let path = self.run_dir(id).join("metrics.parquet");
        epoch_rows(&read_parquet(&path)?).with_context(|| format!("in {}", path.display()))
    }

    /// Writes the run's rows so far as `metrics.parquet`.
    pub fn write_rows(&self, id: &str, rows: &[EpochRow]) -> anyhow::Result<()> {
        let mut frame = epoch_frame(rows)?;
        let path = self.run_dir(id).join("metrics.parquet");
        write_atomic_with(&path, |file| {
            ParquetWriter::new(file).finish(&mut frame)?;
            Ok(())
        })
    }

    /// Writes `sweep.json`: what the sweep is (its name, axes, planned runs, the sweep file
    /// and `--set` arguments, `[report]`) and which builds made its finished runs, from
    /// `statuses`. `lossbench run` writes it when it starts, so that `lossbench status` and
    /// a report of a running sweep know what is planned, and again with the frame.
    pub fn record_sweep<'a>(
        &self,
        plan: &Plan,
        statuses: impl IntoIterator<Item = &'a RunStatus>,
    ) -> anyhow::Result<()> {
        let info = SweepInfo {
            name: plan.sweep.name.clone(),
            description: plan.sweep.description.clone(),
            plots_dir: plan.sweep.plots_dir(),
            axes: plan.sweep.axes.iter().map(|a| a.label.clone()).collect(),
            runs: plan.len(),
            file: Some(plan.sweep.file.display().to_string()),
            sets: plan.sweep.overrides.clone(),
            report: plan.sweep.report.clone(),
            lossbench_commit: Some(crate::provenance::COMMIT.to_string()),
            builds: finished_by_commit(statuses),
        };
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create {}", self.root.display()))?;
        write_atomic(
            &self.root.join("sweep.json"),
            &serde_json::to_vec_pretty(&info)?,
        )
    }

    /// Rebuilds the sweep's frame from the run folders of `plan` and writes it as
    /// `metrics.parquet` and `metrics.csv`, and one row per run as `runs.parquet` and
    /// `runs.csv`. Returns the frame.
    pub fn rebuild_frame(&self, plan: &Plan) -> anyhow::Result<DataFrame> {
        let (mut frame, statuses) = self.frame(plan)?;
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create {}", self.root.display()))?;
        write_frame(&mut frame, &self.root, "metrics")?;
        let mut runs = runs_frame(&statuses, plan)?;
        write_frame(&mut runs, &self.root, "runs")?;
        self.record_sweep(plan, statuses.iter().filter_map(|(_, s)| s.as_ref()))?;
        Ok(frame)
    }

    /// The sweep's frame built from the run folders of `plan` as they are now, and each
    /// run's status, writing nothing (a report of a sweep still running reads it).
    #[allow(clippy::type_complexity)]
    pub fn frame<'a>(
        &self,
        plan: &'a Plan,
    ) -> anyhow::Result<(DataFrame, Vec<(PlannedRun<'a>, Option<RunStatus>)>)> {
        let mut epochs: Option<DataFrame> = None;
        let mut statuses = Vec::with_capacity(plan.len());
        for run in plan.runs() {
            let id = run.id();
            let dir = self.run_dir(&id);
            // A damaged run folder counts as a run not yet started: its next sweep redoes it.
            let status = self.sound_status(&id);
            let frame_path = dir.join("metrics.parquet");
            if let Some(status) = &status {
                let rows = match status.epochs_done {
                    0 => None,
                    _ => read_parquet(&frame_path).ok(),
                };
                if let Some(rows) = rows {
                    let config = run.config()?;
                    // Frames written before the learning rate was recorded: their runs had a
                    // constant one.
                    let rows = with_lr(rows, config.optim.lr);
                    let columns = (status.state, status.lossbench_commit.as_str());
                    let rows = with_run_columns(rows, &run, &config, plan, columns)?;
                    epochs = Some(match epochs {
                        None => rows,
                        Some(all) => {
                            let (mut all, rows) = aligned(all, rows)?;
                            anyhow::Context::with_context(all.vstack_mut(&rows), || {
                                format!("run {id} has other columns than the runs before it")
                            })?;
                            all
                        }
                    });
                }
            }
            statuses.push((run, status));
        }
        let frame = match epochs {
            Some(f) => f,
            None => {
                let first = plan.run(0).context("the sweep has no runs")?;
                let config = first.config()?;
                let columns = (State::Running, crate::provenance::COMMIT);
                with_run_columns(epoch_frame(&[])?, &first, &config, plan, columns)?.clear()
            }
        };
        Ok((frame, statuses))
    }
}

/// `all` and `rows` with the same columns in the same order: a column that only one has
/// (a run's `selected_epoch` and `test_` columns, which an unfinished run or a dataset
/// without a test split lacks) is added to the other as nulls, after the columns of `all`.
fn aligned(mut all: DataFrame, mut rows: DataFrame) -> anyhow::Result<(DataFrame, DataFrame)> {
    fn add_missing(from: &DataFrame, to: &mut DataFrame) -> PolarsResult<()> {
        for column in from.columns() {
            if to.column(column.name()).is_err() {
                let nulls = Column::full_null(column.name().clone(), to.height(), column.dtype());
                to.with_column(nulls)?;
            }
        }
        Ok(())
    }
    add_missing(&rows, &mut all)?;
    add_missing(&all, &mut rows)?;
    let order: Vec<PlSmallStr> = all.get_column_names().into_iter().cloned().collect();
    let rows = rows.select(order)?;
    Ok((all, rows))
}
