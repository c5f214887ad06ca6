//! The report's cross-validation section: each loss's final mIoU on every fold (mean over
//! seeds) and the shares of the spread that come from the fold and from the seed.

use super::html::{Cell, Section, Table};
use crate::analyse::folds::FoldSummary;

/// The section of a sweep with a fold axis.
pub fn section(folds: &[FoldSummary]) -> Section {
    let names: Vec<String> = folds
        .first()
        .map(|f| f.per_fold.iter().map(|(fold, _, _)| fold.clone()).collect())
        .unwrap_or_default();
    let mut header = vec!["loss".to_string()];
    header.extend(names.iter().map(|n| format!("fold {n}")));
    header.extend(
        [
            "seeds on every fold",
            "SD from the fold",
            "SD from the seed",
            "residual SD",
            "share fold / seed / residual",
        ]
        .map(String::from),
    );
    let points = |v: f64| format!("{:.2}", 100.0 * v);
    let rows = folds
        .iter()
        .map(|f| {
            let mut row = vec![Cell::Text(f.loss.clone())];
            row.extend(names.iter().map(|n| {
                Cell::Text(
                    f.per_fold
                        .iter()
                        .find(|(fold, _, _)| fold == n)
                        .map_or_else(
                            || "n/a".into(),
                            |(_, m, k)| format!("{} (n={k})", points(*m)),
                        ),
                )
            }));
            row.push(Cell::Text(f.complete_seeds.to_string()));
            match f.components {
                Some(c) => {
                    let [fold, seed, residual] = c.shares();
                    row.extend([c.fold, c.seed, c.residual].map(|v| Cell::Text(points(v.sqrt()))));
                    row.push(Cell::Text(format!(
                        "{:.0}% / {:.0}% / {:.0}%",
                        100.0 * fold,
                        100.0 * seed,
                        100.0 * residual
                    )));
                }
                None => row.extend((0..4).map(|_| Cell::Text("n/a".into()))),
            }
            row
        })
        .collect();
    Section {
        id: "folds".into(),
        heading: "Cross-validation: folds and seeds".into(),
        paragraphs: vec![
            "Each fold validates on its own part of the images, so the folds' columns hold different validation sets; paired comparisons pair runs on the same seed and fold. The final mIoU per fold is the mean over its seeds, in points.".into(),
            "How much of the spread of a loss's runs comes from the fold and how much from the seed: variance components of a two-way random-effects ANOVA on the complete seed × fold table (one run per cell, estimates floored at 0), shown as standard deviations in mIoU points and as shares of the total. The residual is what neither explains (their interaction and noise). They need at least 2 seeds on every fold of at least 2 folds.".into(),
        ],
        figures: vec![],
        tables: vec![Table {
            header,
            rows,
            row_classes: vec![],
        }],
    }
}
