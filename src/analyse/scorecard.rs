//! Every loss against every metric: per metric, each loss's final mean over its seeds, its
//! 95% t-interval and its rank; each loss against the reference loss on every metric, the
//! paired t-test's p-values Holm-adjusted over all those loss × metric comparisons at once;
//! and the sentence that names where the ranking changes between the primary metric (the
//! one the headline is about) and the others.

use serde::Serialize;

use super::findings::{paired_differences, summarise};
use super::runs::Runs;
use super::stats::holm;
use super::{higher_is_better, AnalyseError, ALPHA, SUMMARY_METRICS};
use crate::metrics::{test_metric, validation_metric};

/// One loss on one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    pub metric: String,
    pub loss: String,
    /// Runs with a finite final value.
    pub n: usize,
    pub mean: f64,
    /// The 95% t-interval of the mean, clipped to the metric's range.
    pub ci: Option<(f64, f64)>,
    /// Whether the interval reached past the metric's range and was clipped to it.
    pub ci_clipped: bool,
    /// 1 for the best mean of the metric (the largest or, for errors and distances, the
    /// smallest).
    pub rank: usize,
    /// Finished runs whose final value is NaN or infinite: counted, never averaged.
    pub not_finite: usize,
}

/// One loss against the reference on one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub metric: String,
    pub loss: String,
    pub reference: String,
    pub n: usize,
    /// Mean of `loss − reference` over paired seeds.
    pub mean: f64,
    pub p_value: f64,
    /// Holm-adjusted over every comparison of the scorecard.
    pub p_holm: f64,
}

/// The loss × metric table and the comparisons behind the multi-metric verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scorecard {
    /// The metric that decides the headline.
    pub primary: String,
    /// The metrics of the table, the primary first.
    pub metrics: Vec<String>,
    pub cells: Vec<Cell>,
    pub comparisons: Vec<Comparison>,
    /// Where the ranking changes between the primary metric and the others, and which
    /// comparisons hold after Holm's adjustment.
    pub sentences: Vec<String>,
}

/// A metric's name in prose, short, whichever split its column is on.
pub fn metric_name(metric: &str) -> String {
    if let Some(val) = validation_metric(metric) {
        return metric_name(&val);
    }
    match metric {
        "val_miou" => "mIoU",
        "val_dice" => "mean Dice",
        "pixel_accuracy" => "pixel accuracy",
        "val_ece" => "ECE",
        "val_brier" => "Brier score",
        "val_nll" => "NLL",
        "val_hd95" => "HD95",
        "val_nsd" => "surface Dice",
        "val_biou" => "boundary IoU",
        other => other,
    }
    .to_string()
}

/// The cells of one metric, ranked.
fn cells(runs: &Runs, metric: &str) -> Result<Vec<Cell>, AnalyseError> {
    let summaries = summarise(runs, metric, &[])?;
    let better_up = higher_is_better(metric);
    let mut order: Vec<usize> = (0..summaries.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (summaries[a].mean, summaries[b].mean);
        if better_up {
            y.total_cmp(&x)
        } else {
            x.total_cmp(&y)
        }
    });
    let mut out: Vec<Cell> = summaries
        .iter()
        .map(|s| {
            let not_finite = runs
                .runs
                .iter()
                .filter(|r| r.is_done() && r.loss == s.loss)
                .filter(|r| matches!(r.last(metric), Ok(Some((_, v))) if !v.is_finite()))
                .count();
            Cell {
                metric: metric.to_string(),
                loss: s.loss.clone(),
                n: s.n,
                mean: s.mean,
                ci: s.ci,
                ci_clipped: s.ci_clipped,
                rank: 0,
                not_finite,
            }
        })
        .collect();
    for (rank, &i) in order.iter().enumerate() {
        out[i].rank = rank + 1;
    }
    Ok(out)
}

/// The scorecard of the sweep's losses on every summary metric the frame has, with
/// `primary` first, against `reference`; `None` when the frame has only the primary. The
/// metrics are on `primary`'s split: the test split's columns when `primary` is one.
pub fn scorecard(
    runs: &Runs,
    primary: &str,
    reference: &str,
) -> Result<Option<Scorecard>, AnalyseError> {
    let on_test = validation_metric(primary).is_some();
    let mut metrics = vec![primary.to_string()];
    metrics.extend(
        SUMMARY_METRICS
            .iter()
            .map(|m| {
                if on_test {
                    test_metric(m)
                } else {
                    m.to_string()
                }
            })
            .filter(|m| m != primary && runs.metrics.contains(m)),
    );
    if metrics.len() < 2 {
        return Ok(None);
    }
    let mut all_cells = Vec::new();
    let mut comparisons = Vec::new();
    for metric in &metrics {
        all_cells.extend(cells(runs, metric)?);
        for d in paired_differences(runs, metric, reference, &[], None)? {
            comparisons.push(Comparison {
                metric: metric.clone(),
                loss: d.loss,
                reference: d.reference,
                n: d.n,
                mean: d.mean,
                p_value: d.p_value,
                p_holm: 1.0,
            });
        }
    }
    let adjusted = holm(&comparisons.iter().map(|c| c.p_value).collect::<Vec<_>>());
    for (c, p) in comparisons.iter_mut().zip(adjusted) {
        c.p_holm = p;
    }
    let sentences = sentences(primary, &metrics, &all_cells, &comparisons, reference);
    Ok(Some(Scorecard {
        primary: primary.to_string(),
        metrics,
        cells: all_cells,
        comparisons,
        sentences,
    }))
}

/// A value as the sentences write it: scores and errors to 3 decimals, distances to 2.
fn value(metric: &str, v: f64) -> String {
    if metric.ends_with("hd95") {
        format!("{v:.2} px")
    } else {
        format!("{v:.3}")
    }
}

fn sentences(
    primary: &str,
    metrics: &[String],
    cells: &[Cell],
    comparisons: &[Comparison],
    reference: &str,
) -> Vec<String> {
    let of = |metric: &str| -> Vec<&Cell> { cells.iter().filter(|c| c.metric == metric).collect() };
    let mut out = Vec::new();
    let primary_cells = of(primary);
    let Some(leader) = primary_cells.iter().find(|c| c.rank == 1) else {
        return out;
    };
    let losses = primary_cells.len();
    let mut changes = Vec::new();
    let mut kept = Vec::new();
    for metric in metrics.iter().filter(|m| m.as_str() != primary) {
        let here = of(metric);
        let (Some(mine), Some(best)) = (
            here.iter().find(|c| c.loss == leader.loss),
            here.iter().find(|c| c.rank == 1),
        ) else {
            continue;
        };
        if mine.rank == 1 {
            kept.push(metric_name(metric));
        } else {
            changes.push(format!(
                "{} ranks {} of {} in {} ({} against {}'s {})",
                leader.loss,
                mine.rank,
                here.len(),
                metric_name(metric),
                value(metric, mine.mean),
                best.loss,
                value(metric, best.mean)
            ));
        }
    }
    let lead = format!(
        "{} leads in {} ({}, the primary metric, which decides the headline)",
        leader.loss,
        metric_name(primary),
        value(primary, leader.mean)
    );
    out.push(if losses < 2 {
        format!("With one loss there is no ranking: {lead}.")
    } else if changes.is_empty() {
        format!(
            "{lead} and also ranks first in every other metric ({}).",
            metrics[1..]
                .iter()
                .map(|m| metric_name(m))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        let stays = if kept.is_empty() {
            String::new()
        } else {
            format!("; it stays first in {}", kept.join(", "))
        };
        format!(
            "{lead}, but the ranking changes: {}{stays}.",
            changes.join("; ")
        )
    });
    let held: Vec<String> = comparisons
        .iter()
        .filter(|c| c.p_holm < ALPHA)
        .map(|c| {
            let ahead = (c.mean > 0.0) == higher_is_better(&c.metric);
            format!(
                "{} {} than {reference} in {} (difference {}, Holm-adjusted p = {:.3})",
                c.loss,
                if ahead { "better" } else { "worse" },
                metric_name(&c.metric),
                value(&c.metric, c.mean),
                c.p_holm
            )
        })
        .collect();
    out.push(if held.is_empty() {
        format!(
            "Over all {} loss × metric comparisons with {reference}, Holm-adjusted together, none is below {ALPHA}; the ranks above are what these seeds show, not established differences.",
            comparisons.len()
        )
    } else {
        format!(
            "Of the {} loss × metric comparisons with {reference}, Holm-adjusted together, {} {} at {ALPHA}: {}.",
            comparisons.len(),
            held.len(),
            if held.len() == 1 { "holds" } else { "hold" },
            held.join("; ")
        )
    });
    let not_finite: Vec<String> = cells
        .iter()
        .filter(|c| c.not_finite > 0)
        .map(|c| {
            format!(
                "{} of {} in {}",
                c.not_finite,
                c.loss,
                metric_name(&c.metric)
            )
        })
        .collect();
    if !not_finite.is_empty() {
        out.push(format!(
            "Runs whose final value is not finite are counted, not averaged: {}.",
            not_finite.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    /// Two losses × 3 seeds: `dice` leads in mIoU but is the worse calibrated.
    fn frame() -> DataFrame {
        let (mut id, mut loss, mut seed, mut miou, mut ece) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (l, base_miou, base_ece, k) in [("cce", 0.50, 0.04, 0.002), ("dice", 0.55, 0.21, 0.003)]
        {
            for s in 1..=3i64 {
                id.push(format!("{l}{s}"));
                loss.push(l.to_string());
                seed.push(s);
                miou.push(base_miou + k * s as f64);
                ece.push(base_ece + k * s as f64);
            }
        }
        let n = id.len();
        df!(
            "run_id" => id.clone(),
            "label" => id,
            "status" => vec!["done"; n],
            "loss" => loss,
            "seed" => seed,
            "epoch" => vec![1u32; n],
            "val_miou" => miou,
            "val_ece" => ece,
        )
        .expect("frame")
    }

    #[test]
    fn the_sentence_names_where_the_ranking_changes() {
        let runs = Runs::from_frame(&frame()).expect("runs");
        let card = scorecard(&runs, "val_miou", "cce")
            .expect("card")
            .expect("some");
        let rank = |m: &str, l: &str| {
            card.cells
                .iter()
                .find(|c| c.metric == m && c.loss == l)
                .map(|c| c.rank)
        };
        assert_eq!(
            (rank("val_miou", "dice"), rank("val_ece", "dice")),
            (Some(1), Some(2))
        );
        assert!(
            card.sentences[0].contains("dice leads in mIoU")
                && card.sentences[0]
                    .contains("dice ranks 2 of 2 in ECE (0.216 against cce's 0.044)"),
            "{}",
            card.sentences[0]
        );
        assert_eq!(card.comparisons.len(), 2, "one loss × two metrics");
    }

    #[test]
    fn holm_adjusts_over_every_loss_and_metric_together() {
        let runs = Runs::from_frame(&frame()).expect("runs");
        let card = scorecard(&runs, "val_miou", "cce")
            .expect("card")
            .expect("some");
        let raw: Vec<f64> = card.comparisons.iter().map(|c| c.p_value).collect();
        let adjusted: Vec<f64> = card.comparisons.iter().map(|c| c.p_holm).collect();
        assert_eq!(adjusted, holm(&raw));
        assert!(adjusted.iter().zip(&raw).all(|(a, r)| a >= r));
    }

    #[test]
    fn a_frame_with_only_the_primary_metric_has_no_scorecard() {
        let frame = frame().drop("val_ece").expect("drop");
        let runs = Runs::from_frame(&frame).expect("runs");
        assert!(scorecard(&runs, "val_miou", "cce").expect("card").is_none());
    }
}
