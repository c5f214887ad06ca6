//! The accuracy-illusion section: binary accuracy, pixel accuracy and mIoU per loss.

use std::path::Path;

use crate::analyse::{self, Band, Runs};

use super::common::{figure, series};
use super::html::Section;
use super::plots::{self, LineChart, SmallMultiples};
use super::Colours;

pub(super) fn section(
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
