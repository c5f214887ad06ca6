//! Figures drawn with plotters, each written as PNG and SVG: line charts with bands (mean
//! and interval over seeds), small multiples of them, scatter charts with intervals, and
//! grouped bars. Every legend sits in a column beside the plot, never over the data, and a
//! score axis can be fixed to [0, 1]. Text uses an embedded DejaVu Sans, so figures need no
//! system fonts. This module holds what every figure shares: the font, the colours, `save`,
//! the [`Figure`] trait, the legend column and the text and axis helpers.

mod bars;
mod lines;
mod scatter;

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{anyhow, Context};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub use bars::Bars;
pub use lines::{LineChart, Series, SmallMultiples};
pub use scatter::{PointGroup, Scatter};

static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

const FAMILY: &str = "sans-serif";

/// Makes the embedded font the one plotters draws text with.
pub(crate) fn register_font() {
    REGISTER.call_once(|| {
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// The colour of the `i`th series (Tableau 10), fixed so a loss keeps its colour everywhere.
pub fn colour(i: usize) -> RGBColor {
    const TABLEAU: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = TABLEAU[i % TABLEAU.len()];
    RGBColor(r, g, b)
}

/// A figure that can draw itself on any plotters backend.
pub trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static;
}

/// Writes `figure` as `<stem>.png` and `<stem>.svg`; returns both paths.
pub fn save(figure: &impl Figure, stem: &Path) -> anyhow::Result<[PathBuf; 2]> {
    register_font();
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    {
        let root = BitMapBackend::new(&png, figure.size()).into_drawing_area();
        figure.draw(&root)?;
        root.present()
            .with_context(|| format!("cannot write {}", png.display()))?;
    }
    {
        let root = SVGBackend::new(&svg, figure.size()).into_drawing_area();
        figure.draw(&root)?;
        root.present()
            .with_context(|| format!("cannot write {}", svg.display()))?;
    }
    Ok([png, svg])
}

fn drawing<E: std::error::Error + Send + Sync + 'static>(
    e: DrawingAreaErrorKind<E>,
) -> anyhow::Error {
    anyhow!("cannot draw the figure: {e}")
}

/// The range of `values` widened by 5% (a unit range around a single value).
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    (lo - pad, hi + pad)
}

/// How a legend entry shows its series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Key {
    Line,
    Dashed,
    Dot,
    Block,
}

/// One line of a legend.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    pub colour: RGBColor,
    pub key: Key,
}

/// The size of legend text, and the height of one legend line.
const LEGEND_TEXT: u32 = 13;
const LEGEND_LINE: i32 = 22;
/// The width of a legend's key and the gaps around it.
const KEY_WIDTH: i32 = 22;
const LEGEND_PAD: i32 = 10;

/// The width of the column that holds `entries` beside a plot.
fn legend_width(entries: &[Entry]) -> u32 {
    register_font();
    let font = text(LEGEND_TEXT);
    let widest = entries
        .iter()
        .map(|e| {
            font.font
                .box_size(&e.name)
                .map_or(e.name.chars().count() as u32 * 8, |(w, _)| w)
        })
        .max()
        .unwrap_or(0);
    if entries.is_empty() {
        0
    } else {
        widest + (KEY_WIDTH + 3 * LEGEND_PAD) as u32
    }
}

/// Splits `root` into the plot (left) and a legend column (right) for `entries`, draws the
/// legend, and returns the plot's area.
fn beside_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    entries: &[Entry],
) -> anyhow::Result<DrawingArea<DB, Shift>>
where
    DB::ErrorType: 'static,
{
    let width = legend_width(entries);
    if width == 0 {
        return Ok(root.clone());
    }
    let (total, height) = root.dim_in_pixel();
    let (plot, column) = root.split_horizontally(total.saturating_sub(width));
    let top = (height as i32 - entries.len() as i32 * LEGEND_LINE).max(0) / 2;
    for (i, e) in entries.iter().enumerate() {
        let y = top + i as i32 * LEGEND_LINE + LEGEND_LINE / 2;
        let (x0, x1) = (LEGEND_PAD, LEGEND_PAD + KEY_WIDTH);
        let style = e.colour.stroke_width(2);
        match e.key {
            Key::Line => column.draw(&PathElement::new(vec![(x0, y), (x1, y)], style)),
            Key::Dashed => {
                for x in (x0..x1).step_by(8) {
                    column.draw(&PathElement::new(vec![(x, y), ((x + 5).min(x1), y)], style))?;
                }
                Ok(())
            }
            Key::Dot => column.draw(&Circle::new(((x0 + x1) / 2, y), 4, e.colour.filled())),
            Key::Block => column.draw(&Rectangle::new(
                [(x0 + 4, y - 6), (x1 - 4, y + 6)],
                e.colour.filled(),
            )),
        }
        .map_err(drawing)?;
        column
            .draw_text(
                &e.name,
                &text(LEGEND_TEXT).pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Left,
                    plotters::style::text_anchor::VPos::Center,
                )),
                (x1 + LEGEND_PAD, y),
            )
            .map_err(drawing)?;
    }
    Ok(plot)
}

/// The legend entries of `charts`, each name once, in order of appearance.
fn unique(entries: impl IntoIterator<Item = Entry>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for e in entries {
        if !out.iter().any(|o| o.name == e.name) {
            out.push(e);
        }
    }
    out
}

/// `value` drawn within `range` when one is fixed.
fn clamp(value: f64, range: Option<(f64, f64)>) -> f64 {
    match range {
        Some((lo, hi)) => value.clamp(lo, hi),
        None => value,
    }
}

/// Each of `categories` as the lines it is written in below its tick at `size` px: broken
/// after spaces and underscores where the name is wider than its category; and the
/// height the labels need below the axis.
fn category_lines(categories: &[String], size: u32) -> (Vec<Vec<String>>, u32) {
    // Average glyph width of the sans-serif font, as a share of its size.
    const GLYPH: f64 = 0.6;
    let room = f64::from(PLOT_SIZE.0 - 100) / categories.len().max(1) as f64;
    let width = ((room / (GLYPH * f64::from(size))) as usize).max(4);
    let lines: Vec<Vec<String>> = categories.iter().map(|c| wrap(c, width)).collect();
    let most = lines.iter().map(Vec::len).max().unwrap_or(1) as u32;
    (lines, most * (size + 3) + 16)
}

/// `text` in lines of at most `width` characters where it can break: after a space or
/// an underscore (a word longer than `width` keeps its own line).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    let mut piece = String::new();
    for ch in text.chars() {
        piece.push(ch);
        if ch == ' ' || ch == '_' {
            pieces.push(std::mem::take(&mut piece));
        }
    }
    pieces.push(piece);
    let mut lines: Vec<String> = Vec::new();
    for piece in pieces.into_iter().filter(|p| !p.is_empty()) {
        match lines.last_mut() {
            Some(line) if line.chars().count() + piece.trim_end().chars().count() <= width => {
                line.push_str(&piece)
            }
            _ => lines.push(piece),
        }
    }
    lines.iter().map(|l| l.trim_end().to_string()).collect()
}

/// Writes `lines` centred below the tick of each category of `chart`, on `area`.
fn draw_category_lines<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    area: &DrawingArea<DB, Shift>,
    chart: &ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Y>>,
    lines: &[Vec<String>],
    bottom: f64,
    size: u32,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let style = text(size).pos(Pos::new(HPos::Center, VPos::Top));
    let (left, top) = area.get_base_pixel();
    for (i, category) in lines.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64, bottom));
        for (k, line) in category.iter().enumerate() {
            let at = (x - left, y - top + 8 + k as i32 * (size as i32 + 3));
            area.draw_text(line, &style, at).map_err(drawing)?;
        }
    }
    Ok(())
}

/// No tick label: [`draw_category_lines`] writes the categories' names.
fn no_label(_: &f64) -> String {
    String::new()
}

fn text(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

/// The largest title size used.
const TITLE_SIZE: u32 = 20;

/// The font for `title` over an area `width` pixels wide: [`TITLE_SIZE`], or smaller (down
/// to 10) until the whole title fits, so that no title is cut at the figure's edge.
fn title_style(title: &str, width: u32) -> TextStyle<'static> {
    register_font();
    let room = width.saturating_sub(2 * 12);
    (10..=TITLE_SIZE)
        .rev()
        .map(text)
        .find(|style| style.font.box_size(title).is_ok_and(|(w, _)| w <= room))
        .unwrap_or_else(|| text(10))
}

/// The plot's own size, before the legend column is added.
const PLOT_SIZE: (u32, u32) = (760, 500);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_title_gets_a_smaller_font_that_fits_the_figure() {
        let short = title_style("Reliability", 760);
        assert_eq!(short.font.get_size(), f64::from(TITLE_SIZE));
        let title = "Reliability: accuracy against confidence (validation split, judged weights, pooled over seeds)";
        let fitted = title_style(title, 760);
        let (width, _) = fitted.font.box_size(title).expect("a measured title");
        assert!(fitted.font.get_size() < f64::from(TITLE_SIZE));
        assert!(width <= 760 - 24, "{width} px");
    }

    #[test]
    fn long_category_names_wrap_after_spaces_and_underscores() {
        assert_eq!(wrap("cce", 10), ["cce"]);
        assert_eq!(
            wrap("generalized_dice bg=false", 12),
            ["generalized_", "dice", "bg=false"]
        );
        assert_eq!(wrap("focal γ=1", 9), ["focal γ=1"]);
        assert_eq!(wrap("focal γ=1", 6), ["focal", "γ=1"]);
    }
}
