//! The gradients section: the gradient norm per epoch and each loss's share per class.

use std::path::Path;

use crate::analyse::{self, Runs};

use super::common::{band_words, figure, loss_order, named, series};
use super::html::Section;
use super::plots::{self, LineChart};
use super::Colours;

pub(super) fn section(
    runs: &Runs,
    dir: &Path,
    class_names: &[String],
    colours: &Colours,
) -> anyhow::Result<Section> {
    let bands = analyse::bands(runs, "grad_norm", &[])?;
    let chart = LineChart {
        title: "Gradient norm per epoch".into(),
        x_label: "epoch".into(),
        y_label: "L2 norm of the gradient (log scale)".into(),
        series: named(&bands)
            .into_iter()
            .map(|(n, b)| series(b, n, false, colours))
            .collect(),
        hlines: vec![],
        log_y: true,
        y_range: None,
        whole_x: true,
    };
    plots::save(&chart, &dir.join("grad_norm"))?;
    let mut figures = vec![figure(
        "grad_norm",
        "Mean L2 norm of the whole gradient over each epoch's steps (after loss.scale).".into(),
    )];
    let share_metrics: Vec<String> = (0..class_names.len())
        .map(|k| format!("grad_share_{k}"))
        .collect();
    if share_metrics.iter().all(|m| runs.metrics.contains(m)) {
        for (stem, which, title) in [
            ("grad_share_first", 0, "epoch 1"),
            ("grad_share_last", 1, "the last epoch"),
        ] {
            let mut groups = Vec::new();
            for loss in loss_order(runs) {
                let mut values = Vec::new();
                for m in &share_metrics {
                    let per_run: Vec<f64> = runs
                        .runs
                        .iter()
                        .filter(|r| r.is_done() && r.loss == loss)
                        .filter_map(|r| {
                            let series = r.metric(m).ok()?;
                            if which == 0 {
                                series.first().copied()
                            } else {
                                series.last().copied()
                            }
                        })
                        .filter(|v| v.is_finite())
                        .collect();
                    values.push(if per_run.is_empty() {
                        f64::NAN
                    } else {
                        analyse::mean(&per_run)
                    });
                }
                groups.push((loss.clone(), colours.of(&loss), values));
            }
            let bars = plots::Bars {
                title: format!("Where each loss pushes at {title}: share of |∂loss/∂z| per class"),
                y_label: "share of the gradient magnitude".into(),
                categories: class_names.to_vec(),
                groups,
                intervals: vec![],
            };
            plots::save(&bars, &dir.join(stem))?;
            figures.push(figure(stem, format!("Per class, the share of the summed |∂loss/∂logits| over that class's pixels, on a fixed validation batch, at {title} (mean over seeds).")));
        }
    }
    Ok(Section {
        id: "gradients".into(),
        heading: "Gradients".into(),
        paragraphs: vec![band_words(&bands)],
        figures,
        tables: vec![],
    })
}
