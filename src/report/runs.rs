//! The every-run section: each planned run of `runs.parquet`, its status and its files.

use std::path::{Component, Path};

use anyhow::Context;

use crate::analyse::{self, Analysis};
use crate::store::{self, SweepInfo};

use super::html::{Cell, Section, Table};

/// One planned run as `runs.parquet` records it.
struct PlannedRow {
    run_id: String,
    label: String,
    status: String,
    epochs: u32,
    error: String,
}

/// Every planned run of the sweep, finished or not, from `runs.parquet`.
fn planned_runs(results: &Path) -> anyhow::Result<Vec<PlannedRow>> {
    let frame = store::read_parquet(&results.join("runs.parquet"))?;
    let text = |name: &str| -> anyhow::Result<Vec<String>> {
        let column = frame
            .column(name)
            .with_context(|| format!("runs.parquet has no column {name}"))?;
        Ok(column
            .str()?
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    };
    let (ids, labels, statuses, errors) = (
        text("run_id")?,
        text("label")?,
        text("status")?,
        text("error")?,
    );
    let epochs: Vec<u32> = frame
        .column("epochs_done")
        .context("runs.parquet has no column epochs_done")?
        .u32()?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect();
    Ok((0..ids.len())
        .map(|i| PlannedRow {
            run_id: ids[i].clone(),
            label: labels[i].clone(),
            status: statuses[i].clone(),
            epochs: epochs[i],
            error: errors[i].clone(),
        })
        .collect())
}

pub(super) fn section(
    analysis: &Analysis,
    info: &SweepInfo,
    results: &Path,
    dir: &Path,
) -> anyhow::Result<Section> {
    let planned = planned_runs(results)?;
    let header = [
        "run",
        "axes",
        "status",
        "epochs",
        "final mIoU",
        "best mIoU",
        "error",
        "config",
        "frame",
    ]
    .map(String::from)
    .to_vec();
    let value = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.4}"));
    let rows = planned
        .iter()
        .map(|p| {
            let run_dir = results.join("runs").join(&p.run_id);
            let analysed = analysis.runs.iter().find(|r| r.run_id == p.run_id);
            let frame = if p.epochs > 0 {
                Cell::Link(
                    "metrics.parquet".into(),
                    relative(dir, &run_dir.join("metrics.parquet")),
                )
            } else {
                Cell::Text("(no epoch)".into())
            };
            let config = if run_dir.join("config.toml").exists() {
                Cell::Link(
                    "config.toml".into(),
                    relative(dir, &run_dir.join("config.toml")),
                )
            } else {
                Cell::Text("(not started)".into())
            };
            vec![
                Cell::Text(p.run_id.clone()),
                Cell::Text(p.label.clone()),
                Cell::Text(p.status.clone()),
                Cell::Text(p.epochs.to_string()),
                Cell::Text(value(
                    analysed
                        .and_then(|r| r.final_value)
                        .filter(|_| p.status == analyse::DONE),
                )),
                Cell::Text(value(analysed.and_then(|r| r.best))),
                Cell::Text(p.error.clone()),
                config,
                frame,
            ]
        })
        .collect();
    let row_classes = planned.iter().map(|p| p.status.clone()).collect();
    let not_done = planned.iter().filter(|p| p.status != analyse::DONE).count();
    Ok(Section {
        id: "runs".into(),
        heading: "Every run".into(),
        paragraphs: vec![format!(
            "All {} planned runs of {}; {} did not finish (highlighted) and take no part in the findings. The sweep's frame is {}.",
            planned.len(),
            info.name,
            not_done,
            relative(dir, &results.join("metrics.parquet"))
        )],
        figures: vec![],
        tables: vec![Table { header, rows, row_classes }],
    })
}

/// `to` relative to the folder `from` (both made absolute), for links that work from disk.
pub fn relative(from: &Path, to: &Path) -> String {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (from, to) = (absolute(from), absolute(to));
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), a.len() - common).collect();
    parts.extend(
        b[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}
