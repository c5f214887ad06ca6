//! The checking commands: `verify` a results folder against its hashes, and
//! `verify-losses` against reference values.

use std::path::Path;
use std::process::ExitCode;

use crate::config::LossConfig;
use crate::exit;
use crate::losses::Loss;
use crate::reference::{Precision, ReferenceFile};
use crate::run::criterion;
use crate::store;

/// `lossbench verify`: checks a results folder against its recorded hashes, one line per
/// damaged file; 1 when there is one.
pub fn verify(results: &Path) -> anyhow::Result<ExitCode> {
    let (runs, problems) = store::verify(results)?;
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
        ExitCode::from(exit::FAILED)
    })
}

/// `lossbench verify-losses`: every loss (or one TorchScript loss) against a reference file;
/// 1 when one disagrees.
pub fn verify_losses(
    path: &Path,
    f32: bool,
    script: Option<&Path>,
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
        ExitCode::from(exit::FAILED)
    } else {
        ExitCode::SUCCESS
    })
}
