//! The findings section: the final judged metric (mIoU unless `report.metric` names another) per loss, the gradient-scale control, paired differences.

use std::path::Path;

use crate::analyse::{self, Analysis, Runs};

use super::common::{figure, CLIPPED, INTERVALS};
use super::html::{Cell, Section, Table};
use super::plots::{self, PointGroup, Scatter};
use super::Colours;

/// `(x, mean, low, high)` of a summary's mean and its 95% t-interval, for a scatter.
fn mean_interval(s: &analyse::LossSummary, x: f64) -> (f64, f64, f64, f64) {
    let (low, high) = s.ci.unwrap_or((s.mean, s.mean));
    (x, s.mean, low, high)
}

/// `[low, high]`, with [`CLIPPED`] after it when it was clipped to the metric's range.
fn interval(ci: Option<(f64, f64)>, clipped: bool) -> String {
    let mark = if clipped { CLIPPED } else { "" };
    ci.map_or_else(
        || "n/a".to_string(),
        |(l, h)| format!("[{l:.4}, {h:.4}]{mark}"),
    )
}

fn group_text(group: &[(String, String)]) -> String {
    group
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn section(
    analysis: &Analysis,
    runs: &Runs,
    dir: &Path,
    group_by: &[&str],
    colours: &Colours,
) -> anyhow::Result<Section> {
    let pooled = analyse::summarise(runs, &analysis.metric, &[])?;
    let finals = analyse::finals(runs, &analysis.metric)?;
    // The judged metric in prose (`mIoU`, `ECE`, ...), whichever split it is on.
    let (split, base) = match crate::metrics::validation_metric(&analysis.metric) {
        Some(val) => ("test", val),
        None => ("validation", analysis.metric.clone()),
    };
    let name = analyse::scorecard::metric_name(&base);
    let at = if split == "test" {
        format!("{name} on the test split")
    } else {
        format!("{name} at the final epoch")
    };
    // Scores and calibration errors lie in [0, 1]; distances and the NLL do not.
    let y_range = (!matches!(base.as_str(), "val_hd95" | "val_nll")).then_some((0.0, 1.0));
    let categories: Vec<String> = pooled.iter().map(|s| s.loss.clone()).collect();
    let groups = pooled
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let values: Vec<&analyse::Final> = finals.iter().filter(|f| f.loss == s.loss).collect();
            let n = values.len().max(1) as f64;
            PointGroup {
                name: format!("{} (n={})", s.loss, s.n),
                colour: colours.of(&s.loss),
                points: values
                    .iter()
                    .enumerate()
                    .map(|(j, f)| (i as f64 - 0.15 + 0.3 * j as f64 / n, f.value))
                    .collect(),
                intervals: vec![mean_interval(s, i as f64 + 0.2)],
            }
        })
        .collect();
    let chart = Scatter {
        title: format!("Final {split} {name} per loss"),
        x_label: "loss".into(),
        y_label: at.clone(),
        categories,
        log_x: false,
        y_range,
        groups,
    };
    plots::save(&chart, &dir.join("final_miou"))?;
    let mut figures = vec![figure(
        "final_miou",
        "Every seed as a dot; the cross and bar are the mean and its 95% t-interval (Student's t over the seeds)."
            .into(),
    )];
    if !group_by.is_empty() {
        let categories: Vec<String> = analysis
            .summaries
            .iter()
            .map(|s| format!("{} {}", s.loss, group_text(&s.group)))
            .collect();
        let groups = analysis
            .summaries
            .iter()
            .enumerate()
            .map(|(i, s)| PointGroup {
                name: String::new(),
                colour: colours.of(&s.loss),
                points: s.values.iter().map(|v| (i as f64 - 0.15, *v)).collect(),
                intervals: vec![mean_interval(s, i as f64 + 0.15)],
            })
            .collect();
        let chart = Scatter {
            title: format!("Final {name} per loss × {}", group_by.join(" × ")),
            x_label: String::new(),
            y_label: at.clone(),
            categories,
            log_x: false,
            y_range,
            groups,
        };
        plots::save(&chart, &dir.join("final_miou_control"))?;
        figures.push(figure(
            "final_miou_control",
            format!(
                "Final {name} per loss and {}: the gradient-scale control.",
                group_by.join(" and ")
            ),
        ));
    }
    let summary = Table {
        header: [
            "loss",
            "group",
            "seeds",
            "mean ± std",
            "IQM",
            "95% t-interval",
        ]
        .map(String::from)
        .to_vec(),
        rows: analysis
            .summaries
            .iter()
            .map(|s| {
                vec![
                    Cell::Text(s.loss.clone()),
                    Cell::Text(group_text(&s.group)),
                    Cell::Text(s.n.to_string()),
                    Cell::Text(match s.std {
                        Some(sd) => format!("{:.4} ± {sd:.4}", s.mean),
                        None => format!("{:.4}", s.mean),
                    }),
                    Cell::Text(format!("{:.4}", s.iqm)),
                    Cell::Text(interval(s.ci, s.ci_clipped)),
                ]
            })
            .collect(),
        row_classes: vec![],
    };
    let paired = Table {
        header: [
            "loss",
            "against",
            "group",
            "paired seeds",
            "mean difference",
            "95% paired t-interval",
            "paired t p",
            "Holm-adjusted p",
            "sign-flip p",
            "P(beats reference) [95% CI]",
            "seeds for 80% power",
        ]
        .map(String::from)
        .to_vec(),
        rows: analysis
            .differences
            .iter()
            .map(|d| {
                vec![
                    Cell::Text(d.loss.clone()),
                    Cell::Text(d.reference.clone()),
                    Cell::Text(group_text(&d.group)),
                    Cell::Text(d.n.to_string()),
                    Cell::Text(format!("{:+.4}", d.mean)),
                    Cell::Text(interval(d.ci, false)),
                    Cell::Text(format!("{:.4}", d.p_value)),
                    Cell::Text(format!("{:.4}", d.p_adjusted)),
                    Cell::Text(format!(
                        "{:.4}{}",
                        d.sign_flip_p_value,
                        if d.n <= analyse::stats::EXACT_FLIPS_UP_TO {
                            " (exact)"
                        } else {
                            ""
                        }
                    )),
                    Cell::Text(format!(
                        "{:.2} [{:.2}, {:.2}]",
                        d.p_improvement, d.p_improvement_ci.0, d.p_improvement_ci.1
                    )),
                    Cell::Text(
                        d.seeds_for_80_power
                            .map_or_else(|| "> 10000".to_string(), |k| k.to_string()),
                    ),
                ]
            })
            .collect(),
        row_classes: vec![],
    };
    let mut tables = vec![summary, paired];
    if let Some(inf) = &analysis.inflation {
        tables.push(Table {
            header: [
                "loss",
                "runs",
                "binary − pixel accuracy at epoch 1 (points)",
                "at the last epoch (points)",
            ]
            .map(String::from)
            .to_vec(),
            rows: vec![vec![
                Cell::Text(inf.loss.clone()),
                Cell::Text(inf.n.to_string()),
                Cell::Text(format!("{:.2}", inf.first_mean)),
                Cell::Text(format!("{:.2}", inf.last_mean)),
            ]],
            row_classes: vec![],
        });
    }
    Ok(Section {
        id: "findings".into(),
        heading: format!("Final {split} {name} and paired differences"),
        paragraphs: vec![format!(
            "{} Final = the selected (else the last) epoch of each run that finished. Differences are paired: each loss against {} on the same seed (and the same other settings). A loss's 95% interval is the {INTERVALS}; a difference's is the paired t-interval (a difference may be negative); the comparison is called on the paired t-test's p after Holm's adjustment over the comparisons, and the exact sign-flip test is shown beside it.",
            analysis.judged_on, analysis.reference
        )],
        figures,
        tables,
    })
}
