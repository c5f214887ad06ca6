//! Example predictions: for the first validation images, image | ground truth | the
//! prediction of each loss (its median-seed run), coloured with the dataset's palette.

use std::path::Path;

use image::{imageops, Rgb, RgbImage};

use super::html::{Cell, FigureRef, Section, Table};
use crate::analyse::{self, Analysis};
use crate::store::DatasetInfo;

/// Pixels of the ignore label are drawn white.
const IGNORE: Rgb<u8> = Rgb([255, 255, 255]);
/// Cells are scaled up to at least this height.
const MIN_CELL: u32 = 96;

/// Writes `examples.png` into `dir` and returns its section, or `None` when the sweep
/// recorded no example images.
pub fn section(
    results: &Path,
    dir: &Path,
    analysis: &Analysis,
    dataset: &DatasetInfo,
) -> anyhow::Result<Option<Section>> {
    let (Ok(images), Ok(masks)) = (
        image::open(results.join("examples.png")),
        image::open(results.join("examples_mask.png")),
    ) else {
        return Ok(None);
    };
    let images = images.to_rgb8();
    let masks = masks.to_luma8();
    let (w, h) = (dataset.width as u32, dataset.height as u32);
    let k = images.width() / w.max(1);
    let mut columns: Vec<(String, RgbImage)> = vec![
        ("image".into(), images),
        ("ground truth".into(), colour(&masks, &dataset.palette)),
    ];
    for (loss, run_id, seed) in median_runs(analysis) {
        if let Ok(pred) = image::open(results.join("runs").join(&run_id).join("predictions.png")) {
            columns.push((
                format!("{loss} (seed {seed})"),
                colour(&pred.to_luma8(), &dataset.palette),
            ));
        }
    }
    let scale = MIN_CELL.div_ceil(h.max(1)).max(1);
    let (cw, ch, gap) = (w * scale, h * scale, 4);
    let mut grid = RgbImage::from_pixel(
        columns.len() as u32 * (cw + gap),
        k * (ch + gap),
        Rgb([255, 255, 255]),
    );
    for (c, (_, strip)) in columns.iter().enumerate() {
        for i in 0..k {
            let cell = imageops::crop_imm(strip, i * w, 0, w, h).to_image();
            let cell = imageops::resize(&cell, cw, ch, imageops::FilterType::Nearest);
            imageops::replace(
                &mut grid,
                &cell,
                (c as u32 * (cw + gap)) as i64,
                (i * (ch + gap)) as i64,
            );
        }
    }
    grid.save(dir.join("examples.png"))?;
    let legend = Table {
        header: vec!["colour".into(), "class".into()],
        rows: dataset
            .class_names
            .iter()
            .zip(&dataset.palette)
            .map(|(name, rgb)| vec![Cell::Swatch(*rgb), Cell::Text(name.clone())])
            .collect(),
        row_classes: vec![],
    };
    let order: Vec<&str> = columns.iter().map(|c| c.0.as_str()).collect();
    Ok(Some(Section {
        id: "examples".into(),
        heading: "Example predictions".into(),
        paragraphs: vec![format!(
            "The first {k} validation images. Columns, left to right: {}. Each loss is shown by its median-seed run (by final mIoU).",
            order.join(" | ")
        )],
        figures: vec![FigureRef {
            stem: "examples".into(),
            caption: format!("Columns: {}.", order.join(" | ")),
            png_only: true,
        }],
        tables: vec![legend],
    }))
}

/// For each loss, its done run with the median final mIoU (the lower median): loss, run id,
/// seed.
fn median_runs(analysis: &Analysis) -> Vec<(String, String, i64)> {
    let mut losses: Vec<&str> = Vec::new();
    for s in &analysis.summaries {
        if !losses.contains(&s.loss.as_str()) {
            losses.push(&s.loss);
        }
    }
    losses
        .into_iter()
        .filter_map(|loss| {
            let mut runs: Vec<&analyse::RunRow> = analysis
                .runs
                .iter()
                .filter(|r| r.loss == loss && r.in_finals)
                .collect();
            runs.sort_by(|a, b| {
                a.final_value
                    .unwrap_or(f64::NAN)
                    .total_cmp(&b.final_value.unwrap_or(f64::NAN))
            });
            let median = runs.get(runs.len().saturating_sub(1) / 2)?;
            Some((loss.to_string(), median.run_id.clone(), median.seed))
        })
        .collect()
}

/// Colours an index mask with `palette` (unknown labels, such as 255, white).
fn colour(mask: &image::GrayImage, palette: &[[u8; 3]]) -> RgbImage {
    RgbImage::from_fn(mask.width(), mask.height(), |x, y| {
        let label = mask.get_pixel(x, y).0[0] as usize;
        palette.get(label).map_or(IGNORE, |c| Rgb(*c))
    })
}
