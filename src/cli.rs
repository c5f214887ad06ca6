//! Command-line arguments (clap) and the one step each command calls.
//!
//! Exit statuses: 0 success; 1 the work ran but something failed (a run failed or
//! diverged, a rerun differed, a loss disagreed with its reference); 2 the command could not
//! start (bad arguments, bad configuration, unreadable files); 130 interrupted by Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::sweep::Sweep;
use crate::config::{LossConfig, RunConfig};
use crate::losses::Loss;
use crate::plan::{self, Filter, Plan};
use crate::reference::{Precision, ReferenceFile};
use crate::report;
use crate::run::scheduler::{self, Options};
use crate::run::train::{self, Ending};
use crate::run::{criterion, rerun};
use crate::slurm;
use crate::store::{self, State, SweepStore};

/// Exit status when the work ran and something in it failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status when the command could not start.
pub const EXIT_USAGE: u8 = 2;
/// Exit status when Ctrl-C stopped the work.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Raised by Ctrl-C; training checks it between steps.
static STOP: AtomicBool = AtomicBool::new(false);

#[derive(Parser, Debug)]
#[command(
    name = "lossbench",
    version = concat!(
        env!("CARGO_PKG_VERSION"),
        " (libtorch ",
        env!("LOSSBENCH_LIBTORCH_VERSION"),
        ", built from ",
        env!("LOSSBENCH_CLONE"),
        ")"
    ),
    about = "Which loss should I train my U-Net with? Sweeps losses x seeds and reports with evidence."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A sweep and which of its runs.
#[derive(clap::Args, Debug)]
struct PlanArgs {
    /// The sweep file (TOML with [sweep], [base] and [grid]).
    sweep: PathBuf,
    /// Override a key: --set train.epochs=3 (base), --set "grid.seed=[1,2]" (an axis).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Only the runs whose axes take these values, e.g. --only loss=bce,seed=2.
    #[arg(long, value_name = "AXIS=VALUE,...")]
    only: Option<String>,
    /// Where to train: cpu, cuda, cuda:N or auto (CUDA when libtorch sees a GPU); the same
    /// as --set device=...; the sweep file's `device` key otherwise (default cpu).
    #[arg(long, value_name = "DEVICE", value_parser = parse_device_name)]
    device: Option<String>,
    /// The most runs the grid may make (default 1000000); a larger grid is refused before
    /// it is expanded. The same as --set sweep.max_runs=N.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=i64::MAX as u64))]
    max_runs: Option<u64>,
}

/// Which runs of a sweep, and how many at once.
#[derive(clap::Args, Debug)]
struct SweepArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// Runs at once: a number or `auto` (as many as the cores allow).
    #[arg(long, default_value = "auto", value_parser = parse_jobs)]
    jobs: Jobs,
    /// Only shard I of N (0 <= I < N): the runs at positions I, I+N, I+2N, ... of the
    /// selection. A shard writes its run folders only; `lossbench collect` builds the frame.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
}

/// `--device`: a device name (whether this machine has it is checked when runs start).
fn parse_device_name(text: &str) -> Result<String, String> {
    crate::config::check_device_name(text).map(|()| text.to_string())
}

/// `--shard I/N`: shard `I` of `N`, `0 <= I < N`.
fn parse_shard(text: &str) -> Result<(usize, usize), String> {
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
struct Jobs(Option<usize>);

fn parse_jobs(text: &str) -> Result<Jobs, String> {
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

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a sweep: every run of the grid that is not finished yet, then write the frame.
    Run {
        #[command(flatten)]
        args: SweepArgs,
        /// Rerun finished runs too.
        #[arg(long)]
        force: bool,
    },
    /// Print a sweep's runs, their count and an estimate of the time.
    Plan {
        #[command(flatten)]
        args: SweepArgs,
    },
    /// Rebuild a sweep's frame from its run folders and write its report (after `run
    /// --shard`); exit status 1 when a selected run is not done.
    Collect {
        #[command(flatten)]
        args: PlanArgs,
    },
    /// Write the sbatch scripts that run a sweep on Slurm (a job array of shards, then a job
    /// that collects) into results/<sweep>/slurm; with --submit, submit them.
    Slurm {
        #[command(flatten)]
        args: PlanArgs,
        #[command(flatten)]
        resources: slurm::Resources,
        /// Submit both jobs with sbatch and print their ids.
        #[arg(long)]
        submit: bool,
    },
    /// Write the HTML/PNG/SVG report of a sweep from its results folder.
    Report {
        /// A sweep's results folder: results/<sweep>.
        results: PathBuf,
        /// Write into this folder instead of the sweep's plots folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a sweep's results folder against the hashes its runs recorded, changing
    /// nothing: every damaged file (missing, truncated, unreadable, changed), one line each;
    /// exit status 1 when there is one.
    Verify {
        /// A sweep's results folder: results/<sweep>.
        results: PathBuf,
    },
    /// Rerun one stored run and report whether its rows equal the stored ones.
    Rerun {
        /// A run folder: results/<sweep>/runs/<run-id>.
        dir: PathBuf,
    },
    /// Train one configuration and print its per-epoch frame.
    Train {
        /// A run configuration (TOML with tables data, model, loss, optim, train); defaults
        /// for everything it leaves out.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override a key, e.g. --set loss.name=bce --set train.epochs=3.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Write metrics.parquet, metrics.csv, config.toml and the weights into this folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Time the training step of one configuration (for `make bench`): one JSON line per
    /// step after the warm-up.
    BenchStep {
        /// A run configuration, as for `train`.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override a key, e.g. --set data.height=96 --set model.channels_last=false.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Untimed steps first.
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        /// Timed steps.
        #[arg(long, default_value_t = 5)]
        steps: usize,
    },
    /// Write a sweep's results folder with made-up rows for every run, without training
    /// (for timing `report` on large sweeps).
    #[command(hide = true)]
    BenchResults {
        /// The sweep file.
        sweep: PathBuf,
        /// Override a key, as for `run`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Look at a dataset: `data check` (what the loader finds) and `data example` (write a
    /// small public-style dataset).
    Data {
        #[command(subcommand)]
        action: DataCommand,
    },
    /// Check every loss against a reference file (format of tests/reference/losses.json),
    /// or, with --script, your TorchScript loss against the file's values of one loss.
    VerifyLosses {
        file: PathBuf,
        /// Evaluate in f32 against the file's f32 tolerance (default: f64).
        #[arg(long)]
        f32: bool,
        /// A TorchScript loss (as `loss.path`) to check instead of the built-in losses.
        #[arg(long, value_name = "FILE.pt")]
        script: Option<PathBuf>,
        /// The loss of the file the script must reproduce (default: the script's file stem).
        #[arg(long, value_name = "LOSS", requires = "script")]
        against: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum DataCommand {
    /// Read a sweep's folder data (or a bare folder) as the loader would, changing nothing:
    /// images per split, sizes, label values, class frequencies, every problem, and a
    /// [base] snippet; exit status 0 when the data are usable, 2 otherwise.
    Check {
        /// A sweep file (.toml), or a dataset's folder.
        target: PathBuf,
        /// Override a key of the sweep file, as for `run`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Write a small two-class dataset (train/image, train/label with 0/255 masks, no
    /// validation folder) into a new folder.
    Example {
        /// The folder to write into.
        dir: PathBuf,
        /// How many images.
        #[arg(long, default_value_t = 30)]
        images: usize,
        /// Height and width of each image.
        #[arg(long, default_value_t = 32)]
        size: u32,
        /// The generator's seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// `lossbench data check`: every distinct folder dataset of the sweep (folds as one), or the
/// bare folder; 0 when all are usable, 2 otherwise.
fn check_data(target: &Path, overrides: &[String]) -> anyhow::Result<ExitCode> {
    use crate::data::{folder::check, DataConfig};
    let configs = if target.is_dir() {
        vec![check::guess(target).with_context(|| {
            format!(
                "{} has none of the usual layouts (images/<split> with masks/<split>, <split>/image with <split>/label, image with label, ...); write a sweep file with data.images and data.masks and check that",
                target.display()
            )
        })?]
    } else {
        let plan = plan::expand(Sweep::load(target, overrides)?)?;
        let mut configs = Vec::new();
        for run in &plan.runs {
            if let DataConfig::Folder(f) = &run.config.data {
                let mut f = (**f).clone();
                f.fold = None;
                if !configs.contains(&f) {
                    configs.push(f);
                }
            }
        }
        if configs.is_empty() {
            println!("{}: synthetic data, nothing to check", target.display());
            return Ok(ExitCode::SUCCESS);
        }
        configs
    };
    let mut usable = true;
    for config in &configs {
        let found = check::check(config);
        println!("{found}");
        usable &= found.usable();
    }
    Ok(if usable {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_USAGE)
    })
}

/// Parses the process arguments and runs the command.
pub fn main() -> anyhow::Result<ExitCode> {
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    match Cli::parse().command {
        Command::Run { args, force } => run_sweep(&args, force),
        Command::Plan { args } => print_plan(&args),
        Command::Collect { args } => collect(&args),
        Command::Slurm {
            args,
            resources,
            submit,
        } => write_slurm(&args, resources, submit),
        Command::Rerun { dir } => rerun_one(&dir),
        Command::Verify { results } => {
            let (runs, problems) = store::verify(&results)?;
            for p in &problems {
                println!("damaged: {p}");
            }
            println!(
                "{}: {runs} run folders checked, {} damaged file(s){}",
                results.display(),
                problems.len(),
                if problems.is_empty() {
                    ""
                } else {
                    "; `lossbench run` on the sweep file redoes the runs they belong to"
                }
            );
            Ok(if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILED)
            })
        }
        Command::Report { results, out } => {
            let start = std::time::Instant::now();
            let index = report::build(&results, out.as_deref())?;
            println!(
                "report: {} ({:.2}s)",
                index.display(),
                start.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Train {
            config,
            overrides,
            out,
        } => train_one(config, &overrides, out),
        Command::BenchStep {
            config,
            overrides,
            warmup,
            steps,
        } => {
            let config = match &config {
                Some(p) => RunConfig::from_file(p, &overrides)?,
                None => RunConfig::from_overrides(&overrides)?,
            };
            crate::bench::step(&config, warmup, steps)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::BenchResults { sweep, overrides } => {
            let runs = crate::bench::synthetic_results(&sweep, &overrides)?;
            println!("{runs} runs written");
            Ok(ExitCode::SUCCESS)
        }
        Command::VerifyLosses {
            file,
            f32,
            script,
            against,
        } => verify_losses(&file, f32, script.as_deref(), against.as_deref()),
        Command::Data {
            action: DataCommand::Check { target, overrides },
        } => check_data(&target, &overrides),
        Command::Data {
            action:
                DataCommand::Example {
                    dir,
                    images,
                    size,
                    seed,
                },
        } => {
            crate::example_data::write(&dir, images, size, seed)?;
            println!(
                "{images} images and 0/255 masks of {size}×{size} in {}/train/image and train/label",
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn train_one(
    path: Option<PathBuf>,
    overrides: &[String],
    out: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let config = match &path {
        Some(p) => RunConfig::from_file(p, overrides)?,
        None => RunConfig::from_overrides(overrides)?,
    };
    let data = config.data.load()?;
    let stop = &STOP;
    println!(
        "training {} for {} epochs",
        config.loss.name, config.train.epochs
    );
    let threads = config.threads_or(std::thread::available_parallelism().map_or(1, usize::from));
    let trained = train::train(&config, &data, threads, stop, None, |row, _| {
        println!(
            "epoch {:>3}  train_loss {:.5}  val_loss {:.5}  val_miou {:.4}  pixel_acc {:.4}  binary_acc {:.4}  {:.2}s",
            row.epoch, row.train_loss, row.val_loss, row.val_miou, row.pixel_accuracy, row.binary_accuracy, row.seconds
        );
    })?;
    let mut frame = store::epoch_frame(&trained.rows)?;
    println!("{frame}");
    if let Some(dir) = out {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        store::write_frame(&mut frame, &dir, "metrics")?;
        store::write_atomic(
            &dir.join("config.toml"),
            toml::to_string(&config)?.as_bytes(),
        )?;
        trained.save_weights(&dir.join("weights.safetensors"))?;
        println!("results in {}", dir.display());
    }
    Ok(match trained.ending {
        Ending::Done => ExitCode::SUCCESS,
        Ending::Diverged { epoch } => {
            eprintln!("the loss diverged (NaN or infinite) at epoch {epoch}");
            ExitCode::from(EXIT_FAILED)
        }
        Ending::Interrupted => ExitCode::from(EXIT_INTERRUPTED),
    })
}

impl PlanArgs {
    /// The `--set` overrides, with `--device` as one more.
    fn overrides(&self) -> Vec<String> {
        let mut overrides = self.overrides.clone();
        if let Some(device) = &self.device {
            overrides.push(format!("device={}", toml::Value::String(device.clone())));
        }
        if let Some(n) = self.max_runs {
            overrides.push(format!("sweep.max_runs={n}"));
        }
        overrides
    }

    /// Reads the sweep, expands it, and parses `--only` against it.
    fn load(&self) -> anyhow::Result<(Plan, Option<Filter>)> {
        let sweep = Sweep::load(&self.sweep, &self.overrides())?;
        let plan = plan::expand(sweep)?;
        let only = self
            .only
            .as_deref()
            .map(|t| Filter::parse(t, &plan))
            .transpose()?;
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
        },
    ))
}

/// Writes the report of the sweep folder `root` and says where; whether it could.
fn write_report(root: &Path) -> bool {
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

fn run_sweep(args: &SweepArgs, force: bool) -> anyhow::Result<ExitCode> {
    let (plan, mut options) = load_plan(args)?;
    options.force = force;
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
    let summary = scheduler::execute(&plan, &store, &options, &STOP)?;
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
    } else if summary.done + summary.skipped > 0 {
        write_report(&store.root);
    }
    Ok(if STOP.load(Ordering::SeqCst) {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if summary.all_done() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

fn collect(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let (plan, only) = args.load()?;
    let store = SweepStore::new(plan.sweep.results_dir());
    let options = Options {
        only,
        ..Default::default()
    };
    let (selected, _) = scheduler::select(&plan, &store, &options)?;
    let mut counts = [0usize; 6];
    for run in &selected {
        // A damaged run folder counts as not started, as in the frame.
        let slot = match store.sound_status(&run.id).map(|s| s.state) {
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
        ExitCode::from(EXIT_FAILED)
    })
}

fn write_slurm(
    args: &PlanArgs,
    resources: slurm::Resources,
    submit: bool,
) -> anyhow::Result<ExitCode> {
    let (plan, only) = args.load()?;
    let store = SweepStore::new(plan.sweep.results_dir());
    let options = Options {
        only,
        ..Default::default()
    };
    let (selected, todo) = scheduler::select(&plan, &store, &options)?;
    let workdir = std::env::current_dir().context("cannot read the current folder")?;
    let job = slurm::Job {
        exe: std::env::current_exe().context("cannot find this lossbench binary's path")?,
        sweep: std::fs::canonicalize(&args.sweep)
            .with_context(|| format!("cannot resolve {}", args.sweep.display()))?,
        workdir: workdir.clone(),
        overrides: args.overrides(),
        only: args.only.clone(),
        resources,
    };
    let dir = workdir.join(&store.root).join("slurm");
    let scripts = slurm::scripts(&plan.sweep.name, selected.len(), &dir, &job)?;
    scripts.write()?;
    println!(
        "sweep {}: {} runs ({} to run), {} array tasks",
        plan.sweep.name,
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
    println!(
        "submitted: array job {} ({} tasks), collect job {} (after the array)",
        ids.array, scripts.tasks, ids.collect
    );
    println!(
        "follow with `squeue -j {},{}`; logs in {}",
        ids.array,
        ids.collect,
        scripts.logs_dir().display()
    );
    Ok(ExitCode::SUCCESS)
}

fn print_plan(args: &SweepArgs) -> anyhow::Result<ExitCode> {
    let (plan, options) = load_plan(args)?;
    let store = SweepStore::new(plan.sweep.results_dir());
    let (selected, todo) = scheduler::select(&plan, &store, &options)?;
    if let Some(d) = &plan.sweep.description {
        println!("{d}");
    }
    for run in &selected {
        let state = match store.sound_status(&run.id) {
            Some(status) => status.state.name(),
            None if store.damage(&run.id).is_empty() => "pending",
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

fn human_duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

fn rerun_one(dir: &Path) -> anyhow::Result<ExitCode> {
    let report = rerun::rerun(dir, &STOP)?;
    match &report.difference {
        None => {
            println!(
                "{}: {} epochs rerun with {} thread(s); rows are bitwise equal to the stored ones",
                report.label, report.epochs, report.threads
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(diff) => {
            println!("{}: rows differ from the stored ones: {diff}", report.label);
            Ok(ExitCode::from(EXIT_FAILED))
        }
    }
}

fn verify_losses(
    path: &std::path::Path,
    f32: bool,
    script: Option<&std::path::Path>,
    against: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let file = ReferenceFile::read(path)?;
    let precision = if f32 { Precision::F32 } else { Precision::F64 };
    let tol = file.tolerance(precision);
    let reports = match script {
        None => file.check_losses(precision)?,
        Some(script) => {
            let stem = script.file_stem().map(|s| s.to_string_lossy().into_owned());
            let name = against.map(str::to_string).or(stem).unwrap_or_default();
            let loss = LossConfig {
                name: Loss::Script,
                path: Some(script.to_path_buf()),
                ..LossConfig::default()
            };
            let criterion =
                criterion::for_loss(&loss, 0, tch::Device::Cpu, || (Vec::new(), Vec::new()))?;
            let report = file.check_criterion(&criterion, &name, precision)?;
            let label = format!("{} as {name}", script.display());
            std::collections::BTreeMap::from([(label, report)])
        }
    };
    println!(
        "{} cases, {:?}, tolerance rel {:e} or abs {:e}",
        file.cases.len(),
        precision,
        tol.rel,
        tol.abs
    );
    println!(
        "{:<18} {:>5} {:>11} {:>11} {:>11} {:>11}  result",
        "loss", "cases", "value abs", "value rel", "grad abs", "grad rel"
    );
    let mut failed = false;
    for (loss, r) in &reports {
        let ok = r.value.failures == 0 && r.grad.failures == 0;
        failed |= !ok;
        println!(
            "{:<18} {:>5} {:>11.3e} {:>11.3e} {:>11.3e} {:>11.3e}  {}",
            loss,
            r.cases,
            r.value.max_abs,
            r.value.max_rel,
            r.grad.max_abs,
            r.grad.max_rel,
            if ok {
                "ok".to_string()
            } else {
                format!(
                    "FAIL ({} values, {} gradient elements)",
                    r.value.failures, r.grad.failures
                )
            }
        );
    }
    Ok(if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
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

    #[test]
    fn run_parses_shard_and_slurm_parses_its_resources() {
        let cli =
            Cli::try_parse_from(["lossbench", "run", "s.toml", "--shard", "1/3"]).expect("parses");
        let Command::Run { args, .. } = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.shard, Some((1, 3)));
        let err =
            Cli::try_parse_from(["lossbench", "run", "s.toml", "--shard", "3/2"]).expect_err("3/2");
        assert!(err.to_string().contains("numbered 0 to 1"), "{err}");
        let cli = Cli::try_parse_from([
            "lossbench",
            "slurm",
            "s.toml",
            "--set",
            "train.epochs=2",
            "--partition",
            "gpu",
            "--time",
            "01:00:00",
            "--gpus-per-task",
            "1",
            "--max-parallel",
            "4",
            "--sbatch",
            "--mem=8G",
            "--submit",
        ])
        .expect("parses");
        let Command::Slurm {
            args,
            resources,
            submit,
        } = cli.command
        else {
            panic!("not slurm")
        };
        assert!(submit);
        assert_eq!(args.overrides, ["train.epochs=2"]);
        assert_eq!(resources.partition.as_deref(), Some("gpu"));
        assert_eq!(resources.time.as_deref(), Some("01:00:00"));
        assert_eq!(
            (
                resources.gpus_per_task,
                resources.max_parallel,
                resources.cpus_per_task
            ),
            (Some(1), Some(4), 1)
        );
        assert_eq!(resources.sbatch, ["--mem=8G"]);
        for bad in [["--time", "1h"], ["--max-parallel", "0"]] {
            let mut argv = vec!["lossbench", "slurm", "s.toml"];
            argv.extend(bad);
            assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
        }
    }
}
