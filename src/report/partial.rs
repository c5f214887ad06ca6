//! The report of a sweep that has not finished: while `lossbench run` still trains it (a
//! process holds its lock), its frame is built from the run folders as they are now through
//! the sweep file `sweep.json` names, and the page goes to `plots/<sweep>/partial/`, never
//! where the final report goes; whether running or stopped, the page says at its top how
//! many of the planned runs it holds.

use std::path::{Path, PathBuf};

use anyhow::Context;
use polars::prelude::DataFrame;

use crate::config::sweep::Sweep;
use crate::store::{self, SweepInfo, SweepStore};

/// The folder, under a sweep's plots folder, of its report while it runs.
pub const FOLDER: &str = "partial";

/// The sweep's frame and where its report goes by default: the frame written when the
/// sweep last stopped, into its plots folder; or, while a process trains it, the frame of
/// its run folders as they are now, into [`FOLDER`]. `running`: [`running`]'s answer.
pub fn frame_and_folder(
    results: &Path,
    info: &SweepInfo,
    running: bool,
) -> anyhow::Result<(DataFrame, PathBuf)> {
    let frame_path = results.join("metrics.parquet");
    if !running && frame_path.exists() {
        return Ok((store::read_parquet(&frame_path)?, info.plots_dir.clone()));
    }
    let file = info.file.as_deref().context(
        "sweep.json does not name its sweep file; run `lossbench collect <sweep.toml>` to write the frame",
    )?;
    let sweep = Sweep::load(Path::new(file), &info.sets).with_context(|| {
        format!(
            "cannot read the sweep file {file} to build the frame of the runs so far (run this command from the folder `lossbench run` was started in)"
        )
    })?;
    let plan = crate::plan::expand(sweep)?;
    let (frame, _) = SweepStore::new(results.to_path_buf()).frame(&plan)?;
    let dir = if running {
        info.plots_dir.join(FOLDER)
    } else {
        info.plots_dir.clone()
    };
    Ok((frame, dir))
}

/// Whether another `lossbench run` holds the sweep's lock now (its own, or a shard's): the
/// `run` that writes the report at its end holds it too, and is not counted.
pub fn running(results: &Path) -> bool {
    store::lock::holders(results)
        .iter()
        .any(|(_, h)| h.pid != std::process::id())
}

/// The sentence at the top of a page with `done` of `planned` runs done; `None` when every
/// planned run is.
pub fn notice(done: usize, planned: usize, running: bool) -> Option<String> {
    match (done < planned, running) {
        (false, _) => None,
        (true, true) => Some(format!(
            "Partial report: {done} of {planned} runs are done and the sweep is still running; this page is rewritten by each `lossbench report`, and the final report goes to the sweep's plots folder when it ends."
        )),
        (true, false) => Some(format!(
            "Partial report: {done} of {planned} planned runs are done; `lossbench run` on the sweep file trains the rest."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_says_how_many_runs_it_holds_unless_all_are_done() {
        assert_eq!(notice(5, 5, false), None);
        let running = notice(2, 5, true).expect("a notice");
        assert!(
            running.starts_with("Partial report: 2 of 5 runs are done"),
            "{running}"
        );
        assert!(running.contains("still running"));
        let stopped = notice(2, 5, false).expect("a notice");
        assert!(stopped.contains("2 of 5 planned runs"), "{stopped}");
    }
}
