//! The data commands: `data check` (what the loader finds in a dataset) and `data example`
//! (a small dataset on disk).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::sweep::Sweep;
use crate::data::{folder, DataConfig};
use crate::exit;
use crate::plan;

/// `lossbench data check`: every distinct folder dataset of the sweep (folds as one), or the
/// bare folder; 0 when all are usable, 2 otherwise.
pub fn check(target: &Path, overrides: &[String]) -> anyhow::Result<ExitCode> {
    let configs = if target.is_dir() {
        vec![folder::check::guess(target).with_context(|| {
            format!(
                "{} has none of the usual layouts (images/<split> with masks/<split>, <split>/image with <split>/label, image with label, ...); write a sweep file with data.images and data.masks and check that",
                target.display()
            )
        })?]
    } else {
        let plan = plan::expand(Sweep::load(target, overrides)?)?;
        let mut configs = Vec::new();
        for run in plan.runs() {
            if let DataConfig::Folder(f) = &run.config()?.data {
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
        let found = folder::check::check(config);
        println!("{found}");
        usable &= found.usable();
    }
    Ok(if usable {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::USAGE)
    })
}

/// `lossbench data example`: writes a small two-class dataset into `dir`.
pub fn example(dir: &Path, images: usize, size: u32, seed: u64) -> anyhow::Result<ExitCode> {
    crate::data::example::write(dir, images, size, seed)?;
    println!(
        "{images} images and 0/255 masks of {size}×{size} in {}/train/image and train/label",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
