//! The sweep's frame read as runs: one [`Run`] per `run_id` with its loss, seed, status,
//! other axis values and per-epoch series; the final values of the finished ones, and the
//! table of every run.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use polars::prelude::*;
use serde::Serialize;

use super::{AnalyseError, DONE, METRICS, PER_CLASS, QUALITY};
use crate::config::loss::parameter_keys;
use crate::config::tune::TUNED_PREFIX;
use crate::metrics::{SELECTED_EPOCH, SKIPPED_STEPS, TEST_PREFIX};

/// The columns of axes over a loss's parameters or its label.
fn loss_parameter_keys() -> Vec<String> {
    let mut keys = parameter_keys();
    keys.push("loss.label".to_string());
    keys
}

/// Columns that describe a run rather than an axis or a metric.
const RUN_COLUMNS: [&str; 8] = [
    "run_id",
    "label",
    "status",
    "epoch",
    "schedule",
    SELECTED_EPOCH,
    SKIPPED_STEPS,
    crate::provenance::COLUMN,
];

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
    /// The epoch whose weights the run kept (`train.select`, or a test split's run): its
    /// final values are that epoch's; `None` for the last epoch.
    pub selected: Option<u32>,
    /// The commit of the build that trained the run; `None` in a frame written before
    /// commits were recorded.
    pub commit: Option<String>,
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

    /// The final epoch and its value of `metric`, `None` for a run without rows: the
    /// selected epoch when the run records one (where its test scores are), else the last.
    pub fn last(&self, metric: &str) -> Result<Option<(u32, f64)>, AnalyseError> {
        let values = self.metric(metric)?;
        let at = match self.selected {
            Some(e) => self.epochs.iter().position(|&x| x == e),
            None => self.epochs.len().checked_sub(1),
        };
        Ok(at.map(|i| (self.epochs[i], values[i])))
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
    pub(super) fn group(&self, group_by: &[String]) -> Vec<(String, String)> {
        group_by
            .iter()
            .map(|name| (name.clone(), self.axis(name).unwrap_or_default()))
            .collect()
    }

    /// The values of every axis other than `loss` and `seed`, the key runs pair on.
    pub(super) fn settings(&self) -> Vec<String> {
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
    /// The sweep's name of the loss `base` (`cce`, `bce`): `base` itself when a run has that
    /// name, otherwise the one loss of the sweep named `base` with its parameters (`cce
    /// from_logits=false` under the Keras preset, `cce w=[...]` with class weights), so that
    /// the comparisons and the answer find it; `base` when there is none or several.
    pub fn loss_named(&self, base: &str) -> String {
        if self.runs.iter().any(|r| r.loss == base) {
            return base.to_string();
        }
        let prefix = format!("{base} ");
        let mut variants: Vec<&str> = self
            .runs
            .iter()
            .map(|r| r.loss.as_str())
            .filter(|l| l.starts_with(&prefix))
            .collect();
        variants.sort_unstable();
        variants.dedup();
        match variants.as_slice() {
            [one] => one.to_string(),
            _ => base.to_string(),
        }
    }

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
        // Axes over a loss's parameters (`loss.gamma`) are part of what the `loss` column
        // names, and a tuned key's column (`tuned.optim.lr`) part of the loss's tuning: not
        // settings the losses are compared under.
        let loss_parts = loss_parameter_keys();
        let axes: Vec<String> = names
            .iter()
            .filter(|n| !is_metric(n) && !RUN_COLUMNS.contains(&n.as_str()))
            .filter(|n| n.as_str() != "loss" && n.as_str() != "seed")
            .filter(|n| !loss_parts.contains(n))
            .filter(|n| !n.starts_with(TUNED_PREFIX))
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
        let selected_cells = selected_cells(frame)?;
        let commit_cells = match frame.column(crate::provenance::COLUMN) {
            Ok(_) => Some(text_cells(frame, crate::provenance::COLUMN)?),
            Err(_) => None,
        };
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
            let selected = match &selected_cells {
                Some(cells) => {
                    u32::try_from(constant_in_run(id, SELECTED_EPOCH, cells, &rows)?).ok()
                }
                None => None,
            };
            let commit = match &commit_cells {
                Some(cells) => Some(constant(crate::provenance::COLUMN, cells)?),
                None => None,
            };
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
                selected,
                commit,
            });
        }
        Ok(Runs {
            axes,
            metrics,
            runs,
        })
    }

    /// How many done runs each build made, by commit (`unknown` for runs of a frame
    /// written before commits were recorded), most runs first.
    pub fn builds(&self) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for run in self.runs.iter().filter(|r| r.is_done()) {
            let commit = run.commit.as_deref().unwrap_or(crate::provenance::UNKNOWN);
            *counts.entry(commit).or_insert(0) += 1;
        }
        let mut builds: Vec<(String, usize)> = counts
            .into_iter()
            .map(|(c, n)| (c.to_string(), n))
            .collect();
        builds.sort_by_key(|b| std::cmp::Reverse(b.1));
        builds
    }

    /// An error naming `metric` when the frame has no such metric column.
    pub(super) fn require_metric(&self, metric: &str) -> Result<(), AnalyseError> {
        if self.metrics.iter().any(|m| m == metric) {
            Ok(())
        } else {
            Err(AnalyseError::MissingColumn(metric.to_string()))
        }
    }

    /// `group_by` checked against the axes, without `loss` (always part of the key) and
    /// without repeats.
    pub(super) fn grouping(&self, group_by: &[&str]) -> Result<Vec<String>, AnalyseError> {
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
    METRICS.contains(&name)
        || QUALITY.contains(&name)
        || PER_CLASS.iter().any(|p| per_class(p))
        || name.starts_with(TEST_PREFIX)
}

/// The `selected_epoch` column, when the frame has one: -1 for a null cell (a run without
/// a selection).
fn selected_cells(frame: &DataFrame) -> Result<Option<Vec<i64>>, AnalyseError> {
    let Ok(col) = frame.column(SELECTED_EPOCH) else {
        return Ok(None);
    };
    if !col.dtype().is_integer() {
        return Err(AnalyseError::WrongType {
            column: SELECTED_EPOCH.to_string(),
            found: col.dtype().to_string(),
            expected: "an integer type",
        });
    }
    let ints = col.strict_cast(&DataType::Int64)?;
    Ok(Some(ints.i64()?.iter().map(|v| v.unwrap_or(-1)).collect()))
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
pub(super) fn final_runs<'a>(
    runs: &'a Runs,
    metric: &str,
) -> Result<Vec<(&'a Run, f64)>, AnalyseError> {
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
            epoch: run
                .last(metric)
                .ok()
                .flatten()
                .map_or(0, |(epoch, _)| epoch),
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

/// Groups `items` by `key`, groups and members in order of first appearance.
pub(crate) fn group_in_order<T, K: Eq + Hash + Clone>(
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
