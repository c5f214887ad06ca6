//! What the finals and curves show: per-loss summaries, paired differences against the
//! reference loss (t-interval, paired t-test with Holm's adjustment, sign-flip test,
//! probability of improvement, seeds for 80% power), per-epoch bands for curves, and the
//! binary-accuracy inflation of a loss.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::folds::FOLD_COLUMN;
use super::runs::{final_runs, group_in_order, Run, Runs};
use super::stats::{
    clip_to, corrected_t_interval, corrected_t_p_value, holm, interquartile_mean, mean, min_max,
    sample_std, seeds_for_power, seeds_for_power_over_folds, sign_flip_p_value,
    smallest_sign_flip_p_value, t_interval, wilson_interval,
};
use super::{higher_is_better, AnalyseError, ALPHA};
use crate::metrics::range;

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
    /// The interquartile mean (rliable's robust aggregate; the mean below 4 runs).
    pub iqm: f64,
    /// The 95% Student t-interval of the mean (over folds, the corrected resampled one),
    /// clipped to the metric's range ([`crate::metrics::range`]); `None` for n < 2.
    pub ci: Option<(f64, f64)>,
    /// Whether the interval reached past the metric's range and was clipped to it.
    pub ci_clipped: bool,
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
    let fold_axis = runs.axes.iter().any(|a| a == FOLD_COLUMN);
    Ok(groups
        .into_iter()
        .map(|((loss, group), members)| {
            let values: Vec<f64> = members.iter().map(|(_, v)| *v).collect();
            let folds = if fold_axis {
                distinct_folds(members.iter().map(|(r, _)| *r))
            } else {
                0
            };
            // Over folds, the runs' training sets overlap: the corrected interval.
            let correction = if folds >= 2 {
                1.0 / (folds - 1) as f64
            } else {
                0.0
            };
            let ci = corrected_t_interval(&values, correction, 1.0 - ALPHA)
                .map(|ci| clip_to(ci, range(metric)));
            LossSummary {
                loss,
                group,
                metric: metric.to_string(),
                n: values.len(),
                seeds: members.iter().map(|(r, _)| r.seed).collect(),
                mean: mean(&values),
                std: sample_std(&values),
                iqm: interquartile_mean(&values),
                ci: ci.map(|(ci, _)| ci),
                ci_clipped: ci.is_some_and(|(_, clipped)| clipped),
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
    /// Pairs: (seed, fold) pairs in a fold sweep.
    pub n: usize,
    /// The distinct folds of the pairs in a sweep with a fold axis (0 without one). With 2
    /// or more, the interval and p-values are the corrected resampled t-test's.
    pub folds: usize,
    /// The n_test/n_train ratio of that correction, 1/(folds − 1) (0 without folds): the
    /// variance of the mean is taken as (1/n + ratio)·s².
    pub correction: f64,
    /// The seed of each pair, in the order of `differences`.
    pub seeds: Vec<i64>,
    /// `loss − reference` per pair.
    pub differences: Vec<f64>,
    pub mean: f64,
    /// Sample standard deviation of the differences; `None` for n < 2.
    pub std: Option<f64>,
    /// The 95% paired t-interval of the mean difference (corrected over folds); `None` for
    /// n < 2.
    pub ci: Option<(f64, f64)>,
    /// The 90% paired t-interval, which decides equivalence (two one-sided tests at 5%).
    pub ci90: Option<(f64, f64)>,
    /// Two-sided paired t-test p-value; 1 for n < 2.
    pub p_value: f64,
    /// `p_value` after Holm's adjustment over every comparison of the same call.
    pub p_adjusted: f64,
    /// Two-sided exact (to [`super::stats::EXACT_FLIPS_UP_TO`] pairs) sign-flip p-value, which
    /// assumes nothing about the shape of the differences.
    pub sign_flip_p_value: f64,
    /// The smallest sign-flip p-value n pairs can give.
    pub min_sign_flip_p_value: f64,
    /// Pairs in which the loss is ahead of (above, for a score) the reference; ties count
    /// half.
    pub ahead: f64,
    /// The probability that the loss beats the reference on a random seed (rliable's
    /// probability of improvement on paired runs): `ahead / n`.
    pub p_improvement: f64,
    /// The 95% Wilson interval of `p_improvement`.
    pub p_improvement_ci: (f64, f64),
    /// The seeds at which the paired t-test at the Holm level of the first comparison
    /// (α / comparisons) has 80% power for a difference of this mean with this spread (in
    /// a fold sweep: seeds, each on every fold, under the corrected test); `None` when even
    /// [`super::stats::MAX_SEEDS`] would not, or with fewer than 2 pairs.
    pub seeds_for_80_power: Option<usize>,
    /// The same for a difference of `min_effect` (the report's `min_effect`, in metric
    /// units), when one is set.
    pub seeds_for_min_effect: Option<usize>,
}

/// The statistical power the seed counts aim for.
pub const TARGET_POWER: f64 = 0.8;

/// Each loss other than `reference` against it: a run pairs with the reference run that has
/// its seed and the same value of every other axis. Grouped by the axes of `group_by`;
/// groups without a pair are left out. An error when two runs claim the same pair. The
/// p-values are Holm-adjusted over the comparisons returned together, and the seeds for
/// 80% power are at the strictest Holm level, α over their number.
pub fn paired_differences(
    runs: &Runs,
    metric: &str,
    reference: &str,
    group_by: &[&str],
    min_effect: Option<f64>,
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
    let better_up = higher_is_better(metric);
    let fold_axis = runs.axes.iter().any(|a| a == FOLD_COLUMN);
    let mut out: Vec<PairedDifference> = groups
        .into_iter()
        .map(|((loss, group), members)| {
            let differences: Vec<f64> = members.iter().map(|(_, d)| *d).collect();
            let n = differences.len();
            let folds = if fold_axis {
                distinct_folds(members.iter().map(|(r, _)| *r))
            } else {
                0
            };
            let correction = if folds >= 2 {
                1.0 / (folds - 1) as f64
            } else {
                0.0
            };
            let ahead: f64 = differences
                .iter()
                .map(|&d| {
                    if d == 0.0 {
                        0.5
                    } else if (d > 0.0) == better_up {
                        1.0
                    } else {
                        0.0
                    }
                })
                .sum();
            PairedDifference {
                loss,
                reference: reference.to_string(),
                group,
                metric: metric.to_string(),
                n,
                folds,
                correction,
                seeds: members.iter().map(|(r, _)| r.seed).collect(),
                mean: mean(&differences),
                std: sample_std(&differences),
                ci: corrected_t_interval(&differences, correction, 1.0 - ALPHA),
                ci90: corrected_t_interval(&differences, correction, 1.0 - 2.0 * ALPHA),
                p_value: corrected_t_p_value(&differences, correction).unwrap_or(1.0),
                p_adjusted: 1.0,
                sign_flip_p_value: sign_flip_p_value(&differences).unwrap_or(1.0),
                min_sign_flip_p_value: smallest_sign_flip_p_value(n),
                ahead,
                p_improvement: ahead / n as f64,
                p_improvement_ci: wilson_interval(ahead, n, 1.0 - ALPHA),
                seeds_for_80_power: None,
                seeds_for_min_effect: None,
                differences,
            }
        })
        .collect();
    let adjusted = holm(&out.iter().map(|d| d.p_value).collect::<Vec<_>>());
    let level = ALPHA / out.len().max(1) as f64;
    for (d, p) in out.iter_mut().zip(adjusted) {
        d.p_adjusted = p;
        if let Some(sd) = d.std {
            d.seeds_for_80_power = seeds_needed(d.mean, sd, d.folds, level);
            d.seeds_for_min_effect = min_effect.and_then(|e| seeds_needed(e, sd, d.folds, level));
        }
    }
    Ok(out)
}

/// The distinct values of the fold axis among `runs`.
fn distinct_folds<'a>(runs: impl Iterator<Item = &'a Run>) -> usize {
    let mut folds: Vec<String> = runs.filter_map(|r| r.axis(FOLD_COLUMN)).collect();
    folds.sort();
    folds.dedup();
    folds.len()
}

/// The seeds at which a difference `effect` with spread `sd` reaches [`TARGET_POWER`] at
/// `level`: by the paired t-test, or over `folds` (2 or more) by the corrected one.
fn seeds_needed(effect: f64, sd: f64, folds: usize, level: f64) -> Option<usize> {
    match folds {
        0 | 1 => seeds_for_power(effect, sd, level, TARGET_POWER),
        k => seeds_for_power_over_folds(effect, sd, k, level, TARGET_POWER),
    }
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
            BandKind::TInterval95 => {
                "95% t-interval of the mean over seeds, within the metric's range"
            }
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
/// `group_by`): a 95% t-interval of the mean, clipped to the metric's range, when every
/// epoch has at least 3 finite values; the min–max otherwise.
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
                BandKind::TInterval95 => t_interval(&values, 1.0 - ALPHA)
                    .map_or((f64::NAN, f64::NAN), |ci| clip_to(ci, range(metric)).0),
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
