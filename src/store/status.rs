//! `status.json` of a run folder, the damage found against it, and `lossbench verify`.
//!
//! The status records a run's state and the hashes of the files it vouches for.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::atomic::read_parquet;
use super::checkpoint;
use crate::config::RunConfig;
use crate::plan::PlannedRun;
use crate::provenance;

/// The libtorch this binary was built against (read by the build script).
pub const LIBTORCH_VERSION: &str = env!("LOSSBENCH_LIBTORCH_VERSION");

/// How a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Started and not finished: the process may still be running it, or it crashed.
    Running,
    Done,
    /// The loss became NaN or infinite; `diverged_epoch` says when.
    Diverged,
    Failed,
    Interrupted,
}

impl State {
    /// Whether a resumed sweep keeps this run rather than running it again: a finished run
    /// (done, or diverged, which a rerun would reproduce).
    pub fn is_final(self) -> bool {
        matches!(self, State::Done | State::Diverged)
    }

    /// The name written in frames and reports.
    pub fn name(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Done => "done",
            State::Diverged => "diverged",
            State::Failed => "failed",
            State::Interrupted => "interrupted",
        }
    }
}

/// `status.json` of a run folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunStatus {
    pub id: String,
    pub label: String,
    pub axes: Vec<(String, toml::Value)>,
    pub state: State,
    pub epochs: usize,
    pub epochs_done: usize,
    pub diverged_epoch: Option<usize>,
    pub error: Option<String>,
    /// Wall-clock seconds of the training so far.
    pub seconds: f64,
    pub lossbench_version: String,
    /// The commit of the build that wrote this status ([`provenance::COMMIT`]); `unknown`
    /// in a status written before commits were recorded.
    #[serde(default = "unknown_commit")]
    pub lossbench_commit: String,
    /// The commits of other builds that trained this run before it was resumed by this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_commits: Vec<String>,
    pub libtorch_version: String,
    pub device: String,
    /// The intra-op thread count the run used; a bitwise rerun must use the same.
    pub threads: usize,
    /// File name → BLAKE3 hash of each of the run's [`VOUCHED`] files that existed when the
    /// status was written: what a resumed sweep and `lossbench verify` check the folder
    /// against.
    #[serde(default)]
    pub files: std::collections::BTreeMap<String, String>,
    /// Wall-clock seconds this attempt spent writing checkpoints and hashing the files for
    /// the status (part of `seconds`).
    #[serde(default)]
    pub checkpoint_seconds: f64,
    /// The size of the last checkpoint written, in bytes.
    #[serde(default)]
    pub checkpoint_bytes: u64,
}

fn unknown_commit() -> String {
    provenance::UNKNOWN.to_string()
}

/// The files of a run folder whose hashes `status.json` records.
pub const VOUCHED: [&str; 4] = [
    "metrics.parquet",
    "weights.safetensors",
    "predictions.png",
    checkpoint::FILE,
];

/// The BLAKE3 hash of the file at `path`, in hex.
pub(super) fn file_hash(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}

/// What is wrong with the run folder `dir`, one line per damaged file naming it: a
/// `status.json` that cannot be read; and, once the run has stopped (any state but
/// running), a file it vouches for that is missing or no longer matches its hash. A running
/// run (a killed process) is checked when it resumes, by reading its frame and checkpoint.
/// Empty for a sound folder.
pub fn damage(dir: &Path) -> Vec<String> {
    inspect(dir).1
}

/// The run folder `dir`'s status, when it can be read, and its [`damage`], from one read of
/// `status.json`.
pub(super) fn inspect(dir: &Path) -> (Option<RunStatus>, Vec<String>) {
    let status = match read_status(dir) {
        Ok(Some(status)) => status,
        Ok(None) => return (None, vec![]),
        Err(e) => return (None, vec![format!("{e:#}")]),
    };
    let mut problems = Vec::new();
    if status.state != State::Running {
        for (name, hash) in &status.files {
            let path = dir.join(name);
            match file_hash(&path) {
                Err(_) => problems.push(format!("{}: missing", path.display())),
                Ok(found) if &found != hash => problems.push(format!(
                    "{}: does not match its hash in status.json (truncated or changed)",
                    path.display()
                )),
                Ok(_) => {}
            }
        }
    }
    (Some(status), problems)
}

/// The run folders of the sweep folder `root` (`root/runs/*`), in name order. An error when
/// `root` is not a sweep's results folder or cannot be listed.
pub fn run_dirs(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let runs = root.join("runs");
    let entries = std::fs::read_dir(&runs).with_context(|| {
        format!(
            "{} is not a sweep's results folder (it has no runs/ folder); give results/<sweep>",
            root.display()
        )
    })?;
    let mut dirs = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", runs.display()))?
            .path();
        if path.is_dir() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Every damaged file of the sweep folder `root`, one line each, changing nothing: each run
/// folder's [`damage`], the frame and checkpoint of a run that stopped while running when
/// they cannot be read, and the sweep's frames when they cannot be read. Also the number of
/// run folders looked at. An error when `root` is not a sweep's results folder.
pub fn verify(root: &Path) -> anyhow::Result<(usize, Vec<String>)> {
    let dirs = run_dirs(root)?;
    let mut problems = Vec::new();
    for dir in &dirs {
        problems.extend(damage(dir));
        let running = read_status(dir)
            .ok()
            .flatten()
            .is_some_and(|s| s.state == State::Running);
        if running {
            let frame = dir.join("metrics.parquet");
            if frame.exists() {
                if let Err(e) = read_parquet(&frame) {
                    problems.push(format!("{}: {e:#}", frame.display()));
                }
            }
            let path = dir.join(checkpoint::FILE);
            if path.exists() {
                if let Err(e) = checkpoint::read(&path) {
                    problems.push(format!("{}: {e:#}", path.display()));
                }
            }
        }
    }
    for name in ["metrics.parquet", "runs.parquet"] {
        let path = root.join(name);
        if path.exists() {
            if let Err(e) = read_parquet(&path) {
                problems.push(format!("{}: {e:#}", path.display()));
            }
        }
    }
    Ok((dirs.len(), problems))
}

impl RunStatus {
    /// The status of `run`, of `epochs` epochs, as it starts.
    pub fn starting(
        run: &PlannedRun<'_>,
        epochs: usize,
        device: tch::Device,
        threads: usize,
    ) -> Self {
        RunStatus {
            id: run.id(),
            label: run.label(),
            axes: run
                .axes()
                .map(|(label, value)| (label.to_string(), value.clone()))
                .collect(),
            state: State::Running,
            epochs,
            epochs_done: 0,
            diverged_epoch: None,
            error: None,
            seconds: 0.0,
            lossbench_version: env!("CARGO_PKG_VERSION").to_string(),
            lossbench_commit: provenance::COMMIT.to_string(),
            earlier_commits: Vec::new(),
            libtorch_version: LIBTORCH_VERSION.to_string(),
            device: format!("{device:?}").to_lowercase(),
            threads,
            files: Default::default(),
            checkpoint_seconds: 0.0,
            checkpoint_bytes: 0,
        }
    }
}

impl RunStatus {
    /// Keeps, in a resumed run's new status, the builds that trained it before: `earlier`'s
    /// commit and its own earlier ones, when they differ from this build's.
    pub fn resumes(&mut self, earlier: &RunStatus) {
        let commits = earlier
            .earlier_commits
            .iter()
            .chain(std::iter::once(&earlier.lossbench_commit));
        for commit in commits {
            if commit != &self.lossbench_commit && !self.earlier_commits.contains(commit) {
                self.earlier_commits.push(commit.clone());
            }
        }
    }
}

/// How many of `statuses`' finished runs (done or diverged) each build made, by commit.
pub fn finished_by_commit<'a>(
    statuses: impl IntoIterator<Item = &'a RunStatus>,
) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for status in statuses.into_iter().filter(|s| s.state.is_final()) {
        *counts.entry(status.lossbench_commit.clone()).or_insert(0) += 1;
    }
    counts
}

/// The warning a sweep resumed by this build gives when builds of other commits made some
/// of its finished runs (`counts`, from [`finished_by_commit`]); `None` when this build
/// made them all.
pub fn other_builds_warning(counts: &std::collections::BTreeMap<String, usize>) -> Option<String> {
    let this = provenance::COMMIT;
    if counts.keys().all(|c| c == this) {
        return None;
    }
    let made: Vec<String> = counts
        .iter()
        .map(|(commit, n)| {
            let whose = if commit == this { " (this build)" } else { "" };
            format!("{n} by {}{whose}", provenance::short(commit))
        })
        .collect();
    Some(format!(
        "warning: builds of other commits made finished runs of this sweep: {}; this build is {}. Its results will mix the builds' runs (the report names them); `lossbench run --force` trains them all with this build",
        made.join(", "),
        provenance::short(this)
    ))
}

/// Reads `status.json` in `dir`, `None` when there is none.
pub fn read_status(dir: &Path) -> anyhow::Result<Option<RunStatus>> {
    let path = dir.join("status.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&text)
        .map(Some)
        .with_context(|| format!("{} is not a run status", path.display()))
}

/// Reads a run folder's resolved `config.toml`.
pub fn read_run_config(dir: &Path) -> anyhow::Result<RunConfig> {
    let path = dir.join("config.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a run configuration", path.display()))
}
