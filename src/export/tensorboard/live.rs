//! TensorBoard while a sweep runs: each run's event file is written when the run starts
//! (its configuration, its axes, and the epochs its folder already holds when it resumes)
//! and grows by the scalars of each epoch as the run records it, so `tensorboard --logdir`
//! shows the curves as they grow. Its values are those `lossbench export tensorboard`
//! writes for the same run folder.
//!
//! A run that resumes gets a new event file, named by the time it resumed, holding the
//! epochs its folder kept, and the earlier file is removed: TensorBoard moves to the newer
//! file, and an epoch the killed process had written but not kept is not shown twice.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::{
    event, file_name, folder_names, header, records, remove_other_event_files, scalars_of,
};
use crate::run::observe::Observer;
use crate::store;

/// A run's event file and the `(tag, step)` pairs it holds.
type Held = (PathBuf, HashSet<(String, i64)>);

/// The live TensorBoard of one sweep: event files under `out/<run folder>/`.
pub struct Live {
    out: PathBuf,
    /// Run id → its folder under `out` and its loss's name.
    runs: BTreeMap<String, (String, String)>,
    /// Run id → its event file and the `(tag, step)` pairs it holds.
    files: Mutex<BTreeMap<String, Held>>,
}

impl Live {
    /// Event files under `out` for the runs `(label, id, loss name)`, each in the folder
    /// `lossbench export tensorboard` gives it.
    pub fn new(out: &Path, runs: &[(String, String, String)]) -> Self {
        let names: Vec<(&str, &str)> = runs
            .iter()
            .map(|(l, i, _)| (l.as_str(), i.as_str()))
            .collect();
        let folders = folder_names(&names);
        Live {
            out: out.to_path_buf(),
            runs: runs
                .iter()
                .zip(folders)
                .map(|((_, id, loss), folder)| (id.clone(), (folder, loss.clone())))
                .collect(),
            files: Mutex::new(BTreeMap::new()),
        }
    }

    /// Appends to the run's event file the scalars of `dir`'s frame it does not hold yet.
    fn append_new(&self, dir: &Path) -> anyhow::Result<()> {
        let status = store::read_status(dir)?.context("the run has no status.json")?;
        let frame_path = dir.join("metrics.parquet");
        if !frame_path.is_file() {
            return Ok(());
        }
        let frame = store::read_parquet(&frame_path)?;
        let (steps, scalars) = scalars_of(&status, &frame)?;
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let Some((file, held)) = files.get_mut(&status.id) else {
            anyhow::bail!("run {} wrote an epoch before it started", status.id);
        };
        let wall = now();
        let mut events = Vec::new();
        for (i, &step) in steps.iter().enumerate() {
            for (tag, values) in &scalars {
                if held.insert((tag.clone(), step)) {
                    events.push(event::scalar(wall, step, tag, values[i]));
                }
            }
        }
        if events.is_empty() {
            return Ok(());
        }
        let mut handle = std::fs::OpenOptions::new()
            .append(true)
            .open(&*file)
            .with_context(|| format!("cannot open {}", file.display()))?;
        handle
            .write_all(&records(&events))
            .and_then(|()| handle.flush())
            .with_context(|| format!("cannot write {}", file.display()))
    }
}

/// Now, in seconds since the Unix epoch.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Observer for Live {
    fn name(&self) -> String {
        format!("TensorBoard ({})", self.out.display())
    }

    fn run_started(&self, dir: &Path) -> anyhow::Result<()> {
        let status = store::read_status(dir)?.context("the run has no status.json")?;
        let config_path = dir.join("config.toml");
        let config = std::fs::read_to_string(&config_path)
            .with_context(|| format!("cannot read {}", config_path.display()))?;
        let (folder, loss) = self
            .runs
            .get(&status.id)
            .cloned()
            .unwrap_or_else(|| (status.label.clone(), status.label.clone()));
        let folder = self.out.join(folder);
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        let start = now();
        let name = file_name(start, &status.id);
        let file = folder.join(&name);
        store::write_atomic(
            &file,
            &records(&header(&status, &config, Some(&loss), start)),
        )?;
        remove_other_event_files(&folder, &name)?;
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(status.id.clone(), (file, HashSet::new()));
        // A resumed run's kept epochs.
        self.append_new(dir)
    }

    fn epoch_ended(&self, dir: &Path) -> anyhow::Result<()> {
        self.append_new(dir)
    }

    fn run_ended(&self, dir: &Path) -> anyhow::Result<()> {
        // The scores of the weights the run kept join its frame when it ends.
        self.append_new(dir)
    }
}
