//! The statistics behind the report: from the sweep's frame (`results/<sweep>/metrics.parquet`)
//! to numbers a reader can trust, and a verdict written only from those numbers.
//!
//! [`Runs::from_frame`] splits the frame into runs (one per `run_id`, with its loss, seed,
//! status, other axis values and per-epoch series). Only runs whose status is `done` have a
//! final value ([`finals`]); every other run stays visible in [`run_table`]. On the finals:
//! per-loss summaries with a percentile bootstrap interval of the mean ([`summarise`]),
//! paired differences against a reference loss on the same seeds and settings with an exact
//! sign-flip permutation p-value ([`paired_differences`]), per-epoch bands for curves
//! ([`bands`]), the binary-accuracy inflation of a loss ([`binary_inflation`]) and the
//! [`verdict`]. [`analyse`] runs them all with the study's choices.
//!
//! Pure computation: no tensors, no files, no printing. Every random draw comes from a
//! seeded [`ChaCha8Rng`], so the same frame always gives the same numbers.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use polars::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// The loss every other loss is compared with.
pub const REFERENCE_LOSS: &str = "cce";
/// The loss whose binary accuracy is checked for inflation.
pub const INFLATION_LOSS: &str = "bce";
/// The metric the summaries and the verdict are about.
pub const MAIN_METRIC: &str = "val_miou";
/// The status of a run that finished all its epochs; only such runs have final values.
pub const DONE: &str = "done";
/// Resamples of a bootstrap interval.
pub const BOOTSTRAP_RESAMPLES: usize = 10_000;
/// Up to this many pairs the permutation test enumerates every sign flip.
pub const EXACT_FLIPS_UP_TO: usize = 16;
/// Random sign flips drawn above [`EXACT_FLIPS_UP_TO`] pairs.
pub const RANDOM_FLIPS: usize = 20_000;
/// Two-sided level of the tests and intervals (95% intervals, p < 0.05).
pub const ALPHA: f64 = 0.05;
/// The per-epoch metric columns of the sweep frame, besides `iou_0 .. iou_{C-1}`.
pub const METRICS: [&str; 9] = [
    "train_loss",
    "val_loss",
    "val_miou",
    "pixel_accuracy",
    "binary_accuracy",
    "binary_accuracy_sigmoid",
    "binary_accuracy_softmax",
    "grad_norm",
    "seconds",
];

const BOOTSTRAP_SEED: u64 = 0x1055_BE4C_0001;
const PERMUTATION_SEED: u64 = 0x1055_BE4C_0002;
/// Columns that describe a run rather than an axis or a metric.
const RUN_COLUMNS: [&str; 4] = ["run_id", "label", "status", "epoch"];

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

/// One run of the sweep: who it is and its per-epoch series, sorted by epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub run_id: String,
    pub label: String,
    pub status: String,
    pub loss: String,
    pub seed: i64,
    /// `(axis, value as text)` for every axis other than `loss` and `seed`, in frame order.
    pub axes: Vec<(String, String)>,
    /// The epochs of the rows, ascending.
    pub epochs: Vec<u32>,
    /// Metric name → one value per epoch (NaN where the frame has none).
    pub series: BTreeMap<String, Vec<f64>>,
}

impl Run {
    /// Whether the run finished: only such runs have final values.
    pub fn is_done(&self) -> bool {
        self.status == DONE
    }

    /// The run's values of `metric`, one per epoch.
    pub fn metric(&self, metric: &str) -> Result<&[f64], AnalyseError> {
        self.series
            .get(metric)
            .map(Vec::as_slice)
            .ok_or_else(|| AnalyseError::MissingColumn(metric.to_string()))
    }

    /// The last epoch and its value of `metric`, `None` for a run without rows.
    pub fn last(&self, metric: &str) -> Result<Option<(u32, f64)>, AnalyseError> {
        let values = self.metric(metric)?;
        Ok(self.epochs.last().copied().zip(values.last().copied()))
    }

    /// The largest finite value of `metric`, `None` when it has none.
    pub fn best(&self, metric: &str) -> Result<Option<f64>, AnalyseError> {
        Ok(self
            .metric(metric)?
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .reduce(f64::max))
    }

    /// The value of axis `name` as text: `loss`, `seed` or one of [`Run::axes`].
    pub fn axis(&self, name: &str) -> Option<String> {
        match name {
            "loss" => Some(self.loss.clone()),
            "seed" => Some(self.seed.to_string()),
            _ => self
                .axes
                .iter()
                .find(|(axis, _)| axis == name)
                .map(|(_, value)| value.clone()),
        }
    }

    /// `(axis, value)` for each of `group_by`, in that order.
    fn group(&self, group_by: &[String]) -> Vec<(String, String)> {
        group_by
            .iter()
            .map(|name| (name.clone(), self.axis(name).unwrap_or_default()))
            .collect()
    }

    /// The values of every axis other than `loss` and `seed`, the key runs pair on.
    fn settings(&self) -> Vec<String> {
        self.axes.iter().map(|(_, v)| v.clone()).collect()
    }
}

/// The runs of a sweep frame, in order of first appearance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Runs {
    /// The axis columns other than `loss` and `seed`, in frame order.
    pub axes: Vec<String>,
    /// The metric columns present: those of [`METRICS`] and `iou_0 ..`, in frame order.
    pub metrics: Vec<String>,
    pub runs: Vec<Run>,
}

impl Runs {
    /// Splits `frame` into runs. Needs `run_id`, `label`, `status`, `loss`, `seed` and
    /// `epoch`; every other column is a metric when its name is one of [`METRICS`] or
    /// `iou_<k>`, and an axis otherwise.
    pub fn from_frame(frame: &DataFrame) -> Result<Self, AnalyseError> {
        let names: Vec<String> = frame
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        let metrics: Vec<String> = names.iter().filter(|n| is_metric(n)).cloned().collect();
        let axes: Vec<String> = names
            .iter()
            .filter(|n| !is_metric(n) && !RUN_COLUMNS.contains(&n.as_str()))
            .filter(|n| n.as_str() != "loss" && n.as_str() != "seed")
            .cloned()
            .collect();

        let ids = text_cells(frame, "run_id")?;
        let labels = text_cells(frame, "label")?;
        let statuses = text_cells(frame, "status")?;
        let losses = text_cells(frame, "loss")?;
        let seeds = integer_cells(frame, "seed")?;
        let axis_cells = axes
            .iter()
            .map(|a| text_cells(frame, a))
            .collect::<Result<Vec<_>, _>>()?;
        let epochs = epoch_cells(frame)?;
        let metric_cells = metrics
            .iter()
            .map(|m| float_cells(frame, m))
            .collect::<Result<Vec<_>, _>>()?;

        let mut order: Vec<&str> = Vec::new();
        let mut rows_of: HashMap<&str, Vec<usize>> = HashMap::new();
        for (row, id) in ids.iter().enumerate() {
            let entry = rows_of.entry(id.as_str()).or_default();
            if entry.is_empty() {
                order.push(id);
            }
            entry.push(row);
        }

        let mut runs = Vec::with_capacity(order.len());
        for id in order {
            let mut rows = rows_of.remove(id).unwrap_or_default();
            rows.sort_by_key(|&r| epochs[r]);
            let epochs: Vec<u32> = rows.iter().map(|&r| epochs[r]).collect();
            let constant =
                |column: &str, cells: &[String]| constant_in_run(id, column, cells, &rows);
            let loss = constant("loss", &losses)?;
            let seed = constant_in_run(id, "seed", &seeds, &rows)?;
            let label = constant("label", &labels)?;
            let status = constant("status", &statuses)?;
            let axes = axes
                .iter()
                .zip(&axis_cells)
                .map(|(a, cells)| constant(a, cells).map(|v| (a.clone(), v)))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(pair) = epochs.windows(2).find(|w| w[0] == w[1]) {
                return Err(AnalyseError::DuplicateEpoch {
                    run_id: id.to_string(),
                    epoch: pair[0],
                });
            }
            let series = metrics
                .iter()
                .zip(&metric_cells)
                .map(|(m, cells)| (m.clone(), rows.iter().map(|&r| cells[r]).collect()))
                .collect();
            runs.push(Run {
                run_id: id.to_string(),
                label,
                status,
                loss,
                seed,
                axes,
                epochs,
                series,
            });
        }
        Ok(Runs {
            axes,
            metrics,
            runs,
        })
    }

    /// An error naming `metric` when the frame has no such metric column.
    fn require_metric(&self, metric: &str) -> Result<(), AnalyseError> {
        if self.metrics.iter().any(|m| m == metric) {
            Ok(())
        } else {
            Err(AnalyseError::MissingColumn(metric.to_string()))
        }
    }

    /// `group_by` checked against the axes, without `loss` (always part of the key) and
    /// without repeats.
    fn grouping(&self, group_by: &[&str]) -> Result<Vec<String>, AnalyseError> {
        let mut out: Vec<String> = Vec::new();
        for &name in group_by {
            if name == "loss" || out.iter().any(|o| o == name) {
                continue;
            }
            if name != "seed" && !self.axes.iter().any(|a| a == name) {
                let mut axes = vec!["loss".to_string(), "seed".to_string()];
                axes.extend(self.axes.iter().cloned());
                return Err(AnalyseError::NotAnAxis {
                    column: name.to_string(),
                    axes: axes.join(", "),
                });
            }
            out.push(name.to_string());
        }
        Ok(out)
    }
}

/// Whether a column of the sweep frame is a per-epoch metric.
fn is_metric(name: &str) -> bool {
    let per_class = |prefix: &str| {
        name.strip_prefix(prefix)
            .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
    };
    METRICS.contains(&name) || per_class("iou_") || per_class("grad_share_")
}

/// The frame's column `name`, or an error naming it.
fn column<'a>(frame: &'a DataFrame, name: &str) -> Result<&'a Column, AnalyseError> {
    frame
        .column(name)
        .map_err(|_| AnalyseError::MissingColumn(name.to_string()))
}

/// A column's cells as text (numbers as Polars writes them); a null cell is an error.
fn text_cells(frame: &DataFrame, name: &str) -> Result<Vec<String>, AnalyseError> {
    let text = column(frame, name)?.cast(&DataType::String)?;
    text.str()?
        .iter()
        .enumerate()
        .map(|(row, v)| {
            v.map(str::to_string)
                .ok_or_else(|| AnalyseError::MissingValue {
                    column: name.to_string(),
                    row,
                })
        })
        .collect()
}

/// An integer column's cells; a null cell or another type is an error.
fn integer_cells(frame: &DataFrame, name: &str) -> Result<Vec<i64>, AnalyseError> {
    let col = column(frame, name)?;
    if !col.dtype().is_integer() {
        return Err(AnalyseError::WrongType {
            column: name.to_string(),
            found: col.dtype().to_string(),
            expected: "an integer type",
        });
    }
    let ints = col.strict_cast(&DataType::Int64)?;
    ints.i64()?
        .iter()
        .enumerate()
        .map(|(row, v)| {
            v.ok_or_else(|| AnalyseError::MissingValue {
                column: name.to_string(),
                row,
            })
        })
        .collect()
}

/// The `epoch` column: integers from 1.
fn epoch_cells(frame: &DataFrame) -> Result<Vec<u32>, AnalyseError> {
    integer_cells(frame, "epoch")?
        .into_iter()
        .enumerate()
        .map(|(row, e)| {
            u32::try_from(e)
                .ok()
                .filter(|&e| e >= 1)
                .ok_or_else(|| AnalyseError::InvalidValue {
                    column: "epoch".to_string(),
                    row,
                    value: e.to_string(),
                    expected: "an epoch from 1",
                })
        })
        .collect()
}

/// A numeric column's cells as f64, NaN for a null cell.
fn float_cells(frame: &DataFrame, name: &str) -> Result<Vec<f64>, AnalyseError> {
    let col = column(frame, name)?;
    if !col.dtype().is_primitive_numeric() {
        return Err(AnalyseError::WrongType {
            column: name.to_string(),
            found: col.dtype().to_string(),
            expected: "a number type",
        });
    }
    let floats = col.cast(&DataType::Float64)?;
    Ok(floats
        .f64()?
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}

/// The one value of `cells` over a run's `rows`, or an error naming both values.
fn constant_in_run<T: Clone + Default + PartialEq + ToString>(
    run_id: &str,
    column: &str,
    cells: &[T],
    rows: &[usize],
) -> Result<T, AnalyseError> {
    let first = rows.first().map(|&r| cells[r].clone()).unwrap_or_default();
    match rows.iter().find(|&&r| cells[r] != first) {
        Some(&r) => Err(AnalyseError::InconsistentRun {
            run_id: run_id.to_string(),
            column: column.to_string(),
            first: first.to_string(),
            second: cells[r].to_string(),
        }),
        None => Ok(first),
    }
}

/// The final value of one finished run: its last epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Final {
    pub run_id: String,
    pub loss: String,
    pub seed: i64,
    pub axes: Vec<(String, String)>,
    pub epoch: u32,
    pub value: f64,
}

/// The done runs with a finite last value of `metric`, with that value.
fn final_runs<'a>(runs: &'a Runs, metric: &str) -> Result<Vec<(&'a Run, f64)>, AnalyseError> {
    runs.require_metric(metric)?;
    let mut out = Vec::new();
    for run in runs.runs.iter().filter(|r| r.is_done()) {
        if let Some((_, value)) = run.last(metric)? {
            if value.is_finite() {
                out.push((run, value));
            }
        }
    }
    Ok(out)
}

/// The final `metric` of every run whose status is `done` (its last epoch), in run order.
/// A done run whose last value is not finite has no final value.
pub fn finals(runs: &Runs, metric: &str) -> Result<Vec<Final>, AnalyseError> {
    Ok(final_runs(runs, metric)?
        .into_iter()
        .map(|(run, value)| Final {
            run_id: run.run_id.clone(),
            loss: run.loss.clone(),
            seed: run.seed,
            axes: run.axes.clone(),
            epoch: run.epochs.last().copied().unwrap_or_default(),
            value,
        })
        .collect())
}

/// One row of the per-run table: every run of the frame, whatever its status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub run_id: String,
    pub label: String,
    pub loss: String,
    pub seed: i64,
    pub axes: Vec<(String, String)>,
    pub status: String,
    /// Epochs recorded.
    pub epochs: usize,
    pub last_epoch: Option<u32>,
    /// The metric at the last recorded epoch, `None` when it is not finite.
    pub final_value: Option<f64>,
    /// The best (largest) finite value of the metric over the recorded epochs.
    pub best: Option<f64>,
    /// Whether the run's final value enters the statistics (done, finite final value).
    pub in_finals: bool,
}

/// One row per run of the frame with its status and its final and best `metric`, so failed,
/// diverged and interrupted runs are shown, not dropped.
pub fn run_table(runs: &Runs, metric: &str) -> Result<Vec<RunRow>, AnalyseError> {
    runs.require_metric(metric)?;
    runs.runs
        .iter()
        .map(|run| {
            let last = run.last(metric)?;
            let final_value = last.map(|(_, v)| v).filter(|v| v.is_finite());
            Ok(RunRow {
                run_id: run.run_id.clone(),
                label: run.label.clone(),
                loss: run.loss.clone(),
                seed: run.seed,
                axes: run.axes.clone(),
                status: run.status.clone(),
                epochs: run.epochs.len(),
                last_epoch: last.map(|(e, _)| e),
                final_value,
                best: run.best(metric)?,
                in_finals: run.is_done() && final_value.is_some(),
            })
        })
        .collect()
}

/// The final values of one loss (and one value of each grouping axis) over its seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LossSummary {
    pub loss: String,
    /// `(axis, value)` of the grouping axes besides `loss`; empty without grouping.
    pub group: Vec<(String, String)>,
    pub metric: String,
    /// Runs with a final value.
    pub n: usize,
    /// The seed of each run, in the order of `values`.
    pub seeds: Vec<i64>,
    pub values: Vec<f64>,
    pub mean: f64,
    /// Sample standard deviation; `None` for n < 2.
    pub std: Option<f64>,
    /// 95% percentile bootstrap interval of the mean; `None` for n < 2.
    pub ci: Option<(f64, f64)>,
}

/// Summaries of the final `metric` per loss, and per value of each axis of `group_by`
/// (e.g. `["optim.name", "loss.scale"]`), in order of first appearance.
pub fn summarise(
    runs: &Runs,
    metric: &str,
    group_by: &[&str],
) -> Result<Vec<LossSummary>, AnalyseError> {
    let group_by = runs.grouping(group_by)?;
    let finals = final_runs(runs, metric)?;
    let groups = group_in_order(finals, |(run, _)| (run.loss.clone(), run.group(&group_by)));
    Ok(groups
        .into_iter()
        .map(|((loss, group), members)| {
            let values: Vec<f64> = members.iter().map(|(_, v)| *v).collect();
            LossSummary {
                loss,
                group,
                metric: metric.to_string(),
                n: values.len(),
                seeds: members.iter().map(|(r, _)| r.seed).collect(),
                mean: mean(&values),
                std: sample_std(&values),
                ci: bootstrap_mean_ci(&values),
                values,
            }
        })
        .collect())
}

/// A loss against the reference loss on the same seeds and settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedDifference {
    pub loss: String,
    pub reference: String,
    /// `(axis, value)` of the grouping axes besides `loss`; empty without grouping.
    pub group: Vec<(String, String)>,
    pub metric: String,
    /// Pairs.
    pub n: usize,
    /// The seed of each pair, in the order of `differences`.
    pub seeds: Vec<i64>,
    /// `loss − reference` per pair.
    pub differences: Vec<f64>,
    pub mean: f64,
    /// 95% percentile bootstrap interval of the mean difference; `None` for n < 2.
    pub ci: Option<(f64, f64)>,
    /// Two-sided paired sign-flip permutation p-value.
    pub p_value: f64,
    /// Whether `p_value` enumerates every sign flip (n ≤ [`EXACT_FLIPS_UP_TO`]).
    pub exact: bool,
    /// The smallest p-value the test can give with n pairs.
    pub min_p_value: f64,
}

/// Each loss other than `reference` against it: a run pairs with the reference run that has
/// its seed and the same value of every other axis. Grouped by the axes of `group_by`;
/// groups without a pair are left out. An error when two runs claim the same pair.
pub fn paired_differences(
    runs: &Runs,
    metric: &str,
    reference: &str,
    group_by: &[&str],
) -> Result<Vec<PairedDifference>, AnalyseError> {
    let group_by = runs.grouping(group_by)?;
    let finals = final_runs(runs, metric)?;
    let mut references: HashMap<(i64, Vec<String>), (&Run, f64)> = HashMap::new();
    let mut others: HashMap<(String, i64, Vec<String>), &Run> = HashMap::new();
    for &(run, value) in &finals {
        let key = (run.seed, run.settings());
        let earlier = if run.loss == reference {
            references.insert(key.clone(), (run, value)).map(|(r, _)| r)
        } else {
            others.insert((run.loss.clone(), key.0, key.1.clone()), run)
        };
        if let Some(earlier) = earlier {
            return Err(AnalyseError::DuplicateRun {
                first: earlier.run_id.clone(),
                second: run.run_id.clone(),
                key: run.label.clone(),
            });
        }
    }
    let pairs: Vec<(&Run, f64)> = finals
        .iter()
        .filter(|(run, _)| run.loss != reference)
        .filter_map(|&(run, value)| {
            references
                .get(&(run.seed, run.settings()))
                .map(|&(_, base)| (run, value - base))
        })
        .collect();
    let groups = group_in_order(pairs, |(run, _)| (run.loss.clone(), run.group(&group_by)));
    Ok(groups
        .into_iter()
        .map(|((loss, group), members)| {
            let differences: Vec<f64> = members.iter().map(|(_, d)| *d).collect();
            let n = differences.len();
            PairedDifference {
                loss,
                reference: reference.to_string(),
                group,
                metric: metric.to_string(),
                n,
                seeds: members.iter().map(|(r, _)| r.seed).collect(),
                mean: mean(&differences),
                ci: bootstrap_mean_ci(&differences),
                p_value: sign_flip_p_value(&differences).unwrap_or(1.0),
                exact: n <= EXACT_FLIPS_UP_TO,
                min_p_value: smallest_p_value(n),
                differences,
            }
        })
        .collect())
}

/// What the band around a mean curve is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BandKind {
    /// The 95% Student t-interval of the mean (every epoch has at least 3 seeds).
    TInterval95,
    /// The smallest and largest value over the seeds (some epoch has fewer than 3).
    MinMax,
}

impl BandKind {
    /// Words for a legend.
    pub fn describe(self) -> &'static str {
        match self {
            BandKind::TInterval95 => "95% t-interval of the mean over seeds",
            BandKind::MinMax => "min–max over seeds",
        }
    }
}

/// The mean curve of one loss (and group) over its seeds, with a band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    pub loss: String,
    pub group: Vec<(String, String)>,
    pub metric: String,
    pub kind: BandKind,
    /// Done runs in the group.
    pub runs: usize,
    /// Epochs with at least one finite value, ascending.
    pub epochs: Vec<u32>,
    /// Finite values at each epoch.
    pub n: Vec<usize>,
    pub mean: Vec<f64>,
    pub low: Vec<f64>,
    pub high: Vec<f64>,
}

/// Per-epoch mean and band of `metric` over the done runs of each loss (and group of
/// `group_by`): a 95% t-interval of the mean when every epoch has at least 3 finite values,
/// the min–max otherwise.
pub fn bands(runs: &Runs, metric: &str, group_by: &[&str]) -> Result<Vec<Band>, AnalyseError> {
    runs.require_metric(metric)?;
    let group_by = runs.grouping(group_by)?;
    let done: Vec<&Run> = runs.runs.iter().filter(|r| r.is_done()).collect();
    let groups = group_in_order(done, |run| (run.loss.clone(), run.group(&group_by)));
    let mut out = Vec::with_capacity(groups.len());
    for ((loss, group), members) in groups {
        let mut by_epoch: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
        for run in &members {
            for (&epoch, &value) in run.epochs.iter().zip(run.metric(metric)?) {
                if value.is_finite() {
                    by_epoch.entry(epoch).or_default().push(value);
                }
            }
        }
        let kind = if by_epoch.values().all(|v| v.len() >= 3) && !by_epoch.is_empty() {
            BandKind::TInterval95
        } else {
            BandKind::MinMax
        };
        let mut band = Band {
            loss,
            group,
            metric: metric.to_string(),
            kind,
            runs: members.len(),
            epochs: Vec::new(),
            n: Vec::new(),
            mean: Vec::new(),
            low: Vec::new(),
            high: Vec::new(),
        };
        for (epoch, values) in by_epoch {
            let (low, high) = match kind {
                BandKind::TInterval95 => t_interval(&values),
                BandKind::MinMax => min_max(&values),
            };
            band.epochs.push(epoch);
            band.n.push(values.len());
            band.mean.push(mean(&values));
            band.low.push(low);
            band.high.push(high);
        }
        out.push(band);
    }
    Ok(out)
}

/// Binary accuracy minus pixel accuracy of one finished run, in percentage points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InflationRun {
    pub run_id: String,
    pub seed: i64,
    pub axes: Vec<(String, String)>,
    pub first_epoch: u32,
    pub first: f64,
    pub last_epoch: u32,
    pub last: f64,
}

/// How far a loss's binary accuracy sits above its pixel accuracy, in percentage points, at
/// the first and the last epoch: the part of its "accuracy" that is the metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inflation {
    pub loss: String,
    pub n: usize,
    /// Mean over the runs at their first epoch (epoch 1).
    pub first_mean: f64,
    /// Mean over the runs at their last epoch.
    pub last_mean: f64,
    pub runs: Vec<InflationRun>,
}

/// `binary_accuracy − pixel_accuracy` in points for the done runs of `loss`; `None` when
/// it has no done run with finite values at its first and last epoch.
pub fn binary_inflation(runs: &Runs, loss: &str) -> Result<Option<Inflation>, AnalyseError> {
    runs.require_metric("binary_accuracy")?;
    runs.require_metric("pixel_accuracy")?;
    let mut points = Vec::new();
    for run in runs.runs.iter().filter(|r| r.is_done() && r.loss == loss) {
        let gaps: Vec<f64> = run
            .metric("binary_accuracy")?
            .iter()
            .zip(run.metric("pixel_accuracy")?)
            .map(|(b, p)| 100.0 * (b - p))
            .collect();
        let ends = run.epochs.first().zip(run.epochs.last());
        let values = gaps.first().zip(gaps.last());
        if let (Some((&first_epoch, &last_epoch)), Some((&first, &last))) = (ends, values) {
            if first.is_finite() && last.is_finite() {
                points.push(InflationRun {
                    run_id: run.run_id.clone(),
                    seed: run.seed,
                    axes: run.axes.clone(),
                    first_epoch,
                    first,
                    last_epoch,
                    last,
                });
            }
        }
    }
    if points.is_empty() {
        return Ok(None);
    }
    let firsts: Vec<f64> = points.iter().map(|p| p.first).collect();
    let lasts: Vec<f64> = points.iter().map(|p| p.last).collect();
    Ok(Some(Inflation {
        loss: loss.to_string(),
        n: points.len(),
        first_mean: mean(&firsts),
        last_mean: mean(&lasts),
        runs: points,
    }))
}

/// A short paragraph written only from the numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub text: String,
}

/// How a loss compares with the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Better,
    Worse,
    Indistinguishable,
}

/// Whether a larger value of `metric` is better (losses, gradient norms and times are not).
fn higher_is_better(metric: &str) -> bool {
    !(metric.ends_with("loss") || metric == "seconds" || metric == "grad_norm")
}

/// The metric's name in prose.
fn metric_words(metric: &str) -> String {
    match metric {
        "val_miou" => "mIoU".to_string(),
        "pixel_accuracy" => "pixel accuracy".to_string(),
        "binary_accuracy" => "binary accuracy".to_string(),
        other => other.to_string(),
    }
}

/// The fewest pairs at which a comparison whose every pair agrees in sign is called better
/// or worse although the sign-flip test cannot reach [`ALPHA`] (5 pairs: p = 0.0625).
pub const MIN_PAIRS_AT_FLOOR: usize = 5;

/// Better, worse or indistinguishable: decided only when the 95% interval excludes 0 and
/// the paired test agrees: p < [`ALPHA`], or, with at least [`MIN_PAIRS_AT_FLOOR`] pairs but
/// too few for any p below it, every pair agrees in sign (p at the smallest value the test
/// can give).
fn standing(d: &PairedDifference) -> Standing {
    let Some((low, high)) = d.ci else {
        return Standing::Indistinguishable;
    };
    let at_floor = d.n >= MIN_PAIRS_AT_FLOOR && d.p_value <= d.min_p_value * (1.0 + 1e-9);
    let significant = d.p_value < ALPHA || at_floor;
    if !significant || (low <= 0.0 && high >= 0.0) {
        return Standing::Indistinguishable;
    }
    if (low > 0.0) == higher_is_better(&d.metric) {
        Standing::Better
    } else {
        Standing::Worse
    }
}

/// Distinct values of `seeds`.
fn distinct(seeds: &[i64]) -> usize {
    let mut s = seeds.to_vec();
    s.sort_unstable();
    s.dedup();
    s.len()
}

/// `dice` or `dice (optim.name=sgd)`.
fn who(loss: &str, group: &[(String, String)]) -> String {
    if group.is_empty() {
        return loss.to_string();
    }
    let parts: Vec<String> = group.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{loss} ({})", parts.join(", "))
}

/// `p = 0.0312`, or `p < 0.0001`.
fn p_words(p: f64) -> String {
    if p < 1e-4 {
        "p < 0.0001".to_string()
    } else {
        format!("p = {p:.4}")
    }
}

/// `1 seed`, `5 seeds`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The sentence about the runs left out of the finals.
fn exclusion_sentence(table: &[RunRow]) -> String {
    let total = table.len();
    let mut statuses: Vec<(String, usize)> = Vec::new();
    for row in table.iter().filter(|r| !r.in_finals) {
        let status = if row.status == DONE {
            "done without a finite final value".to_string()
        } else {
            row.status.clone()
        };
        match statuses.iter_mut().find(|(s, _)| *s == status) {
            Some((_, k)) => *k += 1,
            None => statuses.push((status, 1)),
        }
    }
    let excluded: usize = statuses.iter().map(|(_, k)| k).sum();
    if total == 0 {
        return "The frame has no runs.".to_string();
    }
    if excluded == 0 {
        return format!(
            "All {} are done and enter the finals.",
            count(total, "run", "runs")
        );
    }
    let parts: Vec<String> = statuses.iter().map(|(s, k)| format!("{k} {s}")).collect();
    format!(
        "{excluded} of {total} runs {} excluded from the finals ({}); they are listed in the run table.",
        if excluded == 1 { "is" } else { "are" },
        parts.join(", ")
    )
}

/// The sentence comparing one loss (or group) with the reference.
fn comparison_sentence(d: &PairedDifference) -> String {
    let name = who(&d.loss, &d.group);
    let seeds = distinct(&d.seeds);
    if seeds <= 1 {
        return format!(
            "{name} has only one seed paired with {}; one seed is not evidence, so no comparison is made.",
            d.reference
        );
    }
    let at = if d.n == seeds {
        count(seeds, "seed", "seeds")
    } else {
        format!(
            "{} ({})",
            count(d.n, "pair", "pairs"),
            count(seeds, "seed", "seeds")
        )
    };
    let words = match standing(d) {
        Standing::Better => "better than",
        Standing::Worse => "worse than",
        Standing::Indistinguishable => "indistinguishable from",
    };
    let ci = d.ci.map_or(String::new(), |(low, high)| {
        format!("95% CI {:+.2} to {:+.2}, ", 100.0 * low, 100.0 * high)
    });
    format!(
        "{name} is {words} {} at {at}: {:+.2} {} points on average ({ci}{}).",
        d.reference,
        100.0 * d.mean,
        metric_words(&d.metric),
        p_words(d.p_value)
    )
}

/// The least number of pairs whose smallest sign-flip p-value is below [`ALPHA`].
fn pairs_needed() -> usize {
    (1..=EXACT_FLIPS_UP_TO + 1)
        .find(|&n| smallest_p_value(n) < ALPHA)
        .unwrap_or(EXACT_FLIPS_UP_TO + 1)
}

/// The sentence about the test's floor when some comparisons have too few pairs ever to
/// reach p < [`ALPHA`].
fn floor_sentence(compared: &[&PairedDifference], reference: &str) -> Option<String> {
    let mut floored: Vec<usize> = compared
        .iter()
        .filter(|d| distinct(&d.seeds) > 1 && d.min_p_value >= ALPHA)
        .map(|d| d.n)
        .collect();
    floored.sort_unstable();
    floored.dedup();
    let &fewest = floored.first()?;
    let ns: Vec<String> = floored.iter().map(usize::to_string).collect();
    Some(format!(
        "With {} pairs the sign-flip test cannot give a p-value below {:.4}; {}",
        ns.join(" or "),
        smallest_p_value(fewest),
        if fewest >= MIN_PAIRS_AT_FLOOR {
            format!("a loss is called better or worse than {reference} there only when its interval excludes 0 and every pair agrees in sign (p at that floor); {} pairs would allow p < 0.05.", pairs_needed())
        } else {
            format!("with fewer than {MIN_PAIRS_AT_FLOOR} pairs no loss is called better or worse than {reference}, whatever its interval: that takes {MIN_PAIRS_AT_FLOOR} pairs that all agree in sign, or {} for p < 0.05.", pairs_needed())
        }
    ))
}

/// The sentence about the binary-accuracy inflation of `inflation.loss`, against its paired
/// difference from the reference when there is one with more than one seed.
fn inflation_sentence(inflation: &Inflation, difference: Option<&PairedDifference>) -> String {
    let loss = &inflation.loss;
    let at = format!(
        "at the last epoch ({:.2} at epoch 1; mean over {})",
        inflation.first_mean,
        count(inflation.n, "seed", "seeds"),
    );
    if inflation.last_mean <= 0.0 {
        return format!(
            "{loss}'s binary accuracy is not above its pixel accuracy ({:+.2} points {at}), so it has no inflation to discount.",
            inflation.last_mean
        );
    }
    let gap = format!(
        "{loss}'s binary accuracy exceeds its pixel accuracy by {:.2} points {at}",
        inflation.last_mean
    );
    let Some(d) = difference.filter(|d| distinct(&d.seeds) > 1) else {
        return format!(
            "{gap}: that much of any apparent advantage in binary accuracy is the metric, not the segmentation."
        );
    };
    let ci = d.ci.map_or(String::new(), |(low, high)| {
        format!(" (95% CI {:+.2} to {:+.2})", 100.0 * low, 100.0 * high)
    });
    let against = format!(
        "against a paired {} difference from {} of {:+.2} points{ci}",
        metric_words(&d.metric),
        d.reference,
        100.0 * d.mean
    );
    let conclusion = match standing(d) {
        Standing::Better => format!(
            "its {} advantage is real, and the binary accuracy overstates it by {:.2} accuracy points",
            metric_words(&d.metric),
            inflation.last_mean
        ),
        Standing::Worse | Standing::Indistinguishable => format!(
            "none of its apparent advantage shows in {} at this number of seeds: it is the metric",
            metric_words(&d.metric)
        ),
    };
    format!("{gap}, {against}; {conclusion}.")
}

/// The verdict on the losses against `reference`, written only from the numbers: which runs
/// were excluded, and for each other loss whether it is better, worse or indistinguishable
/// (the paired 95% interval excludes 0 and p < 0.05), or that one seed is not evidence;
/// then how much of `inflation`'s loss's apparent advantage is the metric.
pub fn verdict(
    table: &[RunRow],
    summaries: &[LossSummary],
    differences: &[PairedDifference],
    inflation: Option<&Inflation>,
    reference: &str,
) -> Verdict {
    let mut sentences = vec![exclusion_sentence(table)];
    let mut losses: Vec<&str> = Vec::new();
    for row in table {
        if !losses.contains(&row.loss.as_str()) {
            losses.push(&row.loss);
        }
    }
    let one_seed = summaries.iter().all(|s| distinct(&s.seeds) <= 1);
    let has_reference = summaries.iter().any(|s| s.loss == reference);
    let mut compared: Vec<&PairedDifference> = Vec::new();
    if summaries.is_empty() {
        sentences.push("No run has a final value, so nothing is compared.".to_string());
    } else if one_seed {
        sentences.push(format!(
            "Every loss has only one seed here; one seed is not evidence, so no comparison is made (the paired test needs at least {} seeds to reach p < {ALPHA}).",
            pairs_needed()
        ));
    } else if !has_reference {
        sentences.push(format!(
            "There is no finished {reference} run, so no loss is compared with {reference}."
        ));
    } else {
        for &loss in losses.iter().filter(|&&l| l != reference) {
            let mine: Vec<&PairedDifference> =
                differences.iter().filter(|d| d.loss == loss).collect();
            if mine.is_empty() {
                let finished = summaries.iter().any(|s| s.loss == loss);
                sentences.push(if finished {
                    format!("{loss} has no run paired with a {reference} run on the same seed and settings, so it is not compared.")
                } else {
                    format!("{loss} has no finished run, so it is not compared.")
                });
            }
            for d in mine {
                sentences.push(comparison_sentence(d));
                compared.push(d);
            }
        }
        sentences.extend(floor_sentence(&compared, reference));
    }
    if let Some(inflation) = inflation {
        let difference = if one_seed {
            None
        } else {
            compared.iter().copied().find(|d| d.loss == inflation.loss)
        };
        sentences.push(inflation_sentence(inflation, difference));
    }
    Verdict {
        text: sentences.join(" "),
    }
}

/// Everything the report shows, computed with the study's choices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub metric: String,
    pub reference: String,
    pub runs: Vec<RunRow>,
    /// Per loss and group of `group_by`.
    pub summaries: Vec<LossSummary>,
    /// Per loss and group of `group_by`, against the reference.
    pub differences: Vec<PairedDifference>,
    pub inflation: Option<Inflation>,
    /// Written from the summaries and differences pooled over the groups.
    pub verdict: Verdict,
}

/// The analysis of a sweep frame: the run table, summaries and paired differences of the
/// final [`MAIN_METRIC`] against [`REFERENCE_LOSS`] per loss and group of `group_by`, the
/// inflation of [`INFLATION_LOSS`], and the verdict.
pub fn analyse(frame: &DataFrame, group_by: &[&str]) -> Result<Analysis, AnalyseError> {
    let runs = Runs::from_frame(frame)?;
    let table = run_table(&runs, MAIN_METRIC)?;
    let pooled_summaries = summarise(&runs, MAIN_METRIC, &[])?;
    let pooled_differences = paired_differences(&runs, MAIN_METRIC, REFERENCE_LOSS, &[])?;
    let inflation = binary_inflation(&runs, INFLATION_LOSS)?;
    let verdict = verdict(
        &table,
        &pooled_summaries,
        &pooled_differences,
        inflation.as_ref(),
        REFERENCE_LOSS,
    );
    Ok(Analysis {
        metric: MAIN_METRIC.to_string(),
        reference: REFERENCE_LOSS.to_string(),
        summaries: summarise(&runs, MAIN_METRIC, group_by)?,
        differences: paired_differences(&runs, MAIN_METRIC, REFERENCE_LOSS, group_by)?,
        runs: table,
        inflation,
        verdict,
    })
}

/// Groups `items` by `key`, groups and members in order of first appearance.
fn group_in_order<T, K: Eq + Hash + Clone>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
) -> Vec<(K, Vec<T>)> {
    let mut index: HashMap<K, usize> = HashMap::new();
    let mut groups: Vec<(K, Vec<T>)> = Vec::new();
    for item in items {
        let k = key(&item);
        match index.get(&k) {
            Some(&i) => groups[i].1.push(item),
            None => {
                index.insert(k.clone(), groups.len());
                groups.push((k, vec![item]));
            }
        }
    }
    groups
}

/// The arithmetic mean; NaN for no values.
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The sample standard deviation (n − 1); `None` for fewer than 2 values.
pub fn sample_std(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values);
    let squares: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    Some((squares / (values.len() - 1) as f64).sqrt())
}

/// The `q` quantile of ascending `sorted` values, linear between order statistics (type 7).
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let h = q.clamp(0.0, 1.0) * last as f64;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(last);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The 95% percentile bootstrap interval of the mean of `values`: [`BOOTSTRAP_RESAMPLES`]
/// resamples with replacement from a fixed seed, so the same values give the same interval.
/// `None` for fewer than 2 values.
pub fn bootstrap_mean_ci(values: &[f64]) -> Option<(f64, f64)> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED);
    let mut means: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    Some((
        quantile_sorted(&means, ALPHA / 2.0),
        quantile_sorted(&means, 1.0 - ALPHA / 2.0),
    ))
}

/// How far a flipped sum may fall short of the observed one and still count as "at least as
/// extreme": rounding of the same sum in another order.
fn tie_tolerance(differences: &[f64]) -> f64 {
    1e-9 * differences.iter().map(|d| d.abs()).sum::<f64>()
}

/// The exact two-sided sign-flip p-value: the share of all 2^n sign assignments whose
/// |sum| is at least the observed |sum|.
fn exact_sign_flip_p_value(differences: &[f64]) -> f64 {
    let n = differences.len();
    let observed = differences.iter().sum::<f64>().abs() - tie_tolerance(differences);
    let total = 1u64 << n;
    let extreme = (0..total)
        .filter(|mask| {
            let sum: f64 = differences
                .iter()
                .enumerate()
                .map(|(i, &d)| if mask >> i & 1 == 1 { -d } else { d })
                .sum();
            sum.abs() >= observed
        })
        .count();
    extreme as f64 / total as f64
}

/// The Monte Carlo two-sided sign-flip p-value from [`RANDOM_FLIPS`] seeded random sign
/// assignments, `(extreme + 1) / (flips + 1)` so it is never 0.
fn random_sign_flip_p_value(differences: &[f64]) -> f64 {
    let observed = differences.iter().sum::<f64>().abs() - tie_tolerance(differences);
    let mut rng = ChaCha8Rng::seed_from_u64(PERMUTATION_SEED);
    let extreme = (0..RANDOM_FLIPS)
        .filter(|_| {
            let sum: f64 = differences
                .iter()
                .map(|&d| if rng.random::<bool>() { -d } else { d })
                .sum();
            sum.abs() >= observed
        })
        .count();
    (extreme + 1) as f64 / (RANDOM_FLIPS + 1) as f64
}

/// The two-sided paired permutation p-value of the mean of `differences` against 0 by sign
/// flips: exact over all 2^n flips for n ≤ [`EXACT_FLIPS_UP_TO`], else from
/// [`RANDOM_FLIPS`] seeded random flips. `None` for no differences.
pub fn sign_flip_p_value(differences: &[f64]) -> Option<f64> {
    match differences.len() {
        0 => None,
        n if n <= EXACT_FLIPS_UP_TO => Some(exact_sign_flip_p_value(differences)),
        _ => Some(random_sign_flip_p_value(differences)),
    }
}

/// The smallest p-value [`sign_flip_p_value`] can give with `n` pairs: 2 / 2^n when exact.
pub fn smallest_p_value(n: usize) -> f64 {
    if n <= EXACT_FLIPS_UP_TO {
        2.0 / (1u64 << n) as f64
    } else {
        1.0 / (RANDOM_FLIPS + 1) as f64
    }
}

/// The mean ± t_{0.975, n−1} · s / √n.
fn t_interval(values: &[f64]) -> (f64, f64) {
    let m = mean(values);
    let n = values.len();
    let half = match sample_std(values) {
        Some(s) => t_quantile(1.0 - ALPHA / 2.0, (n - 1) as f64) * s / (n as f64).sqrt(),
        None => f64::NAN,
    };
    (m - half, m + half)
}

/// The smallest and largest of `values`.
fn min_max(values: &[f64]) -> (f64, f64) {
    let low = values.iter().copied().reduce(f64::min).unwrap_or(f64::NAN);
    let high = values.iter().copied().reduce(f64::max).unwrap_or(f64::NAN);
    (low, high)
}

/// ln Γ(x) for x > 0 (Lanczos approximation, g = 7, about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let series = COEFFICIENTS
        .iter()
        .enumerate()
        .skip(1)
        .fold(COEFFICIENTS[0], |acc, (i, c)| acc + c / (x + i as f64));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=500 {
        let m = m as f64;
        for numerator in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + numerator * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + numerator / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// The regularised incomplete beta function I_x(a, b).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b
    }
}

/// The Student t distribution function with `df` degrees of freedom.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The `p` quantile of Student's t with `df` degrees of freedom (e.g. t_{0.975, 4} =
/// 2.7764), by bisection on [`t_cdf`]; NaN unless 0 < p < 1 and df > 0.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if !(p > 0.0 && p < 1.0 && df > 0.0) {
        return f64::NAN;
    }
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let mut high = 1.0;
    while t_cdf(high, df) < p && high < 1e300 {
        high *= 2.0;
    }
    let mut low = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (low + high);
        if t_cdf(mid, df) < p {
            low = mid;
        } else {
            high = mid;
        }
        if high - low <= 1e-13 * high {
            break;
        }
    }
    0.5 * (low + high)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One run of a test frame: its id, loss, seed, status, extra axis value, and per-epoch
    /// `(val_miou, pixel_accuracy, binary_accuracy)`.
    struct Spec {
        id: String,
        loss: &'static str,
        seed: i64,
        status: &'static str,
        optim: &'static str,
        rows: Vec<(f64, f64, f64)>,
    }

    fn spec(loss: &'static str, seed: i64, finals: &[f64]) -> Spec {
        Spec {
            id: format!("{loss}-{seed}"),
            loss,
            seed,
            status: DONE,
            optim: "adam",
            rows: finals.iter().map(|&m| (m, 0.8, 0.9)).collect(),
        }
    }

    /// A frame with the sweep frame's columns; `optim.name` is an axis, and the rows of the
    /// runs are interleaved and in reverse epoch order, as a merged frame may be.
    fn frame(specs: &[Spec]) -> DataFrame {
        let mut cells: Vec<(usize, &Spec, usize)> = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            for e in (0..s.rows.len()).rev() {
                cells.push((i, s, e));
            }
        }
        cells.sort_by_key(|&(i, _, e)| (std::cmp::Reverse(e), i));
        let n = cells.len();
        let text = |f: &dyn Fn(&Spec) -> String| -> Vec<String> {
            cells.iter().map(|(_, s, _)| f(s)).collect()
        };
        let float = |f: &dyn Fn(&Spec, usize) -> f64| -> Vec<f64> {
            cells.iter().map(|&(_, s, e)| f(s, e)).collect()
        };
        let mut columns = vec![
            Column::new("run_id".into(), text(&|s| s.id.clone())),
            Column::new(
                "label".into(),
                text(&|s| format!("loss={},seed={}", s.loss, s.seed)),
            ),
            Column::new("status".into(), text(&|s| s.status.to_string())),
            Column::new("loss".into(), text(&|s| s.loss.to_string())),
            Column::new(
                "seed".into(),
                cells.iter().map(|(_, s, _)| s.seed).collect::<Vec<i64>>(),
            ),
            Column::new("optim.name".into(), text(&|s| s.optim.to_string())),
            Column::new(
                "epoch".into(),
                cells
                    .iter()
                    .map(|&(_, _, e)| e as u32 + 1)
                    .collect::<Vec<u32>>(),
            ),
        ];
        for name in METRICS {
            let values = match name {
                "val_miou" => float(&|s, e| s.rows[e].0),
                "pixel_accuracy" => float(&|s, e| s.rows[e].1),
                "binary_accuracy" => float(&|s, e| s.rows[e].2),
                _ => float(&|_, e| e as f64),
            };
            columns.push(Column::new(name.into(), values));
        }
        columns.push(Column::new("iou_0".into(), float(&|s, e| s.rows[e].0)));
        columns.push(Column::new("iou_1".into(), float(&|_, _| f64::NAN)));
        DataFrame::new(n, columns).expect("test frame")
    }

    fn runs_of(specs: &[Spec]) -> Runs {
        Runs::from_frame(&frame(specs)).expect("runs")
    }

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    /// Six seeds of cce and of dice, dice's finals `cce + shift + wobble`.
    fn six_seeds(shift: f64) -> Vec<Spec> {
        let cce = [0.60, 0.62, 0.58, 0.65, 0.61, 0.63];
        let wobble = [0.004, -0.003, 0.002, 0.0, -0.002, 0.001];
        let mut specs = Vec::new();
        for (i, (&c, &w)) in cce.iter().zip(&wobble).enumerate() {
            let seed = i as i64 + 1;
            specs.push(spec("cce", seed, &[0.3, c]));
            let d = if shift == 0.0 { c } else { c + shift + w };
            specs.push(spec("dice", seed, &[0.3, d]));
        }
        specs
    }

    fn verdict_of(specs: &[Spec]) -> String {
        analyse(&frame(specs), &[]).expect("analysis").verdict.text
    }

    #[test]
    fn runs_are_split_by_id_with_axes_and_epochs_in_order() {
        let runs = runs_of(&[
            spec("cce", 1, &[0.1, 0.2, 0.3]),
            spec("bce", 2, &[0.4, 0.5]),
        ]);
        assert_eq!(runs.axes, vec!["optim.name".to_string()]);
        assert!(runs.metrics.contains(&"iou_1".to_string()));
        assert!(!runs.axes.contains(&"iou_0".to_string()));
        assert_eq!(runs.runs.len(), 2);
        let cce = &runs.runs[0];
        assert_eq!((cce.loss.as_str(), cce.seed), ("cce", 1));
        assert_eq!(cce.epochs, vec![1, 2, 3]);
        assert_eq!(cce.metric("val_miou").expect("series"), &[0.1, 0.2, 0.3]);
        assert_eq!(cce.axis("optim.name").as_deref(), Some("adam"));
    }

    #[test]
    fn missing_columns_are_errors_that_name_the_column() {
        let df = frame(&[spec("cce", 1, &[0.5])]);
        let without_seed = df.drop("seed").expect("drop");
        let err = Runs::from_frame(&without_seed).expect_err("no seed");
        assert!(err.to_string().contains("`seed`"), "{err}");
        let without_miou = df.drop("val_miou").expect("drop");
        let runs = Runs::from_frame(&without_miou).expect("runs without val_miou");
        let err = summarise(&runs, "val_miou", &[]).expect_err("no val_miou");
        assert!(err.to_string().contains("`val_miou`"), "{err}");
        let err = summarise(&runs, "val_miou", &["optim.lr"]).expect_err("no such axis");
        assert!(err.to_string().contains("`optim.lr`"), "{err}");
    }

    #[test]
    fn a_run_with_two_losses_is_an_error() {
        let mut a = spec("cce", 1, &[0.5]);
        let mut b = spec("bce", 1, &[0.5, 0.6]);
        a.id = "same".to_string();
        b.id = "same".to_string();
        let err = Runs::from_frame(&frame(&[a, b])).expect_err("inconsistent");
        assert!(err.to_string().contains("`loss`"), "{err}");
    }

    #[test]
    fn non_done_run_is_excluded_from_finals_but_present_in_the_run_table() {
        let mut diverged = spec("bce", 1, &[0.4, f64::NAN]);
        diverged.status = "diverged";
        let mut failed = spec("dice", 1, &[0.45]);
        failed.status = "failed";
        let runs = runs_of(&[spec("cce", 1, &[0.3, 0.5]), diverged, failed]);
        let finals = finals(&runs, "val_miou").expect("finals");
        assert_eq!(finals.len(), 1);
        assert_eq!((finals[0].run_id.as_str(), finals[0].value), ("cce-1", 0.5));
        assert_eq!(finals[0].epoch, 2);
        let table = run_table(&runs, "val_miou").expect("table");
        assert_eq!(table.len(), 3);
        let bce = table.iter().find(|r| r.run_id == "bce-1").expect("bce row");
        assert_eq!(bce.status, "diverged");
        assert!(!bce.in_finals);
        assert_eq!((bce.final_value, bce.best), (None, Some(0.4)));
        let dice = table
            .iter()
            .find(|r| r.run_id == "dice-1")
            .expect("dice row");
        assert_eq!((dice.final_value, dice.in_finals), (Some(0.45), false));
        let summaries = summarise(&runs, "val_miou", &[]).expect("summaries");
        assert_eq!(summaries.len(), 1);
        let text = verdict(&table, &summaries, &[], None, "cce").text;
        assert!(text.contains("2 of 3 runs are excluded"), "{text}");
        let one = exclusion_sentence(&table[..2]);
        assert!(one.starts_with("1 of 2 runs is excluded"), "{one}");
        assert!(
            text.contains("1 diverged") && text.contains("1 failed"),
            "{text}"
        );
    }

    #[test]
    fn bootstrap_ci_contains_the_mean_and_is_deterministic() {
        let values = [0.61, 0.64, 0.58, 0.70, 0.66];
        let (low, high) = bootstrap_mean_ci(&values).expect("interval");
        let m = mean(&values);
        assert!(low < m && m < high, "{low} {m} {high}");
        assert!(low >= 0.58 && high <= 0.70);
        assert!(high - low > 0.02, "too narrow: {low} {high}");
        assert_eq!(bootstrap_mean_ci(&values), Some((low, high)));
        assert_eq!(bootstrap_mean_ci(&[0.5]), None);
        assert_eq!(bootstrap_mean_ci(&[0.5, 0.5, 0.5]), Some((0.5, 0.5)));
    }

    #[test]
    fn summary_has_n_mean_sample_std_and_no_interval_for_one_seed() {
        let runs = runs_of(&[
            spec("cce", 1, &[0.2, 0.5]),
            spec("cce", 2, &[0.2, 0.7]),
            spec("cce", 3, &[0.2, 0.6]),
            spec("dice", 1, &[0.9]),
        ]);
        let s = summarise(&runs, "val_miou", &[]).expect("summaries");
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].loss.as_str(), s[0].n), ("cce", 3));
        assert!(close(s[0].mean, 0.6, 1e-12));
        assert!(close(s[0].std.expect("std"), 0.1, 1e-12));
        assert!(s[0].ci.is_some());
        assert_eq!((s[1].n, s[1].std, s[1].ci), (1, None, None));
    }

    #[test]
    fn summaries_group_by_another_axis() {
        let mut sgd = spec("cce", 1, &[0.3]);
        sgd.id = "cce-1-sgd".to_string();
        sgd.optim = "sgd";
        let runs = runs_of(&[spec("cce", 1, &[0.5]), sgd, spec("cce", 2, &[0.7])]);
        let s = summarise(&runs, "val_miou", &["loss", "optim.name"]).expect("summaries");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].group, vec![("optim.name".into(), "adam".into())]);
        assert_eq!((s[0].n, s[1].n), (2, 1));
        assert!(close(s[1].mean, 0.3, 1e-12));
        let pooled = summarise(&runs, "val_miou", &[]).expect("pooled");
        assert_eq!(pooled.len(), 1);
        assert_eq!(pooled[0].n, 3);
    }

    #[test]
    fn permutation_p_value_of_a_constant_positive_difference_over_5_seeds_is_2_over_32() {
        assert_eq!(sign_flip_p_value(&[0.03; 5]), Some(0.0625));
        assert_eq!(sign_flip_p_value(&[0.03; 6]), Some(0.03125));
        assert_eq!(smallest_p_value(5), 0.0625);
    }

    #[test]
    fn permutation_p_value_counts_flips_at_least_as_extreme() {
        // |±1 ±2 ±3| over 8 flips: 6, 4, 2, 0, 0, 2, 4, 6; at least 6: 2, at least 2: 6.
        assert_eq!(sign_flip_p_value(&[1.0, 2.0, 3.0]), Some(0.25));
        assert_eq!(sign_flip_p_value(&[1.0, -2.0, 3.0]), Some(0.75));
        assert_eq!(sign_flip_p_value(&[0.0; 4]), Some(1.0));
        assert_eq!(sign_flip_p_value(&[]), None);
    }

    #[test]
    fn random_flips_above_16_pairs_approach_the_exact_p_value_deterministically() {
        let d: Vec<f64> = (0..17)
            .map(|i| ((i * 7 % 11) as f64 - 3.0) / 100.0)
            .collect();
        let exact = exact_sign_flip_p_value(&d);
        let random = sign_flip_p_value(&d).expect("p");
        assert!(close(exact, random, 0.01), "{exact} {random}");
        assert_eq!(sign_flip_p_value(&d), Some(random));
        assert!(sign_flip_p_value(&[0.01; 20]).expect("p") < 1e-3);
    }

    #[test]
    fn t_quantile_matches_the_table() {
        for (df, t) in [
            (1.0, 12.706_204_7),
            (2.0, 4.302_652_7),
            (4.0, 2.776_445_1),
            (10.0, 2.228_138_9),
            (30.0, 2.042_272_5),
            (100.0, 1.983_971_5),
            (1e7, 1.959_964_0),
        ] {
            let q = t_quantile(0.975, df);
            assert!(close(q, t, 1e-6 * t), "df {df}: {q} against {t}");
        }
        assert!(close(t_quantile(0.025, 4.0), -2.776_445_1, 1e-6));
        assert!(t_quantile(1.0, 4.0).is_nan());
    }

    #[test]
    fn t_band_uses_the_right_quantile_for_5_seeds() {
        let specs: Vec<Spec> = (1..=5)
            .map(|s| spec("cce", s, &[0.1 * s as f64, 0.2]))
            .collect();
        let b = bands(&runs_of(&specs), "val_miou", &[]).expect("bands");
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].kind, BandKind::TInterval95);
        assert_eq!(
            (b[0].epochs.clone(), b[0].n.clone()),
            (vec![1, 2], vec![5, 5])
        );
        // Epoch 1: 0.1..0.5, mean 0.3, s = 0.1581, half = 2.7764 · s / √5 = 0.19632.
        let half = 2.776_445_1 * 0.1 * 2.5f64.sqrt() / 5f64.sqrt();
        assert!(close(b[0].mean[0], 0.3, 1e-12));
        assert!(close(b[0].low[0], 0.3 - half, 1e-6), "{}", b[0].low[0]);
        assert!(close(b[0].high[0], 0.3 + half, 1e-6), "{}", b[0].high[0]);
        assert!(close(b[0].low[1], 0.2, 1e-12) && close(b[0].high[1], 0.2, 1e-12));
    }

    #[test]
    fn band_with_fewer_than_3_seeds_is_min_max() {
        let mut diverged = spec("cce", 3, &[0.9, 0.9]);
        diverged.status = "diverged";
        let runs = runs_of(&[
            spec("cce", 1, &[0.1, 0.4]),
            spec("cce", 2, &[0.3, 0.2]),
            diverged,
        ]);
        let b = bands(&runs, "val_miou", &[]).expect("bands");
        assert_eq!(b[0].kind, BandKind::MinMax);
        assert_eq!(b[0].runs, 2);
        assert_eq!(
            (b[0].low.clone(), b[0].high.clone()),
            (vec![0.1, 0.2], vec![0.3, 0.4])
        );
        let none = bands(&runs, "iou_1", &[]).expect("all-NaN metric");
        assert!(none[0].epochs.is_empty());
    }

    #[test]
    fn paired_differences_pair_on_seed_and_settings() {
        let mut cce_sgd = spec("cce", 1, &[0.30]);
        cce_sgd.id = "cce-1-sgd".into();
        cce_sgd.optim = "sgd";
        let mut dice_sgd = spec("dice", 1, &[0.35]);
        dice_sgd.id = "dice-1-sgd".into();
        dice_sgd.optim = "sgd";
        let runs = runs_of(&[
            spec("dice", 3, &[0.80]),
            spec("cce", 1, &[0.50]),
            spec("cce", 2, &[0.60]),
            spec("dice", 1, &[0.60]),
            spec("cce", 3, &[0.70]),
            spec("dice", 2, &[0.62]),
            spec("dice", 4, &[0.99]),
            cce_sgd,
            dice_sgd,
        ]);
        let d = paired_differences(&runs, "val_miou", "cce", &[]).expect("pairs");
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].loss.as_str(), d[0].reference.as_str()),
            ("dice", "cce")
        );
        assert_eq!(d[0].n, 4, "seed 4 has no cce partner");
        let mut pairs: Vec<(i64, i64)> = d[0]
            .seeds
            .iter()
            .zip(&d[0].differences)
            .map(|(&s, &x)| (s, (x * 1000.0).round() as i64))
            .collect();
        pairs.sort_unstable();
        assert_eq!(pairs, vec![(1, 50), (1, 100), (2, 20), (3, 100)]);
        assert!(d[0].exact);
        let grouped =
            paired_differences(&runs, "val_miou", "cce", &["optim.name"]).expect("grouped");
        assert_eq!(grouped.len(), 2);
        assert_eq!((grouped[0].n, grouped[1].n), (3, 1));
    }

    #[test]
    fn two_runs_claiming_one_pair_are_an_error() {
        let mut twin = spec("dice", 1, &[0.6]);
        twin.id = "twin".into();
        let runs = runs_of(&[spec("cce", 1, &[0.5]), spec("dice", 1, &[0.6]), twin]);
        let err = paired_differences(&runs, "val_miou", "cce", &[]).expect_err("duplicate");
        assert!(err.to_string().contains("twin"), "{err}");
    }

    #[test]
    fn binary_inflation_is_binary_minus_pixel_accuracy_in_points() {
        let mut specs = Vec::new();
        for (seed, late) in [(1, 0.04), (2, 0.06)] {
            let mut s = spec("bce", seed, &[0.0, 0.0, 0.0]);
            s.rows = vec![(0.2, 0.5, 0.6), (0.3, 0.7, 0.75), (0.4, 0.8, 0.8 + late)];
            specs.push(s);
        }
        let mut failed = spec("bce", 3, &[0.1]);
        failed.status = "failed";
        specs.push(failed);
        let inflation = binary_inflation(&runs_of(&specs), "bce")
            .expect("inflation")
            .expect("bce has done runs");
        assert_eq!(inflation.n, 2);
        assert!(close(inflation.first_mean, 10.0, 1e-9));
        assert!(close(inflation.last_mean, 5.0, 1e-9));
        assert_eq!(
            (inflation.runs[0].first_epoch, inflation.runs[0].last_epoch),
            (1, 3)
        );
        assert!(close(inflation.runs[1].last, 6.0, 1e-9));
        assert_eq!(
            binary_inflation(&runs_of(&specs), "dice").expect("ok"),
            None
        );
    }

    #[test]
    fn verdict_says_one_seed_is_not_evidence_and_compares_nothing() {
        let specs: Vec<Spec> = ["cce", "bce", "dice", "iou", "bce_dice"]
            .into_iter()
            .enumerate()
            .map(|(i, l)| spec(l, 1, &[0.1, 0.5 + 0.05 * i as f64]))
            .collect();
        let text = verdict_of(&specs);
        assert!(text.contains("one seed is not evidence"), "{text}");
        assert!(text.contains("no comparison is made"), "{text}");
        for word in ["better", "worse", "indistinguishable"] {
            assert!(!text.contains(word), "{text}");
        }
        assert!(text.contains("All 5 runs are done"), "{text}");
    }

    #[test]
    fn verdict_changes_its_classification_when_the_data_change() {
        let better = verdict_of(&six_seeds(0.05));
        let same = verdict_of(&six_seeds(0.0));
        let worse = verdict_of(&six_seeds(-0.05));
        assert!(
            better.contains("dice is better than cce at 6 seeds"),
            "{better}"
        );
        assert!(better.contains("+5.03 mIoU points"), "{better}");
        assert!(better.contains("p = 0.0312"), "{better}");
        assert!(
            same.contains("dice is indistinguishable from cce at 6 seeds"),
            "{same}"
        );
        assert!(same.contains("+0.00 mIoU points"), "{same}");
        assert!(worse.contains("dice is worse than cce"), "{worse}");
        assert_ne!(better, same);
    }

    #[test]
    fn verdict_at_5_seeds_calls_a_difference_only_when_every_pair_agrees() {
        let five: Vec<Spec> = six_seeds(0.05)
            .into_iter()
            .filter(|s| s.seed <= 5)
            .collect();
        let text = verdict_of(&five);
        assert!(
            text.contains("dice is better than cce at 5 seeds"),
            "{text}"
        );
        assert!(text.contains("p = 0.0625"), "{text}");
        assert!(
            text.contains("With 5 pairs") && text.contains("below 0.0625"),
            "{text}"
        );
        assert!(text.contains("every pair agrees in sign"), "{text}");
        // One pair the other way round: the sign-flip p rises above the floor.
        let mixed: Vec<Spec> = five
            .into_iter()
            .map(|mut s| {
                if s.loss == "dice" && s.seed == 1 {
                    s = spec("dice", 1, &[0.3, 0.59]);
                }
                s
            })
            .collect();
        let text = verdict_of(&mixed);
        assert!(
            text.contains("dice is indistinguishable from cce at 5 seeds"),
            "{text}"
        );
    }

    #[test]
    fn verdict_weighs_bce_inflation_against_its_miou_difference() {
        let mut specs = six_seeds(0.0);
        for seed in 1..=6 {
            let mut s = spec("bce", seed, &[0.0, 0.0]);
            let cce = specs
                .iter()
                .find(|c| c.loss == "cce" && c.seed == seed)
                .map(|c| c.rows[1].0)
                .unwrap_or_default();
            let wobble = [0.001, -0.002, 0.0, 0.002, -0.001, 0.0][seed as usize - 1];
            s.rows = vec![(0.3, 0.5, 0.6), (cce + wobble, 0.8, 0.92)];
            specs.push(s);
        }
        let text = verdict_of(&specs);
        assert!(text.contains("bce is indistinguishable from cce"), "{text}");
        assert!(
            text.contains(
                "exceeds its pixel accuracy by 12.00 points at the last epoch (10.00 at epoch 1; mean over 6 seeds)"
            ),
            "{text}"
        );
        assert!(text.contains("it is the metric"), "{text}");

        // The same inflation with a real mIoU advantage reads differently.
        for s in specs.iter_mut().filter(|s| s.loss == "bce") {
            s.rows[1].0 += 0.04;
        }
        let text = verdict_of(&specs);
        assert!(text.contains("bce is better than cce"), "{text}");
        assert!(text.contains("mIoU advantage is real"), "{text}");
    }

    #[test]
    fn analysis_serialises_to_json() {
        let analysis = analyse(&frame(&six_seeds(0.05)), &["optim.name"]).expect("analysis");
        let json = serde_json::to_value(&analysis).expect("json");
        assert_eq!(json["reference"], "cce");
        assert_eq!(json["differences"][0]["n"], 6);
        assert_eq!(json["runs"].as_array().map(Vec::len), Some(12));
        let band = serde_json::to_value(BandKind::TInterval95).expect("json");
        assert_eq!(band, "t_interval95");
    }
}
