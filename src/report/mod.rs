//! The report: reads a sweep's results folder (its frame, `sweep.json`, `dataset.json` and
//! the example predictions) and writes `plots/<sweep>/index.html` with every figure as PNG
//! and SVG beside it, and `findings.json` with the numbers the page states. It never
//! retrains: everything comes from what the runs recorded. Of a sweep still running, it
//! reports the runs finished so far, as [`partial`] says.
//!
//! This module orchestrates: [`build`] reads the sweep, analyses it and puts the page
//! together from its sections, each built in a file of its own.

mod common;
mod curves;
mod datasets;
pub mod examples;
mod finals;
pub mod folds;
mod gradients;
pub mod html;
mod illusion;
pub mod partial;
mod per_class;
pub mod plots;
mod quality;
mod runs;
mod tuning;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::analyse::{self, Analysis, Runs};
use crate::provenance::{self, short};
use crate::store::{self, DatasetInfo, SweepInfo};
use common::loss_order;
use html::Page;
pub use runs::relative;

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
    let running = partial::running(results);
    let (frame, default_dir) = partial::frame_and_folder(results, &info, running)?;
    let runs = Runs::from_frame(&frame)?;
    if !runs.runs.iter().any(|r| r.is_done()) {
        bail!(
            "{} has no finished run, so there is nothing to report; run the sweep first (lossbench run <sweep.toml>)",
            results.display()
        );
    }
    let dir = out.map_or(default_dir, Path::to_path_buf);
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
    sections.push(curves::loss_section(&runs, &dir, &colours)?);
    sections.push(curves::curve_section(
        &runs,
        &dir,
        &colours,
        "val_miou",
        "miou",
        "Validation mIoU per epoch",
        "validation mIoU",
    )?);
    sections.push(illusion::section(&runs, &dir, classes, &colours)?);
    let parts = dataset_parts(results, &runs, &analysis, dataset.as_ref());
    for part in &parts {
        sections.push(per_class::section(part, &dir, &colours)?);
    }
    let mut findings = finals::section(&analysis, &runs, &dir, &group_by, &colours)?;
    let tuned = tuning::section(
        results,
        &runs,
        &analysis.metric,
        &analysis.reference,
        &dir,
        &colours,
    )?;
    if let Some(how) = tuned.as_ref().and_then(|t| t.paragraphs.first()) {
        findings.paragraphs.insert(0, how.clone());
    }
    sections.push(findings);
    sections.extend(tuned);
    let on = quality::On::judged(&analysis.metric);
    if quality::has_quality(&runs, on) {
        sections.push(quality::calibration_section(&runs, on, &dir, &colours)?);
        let tolerance = info
            .report
            .boundary_tolerance
            .unwrap_or(crate::metrics::DEFAULT_BOUNDARY_TOLERANCE);
        sections.push(quality::boundary_section(
            &runs, on, &dir, &colours, tolerance,
        )?);
    }
    if let Some(card) = &analysis.scorecard {
        sections.push(quality::summary_section(card));
    }
    if let Some(datasets) = &analysis.datasets {
        sections.push(datasets::section(datasets, &dir, &colours)?);
    }
    if let Some(per_fold) = &analysis.folds {
        sections.push(folds::section(per_fold));
    }
    sections.push(gradients::section(&runs, &dir, &class_names, &colours)?);
    for part in &parts {
        if let Some(s) = examples::section(part, &dir)? {
            sections.push(s);
        }
    }
    sections.push(runs::section(&analysis, &info, results, &dir)?);

    let page = page(&info, &runs, &analysis, sections, running);
    let index = dir.join("index.html");
    store::write_atomic(&index, html::render(&page).as_bytes())?;
    Ok(index)
}

/// The page: its title and subtitle (partial when not every planned run is done; `running`
/// when another process trains the sweep), the answer, the verdict, `sections` and the
/// footer.
fn page(
    info: &SweepInfo,
    runs: &Runs,
    analysis: &Analysis,
    sections: Vec<html::Section>,
    running: bool,
) -> Page {
    let done = runs.runs.iter().filter(|r| r.is_done()).count();
    let notice = partial::notice(done, info.runs, running);
    Page {
        title: match &notice {
            Some(_) => format!("lossbench report (partial): {}", info.name),
            None => format!("lossbench report: {}", info.name),
        },
        subtitle: match &notice {
            Some(n) => format!("{n} {}", subtitle(info, runs)),
            None => subtitle(info, runs),
        },
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
            .chain(analysis.scorecard.iter().map(|c| c.sentences.join(" ")))
            .collect(),
        sections,
        footer: footer(runs),
    }
}

/// What the analysis takes from the sweep: the `[report]` bounds (given in metric points,
/// the analysis works in metric units) and the sweep file, for the command that adds seeds.
fn settings(info: &SweepInfo) -> analyse::Settings {
    analyse::Settings {
        equivalence: info.report.equivalence.map(|p| p / 100.0),
        min_effect: info.report.min_effect.map(|p| p / 100.0),
        sweep_file: info.file.clone(),
        sweep_sets: info.sets.clone(),
        metric: info.report.metric.clone(),
    }
}

/// The footer: the build that wrote the page, and the builds that trained its done runs.
fn footer(runs: &Runs) -> String {
    let builds = runs.builds();
    let named: Vec<String> = builds
        .iter()
        .map(|(commit, n)| format!("{} ({n} runs)", short(commit)))
        .collect();
    let trained = match builds.len() {
        0 => "none of its runs is done".to_string(),
        1 => format!("its runs were trained by commit {}", named.join("")),
        k => format!("its runs come from {k} builds: {}", named.join(", ")),
    };
    format!(
        "Written by lossbench {} (commit {}, libtorch {}); {trained}.",
        env!("CARGO_PKG_VERSION"),
        short(provenance::COMMIT),
        store::LIBTORCH_VERSION
    )
}

/// A warning for the top of the page when the done runs come from more than one build.
fn mixed_builds(runs: &Runs) -> Option<String> {
    let builds = runs.builds();
    (builds.len() > 1).then(|| {
        let named: Vec<String> = builds
            .iter()
            .map(|(commit, n)| format!("{n} by {}", short(commit)))
            .collect();
        format!(
            "Its runs were trained by {} builds of lossbench ({}): differences between runs may come from the code as well as from the settings.",
            builds.len(),
            named.join(", ")
        )
    })
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
    if let Some(mixed) = mixed_builds(runs) {
        s = format!("{s} {mixed}");
    }
    s
}

fn class_count(runs: &Runs) -> usize {
    runs.metrics
        .iter()
        .filter(|m| m.starts_with("iou_"))
        .count()
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
