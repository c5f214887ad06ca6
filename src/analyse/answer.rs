//! The answer first: "Does bce learn better than cce here?", answered from this frame, and
//! the three mechanisms behind the folklore that it does, each with its number: the metric
//! (binary against pixel accuracy, and what an all-off model scores), the scale (bce's loss
//! and gradient norm at epoch 1 against cce's), and the seeds (the spread between seeds
//! against the difference between the losses).

use serde::Serialize;

use super::findings::{summarise, Inflation, LossSummary, PairedDifference};
use super::runs::Runs;
use super::stats::mean;
use super::verdict::{metric_words, standing, Standing};
use super::{AnalyseError, Settings, INFLATION_LOSS, REFERENCE_LOSS};

/// The numbers the answer states, each computed from the frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerNumbers {
    /// Classes (the frame's `iou_k` columns).
    pub classes: usize,
    /// The binary accuracy of a model that predicts every channel "off": (C − 1) / C.
    pub all_off_binary_accuracy: f64,
    /// bce's binary minus pixel accuracy at the last epoch, points, mean over its seeds.
    pub inflation_points: Option<f64>,
    /// Mean training loss at epoch 1, bce over cce.
    pub loss_ratio_epoch1: Option<f64>,
    /// Mean gradient norm at epoch 1, bce over cce.
    pub grad_norm_ratio_epoch1: Option<f64>,
    /// The standard deviation of cce's final metric over its seeds, points.
    pub seed_spread_points: Option<f64>,
    /// The mean paired difference bce − cce of the final metric, points.
    pub difference_points: Option<f64>,
    /// The standard deviation of the paired differences, points.
    pub difference_spread_points: Option<f64>,
    /// bce's mean final metric at each `loss.scale`, when the sweep has that axis.
    pub by_scale: Vec<(String, f64)>,
}

/// The question, its answer for this sweep, and the mechanisms with their numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub question: String,
    pub answer: String,
    pub mechanisms: Vec<String>,
    pub numbers: AnswerNumbers,
}

/// Mean of `metric` at each done run's first epoch, over the done runs of `loss`.
fn first_epoch_mean(runs: &Runs, loss: &str, metric: &str) -> Result<Option<f64>, AnalyseError> {
    let mut values = Vec::new();
    for run in runs.runs.iter().filter(|r| r.is_done() && r.loss == loss) {
        if let Some(&v) = run.metric(metric)?.first() {
            values.push(v);
        }
    }
    Ok((!values.is_empty()).then(|| mean(&values)))
}

/// The answer for a sweep with both bce and cce runs, from the pooled `summaries` and
/// `differences` of `metric`; `None` without them.
pub fn answer(
    runs: &Runs,
    metric: &str,
    summaries: &[LossSummary],
    differences: &[PairedDifference],
    inflation: Option<&Inflation>,
    settings: &Settings,
) -> Result<Option<Answer>, AnalyseError> {
    let (bce, cce) = (
        runs.loss_named(INFLATION_LOSS),
        runs.loss_named(REFERENCE_LOSS),
    );
    let (bce, cce) = (bce.as_str(), cce.as_str());
    let has = |loss: &str| runs.runs.iter().any(|r| r.is_done() && r.loss == loss);
    if !has(bce) || !has(cce) {
        return Ok(None);
    }
    let classes = runs.runs.first().map_or(0, |r| {
        r.series.keys().filter(|k| k.starts_with("iou_")).count()
    });
    let ratio = |metric: &str| -> Result<Option<f64>, AnalyseError> {
        Ok(first_epoch_mean(runs, bce, metric)?
            .zip(first_epoch_mean(runs, cce, metric)?)
            .map(|(b, c)| b / c))
    };
    let seed_spread = summaries.iter().find(|s| s.loss == cce).and_then(|s| s.std);
    let difference = differences.iter().find(|d| d.loss == bce);
    let by_scale: Vec<(String, f64)> = if runs.runs.iter().any(|r| r.axis("loss.scale").is_some()) {
        summarise(runs, metric, &["loss.scale"])?
            .into_iter()
            .filter(|s| s.loss == bce)
            .filter_map(|s| s.group.into_iter().next().map(|(_, scale)| (scale, s.mean)))
            .collect()
    } else {
        Vec::new()
    };
    let numbers = AnswerNumbers {
        classes,
        all_off_binary_accuracy: if classes > 0 {
            (classes - 1) as f64 / classes as f64
        } else {
            f64::NAN
        },
        inflation_points: inflation.map(|i| i.last_mean),
        loss_ratio_epoch1: ratio("train_loss")?,
        grad_norm_ratio_epoch1: ratio("grad_norm")?,
        seed_spread_points: seed_spread.map(|s| 100.0 * s),
        difference_points: difference.map(|d| 100.0 * d.mean),
        difference_spread_points: difference.and_then(|d| d.std).map(|s| 100.0 * s),
        by_scale,
    };
    let words = metric_words(metric);
    let answer = match difference {
        None => format!("Not answered here: no {bce} run pairs with a {cce} run on the same seed and settings."),
        Some(d) if d.n < 2 => format!(
            "One seed cannot answer it: {bce} is {:+.2} {words} points from {cce} at its one paired seed.",
            100.0 * d.mean
        ),
        Some(d) => {
            let ci = d.ci.map_or(String::new(), |(l, h)| {
                format!("95% CI {:+.2} to {:+.2}, ", 100.0 * l, 100.0 * h)
            });
            let stats = format!("{ci}Holm-adjusted p = {:.4}, {} seeds", d.p_adjusted, d.n);
            match standing(d, settings.equivalence) {
                Standing::Better => format!("Yes: {bce}'s final {words} is {:.2} points above {cce}'s ({stats}).", 100.0 * d.mean),
                Standing::Worse => format!("No: {bce}'s final {words} is {:.2} points below {cce}'s ({stats}).", -100.0 * d.mean),
                Standing::Equivalent => format!("No better and no worse: {bce} and {cce} are equivalent within ±{:.2} {words} points ({stats}).", 100.0 * settings.equivalence.unwrap_or(f64::NAN)),
                Standing::NotCalled => format!(
                    "Not established here: {bce} is {:+.2} {words} points from {cce} on average ({stats}), which these seeds cannot settle{}.",
                    100.0 * d.mean,
                    d.seeds_for_80_power.map_or(String::new(), |k| format!("; about {k} seeds would"))
                ),
            }
        }
    };
    let mut mechanisms = Vec::new();
    mechanisms.push(match numbers.inflation_points {
        Some(points) => format!(
            "The metric: {bce}'s binary accuracy (Keras' binary_accuracy, per channel) is {points:.2} points above its pixel accuracy at the last epoch; with {classes} classes a model that predicts every channel off already scores {:.2}% binary accuracy.",
            100.0 * numbers.all_off_binary_accuracy
        ),
        None => format!("The metric: with {classes} classes a model that predicts every channel off scores {:.2}% binary accuracy.", 100.0 * numbers.all_off_binary_accuracy),
    });
    let mut scale = match (numbers.loss_ratio_epoch1, numbers.grad_norm_ratio_epoch1) {
        (Some(l), Some(g)) => format!(
            "The scale: at epoch 1 {bce}'s training loss is {l:.3}× {cce}'s and its gradient norm {g:.3}× {cce}'s: BCE averages over {classes} channels, so its numbers and steps are on another scale."
        ),
        _ => "The scale: the frame has no epoch-1 loss or gradient norm of both losses.".to_string(),
    };
    if !numbers.by_scale.is_empty() {
        let parts: Vec<String> = numbers
            .by_scale
            .iter()
            .map(|(s, v)| format!("{v:.4} at loss.scale = {s}"))
            .collect();
        scale.push_str(&format!(" {bce}'s final {words}: {}.", parts.join(", ")));
    }
    mechanisms.push(scale);
    mechanisms.push(match (numbers.seed_spread_points, numbers.difference_points, numbers.difference_spread_points) {
        (Some(s), Some(d), Some(sd)) => format!(
            "The seeds: {cce}'s final {words} varies by {s:.2} points between seeds (standard deviation), and the {bce} − {cce} difference by {sd:.2} points between pairs, against a mean difference of {d:+.2} points."
        ),
        _ => "The seeds: one seed is not evidence; at least two seeds of each loss show the spread between seeds.".to_string(),
    });
    Ok(Some(Answer {
        question: format!("Does {bce} learn better than {cce} here?"),
        answer,
        mechanisms,
        numbers,
    }))
}
