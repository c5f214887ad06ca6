//! The single-run commands: `train` one configuration and `rerun` a stored one.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::RunConfig;
use crate::exit;
use crate::run::rerun;
use crate::run::train::{self, Ending};
use crate::store;

/// `lossbench train`: trains one configuration, printing each epoch and the frame, and
/// writes its files into `out`.
pub fn train(
    path: Option<&Path>,
    overrides: &[String],
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let config = match &path {
        Some(p) => RunConfig::from_file(p, overrides)?,
        None => RunConfig::from_overrides(overrides)?,
    };
    let data = config.data.load()?;
    println!(
        "training {} for {} epochs",
        config.loss.name, config.train.epochs
    );
    let threads = config.threads_or(std::thread::available_parallelism().map_or(1, usize::from));
    let _finishing = exit::finishing();
    let mut trained = train::train(
        &config,
        &data,
        threads,
        exit::stop_flag(),
        None,
        |row, _| {
            println!(
            "epoch {:>3}  train_loss {:.5}  val_loss {:.5}  val_miou {:.4}  pixel_acc {:.4}  binary_acc {:.4}  {:.2}s",
            row.epoch, row.train_loss, row.val_loss, row.val_miou, row.pixel_accuracy, row.binary_accuracy, row.seconds
        );
        },
    )?;
    if let Some(selection) = &trained.selection {
        store::record_selection(&mut trained.rows, selection);
    }
    let mut frame = store::epoch_frame(&trained.rows)?;
    println!("{frame}");
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        store::write_frame(&mut frame, dir, "metrics")?;
        store::write_atomic(
            &dir.join("config.toml"),
            toml::to_string(&config)?.as_bytes(),
        )?;
        trained.save_weights(&dir.join(store::WEIGHTS))?;
        println!("results in {}", dir.display());
    }
    Ok(match trained.ending {
        Ending::Done => ExitCode::SUCCESS,
        Ending::Diverged { epoch } => {
            eprintln!("the loss diverged (NaN or infinite) at epoch {epoch}");
            ExitCode::from(exit::FAILED)
        }
        Ending::Interrupted => ExitCode::from(exit::interrupted()),
    })
}

/// `lossbench rerun`: reruns a stored run; 1 when its rows differ from the stored ones.
pub fn rerun(dir: &Path) -> anyhow::Result<ExitCode> {
    let report = {
        let _finishing = exit::finishing();
        rerun::rerun(dir, exit::stop_flag())?
    };
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
            Ok(ExitCode::from(exit::FAILED))
        }
    }
}
