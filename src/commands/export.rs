//! `lossbench export`: writes a sweep's results in another tool's format and prints what
//! it wrote.

use std::path::Path;
use std::process::ExitCode;

use crate::export::tensorboard;

/// `lossbench export tensorboard RESULTS DIR`: one event file per run, one line per run
/// written or skipped; an error when no run could be written.
pub fn tensorboard(results: &Path, dir: &Path) -> anyhow::Result<ExitCode> {
    let export = tensorboard::export(results, dir)?;
    for run in &export.runs {
        println!(
            "{}  {} epochs, {} scalars  ({})",
            run.folder,
            run.epochs,
            run.tags.len(),
            run.id
        );
    }
    for skipped in &export.skipped {
        println!("skipped {}: {}", skipped.id, skipped.reason);
    }
    if export.runs.is_empty() {
        anyhow::bail!(
            "{} has no run with a finished epoch to export; run the sweep first",
            results.display()
        );
    }
    println!(
        "{} runs written to {}; view them with `tensorboard --logdir {}`",
        export.runs.len(),
        dir.display(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
