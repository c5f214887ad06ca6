//! Reruns one stored run from its folder and compares its rows with the stored ones. On CPU,
//! with the recorded thread count, they must be bitwise equal.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context};

use crate::config::RunConfig;
use crate::run::train;
use crate::store;

/// What a rerun found.
#[derive(Debug)]
pub struct Rerun {
    pub label: String,
    pub threads: usize,
    pub epochs: usize,
    /// The first difference from the stored rows (timings aside), `None` when bitwise equal.
    pub difference: Option<String>,
}

/// Retrains the run stored in `dir` and compares.
pub fn rerun(dir: &Path, stop: &AtomicBool) -> anyhow::Result<Rerun> {
    let stored_path = dir.join("metrics.parquet");
    let Some(status) = store::read_status(dir)? else {
        bail!(
            "{} is not a run folder (it has no status.json); a run folder is results/<sweep>/runs/<run-id>",
            dir.display()
        );
    };
    if !stored_path.exists() {
        bail!(
            "{} has no metrics.parquet: the run recorded no epoch, so there is nothing to compare",
            dir.display()
        );
    }
    // Read as a run folder's: one written before `train.order` existed shuffled with ChaCha.
    let path = dir.join("config.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let config = RunConfig::from_folder_toml(&text)
        .with_context(|| format!("{} is not a run configuration", path.display()))?;
    let data = config.data.load().context("cannot load the run's data")?;
    let mut trained = train::train(&config, &data, status.threads, stop, None, |_, _| {})?;
    if let Some(selection) = &trained.selection {
        store::record_selection(&mut trained.rows, selection);
    }
    let fresh = store::epoch_frame(&trained.rows)?;
    let stored = store::read_parquet(&stored_path)?;
    let difference = store::bitwise_difference(&stored, &fresh, &store::TIMINGS)?;
    Ok(Rerun {
        label: status.label,
        threads: status.threads,
        epochs: trained.rows.len(),
        difference,
    })
}
