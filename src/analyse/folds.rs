//! Cross-validation: per loss, the final metric on each fold (mean over seeds) and how much of
//! the spread of the runs comes from the fold and how much from the seed.
//!
//! The variance components come from a two-way random-effects ANOVA without replication on the
//! complete seed × fold table of each loss (one run per cell): `y = μ + seed + fold + ε`, with
//! σ²_seed = (MS_seed − MS_ε) / folds and σ²_fold = (MS_fold − MS_ε) / seeds, each floored at
//! 0 (the method-of-moments estimates). On small data the split often matters more than the
//! seed; this says how much for this sweep.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::runs::{final_runs, group_in_order, Runs};
use super::stats::mean;
use super::AnalyseError;

/// The frame column of the fold axis.
pub const FOLD_COLUMN: &str = "fold";

/// One loss under cross-validation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoldSummary {
    pub loss: String,
    /// `(fold, mean over its seeds, runs)`, by fold.
    pub per_fold: Vec<(String, f64, usize)>,
    /// Seeds that have a final value on every fold: the table the components come from.
    pub complete_seeds: usize,
    /// The variance components, when at least 2 seeds × 2 folds are complete.
    pub components: Option<Components>,
}

/// Variance of the final metric split into fold, seed and what is left (interaction and
/// noise), in metric units squared.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Components {
    pub fold: f64,
    pub seed: f64,
    pub residual: f64,
}

impl Components {
    /// The shares of the total of fold, seed and residual, in that order.
    pub fn shares(&self) -> [f64; 3] {
        let total = self.fold + self.seed + self.residual;
        if total > 0.0 {
            [self.fold / total, self.seed / total, self.residual / total]
        } else {
            [0.0; 3]
        }
    }
}

/// Per loss, the per-fold results and the variance components of the final `metric`; `None`
/// when the frame has no fold axis.
pub fn by_fold(runs: &Runs, metric: &str) -> Result<Option<Vec<FoldSummary>>, AnalyseError> {
    if !runs.axes.iter().any(|a| a == FOLD_COLUMN) {
        return Ok(None);
    }
    let finals = final_runs(runs, metric)?;
    let by_loss = group_in_order(finals, |(run, _)| run.loss.clone());
    let mut out = Vec::with_capacity(by_loss.len());
    for (loss, members) in by_loss {
        let mut cells: BTreeMap<(String, i64), f64> = BTreeMap::new();
        for (run, value) in &members {
            let fold = run.axis(FOLD_COLUMN).unwrap_or_default();
            cells.insert((fold, run.seed), *value);
        }
        let mut folds: Vec<String> = cells.keys().map(|(f, _)| f.clone()).collect();
        folds.sort_by_key(|f| (f.parse::<i64>().unwrap_or(i64::MAX), f.clone()));
        folds.dedup();
        let per_fold = folds
            .iter()
            .map(|f| {
                let values: Vec<f64> = cells
                    .iter()
                    .filter(|((fold, _), _)| fold == f)
                    .map(|(_, v)| *v)
                    .collect();
                (f.clone(), mean(&values), values.len())
            })
            .collect();
        let seeds: BTreeSet<i64> = cells.keys().map(|(_, s)| *s).collect();
        let complete: Vec<i64> = seeds
            .into_iter()
            .filter(|s| folds.iter().all(|f| cells.contains_key(&(f.clone(), *s))))
            .collect();
        let table: Vec<Vec<f64>> = complete
            .iter()
            .map(|s| folds.iter().map(|f| cells[&(f.clone(), *s)]).collect())
            .collect();
        out.push(FoldSummary {
            loss,
            per_fold,
            complete_seeds: complete.len(),
            components: components(&table),
        });
    }
    Ok(Some(out))
}

/// The variance components of a complete table `y[seed][fold]` (two-way random effects,
/// one observation per cell); `None` below 2 × 2.
pub fn components(y: &[Vec<f64>]) -> Option<Components> {
    let r = y.len();
    let c = y.first().map_or(0, Vec::len);
    if r < 2 || c < 2 || y.iter().any(|row| row.len() != c) {
        return None;
    }
    let grand = y.iter().flatten().sum::<f64>() / (r * c) as f64;
    let row_means: Vec<f64> = y
        .iter()
        .map(|row| row.iter().sum::<f64>() / c as f64)
        .collect();
    let col_means: Vec<f64> = (0..c)
        .map(|j| y.iter().map(|row| row[j]).sum::<f64>() / r as f64)
        .collect();
    let ms_seed =
        c as f64 * row_means.iter().map(|m| (m - grand).powi(2)).sum::<f64>() / (r - 1) as f64;
    let ms_fold =
        r as f64 * col_means.iter().map(|m| (m - grand).powi(2)).sum::<f64>() / (c - 1) as f64;
    let ss_error: f64 = y
        .iter()
        .enumerate()
        .flat_map(|(i, row)| {
            let (row_means, col_means) = (&row_means, &col_means);
            row.iter()
                .enumerate()
                .map(move |(j, v)| (v - row_means[i] - col_means[j] + grand).powi(2))
        })
        .sum();
    let ms_error = ss_error / ((r - 1) * (c - 1)) as f64;
    Some(Components {
        fold: ((ms_fold - ms_error) / r as f64).max(0.0),
        seed: ((ms_seed - ms_error) / c as f64).max(0.0),
        residual: ms_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyse::paired_differences;
    use polars::prelude::*;

    /// `(loss, seed, fold, final val_miou)`.
    type Row<'a> = (&'a str, i64, i64, f64);

    /// A one-epoch frame of done runs.
    fn frame(rows: &[Row]) -> DataFrame {
        let text = |f: &dyn Fn(&Row) -> String| -> Vec<String> { rows.iter().map(f).collect() };
        df!(
            "run_id" => text(&|r| format!("{}-{}-{}", r.0, r.1, r.2)),
            "label" => text(&|r| format!("loss={},seed={},fold={}", r.0, r.1, r.2)),
            "status" => text(&|_| "done".to_string()),
            "loss" => text(&|r| r.0.to_string()),
            "seed" => rows.iter().map(|r| r.1).collect::<Vec<i64>>(),
            "fold" => rows.iter().map(|r| r.2).collect::<Vec<i64>>(),
            "epoch" => vec![1u32; rows.len()],
            "val_miou" => rows.iter().map(|r| r.3).collect::<Vec<f64>>(),
        )
        .expect("frame")
    }

    #[test]
    fn components_of_a_table_that_varies_only_by_fold_are_all_fold() {
        let y = vec![vec![0.5, 0.7, 0.6], vec![0.5, 0.7, 0.6]];
        let c = components(&y).expect("2 × 3");
        assert!((c.fold - 0.01).abs() < 1e-12, "{c:?}");
        assert_eq!((c.seed, c.residual), (0.0, 0.0));
        assert_eq!(c.shares(), [1.0, 0.0, 0.0]);
    }

    #[test]
    fn components_match_a_hand_computed_two_way_anova() {
        // Seeds are rows, folds columns. Grand mean 5; row means 4, 6; column means 3, 5, 7.
        let y = vec![vec![2.0, 4.0, 6.0], vec![4.0, 6.0, 8.0]];
        let c = components(&y).expect("2 × 3");
        // MS_seed = 3·(1 + 1)/1 = 6, MS_fold = 2·(4 + 0 + 4)/2 = 8, MS_error = 0.
        assert!(
            (c.seed - 2.0).abs() < 1e-12 && (c.fold - 4.0).abs() < 1e-12,
            "{c:?}"
        );
        assert_eq!(c.residual, 0.0);
        let noisy = vec![vec![2.0, 4.5, 6.0], vec![4.0, 5.5, 8.0]];
        let n = components(&noisy).expect("2 × 3");
        assert!(n.residual > 0.0 && n.fold < c.fold, "{n:?}");
        assert!(components(&[vec![1.0, 2.0]]).is_none());
    }

    #[test]
    fn fold_axis_gives_per_fold_means_and_components_per_loss() {
        // loss, seed, fold, final value.
        let rows: Vec<(&str, i64, i64, f64)> = [("cce", 0.0), ("bce", 0.1)]
            .iter()
            .flat_map(|&(loss, shift)| {
                (1..=2).flat_map(move |seed| {
                    (0..3).map(move |fold| {
                        (
                            loss,
                            seed,
                            fold,
                            0.4 + 0.1 * fold as f64 + 0.01 * seed as f64 + shift,
                        )
                    })
                })
            })
            .collect();
        let table = frame(&rows);
        let runs = Runs::from_frame(&table).expect("runs");
        let folds = by_fold(&runs, "val_miou")
            .expect("ok")
            .expect("a fold axis");
        assert_eq!(folds.len(), 2);
        let bce = &folds[1];
        assert_eq!(bce.loss, "bce");
        assert_eq!(bce.per_fold.len(), 3);
        assert!(
            (bce.per_fold[2].1 - 0.715).abs() < 1e-9,
            "{:?}",
            bce.per_fold
        );
        assert_eq!(bce.complete_seeds, 2);
        let c = bce.components.expect("components");
        assert!(c.fold > 50.0 * c.seed, "{c:?}");
        let plain = frame(&[("cce", 1, 0, 0.5)]).drop("fold").expect("drop");
        assert!(
            by_fold(&Runs::from_frame(&plain).expect("runs"), "val_miou")
                .expect("ok")
                .is_none()
        );
    }

    #[test]
    fn paired_differences_pair_on_seed_and_fold() {
        let rows: Vec<(&str, i64, i64, f64)> = [("cce", 0.0), ("bce", 0.05)]
            .iter()
            .flat_map(|&(loss, shift)| {
                (1..=2).flat_map(move |seed| {
                    (0..3).map(move |fold| (loss, seed, fold, 0.3 * fold as f64 + shift))
                })
            })
            .collect();
        let runs = Runs::from_frame(&frame(&rows)).expect("runs");
        let d = paired_differences(&runs, "val_miou", "cce", &[], None).expect("pairs");
        assert_eq!(d.len(), 1);
        // 2 seeds × 3 folds pairs, each bce − cce on the same seed and fold: exactly 0.05,
        // though the folds differ by 0.3.
        assert_eq!(d[0].n, 6);
        assert!(
            d[0].differences.iter().all(|x| (x - 0.05).abs() < 1e-12),
            "{:?}",
            d[0].differences
        );
    }

    /// cce and dice over `seeds` × 5 folds, dice ahead by `shift` plus a wobble per pair.
    fn fold_rows(seeds: i64, shift: f64) -> Vec<Row<'static>> {
        let wobble = [
            0.02, -0.015, 0.01, -0.005, 0.0, 0.012, -0.02, 0.004, -0.01, 0.016,
        ];
        let mut rows = Vec::new();
        for seed in 1..=seeds {
            for fold in 0..5 {
                let base = 0.5 + 0.05 * fold as f64;
                rows.push(("cce", seed, fold, base));
                let w = wobble[((seed - 1) * 5 + fold) as usize % wobble.len()];
                rows.push(("dice", seed, fold, base + shift + w));
            }
        }
        rows
    }

    /// The verdict on `rows` against cce, and the difference it is written from.
    fn verdict_of(rows: &[Row]) -> (String, crate::analyse::PairedDifference) {
        let runs = Runs::from_frame(&frame(rows)).expect("runs");
        let table = crate::analyse::run_table(&runs, "val_miou").expect("table");
        let summaries = crate::analyse::summarise(&runs, "val_miou", &[]).expect("summaries");
        let d = paired_differences(&runs, "val_miou", "cce", &[], None).expect("pairs");
        let v = crate::analyse::verdict(&table, &summaries, &d, None, "cce", &Default::default());
        (v.text, d[0].clone())
    }

    #[test]
    fn fold_sweeps_use_the_corrected_resampled_t_test_and_count_seeds_and_folds_apart() {
        let runs = Runs::from_frame(&frame(&fold_rows(2, 0.005))).expect("runs");
        let d = &paired_differences(&runs, "val_miou", "cce", &[], None).expect("pairs")[0];
        assert_eq!((d.n, d.folds), (10, 5));
        assert!((d.correction - 0.25).abs() < 1e-12);
        let plain = crate::analyse::stats::t_interval(&d.differences, 0.95).expect("interval");
        let (low, high) = d.ci.expect("interval");
        let widening = (high - low) / (plain.1 - plain.0);
        assert!(
            (widening - (1.0f64 + 10.0 * 0.25).sqrt()).abs() < 1e-9,
            "{widening}"
        );
        let naive_p = crate::analyse::stats::paired_t_p_value(&d.differences).expect("p");
        assert!(d.p_value > naive_p, "{} against {naive_p}", d.p_value);

        let text = verdict_of(&fold_rows(2, 0.005)).0;
        let text = &text;
        assert!(text.contains("(seed, fold) pairs"), "{text}");
        assert!(
            text.contains("2 seeds × 5 folds cannot establish this"),
            "{text}"
        );
        assert!(text.contains("corrected resampled t-test"), "{text}");
        assert!(
            text.contains("add folds (a larger data.folds), not seeds"),
            "a 0.5-point difference against this spread is out of reach of seeds at 5 folds: {text}"
        );

        // A larger difference that more seeds can settle: the advice says to add seeds.
        let (text, d) = verdict_of(&fold_rows(1, 0.019));
        let text = &text;
        assert!(
            text.contains("1 seed × 5 folds") && !text.contains("only one seed"),
            "one seed over five folds is five pairs: {text}"
        );
        assert!(d.p_adjusted >= 0.05, "{d:?}");
        assert!(
            text.contains("each on all 5 folds") && text.contains("add seeds"),
            "{text}"
        );
    }
}
