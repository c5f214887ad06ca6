//! The verdict: sentences written only from the numbers of [`super::findings`]. A loss is
//! called better or worse than the reference only when the Holm-adjusted paired t-test
//! says so; otherwise the sentence gives the direction, the size, how many seeds agree, and
//! how many seeds would settle it, and never calls two losses equal unless the report's
//! equivalence bound holds.

use serde::Serialize;

use super::findings::{Inflation, LossSummary, PairedDifference, TARGET_POWER};
use super::runs::RunRow;
use super::{higher_is_better, Settings, ALPHA, DONE};

/// A short paragraph written only from the numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub text: String,
    /// The command that adds the seeds the undecided comparisons need, when there are such.
    pub add_seeds: Option<String>,
}

/// How a loss compares with the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The Holm-adjusted paired t-test is below α, and the loss is ahead.
    Better,
    /// The Holm-adjusted paired t-test is below α, and the loss is behind.
    Worse,
    /// The 90% interval lies within the report's equivalence bound (two one-sided tests).
    Equivalent,
    /// None of these: the data do not settle it.
    NotCalled,
}

/// The metric's name in prose.
pub fn metric_words(metric: &str) -> String {
    if let Some(val) = crate::metrics::validation_metric(metric) {
        return format!("test {}", metric_words(&val));
    }
    match metric {
        "val_miou" => "mIoU".to_string(),
        "pixel_accuracy" => "pixel accuracy".to_string(),
        "binary_accuracy" => "binary accuracy".to_string(),
        other => super::scorecard::metric_name(other),
    }
}

/// Better or worse on the adjusted p alone; equivalent when `equivalence` (in metric
/// units) is set and the 90% interval lies inside ±equivalence; otherwise not called.
pub fn standing(d: &PairedDifference, equivalence: Option<f64>) -> Standing {
    if d.n >= 2 && d.p_adjusted < ALPHA {
        return if (d.mean > 0.0) == higher_is_better(&d.metric) {
            Standing::Better
        } else {
            Standing::Worse
        };
    }
    match (equivalence, d.ci90) {
        (Some(bound), Some((low, high))) if -bound < low && high < bound => Standing::Equivalent,
        _ => Standing::NotCalled,
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

/// `1 seed`, `5 seeds`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The sentence about the runs left out of the finals.
pub(super) fn exclusion_sentence(table: &[RunRow]) -> String {
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

/// What the comparison's pairs are: seeds, or (seed, fold) pairs in a fold sweep.
fn pair_words(d: &PairedDifference) -> &'static str {
    if d.folds >= 2 {
        "(seed, fold) pairs"
    } else {
        "seeds"
    }
}

/// The independent units a comparison rests on: its seeds, or its (seed, fold) pairs.
fn units(d: &PairedDifference) -> usize {
    if d.folds >= 2 {
        d.n
    } else {
        distinct(&d.seeds)
    }
}

/// `5 seeds`, or `2 seeds × 5 folds` in a fold sweep.
fn sample_words(d: &PairedDifference) -> String {
    let seeds = count(distinct(&d.seeds), "seed", "seeds");
    if d.folds >= 2 {
        format!("{seeds} × {}", count(d.folds, "fold", "folds"))
    } else {
        seeds
    }
}

/// "at both seeds", "at all 5 seeds", "at 3 of 5 seeds", "at 7 of 10 (seed, fold) pairs":
/// how many pairs put the loss on the side of its mean difference.
fn agreement(d: &PairedDifference) -> String {
    let pairs = pair_words(d);
    if d.mean == 0.0 {
        let above = d.differences.iter().filter(|&&x| x > 0.0).count();
        let below = d.differences.iter().filter(|&&x| x < 0.0).count();
        return format!(
            "it is above at {above} and below at {below} of {} {pairs}",
            d.n
        );
    }
    let same_side = d
        .differences
        .iter()
        .filter(|&&x| x != 0.0 && (x > 0.0) == (d.mean > 0.0))
        .count();
    match (same_side, d.n) {
        (2, 2) => format!("at both {pairs}"),
        (k, n) if k == n => format!("at all {n} {pairs}"),
        (k, n) => format!("at {k} of {n} {pairs}"),
    }
}

/// The sentence comparing one loss (or group) with the reference.
fn comparison_sentence(d: &PairedDifference, settings: &Settings) -> String {
    let name = who(&d.loss, &d.group);
    if units(d) <= 1 {
        return format!(
            "{name} has only one seed paired with {}; one seed is not evidence, so no comparison is made.",
            d.reference
        );
    }
    let points = 100.0 * d.mean.abs();
    let words = metric_words(&d.metric);
    let ahead = (d.mean > 0.0) == higher_is_better(&d.metric);
    let numbers = format!(
        "{}95% CI {:+.2} to {:+.2}; paired t-test p = {}, Holm-adjusted {}; P({} beats {} on a seed) = {:.2}, 95% CI {:.2} to {:.2}",
        "",
        100.0 * d.ci.map_or(f64::NAN, |c| c.0),
        100.0 * d.ci.map_or(f64::NAN, |c| c.1),
        p_number(d.p_value),
        p_number(d.p_adjusted),
        d.loss,
        d.reference,
        d.p_improvement,
        d.p_improvement_ci.0,
        d.p_improvement_ci.1,
    );
    match standing(d, settings.equivalence) {
        Standing::Better | Standing::Worse => format!(
            "{name} is {} {} by {points:.2} {words} points on average over {} ({}; {numbers}).",
            if ahead { "better than" } else { "worse than" },
            d.reference,
            sample_words(d),
            agreement(d)
        ),
        Standing::Equivalent => format!(
            "{name} and {} are equivalent within ±{:.2} {words} points: the 90% interval of the difference ({:+.2} to {:+.2}) lies inside that bound ({:+.2} points on average; {numbers}).",
            d.reference,
            100.0 * settings.equivalence.unwrap_or(f64::NAN),
            100.0 * d.ci90.map_or(f64::NAN, |c| c.0),
            100.0 * d.ci90.map_or(f64::NAN, |c| c.1),
            100.0 * d.mean,
        ),
        Standing::NotCalled => {
            let needed = match d.seeds_for_80_power {
                _ if d.mean == 0.0 => "with a mean difference of 0 no number of seeds shows a direction; to test whether the two are equivalent, set report.equivalence (in points)".to_string(),
                Some(k) if d.folds >= 2 => format!(
                    "about {k} seeds, each on all {} folds, would detect a difference of this size with {:.0}% power under the corrected resampled t-test: add seeds",
                    d.folds,
                    100.0 * TARGET_POWER
                ),
                None if d.folds >= 2 => format!(
                    "no number of seeds would: the {} folds share training data, so the corrected variance of the mean stays above σ²/{} however many seeds run; add folds (a larger data.folds), not seeds",
                    d.folds,
                    d.folds - 1
                ),
                Some(k) => format!(
                    "about {k} seeds would detect a difference of this size with {:.0}% power",
                    100.0 * TARGET_POWER
                ),
                None => format!(
                    "a difference this small against this spread would take more than {} seeds to detect",
                    super::stats::MAX_SEEDS
                ),
            };
            let min_effect = match (settings.min_effect, d.seeds_for_min_effect) {
                (Some(e), Some(k)) => format!(
                    ", and about {k} one of {:.2} points (report.min_effect)",
                    100.0 * e
                ),
                _ => String::new(),
            };
            let direction = if d.mean == 0.0 {
                format!("shows no mean difference from {} in {words};", d.reference)
            } else {
                format!(
                    "{} {} by {points:.2} {words} points",
                    if ahead { "leads" } else { "trails" },
                    d.reference
                )
            };
            format!(
                "{name} {direction} {} ({numbers}); {} cannot establish {}: {needed}{min_effect}.",
                agreement(d),
                sample_words(d),
                if d.mean == 0.0 { "where it lies" } else { "this" },
            )
        }
    }
}

/// `0.0312`, or `< 0.0001`.
fn p_number(p: f64) -> String {
    if p < 1e-4 {
        "< 0.0001".to_string()
    } else {
        format!("{p:.4}")
    }
}

/// The command that runs the sweep with `target` seeds in all: the seeds it has, then the
/// next integers after the largest, after the `--set` arguments it was run with (but one
/// that set the seeds), each quoted for a POSIX shell.
fn add_seeds_command(sweep_file: &str, sets: &[String], seeds: &[i64], target: usize) -> String {
    let mut all: Vec<i64> = seeds.to_vec();
    all.sort_unstable();
    all.dedup();
    let mut next = all.last().copied().unwrap_or(0) + 1;
    while all.len() < target {
        all.push(next);
        next += 1;
    }
    let list: Vec<String> = all.iter().map(i64::to_string).collect();
    let kept = sets.iter().filter(|set| {
        let key = set.split('=').next().unwrap_or_default().trim();
        !matches!(key, "grid.seed" | "grid.train.seed")
    });
    let repeated: String = kept
        .map(|set| format!(" --set '{}'", set.replace('\'', "'\\''")))
        .collect();
    format!(
        "lossbench run {sweep_file}{repeated} --set \"grid.seed=[{}]\"",
        list.join(", ")
    )
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
    let standing = standing(d, None);
    let against = format!(
        "against a paired {} difference from {} of {:+.2} points{ci}",
        metric_words(&d.metric),
        d.reference,
        100.0 * d.mean
    );
    let conclusion = match standing {
        Standing::Better => format!(
            "its {} advantage is real, and the binary accuracy overstates it by {:.2} accuracy points",
            metric_words(&d.metric),
            inflation.last_mean
        ),
        Standing::Worse => format!(
            "in {} it is worse, so any advantage it seems to have is the metric",
            metric_words(&d.metric)
        ),
        Standing::NotCalled | Standing::Equivalent => format!(
            "no advantage in {} is established at this number of seeds, so the apparent one is the metric",
            metric_words(&d.metric)
        ),
    };
    format!("{gap}, {against}; {conclusion}.")
}

/// The verdict on the losses against `reference`, written only from the numbers: which runs
/// were excluded; for each other loss whether it is better or worse (Holm-adjusted paired
/// t-test), equivalent (within the report's bound), or what the data show without settling
/// it; how much of `inflation`'s loss's apparent advantage is the metric; and the command
/// that adds the seeds the undecided comparisons need.
pub fn verdict(
    table: &[RunRow],
    summaries: &[LossSummary],
    differences: &[PairedDifference],
    inflation: Option<&Inflation>,
    reference: &str,
    settings: &Settings,
) -> Verdict {
    let mut sentences = vec![exclusion_sentence(table)];
    let mut losses: Vec<&str> = Vec::new();
    for row in table {
        if !losses.contains(&row.loss.as_str()) {
            losses.push(&row.loss);
        }
    }
    let one_seed = summaries.iter().all(|s| distinct(&s.seeds) <= 1)
        && differences.iter().all(|d| d.folds < 2);
    let has_reference = summaries.iter().any(|s| s.loss == reference);
    let mut compared: Vec<&PairedDifference> = Vec::new();
    if summaries.is_empty() {
        sentences.push("No run has a final value, so nothing is compared.".to_string());
    } else if one_seed {
        sentences.push(
            "Every loss has only one seed here; one seed is not evidence, so no comparison is made: a second seed gives each difference an interval, and its spread tells how many seeds a comparison needs.".to_string(),
        );
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
                sentences.push(comparison_sentence(d, settings));
                compared.push(d);
            }
        }
        if let Some(d) = compared.iter().find(|d| d.folds >= 2) {
            sentences.push(format!(
                "Over folds, the intervals and p-values are the corrected resampled t-test's (Nadeau & Bengio 2003; Bouckaert & Frank 2004): the {} folds' training sets overlap, so the variance of the mean difference is taken as (1/n + 1/{})·σ² over the n (seed, fold) pairs, not σ²/n.",
                d.folds,
                d.folds - 1
            ));
        }
        if compared.len() > 1 {
            sentences.push(format!(
                "The p-values are adjusted for the {} comparisons with {reference} by Holm's method; a comparison is called only when its adjusted p is below {ALPHA}.",
                compared.len()
            ));
        }
    }
    if let Some(inflation) = inflation {
        let difference = if one_seed {
            None
        } else {
            compared.iter().copied().find(|d| d.loss == inflation.loss)
        };
        sentences.push(inflation_sentence(inflation, difference));
    }
    let undecided: Vec<&PairedDifference> = compared
        .iter()
        .copied()
        .filter(|d| units(d) > 1 && standing(d, settings.equivalence) == Standing::NotCalled)
        .collect();
    let target = undecided
        .iter()
        .filter_map(|d| d.seeds_for_80_power)
        .filter(|&k| k <= PRACTICAL_SEEDS)
        .max();
    let add_seeds = match (target, &settings.sweep_file) {
        (Some(k), Some(file)) if k > distinct(&undecided[0].seeds) => {
            let seeds: Vec<i64> = undecided.iter().flat_map(|d| d.seeds.clone()).collect();
            let command = add_seeds_command(file, &settings.sweep_sets, &seeds, k);
            sentences.push(format!(
                "To settle every undecided comparison that {PRACTICAL_SEEDS} seeds or fewer can settle, run {k} seeds: `{command}` (the runs that finished are kept; only the new seeds train)."
            ));
            Some(command)
        }
        _ => None,
    };
    Verdict {
        text: sentences.join(" "),
        add_seeds,
    }
}

/// The most seeds the verdict's command proposes.
pub const PRACTICAL_SEEDS: usize = 50;
