//! The across-datasets section: the aggregate over datasets and the performance profile.

use std::path::Path;

use crate::analyse;

use super::common::figure;
use super::html::{Cell, Section, Table};
use super::plots::{self, LineChart, Series};
use super::Colours;

/// A sweep over several datasets: each dataset's verdict, the aggregate over datasets, and
/// the performance profile of every loss.
pub(super) fn section(
    datasets: &analyse::Datasets,
    dir: &Path,
    colours: &Colours,
) -> anyhow::Result<Section> {
    let profile = LineChart {
        title: "Performance profile: share of runs above each mIoU".into(),
        x_label: "mIoU threshold τ".into(),
        y_label: "share of runs with final mIoU > τ".into(),
        series: datasets
            .profiles
            .iter()
            .map(|p| Series {
                name: format!("{} (n={})", p.loss, p.runs),
                colour: colours.of(&p.loss),
                points: p
                    .thresholds
                    .iter()
                    .copied()
                    .zip(p.share_above.iter().copied())
                    .collect(),
                band: vec![],
                dashed: false,
            })
            .collect(),
        hlines: vec![],
        log_y: false,
        y_range: Some((0.0, 1.0)),
        whole_x: false,
    };
    plots::save(&profile, &dir.join("performance_profile"))?;
    let names: Vec<&str> = datasets
        .per_dataset
        .iter()
        .map(|d| d.dataset.as_str())
        .collect();
    let mut header = vec!["loss".to_string(), "against".to_string()];
    header.extend(names.iter().map(|n| format!("{n}: mean difference")));
    header.extend(
        [
            "mean over datasets",
            "95% stratified bootstrap-t CI",
            "datasets ahead",
        ]
        .map(String::from),
    );
    let points = |v: f64| format!("{:+.2}", 100.0 * v);
    let table = Table {
        header,
        rows: datasets
            .aggregate
            .iter()
            .map(|a| {
                let mut row = vec![Cell::Text(a.loss.clone()), Cell::Text(a.reference.clone())];
                row.extend(names.iter().map(|n| {
                    Cell::Text(
                        a.per_dataset
                            .iter()
                            .find(|(d, _)| d == n)
                            .map_or_else(|| "n/a".to_string(), |(_, v)| points(*v)),
                    )
                }));
                row.push(Cell::Text(points(a.mean)));
                row.push(Cell::Text(a.ci.map_or_else(
                    || "n/a".to_string(),
                    |(l, h)| format!("[{}, {}]", points(l), points(h)),
                )));
                row.push(Cell::Text(format!(
                    "{} of {}",
                    a.datasets_ahead,
                    a.per_dataset.len()
                )));
                row
            })
            .collect(),
        row_classes: vec![],
    };
    let mut paragraphs = vec![format!(
        "The sweep's axis `{}` takes {} values. Each dataset is analysed on its own (its pairs, its Holm adjustment, its verdict); the aggregate weighs every dataset the same: the mean over datasets of each loss's mean paired difference from the reference, in mIoU points, with a studentized bootstrap interval that resamples seeds within each dataset ({} resamples).",
        datasets.axis,
        names.len(),
        analyse::stats::BOOTSTRAP_RESAMPLES
    )];
    paragraphs.extend(
        datasets
            .aggregate
            .iter()
            .map(|a| analyse::datasets::aggregate_sentence(a, "mIoU")),
    );
    paragraphs.extend(
        datasets
            .per_dataset
            .iter()
            .map(|d| format!("On {}: {}", d.dataset, d.verdict.text)),
    );
    Ok(Section {
        id: "datasets".into(),
        heading: "Across datasets".into(),
        paragraphs,
        figures: vec![figure(
            "performance_profile",
            "For each loss, the share of its finished runs (every dataset and seed) whose final mIoU exceeds τ; a curve above another is better at every threshold.".into(),
        )],
        tables: vec![table],
    })
}
