//! Example predictions: for the first validation images, image | ground truth | the
//! prediction of each loss (its median-seed run), coloured with the dataset's palette. The
//! PNG carries its column labels above and the class colours below, so it reads on its own
//! when copied into a paper.

use std::path::Path;

use anyhow::anyhow;
use image::{imageops, Rgb, RgbImage};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::html::{Cell, FigureRef, Section, Table};
use super::DatasetPart;
use crate::analyse::runs::group_in_order;
use crate::analyse::RunRow;
use crate::store::DatasetInfo;

/// Pixels of the ignore label are drawn white.
const IGNORE: Rgb<u8> = Rgb([255, 255, 255]);
/// Cells are scaled up to at least this height.
const MIN_CELL: u32 = 96;
/// Cells are scaled up so that a column is at least this wide, room for its label.
const MIN_COLUMN: u32 = 112;
/// The band above the cells that holds the column labels (two lines).
const HEADER: u32 = 40;
/// The height of one line of the class key below the cells.
const KEY_LINE: u32 = 22;
/// The size of the labels' text.
const LABEL_TEXT: u32 = 14;

/// Writes the example strip of `part` into `dir` (`examples.png`, or `examples_<i>.png` of
/// a sweep over several datasets) and returns its section, or `None` when the sweep
/// recorded no example images.
pub fn section(part: &DatasetPart, dir: &Path) -> anyhow::Result<Option<Section>> {
    let (Ok(images), Ok(masks)) = (
        image::open(part.folder.join("examples.png")),
        image::open(part.folder.join("examples_mask.png")),
    ) else {
        return Ok(None);
    };
    let (results, dataset) = (&part.results, &part.info);
    let images = images.to_rgb8();
    let masks = masks.to_luma8();
    let (w, h) = (dataset.width as u32, dataset.height as u32);
    let k = images.width() / w.max(1);
    // Each column: the lines of its label, and its strip of cells.
    let mut columns: Vec<(Vec<String>, RgbImage)> = vec![
        (vec!["image".into()], images),
        (
            vec!["ground truth".into()],
            colour(&masks, &dataset.palette),
        ),
    ];
    for (loss, run_id, seed) in median_runs(&part.rows) {
        if let Ok(pred) = image::open(results.join("runs").join(&run_id).join("predictions.png")) {
            columns.push((
                vec![loss, format!("seed {seed}")],
                colour(&pred.to_luma8(), &dataset.palette),
            ));
        }
    }
    let stem = part.stem("examples");
    compose(&columns, (w, h), k, dataset)?.save(dir.join(&stem).with_extension("png"))?;
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
    let order: Vec<String> = columns
        .iter()
        .map(|(lines, _)| match lines.as_slice() {
            [loss, seed] => format!("{loss} ({seed})"),
            other => other.join(" "),
        })
        .collect();
    Ok(Some(Section {
        id: stem.clone(),
        heading: part.heading("Example predictions"),
        paragraphs: vec![format!(
            "The first {k} validation images. Columns, left to right: {}. Each loss is shown by its median-seed run (by final mIoU).",
            order.join(" | ")
        )],
        figures: vec![FigureRef {
            stem,
            caption: format!("Columns: {}.", order.join(" | ")),
            png_only: true,
        }],
        tables: vec![legend],
    }))
}

/// The strip as one image: the labels of `columns` above, `k` rows of their `w`×`h` cells
/// scaled up, and the class key below.
fn compose(
    columns: &[(Vec<String>, RgbImage)],
    (w, h): (u32, u32),
    k: u32,
    dataset: &DatasetInfo,
) -> anyhow::Result<RgbImage> {
    let scale = MIN_CELL
        .div_ceil(h.max(1))
        .max(MIN_COLUMN.div_ceil(w.max(1)))
        .max(1);
    let (cw, ch, gap) = (w * scale, h * scale, 4);
    let width = columns.len() as u32 * (cw + gap);
    let per_line = (width / KEY_COLUMN).max(1) as usize;
    let key_lines = dataset.class_names.len().div_ceil(per_line) as u32;
    let mut grid = RgbImage::from_pixel(
        width,
        HEADER + k * (ch + gap) + key_lines * KEY_LINE + gap,
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
                (HEADER + i * (ch + gap)) as i64,
            );
        }
    }
    let labels: Vec<&[String]> = columns.iter().map(|c| c.0.as_slice()).collect();
    let key_top = HEADER + k * (ch + gap);
    annotate(&mut grid, &labels, cw + gap, key_top, per_line, dataset)?;
    Ok(grid)
}

/// The width given to one class of the key below the cells.
const KEY_COLUMN: u32 = 150;

/// Draws the column labels (centred above each column, a line per string) and the class
/// key (a swatch and the name of each class, `per_line` to a line from `key_top`) onto
/// `grid`, with the embedded font the figures use.
fn annotate(
    grid: &mut RgbImage,
    labels: &[&[String]],
    column: u32,
    key_top: u32,
    per_line: usize,
    dataset: &DatasetInfo,
) -> anyhow::Result<()> {
    super::plots::register_font();
    let size = (grid.width(), grid.height());
    let root = BitMapBackend::with_buffer(grid.as_mut(), size).into_drawing_area();
    let fail = |e| anyhow!("cannot label the example strip: {e}");
    let centred = ("sans-serif", LABEL_TEXT)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    for (c, label) in labels.iter().enumerate() {
        let x = (c as u32 * column + column / 2) as i32;
        let line = (HEADER / label.len().max(1) as u32) as i32;
        for (j, text) in label.iter().enumerate() {
            let y = line / 2 + j as i32 * line;
            root.draw_text(text, &centred, (x, y)).map_err(fail)?;
        }
    }
    let left = ("sans-serif", LABEL_TEXT - 1)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (k, (name, rgb)) in dataset.class_names.iter().zip(&dataset.palette).enumerate() {
        let x = ((k % per_line) as u32 * KEY_COLUMN + 6) as i32;
        let y = (key_top + (k / per_line) as u32 * KEY_LINE + KEY_LINE / 2) as i32;
        let swatch = RGBColor(rgb[0], rgb[1], rgb[2]);
        root.draw(&Rectangle::new(
            [(x, y - 7), (x + 14, y + 7)],
            swatch.filled(),
        ))
        .map_err(fail)?;
        root.draw(&Rectangle::new(
            [(x, y - 7), (x + 14, y + 7)],
            BLACK.mix(0.4),
        ))
        .map_err(fail)?;
        root.draw_text(name, &left, (x + 20, y)).map_err(fail)?;
    }
    root.present().map_err(fail)?;
    Ok(())
}

/// For each loss (in the order of `rows`), its done run with the median final mIoU (the
/// lower median): loss, run id, seed.
fn median_runs(rows: &[RunRow]) -> Vec<(String, String, i64)> {
    let finals: Vec<&RunRow> = rows.iter().filter(|r| r.in_finals).collect();
    group_in_order(finals, |r| r.loss.clone())
        .into_iter()
        .filter_map(|(loss, mut runs)| {
            runs.sort_by(|a, b| {
                a.final_value
                    .unwrap_or(f64::NAN)
                    .total_cmp(&b.final_value.unwrap_or(f64::NAN))
            });
            let median = runs.get(runs.len().saturating_sub(1) / 2)?;
            Some((loss, median.run_id.clone(), median.seed))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset() -> DatasetInfo {
        DatasetInfo {
            class_names: vec!["background".into(), "road".into(), "car".into()],
            palette: vec![[40, 40, 40], [200, 30, 30], [30, 30, 200]],
            train_frequencies: vec![0.5, 0.3, 0.2],
            ignore_index: None,
            height: 8,
            width: 8,
            files: None,
        }
    }

    /// Whether the rows `rows` of `image` within columns `x0..x1` hold dark (text) pixels.
    fn dark_in(image: &RgbImage, (x0, x1): (u32, u32), rows: std::ops::Range<u32>) -> bool {
        rows.flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .any(|(x, y)| image.get_pixel(x, y).0.iter().all(|c| *c < 100))
    }

    #[test]
    fn the_strip_carries_its_column_labels_and_the_class_key_in_the_png() {
        let d = dataset();
        let cells = |v: u8| RgbImage::from_pixel(16, 8, Rgb([v, v, v]));
        let columns = vec![
            (vec!["image".to_string()], cells(250)),
            (vec!["ground truth".to_string()], cells(250)),
            (vec!["bce".to_string(), "seed 2".to_string()], cells(250)),
        ];
        let strip = compose(&columns, (8, 8), 2, &d).expect("strip");
        let scale = MIN_CELL.div_ceil(8).max(MIN_COLUMN.div_ceil(8));
        let column = 8 * scale + 4;
        assert_eq!(strip.width(), 3 * column);
        for c in 0..3 {
            assert!(
                dark_in(&strip, (c * column, (c + 1) * column), 0..HEADER),
                "column {c} has its label above the cells"
            );
        }
        let key_top = HEADER + 2 * (8 * scale + 4);
        assert!(strip.height() >= key_top + KEY_LINE);
        let key: Vec<[u8; 3]> = (key_top..strip.height())
            .flat_map(|y| (0..strip.width()).map(move |x| (x, y)))
            .map(|(x, y)| strip.get_pixel(x, y).0)
            .collect();
        for rgb in &d.palette {
            assert!(key.contains(rgb), "the key shows the swatch {rgb:?}");
        }
        assert!(
            dark_in(&strip, (0, strip.width()), key_top..strip.height()),
            "the key names the classes"
        );
    }
}
