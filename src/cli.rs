//! Command-line arguments (clap): parses them and dispatches each command to its step in
//! [`crate::commands`]. Exit statuses are in [`crate::exit`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::commands::sweep::{PlanArgs, SweepArgs};
use crate::commands::{checks, data, export, single, status, sweep};
use crate::config::RunConfig;
use crate::exit;
use crate::slurm;

#[derive(Parser, Debug)]
#[command(
    name = "lossbench",
    version = concat!(
        env!("CARGO_PKG_VERSION"),
        " (libtorch ",
        env!("LOSSBENCH_LIBTORCH_VERSION"),
        ", commit ",
        env!("LOSSBENCH_COMMIT"),
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
        /// For a tuned sweep: collect the finished stage STAGE (rung-0, ..., final, untuned)
        /// and submit the next one; what the job after each stage's array runs. Fails when
        /// STAGE has runs not finished.
        #[arg(long, value_name = "STAGE")]
        after_stage: Option<String>,
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
    /// How a sweep stands while it runs: runs done, running, pending, failed and diverged;
    /// each running run's epoch and last validation score; the time left; the best run so
    /// far per loss.
    Status {
        /// A sweep's results folder: results/<sweep>.
        results: PathBuf,
        /// Print JSON, for scripts.
        #[arg(long)]
        json: bool,
        /// Refresh in place every SECONDS (default 5) until stopped.
        #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "5")]
        watch: Option<u64>,
    },
    /// Send a sweep's runs to another tool: TensorBoard event files, or an MLflow server.
    Export {
        #[command(subcommand)]
        target: ExportCommand,
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
    /// What this machine offers lossbench: versions, libtorch's CUDA backend, each GPU (or
    /// why none is visible), threads, MKL and oneDNN.
    Doctor {
        /// Print JSON, for scripts.
        #[arg(long)]
        json: bool,
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

/// Where `lossbench export` sends a sweep.
#[derive(Subcommand, Debug)]
enum ExportCommand {
    /// Log every run of a sweep as an MLflow run (params, per-epoch metrics, status, tags)
    /// under a parent run holding the report; exporting again adds only what is new.
    Mlflow {
        /// A sweep's results folder: results/<sweep>.
        results: PathBuf,
        /// The tracking server, e.g. http://127.0.0.1:5000.
        #[arg(long, value_name = "URI")]
        tracking_uri: String,
        /// The experiment to log into, created when missing (default: the sweep's name).
        #[arg(long, value_name = "NAME")]
        experiment: Option<String>,
    },
    /// One TensorBoard event file per run, DIR/<run label>/events.out.tfevents.*: every
    /// per-epoch column as a scalar (step = epoch), the configuration as text, the axes as
    /// hparams. Exporting again replaces the runs' event files.
    Tensorboard {
        /// A sweep's results folder: results/<sweep>.
        results: PathBuf,
        /// The folder to write into (TensorBoard's --logdir).
        dir: PathBuf,
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

/// Whether `args` (the words after `lossbench`) parse as a command line, every required
/// argument included; clap's message otherwise. `--help` and `--version` parse.
pub fn check_args(args: &[&str]) -> Result<(), String> {
    match Cli::try_parse_from(std::iter::once("lossbench").chain(args.iter().copied())) {
        Ok(_) => Ok(()),
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => Ok(()),
            _ => Err(e.to_string()),
        },
    }
}

/// Parses the process arguments and runs the command.
pub fn main() -> anyhow::Result<ExitCode> {
    exit::handle_signals().context("cannot install the handler of Ctrl-C and SIGTERM")?;
    match Cli::parse().command {
        Command::Run { args, force } => sweep::run(&args, force),
        Command::Plan { args } => sweep::plan(&args),
        Command::Collect { args } => sweep::collect(&args),
        Command::Slurm {
            args,
            resources,
            submit,
            after_stage,
        } => sweep::slurm(&args, resources, submit, after_stage.as_deref()),
        Command::Rerun { dir } => single::rerun(&dir),
        Command::Export {
            target: ExportCommand::Tensorboard { results, dir },
        } => export::tensorboard(&results, &dir),
        Command::Verify { results } => checks::verify(&results),
        Command::Status {
            results,
            json,
            watch,
        } => status::status(&results, json, watch),
        Command::Report { results, out } => sweep::report(&results, out.as_deref()),
        Command::Train {
            config,
            overrides,
            out,
        } => single::train(config.as_deref(), &overrides, out.as_deref()),
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
        } => checks::verify_losses(&file, f32, script.as_deref(), against.as_deref()),
        Command::Export {
            target:
                ExportCommand::Mlflow {
                    results,
                    tracking_uri,
                    experiment,
                },
        } => export::mlflow(&results, &tracking_uri, experiment.as_deref()),
        Command::Doctor { json } => crate::commands::doctor::run(json),
        Command::Data {
            action: DataCommand::Check { target, overrides },
        } => data::check(&target, &overrides),
        Command::Data {
            action:
                DataCommand::Example {
                    dir,
                    images,
                    size,
                    seed,
                },
        } => data::example(&dir, images, size, seed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ..
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
        // What a tuned sweep's follow-up job passes on asks for the same resources.
        let again = resources.args();
        let mut argv = vec!["lossbench", "slurm", "s.toml", "--after-stage", "rung-0"];
        argv.extend(again.iter().map(String::as_str));
        let Command::Slurm {
            resources: same,
            after_stage,
            ..
        } = Cli::try_parse_from(argv).expect("parses").command
        else {
            panic!("not slurm")
        };
        assert_eq!(format!("{same:?}"), format!("{resources:?}"));
        assert_eq!(after_stage.as_deref(), Some("rung-0"));
        for bad in [["--time", "1h"], ["--max-parallel", "0"]] {
            let mut argv = vec!["lossbench", "slurm", "s.toml"];
            argv.extend(bad);
            assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
        }
    }
}
