//! The sweep commands: `run`, `plan`, `collect`, `slurm` and `report`, with the arguments that
//! name a sweep and select its runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::config::sweep::Sweep;
use crate::exit;
use crate::plan::{self, Filter, Plan};
use crate::report;
use crate::run::scheduler::{self, Options};
use crate::slurm;
use crate::store::{State, SweepStore};

/// A sweep and which of its runs.
#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// The sweep file (TOML with [sweep], [base] and [grid]).
    pub sweep: PathBuf,
    /// Override a key: --set train.epochs=3 (base), --set "grid.seed=[1,2]" (an axis).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Only the runs whose axes take these values, e.g. --only loss=bce,seed=2; given more
    /// than once, the filters combine as one --only with commas does.
    #[arg(long = "only", value_name = "AXIS=VALUE,...")]
    pub only_filters: Vec<String>,
    /// Where to train: cpu, cuda, cuda:N or auto (CUDA when libtorch sees a GPU); the same
    /// as --set device=...; the sweep file's `device` key otherwise (default cpu).
    #[arg(long, value_name = "DEVICE", value_parser = parse_device_name)]
    pub device: Option<String>,
    /// Write each run's TensorBoard event file into DIR as it trains (`tensorboard --logdir
    /// DIR` shows the curves grow); the same as --set 'sweep.tensorboard="DIR"'.
    #[arg(long, value_name = "DIR")]
    pub tensorboard: Option<PathBuf>,
    /// Send each run to the MLflow tracking server at URI as it trains; the same as --set
    /// 'sweep.mlflow="URI"'.
    #[arg(long, value_name = "URI")]
    pub mlflow: Option<String>,
    /// The most runs the grid may make (default 1000000); a larger grid is refused before
    /// it is expanded. The same as --set sweep.max_runs=N.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=i64::MAX as u64))]
    pub max_runs: Option<u64>,
}

/// Which runs of a sweep, and how many at once.
#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Runs at once: a number or `auto` (as many as the cores allow).
    #[arg(long, default_value = "auto", value_parser = parse_jobs)]
    pub jobs: Jobs,
    /// Only shard I of N (0 <= I < N): the runs at positions I, I+N, I+2N, ... of the
    /// selection. A shard writes its run folders only; `lossbench collect` builds the frame.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// For a tuned sweep: only this stage (rung-0, rung-1, ..., final, untuned), nothing
    /// after it; with --shard, what the job arrays of `lossbench slurm` run.
    #[arg(long, value_name = "STAGE")]
    pub stage: Option<String>,
}

/// `--device`: a device name (whether this machine has it is checked when runs start).
pub fn parse_device_name(text: &str) -> Result<String, String> {
    crate::config::check_device_name(text).map(|()| text.to_string())
}

/// `--shard I/N`: shard `I` of `N`, `0 <= I < N`.
pub fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let form = || format!("`{text}` is not a shard; write I/N with 0 <= I < N, e.g. 0/4");
    let (index, count) = text.split_once('/').ok_or_else(form)?;
    let index: usize = index.trim().parse().map_err(|_| form())?;
    let count: usize = count.trim().parse().map_err(|_| form())?;
    if count == 0 {
        return Err(format!("`{text}`: the shard count N must be at least 1"));
    }
    if index >= count {
        return Err(format!(
            "`{text}`: shards of {count} are numbered 0 to {} (0/{count} ... {}/{count})",
            count - 1,
            count - 1
        ));
    }
    Ok((index, count))
}

/// `--jobs`: a positive count or `auto`.
#[derive(Clone, Copy, Debug)]
pub struct Jobs(pub Option<usize>);

pub fn parse_jobs(text: &str) -> Result<Jobs, String> {
    match text {
        "auto" => Ok(Jobs(None)),
        n => match n.parse::<usize>() {
            Ok(0) => Err("must be at least 1 (or auto)".to_string()),
            Ok(n) => Ok(Jobs(Some(n))),
            Err(_) => Err(format!(
                "`{n}` is not a number of jobs; use a positive number or auto"
            )),
        },
    }
}

impl PlanArgs {
    /// The `--set` overrides, with `--device` as one more.
    pub fn overrides(&self) -> Vec<String> {
        let mut overrides = self.overrides.clone();
        if let Some(device) = &self.device {
            overrides.push(format!("device={}", toml::Value::String(device.clone())));
        }
        if let Some(n) = self.max_runs {
            overrides.push(format!("sweep.max_runs={n}"));
        }
        if let Some(dir) = &self.tensorboard {
            let dir = toml::Value::String(dir.display().to_string());
            overrides.push(format!("sweep.tensorboard={dir}"));
        }
        if let Some(uri) = &self.mlflow {
            overrides.push(format!("sweep.mlflow={}", toml::Value::String(uri.clone())));
        }
        overrides
    }

    /// Every `--only` as one filter: the filters joined with commas; `None` without one.
    pub fn only(&self) -> Option<String> {
        (!self.only_filters.is_empty()).then(|| self.only_filters.join(","))
    }

    /// Reads the sweep, expands it, and parses `--only` against it.
    pub fn load(&self) -> anyhow::Result<(Plan, Option<Filter>)> {
        let sweep = Sweep::load(&self.sweep, &self.overrides())?;
        let plan = plan::expand(sweep)?;
        let only = self.only().map(|t| Filter::parse(&t, &plan)).transpose()?;
        Ok((plan, only))
    }
}

/// The plan of `args` and the options its run takes.
fn load_plan(args: &SweepArgs) -> anyhow::Result<(Plan, Options)> {
    let (plan, only) = args.plan.load()?;
    Ok((
        plan,
        Options {
            jobs: args.jobs.0,
            force: false,
            only,
            shard: args.shard,
            ..Default::default()
        },
    ))
}

/// The plan of `args`, its results folder, and the options that select its runs by
/// `--only` alone (for the commands that train nothing).
fn open(args: &PlanArgs) -> anyhow::Result<(Plan, SweepStore, Options)> {
    let (plan, only) = args.load()?;
    let store = SweepStore::new(plan.sweep.results_dir());
    let options = Options {
        only,
        ..Default::default()
    };
    Ok((plan, store, options))
}

/// Writes the report of the sweep folder `root` and says where; whether it could.
pub(super) fn write_report(root: &Path) -> bool {
    match report::build(root, None) {
        Ok(index) => {
            println!("report: {}", index.display());
            true
        }
        Err(e) => {
            eprintln!("no report: {e:#}");
            false
        }
    }
}

/// `lossbench run`: trains every selected run not finished yet, then writes the frame and
/// the report.
pub fn run(args: &SweepArgs, force: bool) -> anyhow::Result<ExitCode> {
    let (plan, mut options) = load_plan(args)?;
    if plan.sweep.tune.is_some() {
        return super::tune::run(args, &plan.sweep, force);
    }
    if args.stage.is_some() {
        anyhow::bail!(
            "--stage is for a tuned sweep's stages, and {} has no [tune] table",
            args.plan.sweep.display()
        );
    }
    options.force = force;
    options.observers = super::observers::of(&plan)?;
    let store = SweepStore::new(plan.sweep.results_dir());
    let shard = args
        .shard
        .map(|(index, count)| format!("shard-{index}-of-{count}"));
    let lock = store.lock(shard.as_deref())?;
    if let Some(stale) = &lock.took_over {
        eprintln!(
            "took over the lock of process {} on {}, which is gone",
            stale.pid, stale.host
        );
    }
    let summary = {
        let _finishing = exit::finishing();
        scheduler::execute(&plan, &store, &options, exit::stop_flag())?
    };
    println!(
        "{} runs: {} done, {} diverged, {} failed, {} interrupted, {} finished earlier",
        summary.selected,
        summary.done,
        summary.diverged,
        summary.failed,
        summary.interrupted,
        summary.skipped
    );
    if summary.checkpoint_seconds > 0.0 {
        println!(
            "checkpoints: {:.1} MiB each, {:.2} s of {:.1} s of training ({:.2}%)",
            summary.checkpoint_bytes as f64 / (1 << 20) as f64,
            summary.checkpoint_seconds,
            summary.seconds,
            100.0 * summary.checkpoint_seconds / summary.seconds.max(1e-9)
        );
    }
    println!("results in {}", store.root.display());
    if let Some((index, count)) = args.shard {
        println!(
            "shard {index}/{count}: its run folders only; `lossbench collect` writes the sweep's frame and report"
        );
    } else if exit::stopped() {
        println!(
            "stopped: `lossbench run` on the sweep file goes on from the checkpoints; `lossbench report {}` writes the report of what finished",
            store.root.display()
        );
    } else if summary.done + summary.skipped > 0 {
        write_report(&store.root);
    }
    Ok(if exit::stopped() {
        ExitCode::from(exit::interrupted())
    } else if summary.all_done() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILED)
    })
}

/// `lossbench plan`: the selected runs with their state, and an estimate of the time.
pub fn plan(args: &SweepArgs) -> anyhow::Result<ExitCode> {
    let (plan, options) = load_plan(args)?;
    if plan.sweep.tune.is_some() {
        return super::tune::plan(args, &plan.sweep);
    }
    let store = SweepStore::new(plan.sweep.results_dir());
    let (selected, todo) = scheduler::select(&plan, &store, &options)?;
    if let Some(d) = &plan.sweep.description {
        println!("{d}");
    }
    for run in &selected {
        let id = run.id();
        let state = match store.sound_status(&id) {
            Some(status) => status.state.name(),
            None if store.damage(&id).is_empty() => "pending",
            None => "damaged: runs again",
        };
        println!("{run}  [{state}]");
    }
    let (jobs, threads) = scheduler::layout(options.jobs, todo.len(), scheduler::cores());
    let (seconds, step) = scheduler::estimate_seconds(&todo, jobs, threads)?;
    if let Some(step) = step {
        println!(
            "one training step of the first run to do: {:.1} ms ({threads} thread(s))",
            step * 1e3
        );
    }
    println!(
        "{} runs ({} to run, {} finished); about {} with {jobs} job(s) × {threads} thread(s); results in {}",
        selected.len(),
        todo.len(),
        selected.len() - todo.len(),
        human_duration(seconds),
        store.root.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `lossbench collect`: rebuilds the frame from the run folders and writes the report; 1
/// when a selected run is not done.
pub fn collect(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let (plan, store, options) = open(args)?;
    if plan.sweep.tune.is_some() {
        anyhow::bail!(
            "{}: a tuned sweep's frames are written by `lossbench run`, stage by stage; run it again to finish, or `lossbench report {}` for the final comparison's report",
            args.sweep.display(),
            store.root.display()
        );
    }
    let (selected, _) = scheduler::select(&plan, &store, &options)?;
    let mut counts = [0usize; 6];
    for run in &selected {
        // A damaged run folder counts as not started, as in the frame.
        let slot = match store.sound_status(&run.id()).map(|s| s.state) {
            Some(State::Done) => 0,
            Some(State::Diverged) => 1,
            Some(State::Failed) => 2,
            Some(State::Interrupted) => 3,
            Some(State::Running) => 4,
            None => 5,
        };
        counts[slot] += 1;
    }
    let [done, diverged, failed, interrupted, running, pending] = counts;
    let frame = store.rebuild_frame(&plan)?;
    println!(
        "{} runs: {done} done, {diverged} diverged, {failed} failed, {interrupted} interrupted, {running} running (or crashed), {pending} not started",
        selected.len()
    );
    println!(
        "frame: {} ({} rows)",
        store.root.join("metrics.parquet").display(),
        frame.height()
    );
    let reported = write_report(&store.root);
    Ok(if done == selected.len() && reported {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILED)
    })
}

/// `lossbench slurm`: writes the sweep's sbatch scripts and, with `submit`, submits them.
pub fn slurm(
    args: &PlanArgs,
    resources: slurm::Resources,
    submit: bool,
    after_stage: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let (plan, store, options) = open(args)?;
    if plan.sweep.tune.is_some() {
        return super::tune::slurm(args, &plan.sweep, resources, submit, after_stage);
    }
    if after_stage.is_some() {
        anyhow::bail!(
            "--after-stage is for a tuned sweep's stages, and {} has no [tune] table",
            args.sweep.display()
        );
    }
    write_jobs(args, &plan, &store, &options, resources, submit, None)
}

/// A tuned sweep's stage, as its Slurm jobs name it.
#[derive(Clone, Copy)]
pub(super) struct StageJobs<'a> {
    /// The tuned sweep's name.
    pub sweep: &'a str,
    /// The stage's id (`rung-0`) and its name in prose (`rung 0 (1 epoch)`).
    pub id: &'a str,
    pub name: &'a str,
}

/// Writes the sbatch scripts of `plan`'s selected runs into `store`'s `slurm` folder and,
/// with `submit`, submits them. For a tuned sweep's `stage` the array trains that stage and
/// the job after it submits the next one.
pub(super) fn write_jobs(
    args: &PlanArgs,
    plan: &Plan,
    store: &SweepStore,
    options: &Options,
    resources: slurm::Resources,
    submit: bool,
    stage: Option<StageJobs<'_>>,
) -> anyhow::Result<ExitCode> {
    let (selected, todo) = scheduler::select(plan, store, options)?;
    let workdir = std::env::current_dir().context("cannot read the current folder")?;
    let job = slurm::Job {
        exe: std::env::current_exe().context("cannot find this lossbench binary's path")?,
        sweep: std::fs::canonicalize(&args.sweep)
            .with_context(|| format!("cannot resolve {}", args.sweep.display()))?,
        workdir: workdir.clone(),
        overrides: args.overrides(),
        only: args.only(),
        resources,
        stage: stage.map(|s| s.id.to_string()),
    };
    let dir = workdir.join(&store.root).join("slurm");
    let name = stage.map_or(plan.sweep.name.as_str(), |s| s.sweep);
    let scripts = slurm::scripts(name, selected.len(), &dir, &job)?;
    scripts.write()?;
    let what = match stage {
        None => format!("sweep {name}"),
        Some(s) => format!("tuned sweep {name}: stage {}", s.name),
    };
    println!(
        "{what}: {} runs ({} to run), {} array tasks",
        selected.len(),
        todo.len(),
        scripts.tasks
    );
    println!("wrote {}", scripts.array_path().display());
    println!("wrote {}", scripts.collect_path().display());
    if !submit {
        println!("review them, then submit with --submit, or by hand:");
        println!("  {}", scripts.by_hand());
        return Ok(ExitCode::SUCCESS);
    }
    let ids = slurm::submit(&scripts)?;
    match stage {
        None => println!(
            "submitted: array job {} ({} tasks), collect job {} (after the array)",
            ids.array, scripts.tasks, ids.collect
        ),
        Some(_) => println!(
            "submitted: array job {} ({} tasks), then job {}, which submits the next stage",
            ids.array, scripts.tasks, ids.collect
        ),
    }
    println!(
        "follow with `squeue -j {},{}`; logs in {}",
        ids.array,
        ids.collect,
        scripts.logs_dir().display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `lossbench report`: writes the report of a results folder and says where.
pub fn report(results: &Path, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let start = std::time::Instant::now();
    let index = report::build(results, out)?;
    println!(
        "report: {} ({:.2}s)",
        index.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// `seconds` in words: `42 s`, `3 min 5 s`, `2 h 10 min`.
pub(super) fn human_duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_takes_i_of_n_and_refuses_bad_forms_with_the_fix() {
        assert_eq!(parse_shard("0/1"), Ok((0, 1)));
        assert_eq!(parse_shard("3/4"), Ok((3, 4)));
        let message = |t: &str| parse_shard(t).expect_err(t);
        assert!(
            message("3/2").contains("numbered 0 to 1"),
            "{}",
            message("3/2")
        );
        assert!(message("2/2").contains("numbered 0 to 1"));
        assert!(message("0/0").contains("at least 1"), "{}", message("0/0"));
        for bad in ["a/b", "1", "1/", "/2", "-1/2", "1/2/3", ""] {
            assert!(
                message(bad).contains("write I/N"),
                "{bad}: {}",
                message(bad)
            );
        }
    }
}
