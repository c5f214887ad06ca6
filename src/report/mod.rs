//! The report: reads a sweep's results folder (its frame, `sweep.json`, `dataset.json` and
//! the example predictions) and writes `plots/<sweep>/index.html` with every figure as PNG
//! and SVG beside it, and `findings.json` with the numbers the page states. It never
//! retrains: everything comes from what the runs recorded.

pub mod examples;
pub mod folds;
pub mod html;
pub mod plots;

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context};

use crate::analyse::{self, Analysis, Band, BandKind, Runs};
use crate::losses::Loss;
use crate::store::{self, DatasetInfo, SweepInfo};
use html::{Cell, FigureRef, Page, Section, Table};
use plots::{LineChart, PointGroup, Scatter, Series, SmallMultiples};

/// Axes that, when the sweep has them, split the final mIoU per loss (the gradient-scale
/// control).
const CONTROL_AXES: [&str; 2] = ["optim.name", "loss.scale"];

/// Each loss's colour, the same in every figure of a report: the sweep's losses in order
/// ([`loss_order`]) take the palette's colours in turn.
pub struct Colours {
    order: Vec<String>,
}

impl Colours {
    /// The colours of the losses of `runs`.
    pub fn new(runs: &Runs) -> Self {
        Colours {
            order: loss_order(runs),
        }
    }

    /// The colour of `loss`.
    pub fn of(&self, loss: &str) -> plotters::style::RGBColor {
        let index = self.order.iter().position(|l| l == loss);
        plots::colour(index.unwrap_or(self.order.len()))
    }
}

/// Builds the report of the sweep in `results` (a `results/<sweep>` folder) into `out`, or
/// into the sweep's plots folder; returns the path of `index.html`.
pub fn build(results: &Path, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    let info = store::read_sweep_info(results)?;
    let dataset = store::read_dataset_info(results).ok();
    let frame = store::read_parquet(&results.join("metrics.parquet"))?;
    let runs = Runs::from_frame(&frame)?;
    if !runs.runs.iter().any(|r| r.is_done()) {
        bail!(
            "{} has no finished run, so there is nothing to report; run the sweep first (lossbench run <sweep.toml>)",
            results.display()
        );
    }
    let dir = out.map_or_else(|| info.plots_dir.clone(), Path::to_path_buf);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let group_by: Vec<&str> = CONTROL_AXES
        .into_iter()
        .filter(|a| info.axes.iter().any(|x| x == a))
        .collect();
    let analysis = analyse::analyse(&frame, &group_by, &settings(&info))?;
    store::write_atomic(
        &dir.join("findings.json"),
        &serde_json::to_vec_pretty(&analysis)?,
    )?;

    let classes = dataset
        .as_ref()
        .map_or_else(|| class_count(&runs), |d| d.class_names.len());
    let class_names: Vec<String> = dataset.as_ref().map_or_else(
        || (0..classes).map(|k| format!("class {k}")).collect(),
        |d| d.class_names.clone(),
    );
    let colours = Colours::new(&runs);
    let mut sections = Vec::new();
    sections.push(loss_section(&runs, &dir, &colours)?);
    sections.push(curve_section(
        &runs,
        &dir,
        &colours,
        "val_miou",
        "miou",
        "Validation mIoU per epoch",
        "validation mIoU",
    )?);
    sections.push(illusion_section(&runs, &dir, classes, &colours)?);
    let parts = dataset_parts(results, &runs, &analysis, dataset.as_ref());
    for part in &parts {
        sections.push(per_class_section(part, &dir, &colours)?);
    }
    sections.push(finals_section(&analysis, &runs, &dir, &group_by, &colours)?);
    if let Some(datasets) = &analysis.datasets {
        sections.push(datasets_section(datasets, &dir, &colours)?);
    }
    if let Some(per_fold) = &analysis.folds {
        sections.push(folds::section(per_fold));
    }
    sections.push(gradient_section(&runs, &dir, &class_names, &colours)?);
    for part in &parts {
        if let Some(s) = examples::section(part, &dir)? {
            sections.push(s);
        }
    }
    sections.push(runs_section(&analysis, &info, results, &dir)?);

    let page = Page {
        title: format!("lossbench report: {}", info.name),
        subtitle: subtitle(&info, &runs),
        answer: analysis.answer.as_ref().map(|a| html::AnswerBlock {
            question: a.question.clone(),
            answer: a.answer.clone(),
            mechanisms: a.mechanisms.clone(),
        }),
        verdict: analysis
            .verdict
            .text
            .split("\n\n")
            .map(String::from)
            .collect(),
        sections,
    };
    let index = dir.join("index.html");
    store::write_atomic(&index, html::render(&page).as_bytes())?;
    Ok(index)
}

/// What the analysis takes from the sweep: the `[report]` bounds (given in metric points,
/// the analysis works in metric units) and the sweep file, for the command that adds seeds.
fn settings(info: &SweepInfo) -> analyse::Settings {
    analyse::Settings {
        equivalence: info.report.equivalence.map(|p| p / 100.0),
        min_effect: info.report.min_effect.map(|p| p / 100.0),
        sweep_file: info.file.clone(),
    }
}

fn subtitle(info: &SweepInfo, runs: &Runs) -> String {
    let done = runs.runs.iter().filter(|r| r.is_done()).count();
    let mut s = format!(
        "{} runs in the frame ({} done) of {} planned; axes: {}.",
        runs.runs.len(),
        done,
        info.runs,
        if info.axes.is_empty() {
            "none".to_string()
        } else {
            info.axes.join(", ")
        }
    );
    if let Some(d) = &info.description {
        s = format!("{d}. {s}");
    }
    s
}

fn class_count(runs: &Runs) -> usize {
    runs.metrics
        .iter()
        .filter(|m| m.starts_with("iou_"))
        .count()
}

/// A band as a plotted series, optionally divided by its value at the first epoch.
fn series(band: &Band, name: String, normalise: bool, colours: &Colours) -> Series {
    let scale = if normalise {
        band.mean
            .first()
            .copied()
            .filter(|v| *v != 0.0)
            .unwrap_or(1.0)
    } else {
        1.0
    };
    let x: Vec<f64> = band.epochs.iter().map(|e| *e as f64).collect();
    Series {
        name,
        colour: colours.of(&band.loss),
        points: x
            .iter()
            .zip(&band.mean)
            .map(|(x, y)| (*x, y / scale))
            .collect(),
        band: x
            .iter()
            .zip(band.low.iter().zip(&band.high))
            .filter(|(_, (l, h))| l.is_finite() && h.is_finite())
            .map(|(x, (l, h))| (*x, l / scale, h / scale))
            .collect(),
        dashed: false,
    }
}

/// "mean with a 95% t-interval of the mean over seeds", or the min–max wording.
fn band_words(bands: &[Band]) -> String {
    let kinds: Vec<BandKind> = bands.iter().map(|b| b.kind).collect();
    let describe = |k: BandKind| k.describe().to_string();
    match (kinds.contains(&BandKind::TInterval95), kinds.contains(&BandKind::MinMax)) {
        (true, true) => format!(
            "Lines are means over seeds; bands are the {} where a loss has at least 3 seeds, the {} otherwise.",
            describe(BandKind::TInterval95),
            describe(BandKind::MinMax)
        ),
        (false, true) => format!("Lines are means over seeds; bands are the {} (fewer than 3 seeds).", describe(BandKind::MinMax)),
        _ => format!("Lines are means over seeds; bands are the {}.", describe(BandKind::TInterval95)),
    }
}

fn named(bands: &[Band]) -> Vec<(String, &Band)> {
    bands
        .iter()
        .map(|b| {
            let n = b.runs;
            let band = match b.kind {
                BandKind::TInterval95 => "95% CI band",
                BandKind::MinMax => "min–max band",
            };
            (format!("{} (n={n}, {band})", b.loss), b)
        })
        .collect()
}

fn figure(stem: &str, caption: String) -> FigureRef {
    FigureRef {
        stem: stem.to_string(),
        caption,
        png_only: false,
    }
}

fn loss_section(runs: &Runs, dir: &Path, colours: &Colours) -> anyhow::Result<Section> {
    let bands = analyse::bands(runs, "train_loss", &[])?;
    let chart = |normalise: bool, title: &str, y: &str| LineChart {
        title: title.to_string(),
        x_label: "epoch".into(),
        y_label: y.to_string(),
        series: named(&bands)
            .into_iter()
            .map(|(n, b)| series(b, n, normalise, colours))
            .collect(),
        hlines: vec![],
        log_y: false,
        y_range: None,
        whole_x: true,
    };
    plots::save(
        &chart(false, "Training loss per epoch (raw)", "training loss"),
        &dir.join("train_loss"),
    )?;
    plots::save(
        &chart(
            true,
            "Training loss per epoch, divided by its epoch-1 value",
            "training loss / epoch 1",
        ),
        &dir.join("train_loss_normalised"),
    )?;
    Ok(Section {
        id: "loss".into(),
        heading: "Training loss".into(),
        paragraphs: vec![
            "The raw losses live on different scales and cannot be compared by height: BCE averages its per-pixel loss over C sigmoid channels (so its value and its gradients are about C times smaller than CCE's), and Dice and IoU losses live in [0, 1]. The second figure divides each curve by its value at epoch 1, so only the shape of the decrease is compared.".into(),
            band_words(&bands),
        ],
        figures: vec![
            figure("train_loss", "Training loss per epoch, raw.".into()),
            figure("train_loss_normalised", "Training loss per epoch, normalised to epoch 1.".into()),
        ],
        tables: vec![],
    })
}

fn curve_section(
    runs: &Runs,
    dir: &Path,
    colours: &Colours,
    metric: &str,
    stem: &str,
    heading: &str,
    y: &str,
) -> anyhow::Result<Section> {
    let bands = analyse::bands(runs, metric, &[])?;
    let chart = LineChart {
        title: heading.to_string(),
        x_label: "epoch".into(),
        y_label: y.to_string(),
        series: named(&bands)
            .into_iter()
            .map(|(n, b)| series(b, n, false, colours))
            .collect(),
        hlines: vec![],
        log_y: false,
        y_range: Some((0.0, 1.0)),
        whole_x: true,
    };
    plots::save(&chart, &dir.join(stem))?;
    Ok(Section {
        id: stem.to_string(),
        heading: heading.to_string(),
        paragraphs: vec![band_words(&bands)],
        figures: vec![figure(stem, format!("{heading}."))],
        tables: vec![],
    })
}

fn illusion_section(
    runs: &Runs,
    dir: &Path,
    classes: usize,
    colours: &Colours,
) -> anyhow::Result<Section> {
    let metrics = [
        ("binary_accuracy", "binary accuracy (Keras)"),
        ("pixel_accuracy", "pixel accuracy"),
        ("val_miou", "mIoU"),
    ];
    let per_metric: Vec<Vec<Band>> = metrics
        .iter()
        .map(|(m, _)| analyse::bands(runs, m, &[]))
        .collect::<Result<_, _>>()?;
    let baseline = (classes as f64 - 1.0) / classes as f64;
    let losses: Vec<String> = per_metric[0].iter().map(|b| b.loss.clone()).collect();
    let panels = losses
        .iter()
        .map(|loss| LineChart {
            title: loss.clone(),
            x_label: "epoch".into(),
            y_label: "score".into(),
            series: metrics
                .iter()
                .zip(&per_metric)
                .enumerate()
                .filter_map(|(i, ((_, name), bands))| {
                    let band = bands.iter().find(|b| &b.loss == loss)?;
                    let mut s = series(band, name.to_string(), false, colours);
                    s.colour = plots::colour(i + 4);
                    s.dashed = i == 0;
                    Some(s)
                })
                .collect(),
            hlines: vec![(
                baseline,
                format!("all channels off: (C-1)/C = {baseline:.3}"),
            )],
            log_y: false,
            y_range: Some((0.0, 1.0)),
            whole_x: true,
        })
        .collect();
    let figure_ = SmallMultiples {
        title: "The accuracy illusion: binary accuracy, pixel accuracy and mIoU per epoch".into(),
        panels,
        columns: 2,
    };
    plots::save(&figure_, &dir.join("accuracy_illusion"))?;
    Ok(Section {
        id: "illusion".into(),
        heading: "The accuracy illusion".into(),
        paragraphs: vec![format!(
            "Keras reports binary_accuracy as \"accuracy\" for a model compiled with binary cross-entropy: the share of the {classes} channels of every pixel that are right. A model that switches every channel off already scores (C-1)/C = {baseline:.3}, the dashed grey line, whatever it predicts. Pixel accuracy and mIoU score the argmax class and have no such floor. Binary accuracy is computed on each model's own activation (sigmoid for bce, bce_dice and depth_softmax_cce; softmax otherwise)."
        )],
        figures: vec![figure("accuracy_illusion", "Per loss: binary accuracy (dashed), pixel accuracy and mIoU; means over seeds with bands.".into())],
        tables: vec![],
    })
}

/// One dataset of the sweep, as the per-dataset sections see it: its name (`None` for a
/// sweep over one dataset), its runs, what `dataset.json` says of it and the folder of its
/// example images.
pub struct DatasetPart {
    pub name: Option<String>,
    /// Its position among the sweep's datasets, for file names.
    pub index: usize,
    pub runs: Runs,
    pub rows: Vec<analyse::RunRow>,
    pub info: DatasetInfo,
    /// The folder of its `dataset.json` and example images.
    pub folder: PathBuf,
    /// The sweep's results folder (its runs' predictions).
    pub results: PathBuf,
}

impl DatasetPart {
    /// `stem` for a sweep over one dataset, `stem_<i>` for the `i`th of several.
    pub fn stem(&self, stem: &str) -> String {
        match self.name {
            Some(_) => format!("{stem}_{}", self.index),
            None => stem.to_string(),
        }
    }

    /// `heading`, and the dataset's name after it in a sweep over several.
    pub fn heading(&self, heading: &str) -> String {
        match &self.name {
            Some(name) => format!("{heading}: {name}"),
            None => heading.to_string(),
        }
    }
}

/// The datasets of the sweep with the files that describe them: each value of the dataset
/// axis with its runs and `datasets/<name>/`, or the whole sweep with `dataset.json`. A
/// dataset without its files (a sweep written before they were) is left out.
fn dataset_parts(
    results: &Path,
    runs: &Runs,
    analysis: &Analysis,
    dataset: Option<&DatasetInfo>,
) -> Vec<DatasetPart> {
    match &analysis.datasets {
        Some(datasets) => datasets
            .per_dataset
            .iter()
            .enumerate()
            .filter_map(|(index, d)| {
                let folder = store::dataset_dir(results, &d.dataset);
                let info = store::read_dataset_info(&folder).ok()?;
                Some(DatasetPart {
                    name: Some(d.dataset.clone()),
                    index,
                    runs: d.runs.clone(),
                    rows: d.table.clone(),
                    info,
                    folder,
                    results: results.to_path_buf(),
                })
            })
            .collect(),
        None => dataset
            .map(|info| DatasetPart {
                name: None,
                index: 0,
                runs: runs.clone(),
                rows: analysis.runs.clone(),
                info: info.clone(),
                folder: results.to_path_buf(),
                results: results.to_path_buf(),
            })
            .into_iter()
            .collect(),
    }
}

fn per_class_section(part: &DatasetPart, dir: &Path, colours: &Colours) -> anyhow::Result<Section> {
    let (runs, dataset) = (&part.runs, &part.info);
    let mut groups = Vec::new();
    let losses = loss_order(runs);
    for loss in &losses {
        let mut points = Vec::new();
        for (k, freq) in dataset.train_frequencies.iter().enumerate() {
            let finals = analyse::finals(runs, &format!("iou_{k}"))?;
            let values: Vec<f64> = finals
                .iter()
                .filter(|f| &f.loss == loss && f.value.is_finite())
                .map(|f| f.value)
                .collect();
            if !values.is_empty() && *freq > 0.0 {
                points.push((*freq, analyse::mean(&values)));
            }
        }
        groups.push(PointGroup {
            name: loss.clone(),
            colour: colours.of(loss),
            points,
            intervals: vec![],
        });
    }
    let chart = Scatter {
        title: "Final IoU per class against the class's pixel frequency".into(),
        x_label: "share of training pixels (log scale)".into(),
        y_label: "IoU at the last epoch (mean over seeds)".into(),
        categories: vec![],
        log_x: true,
        y_range: Some((0.0, 1.0)),
        groups,
    };
    let stem = part.stem("per_class_iou");
    plots::save(&chart, &dir.join(&stem))?;
    let mut order: Vec<usize> = (0..dataset.class_names.len()).collect();
    order.sort_by(|a, b| dataset.train_frequencies[*a].total_cmp(&dataset.train_frequencies[*b]));
    let table = Table {
        header: vec!["class".into(), "share of training pixels".into()],
        rows: order
            .iter()
            .map(|&k| {
                vec![
                    Cell::Text(dataset.class_names[k].clone()),
                    Cell::Text(format!("{:.4}", dataset.train_frequencies[k])),
                ]
            })
            .collect(),
        row_classes: vec![],
    };
    Ok(Section {
        id: part.stem("classes"),
        heading: part.heading("Which loss helps rare classes"),
        paragraphs: vec!["Each marker is one class under one loss: rare classes on the left. A loss that helps rare classes sits higher on the left.".into()],
        figures: vec![figure(&stem, "Final per-class IoU against class pixel frequency, one marker per loss.".into())],
        tables: vec![table],
    })
}

/// The losses of the frame, in the order of the study.
fn loss_order(runs: &Runs) -> Vec<String> {
    let mut losses: Vec<String> = Vec::new();
    for r in &runs.runs {
        if !losses.contains(&r.loss) {
            losses.push(r.loss.clone());
        }
    }
    let rank = |l: &String| {
        l.parse::<Loss>()
            .ok()
            .and_then(|x| Loss::ALL.iter().position(|y| *y == x))
            .unwrap_or(usize::MAX)
    };
    losses.sort_by_key(rank);
    losses
}

/// `(x, mean, low, high)` of a summary's mean and its 95% t-interval, for a scatter.
fn mean_interval(s: &analyse::LossSummary, x: f64) -> (f64, f64, f64, f64) {
    let (low, high) = s.ci.unwrap_or((s.mean, s.mean));
    (x, s.mean, low, high)
}

fn interval(ci: Option<(f64, f64)>) -> String {
    ci.map_or_else(|| "n/a".to_string(), |(l, h)| format!("[{l:.4}, {h:.4}]"))
}

fn group_text(group: &[(String, String)]) -> String {
    group
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn finals_section(
    analysis: &Analysis,
    runs: &Runs,
    dir: &Path,
    group_by: &[&str],
    colours: &Colours,
) -> anyhow::Result<Section> {
    let pooled = analyse::summarise(runs, analyse::MAIN_METRIC, &[])?;
    let finals = analyse::finals(runs, analyse::MAIN_METRIC)?;
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
        title: "Final validation mIoU per loss".into(),
        x_label: "loss".into(),
        y_label: "mIoU at the last epoch".into(),
        categories,
        log_x: false,
        y_range: Some((0.0, 1.0)),
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
            title: format!("Final mIoU per loss × {}", group_by.join(" × ")),
            x_label: String::new(),
            y_label: "mIoU at the last epoch".into(),
            categories,
            log_x: false,
            y_range: Some((0.0, 1.0)),
            groups,
        };
        plots::save(&chart, &dir.join("final_miou_control"))?;
        figures.push(figure(
            "final_miou_control",
            format!(
                "Final mIoU per loss and {}: the gradient-scale control.",
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
                    Cell::Text(interval(s.ci)),
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
                    Cell::Text(interval(d.ci)),
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
        heading: "Final mIoU and paired differences".into(),
        paragraphs: vec![format!(
            "Final = the last epoch of each run that finished. Differences are paired: each loss against {} on the same seed (and the same other settings). The 95% interval is the paired t-interval; the comparison is called on the paired t-test's p after Holm's adjustment over the comparisons, and the exact sign-flip test is shown beside it.",
            analysis.reference
        )],
        figures,
        tables,
    })
}

/// A sweep over several datasets: each dataset's verdict, the aggregate over datasets, and
/// the performance profile of every loss.
fn datasets_section(
    datasets: &analyse::Datasets,
    dir: &Path,
    colours: &Colours,
) -> anyhow::Result<Section> {
    let profile = LineChart {
        title: "Performance profile: share of runs above each mIoU".into(),
        x_label: "mIoU threshold τ".into(),
        y_label: "share of runs with final mIoU > τ".into(),
        series: datasets
            .profiles
            .iter()
            .map(|p| Series {
                name: format!("{} (n={})", p.loss, p.runs),
                colour: colours.of(&p.loss),
                points: p
                    .thresholds
                    .iter()
                    .copied()
                    .zip(p.share_above.iter().copied())
                    .collect(),
                band: vec![],
                dashed: false,
            })
            .collect(),
        hlines: vec![],
        log_y: false,
        y_range: Some((0.0, 1.0)),
        whole_x: false,
    };
    plots::save(&profile, &dir.join("performance_profile"))?;
    let names: Vec<&str> = datasets
        .per_dataset
        .iter()
        .map(|d| d.dataset.as_str())
        .collect();
    let mut header = vec!["loss".to_string(), "against".to_string()];
    header.extend(names.iter().map(|n| format!("{n}: mean difference")));
    header.extend(
        [
            "mean over datasets",
            "95% stratified bootstrap-t CI",
            "datasets ahead",
        ]
        .map(String::from),
    );
    let points = |v: f64| format!("{:+.2}", 100.0 * v);
    let table = Table {
        header,
        rows: datasets
            .aggregate
            .iter()
            .map(|a| {
                let mut row = vec![Cell::Text(a.loss.clone()), Cell::Text(a.reference.clone())];
                row.extend(names.iter().map(|n| {
                    Cell::Text(
                        a.per_dataset
                            .iter()
                            .find(|(d, _)| d == n)
                            .map_or_else(|| "n/a".to_string(), |(_, v)| points(*v)),
                    )
                }));
                row.push(Cell::Text(points(a.mean)));
                row.push(Cell::Text(a.ci.map_or_else(
                    || "n/a".to_string(),
                    |(l, h)| format!("[{}, {}]", points(l), points(h)),
                )));
                row.push(Cell::Text(format!(
                    "{} of {}",
                    a.datasets_ahead,
                    a.per_dataset.len()
                )));
                row
            })
            .collect(),
        row_classes: vec![],
    };
    let mut paragraphs = vec![format!(
        "The sweep's axis `{}` takes {} values. Each dataset is analysed on its own (its pairs, its Holm adjustment, its verdict); the aggregate weighs every dataset the same: the mean over datasets of each loss's mean paired difference from the reference, in mIoU points, with a studentized bootstrap interval that resamples seeds within each dataset ({} resamples).",
        datasets.axis,
        names.len(),
        analyse::stats::BOOTSTRAP_RESAMPLES
    )];
    paragraphs.extend(
        datasets
            .aggregate
            .iter()
            .map(|a| analyse::datasets::aggregate_sentence(a, "mIoU")),
    );
    paragraphs.extend(
        datasets
            .per_dataset
            .iter()
            .map(|d| format!("On {}: {}", d.dataset, d.verdict.text)),
    );
    Ok(Section {
        id: "datasets".into(),
        heading: "Across datasets".into(),
        paragraphs,
        figures: vec![figure(
            "performance_profile",
            "For each loss, the share of its finished runs (every dataset and seed) whose final mIoU exceeds τ; a curve above another is better at every threshold.".into(),
        )],
        tables: vec![table],
    })
}

fn gradient_section(
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

/// One planned run as `runs.parquet` records it.
struct PlannedRow {
    run_id: String,
    label: String,
    status: String,
    epochs: u32,
    error: String,
}

/// Every planned run of the sweep, finished or not, from `runs.parquet`.
fn planned_runs(results: &Path) -> anyhow::Result<Vec<PlannedRow>> {
    let frame = store::read_parquet(&results.join("runs.parquet"))?;
    let text = |name: &str| -> anyhow::Result<Vec<String>> {
        let column = frame
            .column(name)
            .with_context(|| format!("runs.parquet has no column {name}"))?;
        Ok(column
            .str()?
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    };
    let (ids, labels, statuses, errors) = (
        text("run_id")?,
        text("label")?,
        text("status")?,
        text("error")?,
    );
    let epochs: Vec<u32> = frame
        .column("epochs_done")
        .context("runs.parquet has no column epochs_done")?
        .u32()?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect();
    Ok((0..ids.len())
        .map(|i| PlannedRow {
            run_id: ids[i].clone(),
            label: labels[i].clone(),
            status: statuses[i].clone(),
            epochs: epochs[i],
            error: errors[i].clone(),
        })
        .collect())
}

fn runs_section(
    analysis: &Analysis,
    info: &SweepInfo,
    results: &Path,
    dir: &Path,
) -> anyhow::Result<Section> {
    let planned = planned_runs(results)?;
    let header = [
        "run",
        "axes",
        "status",
        "epochs",
        "final mIoU",
        "best mIoU",
        "error",
        "config",
        "frame",
    ]
    .map(String::from)
    .to_vec();
    let value = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.4}"));
    let rows = planned
        .iter()
        .map(|p| {
            let run_dir = results.join("runs").join(&p.run_id);
            let analysed = analysis.runs.iter().find(|r| r.run_id == p.run_id);
            let frame = if p.epochs > 0 {
                Cell::Link(
                    "metrics.parquet".into(),
                    relative(dir, &run_dir.join("metrics.parquet")),
                )
            } else {
                Cell::Text("(no epoch)".into())
            };
            let config = if run_dir.join("config.toml").exists() {
                Cell::Link(
                    "config.toml".into(),
                    relative(dir, &run_dir.join("config.toml")),
                )
            } else {
                Cell::Text("(not started)".into())
            };
            vec![
                Cell::Text(p.run_id.clone()),
                Cell::Text(p.label.clone()),
                Cell::Text(p.status.clone()),
                Cell::Text(p.epochs.to_string()),
                Cell::Text(value(
                    analysed
                        .and_then(|r| r.final_value)
                        .filter(|_| p.status == analyse::DONE),
                )),
                Cell::Text(value(analysed.and_then(|r| r.best))),
                Cell::Text(p.error.clone()),
                config,
                frame,
            ]
        })
        .collect();
    let row_classes = planned.iter().map(|p| p.status.clone()).collect();
    let not_done = planned.iter().filter(|p| p.status != analyse::DONE).count();
    Ok(Section {
        id: "runs".into(),
        heading: "Every run".into(),
        paragraphs: vec![format!(
            "All {} planned runs of {}; {} did not finish (highlighted) and take no part in the findings. The sweep's frame is {}.",
            planned.len(),
            info.name,
            not_done,
            relative(dir, &results.join("metrics.parquet"))
        )],
        figures: vec![],
        tables: vec![Table { header, rows, row_classes }],
    })
}

/// `to` relative to the folder `from` (both made absolute), for links that work from disk.
pub fn relative(from: &Path, to: &Path) -> String {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (from, to) = (absolute(from), absolute(to));
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), a.len() - common).collect();
    parts.extend(
        b[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}
