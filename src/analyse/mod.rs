//! The statistics behind the report: from the sweep's frame (`results/<sweep>/metrics.parquet`)
//! to numbers a reader can trust, and a verdict written only from those numbers.
//!
//! - [`runs`]: the frame read as runs, their final values and the run table;
//! - [`stats`]: means, intervals that cover at small n, the paired t-test and the sign-flip
//!   test, Holm's adjustment, seeds for a given power;
//! - [`findings`]: per-loss summaries, paired differences against the reference loss,
//!   per-epoch bands and the binary-accuracy inflation;
//! - [`verdict`]: the sentences;
//! - [`datasets`]: a sweep over several datasets, per dataset and across them;
//! - [`folds`]: cross-validation, per fold and the fold and seed variance components;
//! - [`scorecard`]: every loss against every metric;
//! - [`tuning`]: what tuning changed in each loss's difference from the reference.
//!
//! [`analyse`] runs them all with the study's choices. Pure computation: no tensors, no
//! files, no printing; every random draw comes from a seeded generator, so the same frame
//! always gives the same numbers.

pub mod answer;
pub mod datasets;
pub mod findings;
pub mod folds;
pub mod runs;
pub mod scorecard;
pub mod stats;
#[cfg(test)]
mod tests;
pub mod tuning;
pub mod verdict;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

pub use answer::{answer, Answer, AnswerNumbers};
pub use datasets::{by_dataset, Aggregate, DatasetAnalysis, Datasets, Profile};
pub use findings::{
    bands, binary_inflation, paired_differences, summarise, Band, BandKind, Inflation,
    InflationRun, LossSummary, PairedDifference,
};
pub use runs::{finals, run_table, Final, Run, RunRow, Runs};
pub use scorecard::{scorecard, Scorecard};
pub use stats::mean;
pub use verdict::{verdict, Standing, Verdict};

/// The loss every other loss is compared with.
pub const REFERENCE_LOSS: &str = "cce";
/// The loss whose binary accuracy is checked for inflation.
pub const INFLATION_LOSS: &str = "bce";
/// The metric the summaries and the verdict are about when the sweep has no test split.
pub const MAIN_METRIC: &str = "val_miou";
/// The metric they are about when the sweep has a test split.
pub const TEST_METRIC: &str = "test_miou";

/// The metric a sweep is judged on: the test split's column of `primary` (`val_miou` →
/// [`TEST_METRIC`], `pixel_accuracy` → `test_pixel_accuracy`) when a finished run has a
/// finite score in it, `primary` (validation) otherwise.
pub fn judged_metric(runs: &Runs, primary: &str) -> String {
    let test = crate::metrics::test_metric(primary);
    let tested = runs.metrics.contains(&test)
        && runs.runs.iter().any(|r| {
            r.is_done()
                && r.last(&test)
                    .ok()
                    .flatten()
                    .is_some_and(|(_, v)| v.is_finite())
        });
    if tested {
        test
    } else {
        primary.to_string()
    }
}

/// The sentence that opens the verdict and the report: on which split the runs are judged,
/// and with which epoch's weights.
pub fn judged_on(runs: &Runs, metric: &str) -> String {
    let selects = runs
        .runs
        .iter()
        .any(|r| r.selected.is_some_and(|e| Some(&e) != r.epochs.last()));
    let weights = if selects {
        "the weights of each run's selected epoch (train.select = \"best_val\": its best validation score)"
    } else {
        "the weights of each run's last epoch"
    };
    if metric.starts_with(crate::metrics::TEST_PREFIX) {
        format!("Judged on the held-out test split, which no training step or selection saw: {weights}, evaluated once on it.")
    } else {
        format!("Judged on the validation split, with {weights}: the sweep has no test split (data.test, data.test_fraction or data.test_images), so these numbers come from the split any choice of settings would also be made on.")
    }
}
/// The status of a run that finished all its epochs; only such runs have final values.
pub const DONE: &str = "done";
/// Two-sided level of the tests and intervals (95% intervals, p < 0.05).
pub const ALPHA: f64 = 0.05;
/// The per-epoch metric columns of the sweep frame, besides `iou_0 .. iou_{C-1}`, the other
/// per-class columns ([`PER_CLASS`]) and the quality columns `val_*` ([`QUALITY`]).
pub const METRICS: [&str; 11] = [
    "train_loss",
    "val_loss",
    "val_miou",
    "pixel_accuracy",
    "binary_accuracy",
    "binary_accuracy_sigmoid",
    "binary_accuracy_softmax",
    "grad_norm",
    "lr",
    "seconds",
    "data_seconds",
];

/// The validation quality columns of the frame (`store::frame::QUALITY_SCALARS` with
/// their split's prefix).
pub const QUALITY: [&str; 9] = [
    "val_dice",
    "val_ece",
    "val_brier",
    "val_nll",
    "val_hd95",
    "val_nsd",
    "val_biou",
    "val_boundary_both_empty",
    "val_boundary_one_empty",
];

/// The prefixes of the per-class and per-bin metric columns, each followed by a number.
pub const PER_CLASS: [&str; 9] = [
    "iou_",
    "grad_share_",
    "dice_",
    "hd95_",
    "nsd_",
    "biou_",
    "reliability_count_",
    "reliability_confidence_",
    "reliability_accuracy_",
];

pub use crate::metrics::SUMMARY_METRICS;

/// Whether a larger value of `metric` is better (losses, gradient norms, times,
/// calibration errors and distances are not).
pub fn higher_is_better(metric: &str) -> bool {
    !(metric.ends_with("loss")
        || ["seconds", "data_seconds", "grad_norm", "lr"].contains(&metric)
        || crate::metrics::lower_is_better(metric))
}

/// What the user asked of the analysis (the sweep file's `[report]` table) and where the
/// sweep file is, for the command that adds seeds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// A difference whose 90% interval lies within ± this (in metric units, e.g. 0.01 for
    /// one mIoU point) is called equivalent.
    pub equivalence: Option<f64>,
    /// The smallest difference worth detecting (metric units): the verdict says how many
    /// seeds detect it with 80% power.
    pub min_effect: Option<f64>,
    /// The sweep file, as the user named it.
    pub sweep_file: Option<String>,
    /// The `--set` arguments the sweep was run with, which the command repeats.
    #[serde(default)]
    pub sweep_sets: Vec<String>,
    /// The metric that decides the headline (`report.metric`); [`MAIN_METRIC`] when unset.
    pub metric: Option<String>,
}

/// Why a frame cannot be analysed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyseError {
    #[error("the sweep frame has no column `{0}`")]
    MissingColumn(String),
    #[error("column `{column}` of the sweep frame has type {found}, expected {expected}")]
    WrongType {
        column: String,
        found: String,
        expected: &'static str,
    },
    #[error("row {row} of the sweep frame has no value in column `{column}`")]
    MissingValue { column: String, row: usize },
    #[error("row {row} of the sweep frame: column `{column}` is {value}, expected {expected}")]
    InvalidValue {
        column: String,
        row: usize,
        value: String,
        expected: &'static str,
    },
    #[error("run {run_id} has two values in column `{column}`: `{first}` and `{second}`")]
    InconsistentRun {
        run_id: String,
        column: String,
        first: String,
        second: String,
    },
    #[error("run {run_id} has epoch {epoch} twice")]
    DuplicateEpoch { run_id: String, epoch: u32 },
    #[error("runs {first} and {second} have the same loss, seed and settings ({key})")]
    DuplicateRun {
        first: String,
        second: String,
        key: String,
    },
    #[error("`{column}` is not an axis of the sweep frame; its axes are: {axes}")]
    NotAnAxis { column: String, axes: String },
    #[error(transparent)]
    Polars(#[from] PolarsError),
}

/// Everything the report shows, computed with the study's choices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub metric: String,
    /// The sentence saying on which split and with which weights the runs are judged (the
    /// verdict's first).
    pub judged_on: String,
    pub reference: String,
    pub runs: Vec<RunRow>,
    /// Per loss and group of `group_by`.
    pub summaries: Vec<LossSummary>,
    /// Per loss and group of `group_by`, against the reference.
    pub differences: Vec<PairedDifference>,
    /// Per loss over every group, against the reference: what the verdict is written from.
    pub pooled_differences: Vec<PairedDifference>,
    pub inflation: Option<Inflation>,
    /// The question "does bce learn better than cce here?", answered, with its mechanisms.
    pub answer: Option<Answer>,
    /// Written from the summaries and differences pooled over the groups.
    pub verdict: Verdict,
    /// Per dataset and across datasets, when the sweep has a dataset axis.
    pub datasets: Option<Datasets>,
    /// Per loss and fold, and the fold and seed variance components, when the sweep has a
    /// fold axis.
    pub folds: Option<Vec<folds::FoldSummary>>,
    /// Every loss on every metric the frame has, and the multi-metric verdict.
    pub scorecard: Option<Scorecard>,
}

/// The analysis of a sweep frame: the run table, summaries and paired differences of the
/// final primary metric (`settings.metric`, else [`MAIN_METRIC`]; on the test split when
/// the frame has its scores, [`judged_metric`]) against [`REFERENCE_LOSS`] per loss and group
/// of `group_by`, the inflation of [`INFLATION_LOSS`], the verdict, which opens with
/// [`judged_on`], and the scorecard of every metric.
pub fn analyse(
    frame: &DataFrame,
    group_by: &[&str],
    settings: &Settings,
) -> Result<Analysis, AnalyseError> {
    let runs = Runs::from_frame(frame)?;
    let metric = judged_metric(&runs, settings.metric.as_deref().unwrap_or(MAIN_METRIC));
    let metric = metric.as_str();
    let judged = judged_on(&runs, metric);
    let reference = runs.loss_named(REFERENCE_LOSS);
    let table = run_table(&runs, metric)?;
    let pooled_summaries = summarise(&runs, metric, &[])?;
    let pooled_differences =
        paired_differences(&runs, metric, &reference, &[], settings.min_effect)?;
    let inflation = binary_inflation(&runs, &runs.loss_named(INFLATION_LOSS))?;
    let mut verdict = verdict(
        &table,
        &pooled_summaries,
        &pooled_differences,
        inflation.as_ref(),
        &reference,
        settings,
    );
    verdict.text = format!("{judged} {}", verdict.text);
    let answer = answer(
        &runs,
        metric,
        &pooled_summaries,
        &pooled_differences,
        inflation.as_ref(),
        settings,
    )?;
    Ok(Analysis {
        answer,
        metric: metric.to_string(),
        judged_on: judged,
        reference: reference.clone(),
        summaries: summarise(&runs, metric, group_by)?,
        differences: paired_differences(&runs, metric, &reference, group_by, settings.min_effect)?,
        datasets: by_dataset(&runs, metric, &reference, settings)?,
        folds: folds::by_fold(&runs, metric)?,
        scorecard: scorecard(&runs, metric, &reference)?,
        pooled_differences,
        runs: table,
        inflation,
        verdict,
    })
}
