//! `lossbench export`: writes a sweep's results in another tool's format, or sends them to
//! an MLflow tracking server, and prints what it wrote or sent.

use std::path::Path;
use std::process::ExitCode;

use crate::exit;
use crate::export::mlflow::{self, Action};
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

/// `lossbench export mlflow`: every run of `results` as an MLflow run at `tracking_uri`;
/// 1 when a run folder could not be read or the report could not be uploaded.
pub fn mlflow(
    results: &Path,
    tracking_uri: &str,
    experiment: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let summary = mlflow::export(results, tracking_uri, experiment)?;
    let tracking_uri = tracking_uri.trim_end_matches('/');
    println!(
        "experiment `{}` (id {}) at {tracking_uri}; parent run {} ({})",
        summary.experiment,
        summary.experiment_id,
        summary.parent_run_id,
        if summary.parent_created {
            "new"
        } else {
            "found"
        }
    );
    let (mut created, mut updated, mut unchanged, mut differ) = (0, 0, 0, 0);
    for run in &summary.runs {
        let what = match &run.action {
            Action::Created { metrics } => {
                created += 1;
                format!("created, {metrics} metric values")
            }
            Action::Updated { metrics } => {
                updated += 1;
                format!("updated, {metrics} metric values added")
            }
            Action::Unchanged => {
                unchanged += 1;
                "already exported".to_string()
            }
            Action::Differs(why) => {
                differ += 1;
                why.clone()
            }
        };
        println!("  {:<28} {} {:<8} {what}", run.label, run.id, run.status);
    }
    for note in &summary.notes {
        println!("note: {note}");
    }
    let report_failed = match &summary.report {
        Ok(files) => {
            println!(
                "report: {} files under report/ of the parent run",
                files.len()
            );
            false
        }
        Err(why) => {
            println!("report not uploaded: {why}");
            true
        }
    };
    println!(
        "{} runs: {created} created, {updated} updated, {unchanged} already exported, {differ} left as they differ",
        summary.runs.len()
    );
    println!(
        "open {tracking_uri}/#/experiments/{}",
        summary.experiment_id
    );
    Ok(if report_failed || summary.skipped {
        ExitCode::from(exit::FAILED)
    } else {
        ExitCode::SUCCESS
    })
}
