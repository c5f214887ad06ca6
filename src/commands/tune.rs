//! The sweep commands on a sweep with a `[tune]` table, whose stages (each rung of the
//! tuning, then the final comparison, then the untuned grid) follow each other: `run`
//! trains them one after another, each an ordinary sweep with its lock, `--jobs` and resume,
//! then writes the report; `plan` shows the next stage; `slurm` submits the next stage as a
//! job array followed by a job that collects it and submits the stage after it.

use std::path::Path;
use std::process::ExitCode;

use crate::config::sweep::Sweep;
use crate::exit;
use crate::plan::Filter;
use crate::run::scheduler::{self, Options};
use crate::run::tune::{self, Progress, Stage};
use crate::slurm;
use crate::store::{write_tuning, SweepStore, Tuning};

use super::sweep::{write_jobs, write_report, PlanArgs, StageJobs, SweepArgs};

/// A stage's `--only` filter.
fn only_of(only: Option<&str>, stage: &Stage) -> anyhow::Result<Option<Filter>> {
    Ok(only.map(|t| Filter::parse(t, &stage.plan)).transpose()?)
}

/// Records what is decided: the tuning, once the rungs have decided it.
fn record(sweep: &Sweep, progress: &Progress) -> anyhow::Result<()> {
    match &progress.tuning {
        Some(tuning) => write_tuning(&sweep.results_dir(), tuning),
        None => Ok(()),
    }
}

/// Trains the stages of the tuned `sweep` that have not finished (only `--stage`'s, when
/// given), then reports.
pub fn run(args: &SweepArgs, sweep: &Sweep, force: bool) -> anyhow::Result<ExitCode> {
    if force {
        anyhow::bail!(
            "--force does not apply to a tuned sweep, whose later stages follow from the earlier ones' results; move {} away to tune again from the start",
            sweep.results_dir().display()
        );
    }
    if args.shard.is_some() && args.stage.is_none() {
        anyhow::bail!(
            "--shard on a tuned sweep needs --stage: its stages follow each other; `lossbench slurm` submits one job array per stage"
        );
    }
    let only = args.plan.only();
    let only = only.as_deref();
    loop {
        let progress = tune::progress(sweep, only)?;
        record(sweep, &progress)?;
        if let Some(id) = &args.stage {
            match &progress.next {
                Some(next) if &next.id == id => {}
                _ if progress.finished.iter().any(|s| &s.id == id) => {
                    println!(
                        "stage {id} of {} has finished: nothing to train",
                        sweep.name
                    );
                    return Ok(ExitCode::SUCCESS);
                }
                next => anyhow::bail!(
                    "stage `{id}` of {} is not ready to train: {}",
                    sweep.name,
                    next.as_ref().map_or_else(
                        || "every stage has finished".to_string(),
                        |n| format!("the next stage is {}", n.id)
                    )
                ),
            }
        }
        let Some(stage) = progress.next else {
            if let Some(tuning) = &progress.tuning {
                print_tuning(tuning);
            }
            let root = sweep.results_dir();
            println!("results in {}", root.display());
            return Ok(if write_report(&root) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(exit::FAILED)
            });
        };
        let store = SweepStore::new(stage.plan.sweep.results_dir());
        let options = Options {
            jobs: args.jobs.0,
            force: false,
            only: only_of(only, &stage)?,
            shard: args.shard,
            observers: super::observers::of(&stage.plan)?,
        };
        println!(
            "tuning {}: {}, {} runs in {}",
            sweep.name,
            stage.name,
            stage.plan.len(),
            store.root.display()
        );
        let shard = args
            .shard
            .map(|(index, count)| format!("shard-{index}-of-{count}"));
        let summary = {
            let _lock = store.lock(shard.as_deref())?;
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
        if args.stage.is_some() {
            // What this stage decided is recorded before stopping.
            let progress = tune::progress(sweep, only)?;
            record(sweep, &progress)?;
            if let Some(tuning) = progress.tuning.as_ref().filter(|_| args.shard.is_none()) {
                print_tuning(tuning);
            }
            return Ok(ExitCode::SUCCESS);
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

/// `lossbench plan` on a tuned sweep: the stages that have finished, then the next one's
/// runs and their state.
pub fn plan(args: &SweepArgs, sweep: &Sweep) -> anyhow::Result<ExitCode> {
    let only = args.plan.only();
    let only = only.as_deref();
    let progress = tune::progress(sweep, only)?;
    for stage in &progress.finished {
        println!("finished: {} ({} runs)", stage.name, stage.plan.len());
    }
    let Some(stage) = &progress.next else {
        if let Some(tuning) = &progress.tuning {
            print_tuning(tuning);
        }
        println!(
            "every stage has finished; results in {}",
            sweep.results_dir().display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let store = SweepStore::new(stage.plan.sweep.results_dir());
    let filter = only_of(only, stage)?;
    let mut todo = 0;
    for run in stage
        .plan
        .runs()
        .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)))
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

/// `lossbench slurm` on a tuned sweep: with `after` (the job that follows a stage's
/// array), collects that stage first, failing when it has runs not finished; then writes
/// (and with `submit`, submits) the next stage's array and its follower, or, when every
/// stage has finished, writes the report.
pub fn slurm(
    args: &PlanArgs,
    sweep: &Sweep,
    resources: slurm::Resources,
    submit: bool,
    after: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let only = args.only();
    let only = only.as_deref();
    let progress = tune::progress(sweep, only)?;
    record(sweep, &progress)?;
    if let Some(id) = after {
        let Some(stage) = progress.finished.iter().find(|s| s.id == id) else {
            match progress.stage(id) {
                Some(_) => println!(
                    "stage {id} of {} has runs that did not finish (their status.json says why); `lossbench slurm {} --submit` submits them again",
                    sweep.name,
                    args.sweep.display()
                ),
                None => println!("{} has no stage `{id}` yet", sweep.name),
            }
            return Ok(ExitCode::from(exit::FAILED));
        };
        collect(stage)?;
    }
    let Some(stage) = &progress.next else {
        for stage in &progress.finished {
            if stage.id == "final" || stage.id == "untuned" {
                collect(stage)?;
            }
        }
        if let Some(tuning) = &progress.tuning {
            print_tuning(tuning);
        }
        println!("every stage of {} has finished", sweep.name);
        let reported = write_report(&sweep.results_dir());
        return Ok(if reported {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(exit::FAILED)
        });
    };
    let store = SweepStore::new(stage.plan.sweep.results_dir());
    let options = Options {
        only: only_of(only, stage)?,
        ..Default::default()
    };
    write_jobs(
        args,
        &stage.plan,
        &store,
        &options,
        resources,
        submit,
        Some(StageJobs {
            sweep: &sweep.name,
            id: &stage.id,
            name: &stage.name,
        }),
    )
}

/// Rebuilds a finished stage's frame from its run folders.
fn collect(stage: &Stage) -> anyhow::Result<()> {
    let store = SweepStore::new(stage.plan.sweep.results_dir());
    let frame = store.rebuild_frame(&stage.plan)?;
    println!(
        "{}: frame {} ({} rows)",
        stage.name,
        Path::new(&store.root).join("metrics.parquet").display(),
        frame.height()
    );
    Ok(())
}
