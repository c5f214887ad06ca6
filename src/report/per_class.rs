//! The rare-classes section: final IoU per class against the class's pixel frequency.

use std::path::Path;

use crate::analyse;

use super::common::{figure, loss_order};
use super::html::{Cell, Section, Table};
use super::plots::{self, PointGroup, Scatter};
use super::{Colours, DatasetPart};

pub(super) fn section(
    part: &DatasetPart,
    dir: &Path,
    colours: &Colours,
) -> anyhow::Result<Section> {
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
