//! Several datasets in one sweep: a grid axis over datasets (`data.root = [...]`, or any
//! axis named `dataset`) is analysed per dataset (its own summaries, paired differences
//! and verdict), then aggregated over datasets with every dataset weighing the same: the
//! mean over datasets of each loss's mean paired difference from the reference, with a
//! studentized bootstrap stratified by dataset. The performance profile (the share of runs
//! above each score, as in rliable) shows every loss across all of them.

use serde::Serialize;

use super::findings::{paired_differences, summarise, LossSummary, PairedDifference};
use super::runs::{finals, group_in_order, run_table, Run, RunRow, Runs};
use super::stats::stratified_bootstrap_t;
use super::verdict::{verdict, Verdict};
use super::{higher_is_better, AnalyseError, Settings, ALPHA};

/// The axes that name a dataset, in the order they are looked for.
pub const DATASET_AXES: [&str; 2] = ["dataset", "data.root"];

/// The scores a performance profile is evaluated at: 0, 0.01, …, 1.
pub const PROFILE_STEPS: usize = 100;

/// One dataset's own analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetAnalysis {
    /// The value of the dataset axis.
    pub dataset: String,
    /// Its runs, with the dataset axis left out (constant there), and their run table: what
    /// the report's per-dataset sections draw from.
    #[serde(skip)]
    pub runs: Runs,
    #[serde(skip)]
    pub table: Vec<RunRow>,
    pub summaries: Vec<LossSummary>,
    pub differences: Vec<PairedDifference>,
    pub verdict: Verdict,
}

/// One loss against the reference over every dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregate {
    pub loss: String,
    pub reference: String,
    /// `(dataset, mean paired difference)` for each dataset where the loss has pairs.
    pub per_dataset: Vec<(String, f64)>,
    /// The mean over datasets of the per-dataset mean differences.
    pub mean: f64,
    /// Its 95% stratified bootstrap-t interval; `None` when a dataset has fewer than 2
    /// pairs or no spread.
    pub ci: Option<(f64, f64)>,
    /// How many datasets put the loss ahead of the reference on average.
    pub datasets_ahead: usize,
}

/// A loss's performance profile: the share of its finished runs (every dataset and seed)
/// whose score is above each threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub loss: String,
    pub runs: usize,
    pub thresholds: Vec<f64>,
    pub share_above: Vec<f64>,
}

/// The analysis across the datasets of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Datasets {
    /// The dataset axis of the frame.
    pub axis: String,
    pub per_dataset: Vec<DatasetAnalysis>,
    pub aggregate: Vec<Aggregate>,
    pub profiles: Vec<Profile>,
}

/// The dataset axis of `runs`, when it has one with more than one value.
pub fn dataset_axis(runs: &Runs) -> Option<String> {
    DATASET_AXES
        .iter()
        .find(|name| {
            let values: Vec<String> = runs.runs.iter().filter_map(|r| r.axis(name)).collect();
            group_in_order(values, String::clone).len() > 1
        })
        .map(|name| name.to_string())
}

/// The runs of each value of `axis`, in order of first appearance, each with the axis left
/// out (it is constant there).
fn split(runs: &Runs, axis: &str) -> Vec<(String, Runs)> {
    let tagged: Vec<(String, &Run)> = runs
        .runs
        .iter()
        .filter_map(|r| Some((r.axis(axis)?, r)))
        .collect();
    group_in_order(tagged, |(value, _)| value.clone())
        .into_iter()
        .map(|(value, members)| {
            let subset = Runs {
                axes: runs.axes.iter().filter(|a| *a != axis).cloned().collect(),
                metrics: runs.metrics.clone(),
                runs: members
                    .into_iter()
                    .map(|(_, run)| {
                        let mut run = run.clone();
                        run.axes.retain(|(a, _)| a != axis);
                        run
                    })
                    .collect(),
            };
            (value, subset)
        })
        .collect()
}

/// The analysis per dataset and across datasets of `metric` against `reference`, or `None`
/// when the sweep has no dataset axis with two or more values.
pub fn by_dataset(
    runs: &Runs,
    metric: &str,
    reference: &str,
    settings: &Settings,
) -> Result<Option<Datasets>, AnalyseError> {
    let Some(axis) = dataset_axis(runs) else {
        return Ok(None);
    };
    let mut per_dataset = Vec::new();
    for (dataset, subset) in split(runs, &axis) {
        let summaries = summarise(&subset, metric, &[])?;
        let differences = paired_differences(&subset, metric, reference, &[], settings.min_effect)?;
        let table = run_table(&subset, metric)?;
        let verdict = verdict(&table, &summaries, &differences, None, reference, settings);
        per_dataset.push(DatasetAnalysis {
            dataset,
            runs: subset,
            table,
            summaries,
            differences,
            verdict,
        });
    }
    let aggregate = aggregate(&per_dataset, reference, higher_is_better(metric));
    let profiles = profiles(runs, metric)?;
    Ok(Some(Datasets {
        axis,
        per_dataset,
        aggregate,
        profiles,
    }))
}

/// Each loss's mean difference over the datasets where it is paired with the reference.
fn aggregate(per_dataset: &[DatasetAnalysis], reference: &str, higher: bool) -> Vec<Aggregate> {
    let pairs: Vec<(&str, &PairedDifference)> = per_dataset
        .iter()
        .flat_map(|d| d.differences.iter().map(|x| (d.dataset.as_str(), x)))
        .collect();
    group_in_order(pairs, |(_, d)| d.loss.clone())
        .into_iter()
        .map(|(loss, mine)| {
            let strata: Vec<Vec<f64>> = mine.iter().map(|(_, d)| d.differences.clone()).collect();
            Aggregate {
                loss,
                reference: reference.to_string(),
                per_dataset: mine.iter().map(|(n, d)| (n.to_string(), d.mean)).collect(),
                // Every dataset weighs the same: the mean of the datasets' means.
                mean: mine.iter().map(|(_, d)| d.mean).sum::<f64>() / mine.len() as f64,
                ci: stratified_bootstrap_t(&strata, 1.0 - ALPHA),
                datasets_ahead: mine
                    .iter()
                    .filter(|(_, d)| (d.mean > 0.0) == higher && d.mean != 0.0)
                    .count(),
            }
        })
        .collect()
}

/// The performance profile of every loss over all its finished runs.
fn profiles(runs: &Runs, metric: &str) -> Result<Vec<Profile>, AnalyseError> {
    let thresholds: Vec<f64> = (0..=PROFILE_STEPS)
        .map(|i| i as f64 / PROFILE_STEPS as f64)
        .collect();
    Ok(group_in_order(finals(runs, metric)?, |f| f.loss.clone())
        .into_iter()
        .map(|(loss, members)| {
            let values: Vec<f64> = members
                .iter()
                .map(|f| f.value)
                .filter(|v| v.is_finite())
                .collect();
            let n = values.len();
            Profile {
                loss,
                runs: n,
                share_above: thresholds
                    .iter()
                    .map(|t| values.iter().filter(|v| **v > *t).count() as f64 / n.max(1) as f64)
                    .collect(),
                thresholds: thresholds.clone(),
            }
        })
        .collect())
}

/// The sentence on one loss across the datasets, in metric points.
pub fn aggregate_sentence(a: &Aggregate, metric_words: &str) -> String {
    let k = a.per_dataset.len();
    let direction = if a.mean >= 0.0 { "leads" } else { "trails" };
    let interval = a.ci.map_or_else(
        || "no interval: a dataset has fewer than 2 pairs".to_string(),
        |(low, high)| {
            format!(
                "95% stratified bootstrap-t CI {:+.2} to {:+.2}",
                100.0 * low,
                100.0 * high
            )
        },
    );
    let settled = match a.ci {
        Some((low, high)) if low > 0.0 || high < 0.0 => format!(
            "the interval excludes 0, so across these datasets {} {direction} {}",
            a.loss, a.reference
        ),
        Some(_) => "the interval includes 0, so these datasets do not settle it".to_string(),
        None => "more seeds per dataset would give it an interval".to_string(),
    };
    format!(
        "Across {k} datasets (each weighing the same), {} {direction} {} by {:.2} {metric_words} points on average ({interval}; ahead on {} of {k} datasets); {settled}.",
        a.loss,
        a.reference,
        100.0 * a.mean.abs(),
        a.datasets_ahead,
    )
}
