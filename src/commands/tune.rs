//! `lossbench run` on a sweep with a `[tune]` table: trains its stages one after another
//! (each rung of the tuning, then the final comparison, then the untuned grid), each an
//! ordinary sweep with its lock, `--jobs` and resume, until every stage has finished; then
//! writes the report of the final comparison.

use std::process::ExitCode;

use crate::config::sweep::Sweep;
use crate::exit;
use crate::plan::Filter;
use crate::run::scheduler::{self, Options};
use crate::run::tune::{self, Step};
use crate::store::{write_tuning, SweepStore, Tuning};

use super::sweep::{write_report, SweepArgs};

/// Trains the stages of the tuned `sweep` that have not finished, then reports.
pub fn run(args: &SweepArgs, sweep: &Sweep, force: bool) -> anyhow::Result<ExitCode> {
    if force {
        anyhow::bail!(
            "--force does not apply to a tuned sweep, whose later stages follow from the earlier ones' results; move {} away to tune again from the start",
            sweep.results_dir().display()
        );
    }
    if args.shard.is_some() {
        anyhow::bail!(
            "--shard does not apply to a tuned sweep, whose rungs follow each other; `lossbench slurm` submits one job array per rung"
        );
    }
    let only = args.plan.only.as_deref();
    loop {
        let stage = match tune::next(sweep, only)? {
            Step::Finished(tuning) => {
                let root = sweep.results_dir();
                write_tuning(&root, &tuning)?;
                print_tuning(&tuning);
                println!("results in {}", root.display());
                return Ok(if write_report(&root) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(exit::FAILED)
                });
            }
            Step::Train(stage) => stage,
        };
        if let Some(tuning) = &stage.tuning {
            write_tuning(&sweep.results_dir(), tuning)?;
        }
        let store = SweepStore::new(stage.plan.sweep.results_dir());
        let options = Options {
            jobs: args.jobs.0,
            force: false,
            only: only.map(|t| Filter::parse(t, &stage.plan)).transpose()?,
            shard: None,
        };
        println!(
            "tuning {}: {}, {} runs in {}",
            sweep.name,
            stage.name,
            stage.plan.len(),
            store.root.display()
        );
        let summary = {
            let _lock = store.lock(None)?;
            let _finishing = exit::finishing();
            scheduler::execute(&stage.plan, &store, &options, exit::stop_flag())?
        };
        println!(
            "{}: {} runs: {} done, {} diverged, {} failed, {} interrupted, {} finished earlier",
            stage.name,
            summary.selected,
            summary.done,
            summary.diverged,
            summary.failed,
            summary.interrupted,
            summary.skipped
        );
        if exit::stopped() {
            println!(
                "stopped: `lossbench run` on the sweep file goes on from the checkpoints, at {}",
                stage.name
            );
            return Ok(ExitCode::from(exit::interrupted()));
        }
        if summary.failed + summary.interrupted > 0 {
            println!(
                "{} has runs that failed; their status.json says why. `lossbench run` on the sweep file trains them again and goes on",
                stage.name
            );
            return Ok(ExitCode::from(exit::FAILED));
        }
    }
}

/// The chosen settings and the compute the tuning spent.
fn print_tuning(tuning: &Tuning) {
    for choice in &tuning.choices {
        let settings: Vec<String> = tuning
            .keys
            .iter()
            .zip(&choice.labels)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "tuned {}: {} ({} {}, {} run-epochs)",
            choice.group,
            settings.join(", "),
            tuning.metric,
            choice
                .score
                .map_or_else(|| "diverged".to_string(), |s| format!("{s:.4}")),
            choice.run_epochs
        );
    }
    println!(
        "tuning trained {} run-epochs; a full grid of its {} candidates would have trained {} ({:.0}%)",
        tuning.run_epochs,
        tuning.candidates,
        tuning.full_grid_run_epochs,
        100.0 * tuning.run_epochs as f64 / tuning.full_grid_run_epochs.max(1) as f64
    );
}

/// `lossbench plan` on a tuned sweep: the stage to train next, its runs and their state.
pub fn plan(args: &SweepArgs, sweep: &Sweep) -> anyhow::Result<ExitCode> {
    let stage = match tune::next(sweep, args.plan.only.as_deref())? {
        Step::Finished(tuning) => {
            print_tuning(&tuning);
            println!(
                "every stage has finished; results in {}",
                sweep.results_dir().display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Step::Train(stage) => stage,
    };
    let store = SweepStore::new(stage.plan.sweep.results_dir());
    let only = args
        .plan
        .only
        .as_deref()
        .map(|t| Filter::parse(t, &stage.plan))
        .transpose()?;
    let mut todo = 0;
    for run in stage
        .plan
        .runs()
        .filter(|r| only.as_ref().is_none_or(|f| f.matches(r)))
    {
        let state = store
            .sound_status(&run.id())
            .map_or("pending", |s| s.state.name());
        if state != "done" && state != "diverged" {
            todo += 1;
        }
        println!("{run}  [{state}]");
    }
    println!(
        "tuned sweep {}: next stage {}, {} runs ({todo} to run) in {}; the stages after it follow from its results",
        sweep.name,
        stage.name,
        stage.plan.len(),
        store.root.display()
    );
    Ok(ExitCode::SUCCESS)
}
