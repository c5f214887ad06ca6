//! The quality sections: calibration (a reliability diagram per loss, pooled over seeds),
//! boundaries (surface Dice, boundary IoU and HD95 per loss), and the summary table of
//! every loss against every metric with the multi-metric verdict.

use std::path::Path;

use crate::analyse::scorecard::metric_name;
use crate::analyse::{self, Runs, Scorecard};
use crate::metrics::calibration::BINS;
use crate::store::{quality_column, reliability_column, TEST, TEST_PREFIX, VAL};

use super::common::{figure, loss_order, CLIPPED, INTERVALS};
use super::html::{Cell, Section, Table};
use super::plots::{self, Bars, LineChart, Series};
use super::Colours;

/// The split the quality sections read: the test split when the analysis judges on it,
/// else validation.
#[derive(Clone, Copy, Debug)]
pub(super) struct On {
    /// The scalar columns' split prefix (`val`, `test`).
    split: &'static str,
    /// The per-class and reliability columns' prefix.
    class_prefix: &'static str,
    /// The split in prose.
    words: &'static str,
}

impl On {
    /// The split of the judged metric `metric`.
    pub(super) fn judged(metric: &str) -> Self {
        if crate::metrics::validation_metric(metric).is_some() {
            On {
                split: TEST,
                class_prefix: TEST_PREFIX,
                words: "test split",
            }
        } else {
            On {
                split: VAL,
                class_prefix: "",
                words: "validation split",
            }
        }
    }

    fn column(&self, name: &str) -> String {
        quality_column(self.split, name)
    }
}

/// The reliability curve of `loss`: per non-empty bin, pooled over the judged epochs of its
/// finished runs, the mean confidence and the accuracy; and the pixels pooled.
fn reliability(runs: &Runs, loss: &str, on: On) -> (Vec<(f64, f64)>, f64) {
    let mut points = Vec::new();
    let mut pixels = 0.0;
    for b in 0..BINS {
        let (mut count, mut confidence, mut correct) = (0.0, 0.0, 0.0);
        for run in runs.runs.iter().filter(|r| r.is_done() && r.loss == loss) {
            let last = |part: &str| {
                run.last(&reliability_column(on.class_prefix, part, b))
                    .ok()
                    .flatten()
                    .map(|(_, v)| v)
                    .filter(|v| v.is_finite())
            };
            if let (Some(n), Some(c), Some(a)) =
                (last("count"), last("confidence"), last("accuracy"))
            {
                if n > 0.0 {
                    count += n;
                    confidence += n * c;
                    correct += n * a;
                }
            }
        }
        if count > 0.0 {
            points.push((confidence / count, correct / count));
            pixels += count;
        }
    }
    (points, pixels)
}

/// The mean final value of `metric` per loss, in the study's order.
fn means(runs: &Runs, metric: &str, losses: &[String]) -> anyhow::Result<Vec<f64>> {
    let finals = analyse::finals(runs, metric)?;
    Ok(losses
        .iter()
        .map(|l| {
            let v: Vec<f64> = finals
                .iter()
                .filter(|f| &f.loss == l)
                .map(|f| f.value)
                .collect();
            if v.is_empty() {
                f64::NAN
            } else {
                analyse::mean(&v)
            }
        })
        .collect())
}

/// The 95% interval of each loss's mean final `metric` (in `losses`' order), clipped to the
/// metric's range as the tables give it; `None` below 2 runs.
fn intervals(
    runs: &Runs,
    metric: &str,
    losses: &[String],
) -> anyhow::Result<Vec<Option<(f64, f64)>>> {
    let summaries = analyse::summarise(runs, metric, &[])?;
    Ok(losses
        .iter()
        .map(|l| summaries.iter().find(|s| &s.loss == l).and_then(|s| s.ci))
        .collect())
}

/// Whether the frame has the quality columns of `on`'s split (frames written before them
/// have not).
pub(super) fn has_quality(runs: &Runs, on: On) -> bool {
    runs.metrics.iter().any(|m| m == &on.column("ece"))
}

/// The calibration section.
pub(super) fn calibration_section(
    runs: &Runs,
    on: On,
    dir: &Path,
    colours: &Colours,
) -> anyhow::Result<Section> {
    let losses = loss_order(runs);
    let mut series: Vec<Series> = losses
        .iter()
        .filter_map(|loss| {
            let (points, pixels) = reliability(runs, loss, on);
            (!points.is_empty()).then(|| Series {
                name: format!("{loss} ({pixels:.0} pixels)"),
                colour: colours.of(loss),
                points,
                band: vec![],
                dashed: false,
            })
        })
        .collect();
    series.push(Series {
        name: "perfect calibration".into(),
        colour: plotters::style::RGBColor(120, 120, 120),
        points: vec![(0.0, 0.0), (1.0, 1.0)],
        band: vec![],
        dashed: true,
    });
    let chart = LineChart {
        title: format!(
            "Reliability: accuracy against confidence ({}, judged weights, pooled over seeds)",
            on.words
        ),
        x_label: "confidence (largest probability), 15 equal-width bins".into(),
        y_label: "accuracy in the bin".into(),
        series,
        hlines: vec![],
        log_y: false,
        y_range: Some((0.0, 1.0)),
        whole_x: false,
    };
    plots::save(&chart, &dir.join("reliability"))?;
    let [ece, brier, nll] = ["ece", "brier", "nll"].map(|m| means(runs, &on.column(m), &losses));
    let (ece, brier, nll) = (ece?, brier?, nll?);
    let table = Table {
        header: vec!["loss".into(), "ECE".into(), "Brier".into(), "NLL".into()],
        rows: losses
            .iter()
            .enumerate()
            .map(|(i, l)| {
                vec![
                    Cell::Text(l.clone()),
                    Cell::Text(format!("{:.4}", ece[i])),
                    Cell::Text(format!("{:.4}", brier[i])),
                    Cell::Text(format!("{:.4}", nll[i])),
                ]
            })
            .collect(),
        row_classes: vec![],
    };
    Ok(Section {
        id: "calibration".into(),
        heading: "Calibration".into(),
        paragraphs: vec![
            format!("How far the network's confidence is from its accuracy, on the {} with each run's judged weights (its last epoch, or the one train.select kept). The probabilities are the run's own: the softmax for softmax losses, and for sigmoid losses (bce, bce_dice) the sigmoids normalised over the classes. ECE is the top-label expected calibration error in 15 equal-width confidence bins (torchmetrics' MulticlassCalibrationError, l1); Brier is Σ_c (p_c − y_c)² per pixel (0 to 2); NLL is −log p of the true class; all three lower is better, means over seeds. A curve below the diagonal is overconfident.", on.words),
        ],
        figures: vec![figure("reliability", "Reliability diagram per loss, pooled over seeds, with the diagonal of perfect calibration.".into())],
        tables: vec![table],
    })
}

/// The boundary section.
pub(super) fn boundary_section(
    runs: &Runs,
    on: On,
    dir: &Path,
    colours: &Colours,
    tolerance: f64,
) -> anyhow::Result<Section> {
    let losses = loss_order(runs);
    let metric = |m: &str| means(runs, &on.column(m), &losses);
    let (nsd, biou, hd95) = (metric("nsd")?, metric("biou")?, metric("hd95")?);
    let interval = |m: &str| intervals(runs, &on.column(m), &losses);
    let (nsd_ci, biou_ci, hd95_ci) = (interval("nsd")?, interval("biou")?, interval("hd95")?);
    let (both, one) = (
        metric("boundary_both_empty")?,
        metric("boundary_one_empty")?,
    );
    let scores = Bars {
        title: format!("Boundary scores at a tolerance of {tolerance} px ({}, judged weights, mean over seeds)", on.words),
        y_label: "score (higher is better)".into(),
        categories: vec!["surface Dice".into(), "boundary IoU".into()],
        groups: losses
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), colours.of(l), vec![nsd[i], biou[i]]))
            .collect(),
        intervals: (0..losses.len())
            .map(|i| vec![nsd_ci[i], biou_ci[i]])
            .collect(),
    };
    plots::save(&scores, &dir.join("boundary_scores"))?;
    let distance = Bars {
        title: format!(
            "95th-percentile Hausdorff distance ({}, judged weights, mean over seeds)",
            on.words
        ),
        y_label: "pixels (lower is better)".into(),
        categories: vec!["HD95".into()],
        groups: losses
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), colours.of(l), vec![hd95[i]]))
            .collect(),
        intervals: hd95_ci.iter().map(|ci| vec![*ci]).collect(),
    };
    plots::save(&distance, &dir.join("boundary_hd95"))?;
    let table = Table {
        header: vec![
            "loss".into(),
            "surface Dice".into(),
            "boundary IoU".into(),
            "HD95 (px)".into(),
            "image × class pairs empty in both (NaN, left out)".into(),
            "empty in one (HD95 ∞, left out; surface Dice 0)".into(),
        ],
        rows: losses
            .iter()
            .enumerate()
            .map(|(i, l)| {
                vec![
                    Cell::Text(l.clone()),
                    Cell::Text(format!("{:.4}", nsd[i])),
                    Cell::Text(format!("{:.4}", biou[i])),
                    Cell::Text(format!("{:.2}", hd95[i])),
                    Cell::Text(format!("{:.1}", both[i])),
                    Cell::Text(format!("{:.1}", one[i])),
                ]
            })
            .collect(),
        row_classes: vec![],
    };
    Ok(Section {
        id: "boundaries".into(),
        heading: "Boundaries".into(),
        paragraphs: vec![format!(
            "Overlap hides where the errors are; these metrics look at the contours, per image and class of the {} as MONAI computes them (compute_surface_dice, compute_hausdorff_distance with percentile 95; Euclidean, in pixels), then the mean over images and over the classes that have a value. The surface Dice counts the boundary pixels of prediction and truth within {tolerance} px of the other's boundary (report.boundary_tolerance); the boundary IoU (Cheng et al. 2021) is the IoU of the bands {tolerance} px wide inside each contour, over the whole split. An image × class pair that neither mask has is NaN and left out; one that only one mask has is an infinite HD95, left out of the HD95 mean and counted (the last two columns, mean per run), and a surface Dice of 0.",
            on.words
        )],
        figures: vec![
            figure("boundary_scores", "Surface Dice and boundary IoU per loss: the mean over seeds, and its 95% interval as a black bar (the t-interval, clipped to [0, 1]).".into()),
            figure("boundary_hd95", "HD95 per loss, in pixels: the mean over seeds, and its 95% interval as a black bar (the t-interval, clipped at 0).".into()),
        ],
        tables: vec![table],
    })
}

/// `[low, high]`, with [`CLIPPED`] after it when it was clipped to the metric's range.
fn interval(ci: Option<(f64, f64)>, clipped: bool, metric: &str) -> String {
    let digits = if metric.ends_with("hd95") { 2 } else { 4 };
    let mark = if clipped { CLIPPED } else { "" };
    ci.map_or_else(
        || "n/a".into(),
        |(l, h)| format!("[{l:.digits$}, {h:.digits$}]{mark}"),
    )
}

/// The summary table of every loss against every metric.
pub(super) fn summary_section(card: &Scorecard) -> Section {
    let mut losses: Vec<String> = Vec::new();
    for c in &card.cells {
        if !losses.contains(&c.loss) {
            losses.push(c.loss.clone());
        }
    }
    let mut header = vec!["loss".to_string()];
    header.extend(card.metrics.iter().map(|m| {
        let arrow = if analyse::higher_is_better(m) {
            "↑"
        } else {
            "↓"
        };
        format!("{} {arrow}", metric_name(m))
    }));
    let rows = losses
        .iter()
        .map(|loss| {
            let mut row = vec![Cell::Text(loss.clone())];
            for m in &card.metrics {
                let cell = card
                    .cells
                    .iter()
                    .find(|c| &c.metric == m && &c.loss == loss);
                let vs = card
                    .comparisons
                    .iter()
                    .find(|c| &c.metric == m && &c.loss == loss);
                let digits = if m.ends_with("hd95") { 2 } else { 4 };
                row.push(Cell::Text(match cell {
                    Some(c) => {
                        let mut text = format!(
                            "{:.digits$} {} (rank {}, n={})",
                            c.mean,
                            interval(c.ci, c.ci_clipped, m),
                            c.rank,
                            c.n
                        );
                        if let Some(v) = vs {
                            text.push_str(&format!("; Holm p = {:.3}", v.p_holm));
                        }
                        if c.not_finite > 0 {
                            text.push_str(&format!("; {} not finite", c.not_finite));
                        }
                        text
                    }
                    None => "n/a".into(),
                }));
            }
            row
        })
        .collect();
    Section {
        id: "scorecard".into(),
        heading: "Every loss against every metric".into(),
        paragraphs: {
            let mut p = vec![format!(
                "Final {} values: the mean over seeds, its 95% t-interval ({INTERVALS}), the rank among the losses (1 is best; ↑ higher is better, ↓ lower), the runs, and the paired t-test against {} Holm-adjusted over all {} loss × metric comparisons together. {} decides the headline; the others are reported beside it.",
                On::judged(&card.primary).words,
                card.comparisons.first().map_or("the reference", |c| c.reference.as_str()),
                card.comparisons.len(),
                metric_name(&card.primary)
            )];
            p.extend(card.sentences.iter().cloned());
            p
        },
        figures: vec![],
        tables: vec![Table {
            header,
            rows,
            row_classes: vec![],
        }],
    }
}
