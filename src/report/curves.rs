//! The per-epoch curve sections: the training loss (raw and normalised) and a metric.

use std::path::Path;

use crate::analyse::{self, Runs};

use super::common::{band_words, figure, named, series};
use super::html::Section;
use super::plots::{self, LineChart};
use super::Colours;

pub(super) fn loss_section(runs: &Runs, dir: &Path, colours: &Colours) -> anyhow::Result<Section> {
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

pub(super) fn curve_section(
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
