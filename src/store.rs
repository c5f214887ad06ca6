//! Results on disk: one folder per run (`results/<sweep>/runs/<run-id>/` with `config.toml`,
//! `metrics.parquet`, `status.json` and the weights), and the sweep's frame rebuilt from
//! those folders (`results/<sweep>/metrics.parquet` and `.csv`). Every file is written
//! atomically (a temporary file in the same folder, then a rename), so a crash never leaves
//! a half-written file that a later step would trust.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

pub mod lock;

use crate::config::sweep::ReportConfig;
use crate::config::RunConfig;
use crate::plan::{display_value, Plan, PlannedRun};
use crate::run::train::EpochRow;

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

/// The files of a run folder whose hashes `status.json` records.
pub const VOUCHED: [&str; 4] = [
    "metrics.parquet",
    "weights.safetensors",
    "predictions.png",
    crate::run::checkpoint::FILE,
];

/// The BLAKE3 hash of the file at `path`, in hex.
fn file_hash(path: &Path) -> anyhow::Result<String> {
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
fn inspect(dir: &Path) -> (Option<RunStatus>, Vec<String>) {
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

/// Every damaged file of the sweep folder `root`, one line each, changing nothing: each run
/// folder's [`damage`], the frame and checkpoint of a run that stopped while running when
/// they cannot be read, and the sweep's frames when they cannot be read. Also the number of
/// run folders looked at. An error when `root` is not a sweep's results folder.
pub fn verify(root: &Path) -> anyhow::Result<(usize, Vec<String>)> {
    let runs = root.join("runs");
    let entries = std::fs::read_dir(&runs).with_context(|| {
        format!(
            "{} is not a sweep's results folder (it has no runs/ folder); give results/<sweep>",
            root.display()
        )
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
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
            let checkpoint = dir.join(crate::run::checkpoint::FILE);
            if checkpoint.exists() {
                if let Err(e) = crate::run::checkpoint::read(&checkpoint) {
                    problems.push(format!("{}: {e:#}", checkpoint.display()));
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
    /// The status of `run` as it starts.
    pub fn starting(run: &PlannedRun, device: tch::Device, threads: usize) -> Self {
        RunStatus {
            id: run.id.clone(),
            label: run.label.clone(),
            axes: run.axes.clone(),
            state: State::Running,
            epochs: run.config.train.epochs,
            epochs_done: 0,
            diverged_epoch: None,
            error: None,
            seconds: 0.0,
            lossbench_version: env!("CARGO_PKG_VERSION").to_string(),
            libtorch_version: LIBTORCH_VERSION.to_string(),
            device: format!("{device:?}").to_lowercase(),
            threads,
            files: Default::default(),
            checkpoint_seconds: 0.0,
            checkpoint_bytes: 0,
        }
    }
}

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
    pub fn resumable(
        &self,
        id: &str,
    ) -> anyhow::Result<Option<(crate::run::checkpoint::Checkpoint, Vec<EpochRow>)>> {
        let dir = self.run_dir(id);
        let path = dir.join(crate::run::checkpoint::FILE);
        if !path.exists() {
            return Ok(None);
        }
        let checkpoint = crate::run::checkpoint::read(&path)?;
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
        let path = self.run_dir(id).join(crate::run::checkpoint::FILE);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", path.display()))
            }
            _ => Ok(()),
        }
    }

    /// Writes the resolved `config.toml` (the text `config`) and a `running` status of a run
    /// that goes on from
    /// its checkpoint, keeping its folder.
    pub fn resume_run(
        &self,
        run: &PlannedRun,
        config: &str,
        status: &RunStatus,
    ) -> anyhow::Result<()> {
        // Temporary files of a write the kill cut short describe nothing.
        let dir = self.run_dir(&run.id);
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
        write_atomic(
            &self.run_dir(&run.id).join("config.toml"),
            config.as_bytes(),
        )?;
        self.write_status(status)
    }

    /// Creates the run's folder and writes its resolved `config.toml` (the text `config`)
    /// and a `running` status.
    pub fn start_run(
        &self,
        run: &PlannedRun,
        config: &str,
        status: &RunStatus,
    ) -> anyhow::Result<()> {
        let dir = self.run_dir(&run.id);
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

    /// Writes the run's rows so far as `metrics.parquet`.
    pub fn write_rows(&self, id: &str, rows: &[EpochRow]) -> anyhow::Result<()> {
        let mut frame = epoch_frame(rows)?;
        let path = self.run_dir(id).join("metrics.parquet");
        write_atomic_with(&path, |file| {
            ParquetWriter::new(file).finish(&mut frame)?;
            Ok(())
        })
    }

    /// Rebuilds the sweep's frame from the run folders of `plan` and writes it as
    /// `metrics.parquet` and `metrics.csv`, and one row per run as `runs.parquet` and
    /// `runs.csv`. Returns the frame.
    pub fn rebuild_frame(&self, plan: &Plan) -> anyhow::Result<DataFrame> {
        let mut epochs: Option<DataFrame> = None;
        let mut statuses = Vec::new();
        for run in &plan.runs {
            let dir = self.run_dir(&run.id);
            // A damaged run folder counts as a run not yet started: its next sweep redoes it.
            let status = self.sound_status(&run.id);
            let frame_path = dir.join("metrics.parquet");
            if let Some(status) = &status {
                let rows = match status.epochs_done {
                    0 => None,
                    _ => read_parquet(&frame_path).ok(),
                };
                // Frames written before the learning rate was recorded: their runs had a
                // constant one.
                let rows = rows.map(|mut rows| {
                    if rows.column("lr").is_err() {
                        let at = rows.get_column_index("seconds").unwrap_or(rows.width());
                        let lr = Column::new_scalar(
                            "lr".into(),
                            Scalar::from(run.config.optim.lr),
                            rows.height(),
                        );
                        let _ = rows.insert_column(at, lr);
                    }
                    rows
                });
                if let Some(rows) = rows {
                    let rows = with_run_columns(rows, run, plan, status.state)?;
                    epochs = Some(match epochs {
                        None => rows,
                        Some(mut all) => {
                            anyhow::Context::with_context(all.vstack_mut(&rows), || {
                                format!("run {} has other columns than the runs before it", run.id)
                            })?;
                            all
                        }
                    });
                }
            }
            statuses.push((run, status));
        }
        let mut frame = match epochs {
            Some(f) => f,
            None => {
                with_run_columns(epoch_frame(&[])?, &plan.runs[0], plan, State::Running)?.clear()
            }
        };
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create {}", self.root.display()))?;
        write_frame(&mut frame, &self.root, "metrics")?;
        let mut runs = runs_frame(&statuses, plan)?;
        write_frame(&mut runs, &self.root, "runs")?;
        let info = SweepInfo {
            name: plan.sweep.name.clone(),
            description: plan.sweep.description.clone(),
            plots_dir: plan.sweep.plots_dir(),
            axes: plan.sweep.axes.iter().map(|a| a.label.clone()).collect(),
            runs: plan.runs.len(),
            file: Some(plan.sweep.file.display().to_string()),
            report: plan.sweep.report.clone(),
        };
        write_atomic(
            &self.root.join("sweep.json"),
            &serde_json::to_vec_pretty(&info)?,
        )?;
        Ok(frame)
    }
}

/// `sweep.json`: the sweep as the report needs it, written with every frame rebuild.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepInfo {
    pub name: String,
    pub description: Option<String>,
    /// Where the report goes: `plots/<name>`.
    pub plots_dir: PathBuf,
    /// Axis labels (frame columns) in grid order.
    pub axes: Vec<String>,
    pub runs: usize,
    /// The sweep file as it was named on the command line.
    #[serde(default)]
    pub file: Option<String>,
    /// The sweep file's `[report]` table.
    #[serde(default)]
    pub report: ReportConfig,
}

/// Reads a sweep folder's `sweep.json`.
pub fn read_sweep_info(root: &Path) -> anyhow::Result<SweepInfo> {
    let path = root.join("sweep.json");
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "cannot read {}: {} is not a sweep's results folder (run `lossbench run` first)",
            path.display(),
            root.display()
        )
    })?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a sweep description", path.display()))
}

/// Reads a sweep folder's `dataset.json`.
pub fn read_dataset_info(root: &Path) -> anyhow::Result<DatasetInfo> {
    let path = root.join("dataset.json");
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a dataset description", path.display()))
}

/// The folder of the dataset files of dataset `name` (a value of the dataset axis: a name,
/// or a `data.root` path) in the sweep folder `root`: `datasets/<name>`, every character
/// other than letters, digits, `-` and `_` written `_`.
pub fn dataset_dir(root: &Path, name: &str) -> PathBuf {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    root.join("datasets").join(slug)
}

/// How many validation images the report shows predictions for.
pub const EXAMPLES: i64 = 4;

/// `dataset.json` of a sweep: what the report needs to know of the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub class_names: Vec<String>,
    pub palette: Vec<[u8; 3]>,
    /// Share of the training split's valid pixels in each class.
    pub train_frequencies: Vec<f64>,
    pub ignore_index: Option<i64>,
    pub height: i64,
    pub width: i64,
    /// The files of each split (and of each fold), for data read from files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<crate::data::SplitFiles>,
}

impl SweepStore {
    /// Where the dataset files of the dataset `name` of a sweep over several datasets live
    /// (`datasets/<name>/`, the name made a plain folder name); the sweep's own folder for
    /// `None`.
    pub fn dataset_dir(&self, name: Option<&str>) -> PathBuf {
        match name {
            Some(name) => dataset_dir(&self.root, name),
            None => self.root.clone(),
        }
    }

    /// Writes `dataset.json`, and the first validation images and their masks side by side
    /// as `examples.png` and `examples_mask.png` (class indices as grey levels), into
    /// [`SweepStore::dataset_dir`] of `name`.
    pub fn write_dataset(
        &self,
        data: &crate::data::Dataset,
        name: Option<&str>,
    ) -> anyhow::Result<()> {
        let dir = self.dataset_dir(name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let classes = data.num_classes();
        let masks = data.train.masks.reshape([-1]);
        let valid = match data.ignore_index {
            Some(i) => masks.masked_select(&masks.ne(i)),
            None => masks,
        };
        let counts = Vec::<i64>::try_from(&valid.bincount::<tch::Tensor>(None, classes))?;
        let total = counts.iter().sum::<i64>().max(1) as f64;
        let (height, width) = data.image_size();
        let info = DatasetInfo {
            class_names: data.class_names.clone(),
            palette: data.palette.clone(),
            train_frequencies: counts.iter().map(|c| *c as f64 / total).collect(),
            ignore_index: data.ignore_index,
            height,
            width,
            files: data.files.clone(),
        };
        write_atomic(
            &dir.join("dataset.json"),
            &serde_json::to_vec_pretty(&info)?,
        )?;
        let k = EXAMPLES.min(data.val.len());
        let images = data.display_images(&data.val, k);
        let rgb = (images.clamp(0.0, 1.0) * 255.0)
            .round()
            .to_kind(tch::Kind::Uint8);
        let rgb = if rgb.size()[1] == 1 {
            rgb.repeat([1, 3, 1, 1])
        } else {
            rgb.narrow(1, 0, 3)
        };
        // [k, 3, H, W] -> [H, k * W, 3]
        let strip = rgb
            .permute([2, 0, 3, 1])
            .reshape([height, k * width, 3])
            .contiguous();
        let bytes = Vec::<u8>::try_from(&strip.reshape([-1]))?;
        write_png(
            &dir.join("examples.png"),
            image::ColorType::Rgb8,
            (k * width) as u32,
            height as u32,
            &bytes,
        )?;
        write_index_strip(
            &dir.join("examples_mask.png"),
            &data.val.masks.narrow(0, 0, k),
        )
    }

    /// Writes a run's predictions for the example images as `predictions.png`.
    pub fn write_predictions(&self, id: &str, predictions: &tch::Tensor) -> anyhow::Result<()> {
        write_index_strip(&self.run_dir(id).join("predictions.png"), predictions)
    }
}

/// Writes index masks `[k, H, W]` side by side as an 8-bit grey PNG (255 stays 255).
fn write_index_strip(path: &Path, masks: &tch::Tensor) -> anyhow::Result<()> {
    let size = masks.size();
    let (k, h, w) = (size[0], size[1], size[2]);
    let strip = masks
        .clamp(0, 255)
        .to_kind(tch::Kind::Uint8)
        .permute([1, 0, 2])
        .reshape([h, k * w])
        .contiguous();
    let bytes = Vec::<u8>::try_from(&strip.reshape([-1]))?;
    write_png(path, image::ColorType::L8, (k * w) as u32, h as u32, &bytes)
}

fn write_png(
    path: &Path,
    colour: image::ColorType,
    width: u32,
    height: u32,
    bytes: &[u8],
) -> anyhow::Result<()> {
    write_atomic_with(path, |file| {
        let encoder = image::codecs::png::PngEncoder::new(std::io::BufWriter::new(file));
        image::ImageEncoder::write_image(encoder, bytes, width, height, colour.into())?;
        Ok(())
    })
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

/// The column naming each run's loss ([`PlannedRun::loss`]): the loss axis's column, or
/// a constant one when the loss is not an axis.
const LOSS_COLUMN: &str = "loss";

/// A constant column holding an axis value; the axis's values decide the type.
fn axis_column(name: &str, value: &toml::Value, all: &[toml::Value], len: usize) -> Column {
    let all_int = all.iter().all(|v| v.is_integer());
    let all_num = all.iter().all(|v| v.is_integer() || v.is_float());
    let all_bool = all.iter().all(toml::Value::is_bool);
    let scalar = match value {
        toml::Value::Integer(i) if all_int => Scalar::from(*i),
        toml::Value::Integer(i) if all_num => Scalar::from(*i as f64),
        toml::Value::Float(f) if all_num => Scalar::from(*f),
        toml::Value::Boolean(b) if all_bool => Scalar::from(*b),
        other => Scalar::from(PlSmallStr::from(display_value(other))),
    };
    Column::new_scalar(name.into(), scalar, len)
}

/// Adds `run_id`, `label`, `status`, one column per axis, and `loss` and `seed` when they
/// are not axes, in front of a run's epoch rows.
fn with_run_columns(
    rows: DataFrame,
    run: &PlannedRun,
    plan: &Plan,
    state: State,
) -> anyhow::Result<DataFrame> {
    let n = rows.height();
    let mut columns = vec![
        Column::new_scalar(
            "run_id".into(),
            Scalar::from(PlSmallStr::from(run.id.as_str())),
            n,
        ),
        Column::new_scalar(
            "label".into(),
            Scalar::from(PlSmallStr::from(run.label.as_str())),
            n,
        ),
        Column::new_scalar(
            "status".into(),
            Scalar::from(PlSmallStr::from(state.name())),
            n,
        ),
    ];
    for (axis, (_, value)) in plan.sweep.axes.iter().zip(&run.axes) {
        if axis.label == LOSS_COLUMN {
            continue;
        }
        columns.push(axis_column(&axis.label, value, &axis.values, n));
    }
    columns.push(Column::new_scalar(
        LOSS_COLUMN.into(),
        Scalar::from(PlSmallStr::from(run.loss.as_str())),
        n,
    ));
    columns.push(Column::new_scalar(
        "schedule".into(),
        Scalar::from(PlSmallStr::from(run.config.optim.schedule.name())),
        n,
    ));
    let labels: Vec<&str> = plan.sweep.axes.iter().map(|a| a.label.as_str()).collect();
    if !labels.contains(&"seed") {
        columns.push(Column::new_scalar(
            "seed".into(),
            Scalar::from(run.config.train.seed as i64),
            n,
        ));
    }
    columns.extend(rows.columns().iter().cloned());
    Ok(DataFrame::new(n, columns)?)
}

/// One row per planned run: id, label, axes, status, epochs done and the error if any.
fn runs_frame(
    statuses: &[(&PlannedRun, Option<RunStatus>)],
    plan: &Plan,
) -> anyhow::Result<DataFrame> {
    let n = statuses.len();
    let text = |f: &dyn Fn(&PlannedRun, Option<&RunStatus>) -> String| -> Vec<String> {
        statuses.iter().map(|(r, s)| f(r, s.as_ref())).collect()
    };
    let mut columns = vec![
        Column::new("run_id".into(), text(&|r, _| r.id.clone())),
        Column::new("label".into(), text(&|r, _| r.label.clone())),
    ];
    columns.push(Column::new(
        LOSS_COLUMN.into(),
        text(&|r, _| r.loss.clone()),
    ));
    for (i, axis) in plan.sweep.axes.iter().enumerate() {
        if axis.label == LOSS_COLUMN {
            continue;
        }
        let cells: Vec<Column> = statuses
            .iter()
            .map(|(r, _)| axis_column(&axis.label, &r.axes[i].1, &axis.values, 1))
            .collect();
        let mut col = cells[0].clone();
        for c in &cells[1..] {
            col.append(c)?;
        }
        columns.push(col);
    }
    columns.push(Column::new(
        "status".into(),
        text(&|_, s| s.map_or("pending", |s| s.state.name()).to_string()),
    ));
    columns.push(Column::new(
        "epochs_done".into(),
        statuses
            .iter()
            .map(|(_, s)| s.as_ref().map_or(0, |s| s.epochs_done as u32))
            .collect::<Vec<u32>>(),
    ));
    columns.push(Column::new(
        "threads".into(),
        statuses
            .iter()
            .map(|(_, s)| s.as_ref().map_or(0, |s| s.threads as u32))
            .collect::<Vec<u32>>(),
    ));
    columns.push(Column::new(
        "error".into(),
        text(&|_, s| s.and_then(|s| s.error.clone()).unwrap_or_default()),
    ));
    Ok(DataFrame::new(n, columns)?)
}

/// The column of class `k`'s validation IoU.
pub fn iou_column(k: usize) -> String {
    format!("iou_{k}")
}

/// The column of class `k`'s share of the loss gradient at the logits.
pub fn grad_share_column(k: usize) -> String {
    format!("grad_share_{k}")
}

/// One row per epoch: the scalar columns, then `iou_0 .. iou_{C-1}` and
/// `grad_share_0 .. grad_share_{C-1}`.
pub fn epoch_frame(rows: &[EpochRow]) -> PolarsResult<DataFrame> {
    let f = |name: &str, get: fn(&EpochRow) -> f64| {
        Column::new(name.into(), rows.iter().map(get).collect::<Vec<f64>>())
    };
    let mut columns = vec![
        Column::new(
            "epoch".into(),
            rows.iter().map(|r| r.epoch as u32).collect::<Vec<u32>>(),
        ),
        f("train_loss", |r| r.train_loss),
        f("val_loss", |r| r.val_loss),
        f("val_miou", |r| r.val_miou),
        f("pixel_accuracy", |r| r.pixel_accuracy),
        f("binary_accuracy", |r| r.binary_accuracy),
        f("binary_accuracy_sigmoid", |r| r.binary_accuracy_sigmoid),
        f("binary_accuracy_softmax", |r| r.binary_accuracy_softmax),
        f("grad_norm", |r| r.grad_norm),
        f("lr", |r| r.lr),
        f("seconds", |r| r.seconds),
    ];
    let classes = rows.first().map_or(0, |r| r.iou_per_class.len());
    let per_class = |name: fn(usize) -> String, get: fn(&EpochRow) -> &[f64]| {
        (0..classes).map(move |k| {
            let values: Vec<f64> = rows
                .iter()
                .map(|r| get(r).get(k).copied().unwrap_or(f64::NAN))
                .collect();
            Column::new(name(k).into(), values)
        })
    };
    columns.extend(per_class(iou_column, |r| &r.iou_per_class));
    columns.extend(per_class(grad_share_column, |r| &r.grad_share));
    DataFrame::new(rows.len(), columns)
}

/// The rows [`epoch_frame`] wrote, read back from `frame` exactly.
pub fn epoch_rows(frame: &DataFrame) -> anyhow::Result<Vec<EpochRow>> {
    let missing = |name: &str| anyhow::anyhow!("the run's frame has no {name} column of its type");
    let floats = |name: &str| -> anyhow::Result<Vec<f64>> {
        let column = frame.column(name).map_err(|_| missing(name))?;
        Ok(column
            .f64()
            .map_err(|_| missing(name))?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect())
    };
    let epochs: Vec<usize> = frame
        .column("epoch")
        .and_then(|c| c.u32())
        .map_err(|_| missing("epoch"))?
        .iter()
        .map(|e| e.unwrap_or(0) as usize)
        .collect();
    let per_class = |name: fn(usize) -> String| -> anyhow::Result<Vec<Vec<f64>>> {
        (0..)
            .map(name)
            .take_while(|c| frame.column(c).is_ok())
            .map(|c| floats(&c))
            .collect()
    };
    let (iou, share) = (per_class(iou_column)?, per_class(grad_share_column)?);
    let train_loss = floats("train_loss")?;
    let val_loss = floats("val_loss")?;
    let val_miou = floats("val_miou")?;
    let pixel = floats("pixel_accuracy")?;
    let binary = floats("binary_accuracy")?;
    let sigmoid = floats("binary_accuracy_sigmoid")?;
    let softmax = floats("binary_accuracy_softmax")?;
    let grad_norm = floats("grad_norm")?;
    let lr = floats("lr")?;
    let seconds = floats("seconds")?;
    Ok(epochs
        .iter()
        .enumerate()
        .map(|(i, &epoch)| EpochRow {
            epoch,
            train_loss: train_loss[i],
            val_loss: val_loss[i],
            val_miou: val_miou[i],
            pixel_accuracy: pixel[i],
            binary_accuracy: binary[i],
            binary_accuracy_sigmoid: sigmoid[i],
            binary_accuracy_softmax: softmax[i],
            iou_per_class: iou.iter().map(|c| c[i]).collect(),
            grad_norm: grad_norm[i],
            grad_share: share.iter().map(|c| c[i]).collect(),
            lr: lr[i],
            seconds: seconds[i],
        })
        .collect())
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes).map_err(Into::into))
}

/// Writes `path` atomically through `fill`: the file appears whole or not at all.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tmp = temporary_sibling(path);
    let result = (|| {
        if let Some(e) = crate::faults::write_failure() {
            return Err(e.into());
        }
        let mut file = File::create(&tmp)?;
        fill(&mut file)?;
        file.sync_all()?;
        if let Some(name) = path.file_name() {
            crate::faults::point(&format!("write:{}", name.to_string_lossy()));
        }
        std::fs::rename(&tmp, path)?;
        anyhow::Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_os_string());
    let mut tmp = name;
    tmp.push(format!(".tmp.{}", std::process::id()));
    path.with_file_name(tmp)
}

/// Writes `frame` as `<stem>.parquet` and `<stem>.csv` in `dir`.
pub fn write_frame(frame: &mut DataFrame, dir: &Path, stem: &str) -> anyhow::Result<()> {
    write_atomic_with(&dir.join(format!("{stem}.parquet")), |file| {
        ParquetWriter::new(file).finish(frame)?;
        Ok(())
    })?;
    write_atomic_with(&dir.join(format!("{stem}.csv")), |file| {
        CsvWriter::new(file).finish(frame)?;
        Ok(())
    })
}

/// The first cell where `a` and `b` differ in bits (NaN equal to NaN), ignoring the columns
/// in `skip`; `None` when they are identical.
pub fn bitwise_difference(
    a: &DataFrame,
    b: &DataFrame,
    skip: &[&str],
) -> anyhow::Result<Option<String>> {
    let names = |f: &DataFrame| -> Vec<String> {
        f.get_column_names()
            .iter()
            .map(|n| n.to_string())
            .filter(|n| !skip.contains(&n.as_str()))
            .collect()
    };
    let (na, nb) = (names(a), names(b));
    if na != nb {
        return Ok(Some(format!("columns differ: {na:?} against {nb:?}")));
    }
    if a.height() != b.height() {
        return Ok(Some(format!("{} rows against {}", a.height(), b.height())));
    }
    for name in &na {
        let (ca, cb) = (a.column(name)?, b.column(name)?);
        if ca.dtype() != cb.dtype() {
            return Ok(Some(format!(
                "column {name}: type {} against {}",
                ca.dtype(),
                cb.dtype()
            )));
        }
        for i in 0..a.height() {
            let (va, vb) = (ca.get(i)?, cb.get(i)?);
            let same = match (&va, &vb) {
                (AnyValue::Float64(x), AnyValue::Float64(y)) => x.to_bits() == y.to_bits(),
                (AnyValue::Float32(x), AnyValue::Float32(y)) => x.to_bits() == y.to_bits(),
                _ => va == vb,
            };
            if !same {
                return Ok(Some(format!("row {i}, column {name}: {va} against {vb}")));
            }
        }
    }
    Ok(None)
}

/// Reads a Parquet frame.
pub fn read_parquet(path: &Path) -> anyhow::Result<DataFrame> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    anyhow::Context::with_context(ParquetReader::new(file).finish(), || {
        format!("cannot read {} as Parquet", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(epoch: usize) -> EpochRow {
        EpochRow {
            epoch,
            train_loss: 1.0 / epoch as f64,
            val_loss: 0.5,
            val_miou: 0.25,
            pixel_accuracy: 0.75,
            binary_accuracy: 0.9,
            binary_accuracy_sigmoid: 0.9,
            binary_accuracy_softmax: 0.8,
            iou_per_class: vec![0.5, f64::NAN, 0.1],
            grad_norm: 2.0,
            grad_share: vec![0.2, 0.3, 0.5],
            lr: 1e-3,
            seconds: 0.1,
        }
    }

    #[test]
    fn rows_read_back_from_the_frame_are_the_rows_written() {
        let rows = vec![row(1), row(2)];
        let back = epoch_rows(&epoch_frame(&rows).expect("frame")).expect("rows");
        assert_eq!(back.len(), 2);
        for (a, b) in rows.iter().zip(&back) {
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "NaN included");
        }
    }

    #[test]
    fn frame_has_one_row_per_epoch_and_one_iou_column_per_class() {
        let df = epoch_frame(&[row(1), row(2)]).expect("frame");
        assert_eq!(df.height(), 2);
        assert!(df.column("iou_2").is_ok());
        assert!(df.column("iou_3").is_err());
        assert!(df.column("grad_share_2").is_ok());
    }

    #[test]
    fn parquet_round_trip_keeps_every_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut df = epoch_frame(&[row(1), row(2)]).expect("frame");
        write_frame(&mut df, dir.path(), "metrics").expect("write");
        let back = read_parquet(&dir.path().join("metrics.parquet")).expect("read");
        assert!(back.equals_missing(&df));
        assert!(dir.path().join("metrics.csv").exists());
        let leftovers = std::fs::read_dir(dir.path())
            .expect("list")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().contains(".tmp."))
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
