//! The tuning section of a tuned sweep's report: how the comparison was made (in one
//! sentence), each loss's validation score against each tuned key (every trial a point,
//! the rungs told apart by shade and named in the legend), the chosen settings with the
//! compute spent, and, beside the untuned grid, how much of each difference tuning removed.

use std::path::Path;

use plotters::style::RGBColor;

use crate::analyse::{self, Runs};
use crate::store::{self, Tuning};

use super::common::figure;
use super::html::{Cell, Section, Table};
use super::plots::{self, PointGroup, Scatter};
use super::Colours;

/// `colour` mixed with white: `share` 0 is the colour, 1 white.
fn lighter(colour: RGBColor, share: f64) -> RGBColor {
    let mix = |c: u8| (f64::from(c) + (255.0 - f64::from(c)) * share).round() as u8;
    RGBColor(mix(colour.0), mix(colour.1), mix(colour.2))
}

/// The sentence that says how the comparison was made.
pub(super) fn method(tuning: &Tuning, judged_on_test: bool) -> String {
    let scheduler = if tuning.scheduler == "full" {
        "each trained in full".to_string()
    } else {
        format!("by {}", tuning.scheduler)
    };
    let groups = tuning.choices.len();
    format!(
        "Each of the {groups} grid point{} (each loss{}) was tuned on its own over {} candidate setting{} of {} ({} sampler), {scheduler}, on the validation split ({}, mean over {} tuning seed{}: {}); then trained at its chosen setting on {} fresh seed{} ({}), judged on the {} split.",
        if groups == 1 { "" } else { "s" },
        if tuning.choices.iter().any(|c| c.group.contains(',')) { " at each setting of the other axes" } else { "" },
        tuning.candidates,
        if tuning.candidates == 1 { "" } else { "s" },
        tuning.keys.join(", "),
        tuning.sampler,
        tuning.metric,
        tuning.seeds.len(),
        if tuning.seeds.len() == 1 { "" } else { "s" },
        join(&tuning.seeds),
        tuning.final_seeds.len(),
        if tuning.final_seeds.len() == 1 { "" } else { "s" },
        join(&tuning.final_seeds),
        if judged_on_test { "held-out test" } else { "validation" },
    )
}

fn join(seeds: &[i64]) -> String {
    seeds
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tuning section of the results folder `results`, `None` when the sweep was not tuned.
pub(super) fn section(
    results: &Path,
    runs: &Runs,
    metric: &str,
    reference: &str,
    dir: &Path,
    colours: &Colours,
) -> anyhow::Result<Option<Section>> {
    let Some(tuning) = store::read_tuning(results)? else {
        return Ok(None);
    };
    let judged_on_test = crate::metrics::validation_metric(metric).is_some();
    let mut paragraphs = vec![method(&tuning, judged_on_test)];
    paragraphs.push(format!(
        "The tuning trained {} run-epochs; a full grid of the same {} candidates on the same seeds would have trained {} ({:.0}% of it).",
        tuning.run_epochs,
        tuning.candidates,
        tuning.full_grid_run_epochs,
        100.0 * tuning.run_epochs as f64 / tuning.full_grid_run_epochs.max(1) as f64
    ));
    if let Some(folder) = &tuning.untuned {
        let frame = results.join(folder).join("metrics.parquet");
        if frame.exists() {
            let untuned = Runs::from_frame(&store::read_parquet(&frame)?)?;
            let effects = analyse::tuning::effects(runs, &untuned, metric, reference)?;
            if effects.is_empty() {
                paragraphs.push(format!(
                    "The untuned grid ({folder}) has no pair of runs to compare with {reference}."
                ));
            } else {
                paragraphs.push(format!(
                    "Against the same grid untuned ([base]'s settings, the same final seeds; results in {folder}/), in {}:",
                    analyse::verdict::metric_words(metric)
                ));
                paragraphs.extend(effects.iter().map(analyse::tuning::sentence));
            }
        }
    }
    let rungs = tuning.trials.iter().map(|t| t.rung).max().unwrap_or(0) + 1;
    let mut figures = Vec::new();
    for (k, key) in tuning.keys.iter().enumerate() {
        let numeric = tuning.trials.iter().all(|t| t.values[k].is_finite());
        if !numeric {
            continue;
        }
        let log_x = tuning.log_scale.get(k).copied().unwrap_or(false)
            || tuning.trials.iter().all(|t| t.values[k] > 0.0) && {
                let (lo, hi) = tuning
                    .trials
                    .iter()
                    .fold((f64::MAX, 0.0f64), |(lo, hi), t| {
                        (lo.min(t.values[k]), hi.max(t.values[k]))
                    });
                hi / lo >= 100.0
            };
        let mut losses: Vec<String> = Vec::new();
        for t in &tuning.trials {
            if !losses.contains(&t.group) {
                losses.push(t.group.clone());
            }
        }
        let mut groups = Vec::new();
        for group in &losses {
            for rung in 0..rungs {
                let trials: Vec<_> = tuning
                    .trials
                    .iter()
                    .filter(|t| &t.group == group && t.rung == rung)
                    .collect();
                let Some(first) = trials.first() else {
                    continue;
                };
                // Rungs side by side: a small shift, multiplicative on a log axis.
                let shift = (rung as f64 - (rungs - 1) as f64 / 2.0) * 0.04;
                groups.push(PointGroup {
                    name: format!(
                        "{group}, rung {rung} ({} epoch{})",
                        first.epochs,
                        if first.epochs == 1 { "" } else { "s" }
                    ),
                    colour: lighter(
                        colours.of(&first.loss),
                        0.6 * (rungs - 1 - rung) as f64 / (rungs.max(2) - 1) as f64,
                    ),
                    points: trials
                        .iter()
                        .filter_map(|t| {
                            let x = t.values[k];
                            let x = if log_x { x * 10f64.powf(shift) } else { x };
                            t.score.map(|s| (x, s))
                        })
                        .collect(),
                    intervals: vec![],
                });
            }
        }
        let stem = format!("tuning_{k}");
        let chart = Scatter {
            title: format!(
                "Validation {} against {key}, every trial",
                analyse::scorecard::metric_name(&tuning.metric)
            ),
            x_label: format!("{key}{}", if log_x { " (log scale)" } else { "" }),
            y_label: format!("validation {} at the judged epoch", tuning.metric),
            categories: vec![],
            log_x,
            y_range: None,
            groups,
        };
        plots::save(&chart, &dir.join(&stem))?;
        figures.push(figure(
            &stem,
            "Each trial (one candidate, one tuning seed, one rung) as a point; later rungs darker. Diverged trials are left out.".to_string(),
        ));
    }
    let mut header = vec!["grid point".to_string()];
    header.extend(tuning.keys.iter().map(|k| format!("chosen {k}")));
    header.push(format!("tuning {} (mean over tuning seeds)", tuning.metric));
    header.push("run-epochs".into());
    let rows = tuning
        .choices
        .iter()
        .map(|c| {
            let mut row = vec![Cell::Text(c.group.clone())];
            row.extend(c.labels.iter().map(|l| Cell::Text(l.clone())));
            row.push(Cell::Text(c.score.map_or_else(
                || "every candidate diverged".to_string(),
                |s| format!("{s:.4}"),
            )));
            row.push(Cell::Text(c.run_epochs.to_string()));
            row
        })
        .collect();
    Ok(Some(Section {
        id: "tuning".into(),
        heading: "Tuning".into(),
        paragraphs,
        figures,
        tables: vec![Table {
            header,
            rows,
            row_classes: vec![],
        }],
    }))
}
