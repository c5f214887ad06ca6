//! Command-line arguments (clap) and the one step each command calls.
//!
//! Exit statuses: 0 success; 1 the work ran but something failed (a run failed, a loss
//! disagreed with its reference); 2 the command could not start (bad arguments, bad
//! configuration, unreadable files).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::RunConfig;
use crate::reference::{Precision, ReferenceFile};
use crate::run::train::{self, Ending};
use crate::store;

/// Exit status when the work ran and something in it failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status when the command could not start.
pub const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "lossbench",
    version,
    about = "Which loss should I train my U-Net with? Sweeps losses x seeds and reports with evidence."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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
    /// Check every loss against a reference file (format of shared/reference/losses.json).
    VerifyLosses {
        file: PathBuf,
        /// Evaluate in f32 against the file's f32 tolerance (default: f64).
        #[arg(long)]
        f32: bool,
    },
}

/// Parses the process arguments and runs the command.
pub fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Train {
            config,
            overrides,
            out,
        } => train_one(config, &overrides, out),
        Command::VerifyLosses { file, f32 } => verify_losses(&file, f32),
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
    let stop = AtomicBool::new(false);
    println!(
        "training {} for {} epochs",
        config.loss.name, config.train.epochs
    );
    let trained = train::train(&config, &data, &stop, |row| {
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
        trained
            .vars
            .save(dir.join("weights.safetensors"))
            .context("cannot save the weights")?;
        println!("results in {}", dir.display());
    }
    Ok(match trained.ending {
        Ending::Done => ExitCode::SUCCESS,
        Ending::Diverged { epoch } => {
            eprintln!("the loss diverged (NaN or infinite) at epoch {epoch}");
            ExitCode::from(EXIT_FAILED)
        }
        Ending::Interrupted => ExitCode::from(EXIT_FAILED),
    })
}

fn verify_losses(path: &std::path::Path, f32: bool) -> anyhow::Result<ExitCode> {
    let file = ReferenceFile::read(path)?;
    let precision = if f32 { Precision::F32 } else { Precision::F64 };
    let tol = file.tolerance(precision);
    let reports = file.check_losses(precision)?;
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
            loss.name(),
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
