//! Figures drawn with plotters, each written as PNG and SVG: line charts with bands (mean
//! and interval over seeds), small multiples of them, scatter charts with intervals, and
//! grouped bars. Every legend sits in a column beside the plot, never over the data, and a
//! score axis can be fixed to [0, 1]. Text uses an embedded DejaVu Sans, so figures need no
//! system fonts.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{anyhow, Context};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
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

/// One curve: points, an optional band `(x, low, high)`, and whether it is dashed.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub colour: RGBColor,
    pub points: Vec<(f64, f64)>,
    pub band: Vec<(f64, f64, f64)>,
    pub dashed: bool,
}

/// A line chart.
#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Horizontal reference lines: value and legend text.
    pub hlines: Vec<(f64, String)>,
    pub log_y: bool,
    /// A fixed y range (a score axis: `Some((0.0, 1.0))`); what falls outside is drawn at
    /// the edge. `None` fits the data.
    pub y_range: Option<(f64, f64)>,
    /// Whether x labels only whole numbers (epochs).
    pub whole_x: bool,
}

/// Labels only whole numbers (epochs).
fn whole(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{:.0}", x)
    } else {
        String::new()
    }
}

/// Several line charts side by side, sharing nothing but the figure.
#[derive(Debug, Clone)]
pub struct SmallMultiples {
    pub title: String,
    pub panels: Vec<LineChart>,
    pub columns: usize,
}

/// Points with optional vertical intervals, on a numeric or a categorical x axis.
#[derive(Debug, Clone)]
pub struct Scatter {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Names of categorical x positions 0, 1, 2, ...; empty for a numeric axis.
    pub categories: Vec<String>,
    pub log_x: bool,
    /// A fixed y range (a score axis: `Some((0.0, 1.0))`); `None` fits the data.
    pub y_range: Option<(f64, f64)>,
    pub groups: Vec<PointGroup>,
}

/// One group of a scatter: its points and its `(x, mean, low, high)` intervals.
#[derive(Debug, Clone)]
pub struct PointGroup {
    pub name: String,
    pub colour: RGBColor,
    pub points: Vec<(f64, f64)>,
    pub intervals: Vec<(f64, f64, f64, f64)>,
}

/// Grouped bars: `values[group][category]`.
#[derive(Debug, Clone)]
pub struct Bars {
    pub title: String,
    pub y_label: String,
    pub categories: Vec<String>,
    pub groups: Vec<(String, RGBColor, Vec<f64>)>,
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

impl LineChart {
    /// The legend: one entry per series, then one per reference line.
    fn entries(&self) -> Vec<Entry> {
        let series = self.series.iter().map(|s| Entry {
            name: s.name.clone(),
            colour: s.colour,
            key: if s.dashed { Key::Dashed } else { Key::Line },
        });
        let lines = self.hlines.iter().map(|(_, name)| Entry {
            name: name.clone(),
            colour: REFERENCE_GREY,
            key: Key::Dashed,
        });
        series.chain(lines).collect()
    }

    /// The y range the chart shows: the fixed one, or the data's padded.
    fn y_bounds(&self) -> (f64, f64) {
        if let Some(range) = self.y_range {
            return range;
        }
        let ys = self
            .series
            .iter()
            .flat_map(|s| {
                s.points
                    .iter()
                    .map(|p| p.1)
                    .chain(s.band.iter().flat_map(|b| [b.1, b.2]))
            })
            .chain(self.hlines.iter().map(|h| h.0))
            .filter(|y| !self.log_y || *y > 0.0);
        padded(ys)
    }

    fn draw_on<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let (x0, x1) = padded(xs);
        let (y0, y1) = self.y_bounds();
        let mut builder = ChartBuilder::on(area);
        builder
            .caption(&self.title, text(20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60);
        if self.log_y {
            let (lo, hi) = (y0.max(1e-6), y1.max(y0.max(1e-6) * 10.0));
            let mut chart = builder
                .build_cartesian_2d(x0..x1, (lo..hi).log_scale())
                .map_err(drawing)?;
            self.mesh(&mut chart)?;
            self.draw_series(&mut chart, x0, x1, |y| y > 0.0)
        } else {
            let mut chart = builder
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(drawing)?;
            self.mesh(&mut chart)?;
            self.draw_series(&mut chart, x0, x1, |_| true)
        }
    }

    /// Axes, labels and grid; whole-number x labels for epochs.
    fn mesh<'a, DB, Y>(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    ) -> anyhow::Result<()>
    where
        DB: DrawingBackend + 'a,
        DB::ErrorType: 'static,
        Y: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
    {
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(text(13))
            .axis_desc_style(text(15));
        if self.whole_x {
            mesh.x_label_formatter(&whole);
        }
        mesh.draw().map_err(drawing)
    }

    fn draw_series<'a, DB, Y>(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
        x0: f64,
        x1: f64,
        keep: impl Fn(f64) -> bool,
    ) -> anyhow::Result<()>
    where
        DB: DrawingBackend + 'a,
        DB::ErrorType: 'static,
        Y: Ranged<ValueType = f64>,
    {
        let fix = |y: f64| clamp(y, self.y_range);
        for s in &self.series {
            if s.band.len() >= 2 {
                let mut polygon: Vec<(f64, f64)> = s.band.iter().map(|b| (b.0, fix(b.2))).collect();
                polygon.extend(s.band.iter().rev().map(|b| (b.0, fix(b.1))));
                let polygon: Vec<(f64, f64)> = polygon.into_iter().filter(|p| keep(p.1)).collect();
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        polygon,
                        s.colour.mix(0.18).filled(),
                    )))
                    .map_err(drawing)?;
            }
            let points: Vec<(f64, f64)> = s
                .points
                .iter()
                .filter(|p| p.1.is_finite() && keep(p.1))
                .map(|p| (p.0, fix(p.1)))
                .collect();
            let style = s.colour.stroke_width(2);
            if s.dashed {
                chart
                    .draw_series(DashedLineSeries::new(points, 6, 4, style))
                    .map_err(drawing)?;
            } else {
                chart
                    .draw_series(LineSeries::new(points, style))
                    .map_err(drawing)?;
            }
        }
        for (value, _) in &self.hlines {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x0, *value), (x1, *value)],
                    4,
                    4,
                    REFERENCE_GREY.stroke_width(1),
                ))
                .map_err(drawing)?;
        }
        Ok(())
    }
}

/// The colour of reference lines.
const REFERENCE_GREY: RGBColor = RGBColor(90, 90, 90);

/// The plot's own size, before the legend column is added.
const PLOT_SIZE: (u32, u32) = (760, 500);

impl Figure for LineChart {
    fn size(&self) -> (u32, u32) {
        (PLOT_SIZE.0 + legend_width(&self.entries()), PLOT_SIZE.1)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(drawing)?;
        let plot = beside_legend(root, &self.entries())?;
        self.draw_on(&plot)
    }
}

impl SmallMultiples {
    /// One legend for every panel: each name once.
    fn entries(&self) -> Vec<Entry> {
        unique(self.panels.iter().flat_map(|p| p.entries()))
    }
}

impl Figure for SmallMultiples {
    fn size(&self) -> (u32, u32) {
        let rows = self.panels.len().div_ceil(self.columns.max(1)) as u32;
        (
            420 * self.columns.max(1) as u32 + legend_width(&self.entries()),
            320 * rows.max(1) + 40,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(drawing)?;
        let body = root.titled(&self.title, text(22)).map_err(drawing)?;
        let body = beside_legend(&body, &self.entries())?;
        let columns = self.columns.max(1);
        let rows = self.panels.len().div_ceil(columns).max(1);
        for (panel, area) in self.panels.iter().zip(body.split_evenly((rows, columns))) {
            panel.draw_on(&area)?;
        }
        Ok(())
    }
}

impl Scatter {
    fn entries(&self) -> Vec<Entry> {
        self.groups
            .iter()
            .filter(|g| !g.name.is_empty())
            .map(|g| Entry {
                name: g.name.clone(),
                colour: g.colour,
                key: Key::Dot,
            })
            .collect()
    }

    /// The y range the chart shows: the fixed one, or the data's padded.
    fn y_bounds(&self) -> (f64, f64) {
        if let Some(range) = self.y_range {
            return range;
        }
        padded(self.groups.iter().flat_map(|g| {
            g.points
                .iter()
                .map(|p| p.1)
                .chain(g.intervals.iter().flat_map(|i| [i.2, i.3]))
        }))
    }
}

impl Figure for Scatter {
    fn size(&self) -> (u32, u32) {
        (PLOT_SIZE.0 + legend_width(&self.entries()), PLOT_SIZE.1)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(drawing)?;
        let plot = beside_legend(root, &self.entries())?;
        let categorical = !self.categories.is_empty();
        let (x0, x1) = if categorical {
            (-0.5, self.categories.len() as f64 - 0.5)
        } else {
            let xs = self
                .groups
                .iter()
                .flat_map(|g| g.points.iter().map(|p| p.0))
                .filter(|x| !self.log_x || *x > 0.0);
            padded(xs)
        };
        let (y0, y1) = self.y_bounds();
        let (category_lines, label_area) = category_lines(&self.categories, 13);
        let mut builder = ChartBuilder::on(&plot);
        builder
            .caption(&self.title, text(20))
            .margin(12)
            .x_label_area_size(if categorical { label_area } else { 44 })
            .y_label_area_size(60);
        if self.log_x {
            // Pad by a factor on a log axis, not by a share of the linear range.
            let positive = || {
                self.groups
                    .iter()
                    .flat_map(|g| g.points.iter().map(|p| p.0))
                    .filter(|x| *x > 0.0)
            };
            let lo = positive().fold(f64::INFINITY, f64::min);
            let hi = positive().fold(0.0, f64::max);
            let (lo, hi) = if lo.is_finite() {
                (lo / 1.5, hi * 1.5)
            } else {
                (x0.max(1e-6), x1.max(1.0))
            };
            let mut chart = builder
                .build_cartesian_2d((lo..hi).log_scale(), y0..y1)
                .map_err(drawing)?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .label_style(text(13))
                .axis_desc_style(text(15))
                .draw()
                .map_err(drawing)?;
            self.draw_groups(&mut chart)
        } else {
            let mut chart = builder
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(drawing)?;
            let mut mesh = chart.configure_mesh();
            mesh.x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .label_style(text(13))
                .axis_desc_style(text(15));
            if categorical {
                mesh.x_labels(self.categories.len() * 2 + 1)
                    .x_label_formatter(&no_label)
                    .disable_x_mesh();
            }
            mesh.draw().map_err(drawing)?;
            if categorical {
                draw_category_lines(&plot, &chart, &category_lines, y0, 13)?;
            }
            self.draw_groups(&mut chart)
        }
    }
}

impl Scatter {
    fn draw_groups<'a, DB, X>(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    ) -> anyhow::Result<()>
    where
        DB: DrawingBackend + 'a,
        DB::ErrorType: 'static,
        X: Ranged<ValueType = f64>,
    {
        let fix = |y: f64| clamp(y, self.y_range);
        for g in &self.groups {
            let colour = g.colour;
            chart
                .draw_series(
                    g.points
                        .iter()
                        .map(|p| Circle::new((p.0, fix(p.1)), 4, colour.mix(0.75).filled())),
                )
                .map_err(drawing)?;
            for (x, mean, low, high) in &g.intervals {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(*x, fix(*low)), (*x, fix(*high))],
                        colour.stroke_width(2),
                    )))
                    .map_err(drawing)?;
                chart
                    .draw_series(std::iter::once(Cross::new(
                        (*x, fix(*mean)),
                        7,
                        colour.stroke_width(3),
                    )))
                    .map_err(drawing)?;
            }
        }
        Ok(())
    }
}

impl Bars {
    fn entries(&self) -> Vec<Entry> {
        self.groups
            .iter()
            .map(|(name, colour, _)| Entry {
                name: name.clone(),
                colour: *colour,
                key: Key::Block,
            })
            .collect()
    }
}

impl Figure for Bars {
    fn size(&self) -> (u32, u32) {
        (840 + legend_width(&self.entries()), 500)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(drawing)?;
        let plot = beside_legend(root, &self.entries())?;
        let n = self.categories.len();
        let top = self
            .groups
            .iter()
            .flat_map(|g| g.2.iter().copied())
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        let (category_lines, label_area) = category_lines(&self.categories, 12);
        let mut chart = ChartBuilder::on(&plot)
            .caption(&self.title, text(20))
            .margin(12)
            .x_label_area_size(label_area)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..(top * 1.1).max(1e-9))
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .y_desc(&self.y_label)
            .x_labels(n * 2 + 1)
            .x_label_formatter(&no_label)
            .disable_x_mesh()
            .label_style(text(12))
            .axis_desc_style(text(15))
            .draw()
            .map_err(drawing)?;
        draw_category_lines(&plot, &chart, &category_lines, 0.0, 12)?;
        let groups = self.groups.len().max(1) as f64;
        let width = 0.8 / groups;
        for (g, (_, colour, values)) in self.groups.iter().enumerate() {
            let left = |c: usize| c as f64 - 0.4 + g as f64 * width;
            chart
                .draw_series(
                    values
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| v.is_finite())
                        .map(|(c, v)| {
                            Rectangle::new(
                                [(left(c), 0.0), (left(c) + width * 0.92, *v)],
                                colour.filled(),
                            )
                        }),
                )
                .map_err(drawing)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn chart() -> LineChart {
        LineChart {
            title: "mIoU <per> epoch".into(),
            x_label: "epoch".into(),
            y_label: "mIoU".into(),
            series: vec![Series {
                name: "cce".into(),
                colour: colour(0),
                points: vec![(1.0, 0.2), (2.0, 0.4), (3.0, 0.5)],
                band: vec![(1.0, 0.1, 0.3), (2.0, 0.3, 0.5), (3.0, 0.45, 0.55)],
                dashed: false,
            }],
            hlines: vec![(0.857, "all off".into())],
            log_y: false,
            y_range: None,
            whole_x: true,
        }
    }

    #[test]
    fn line_chart_writes_a_valid_png_and_an_svg_with_its_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let [png, svg] = save(&chart(), &dir.path().join("miou")).expect("figure");
        let image = image::open(&png).expect("valid PNG");
        assert_eq!((image.width(), image.height()), chart().size());
        let text = std::fs::read_to_string(&svg).expect("svg");
        assert!(
            text.starts_with("<svg") || text.contains("<svg"),
            "not an SVG"
        );
        assert!(
            text.contains("mIoU &lt;per&gt; epoch"),
            "title escaped in the SVG"
        );
    }

    /// The columns of `image` at and right of `x` that hold a pixel of `colour`.
    fn has_colour_right_of(image: &image::RgbImage, x: u32, colour: RGBColor) -> bool {
        image
            .enumerate_pixels()
            .any(|(px, _, p)| px >= x && p.0 == [colour.0, colour.1, colour.2])
    }

    #[test]
    fn legend_sits_in_a_column_beside_the_plot_not_over_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let chart = chart();
        let [png, _] = save(&chart, &dir.path().join("miou")).expect("figure");
        let image = image::open(&png).expect("valid PNG").to_rgb8();
        assert!(image.width() > PLOT_SIZE.0, "a legend column is added");
        assert!(
            has_colour_right_of(&image, PLOT_SIZE.0, colour(0)),
            "the series' key is drawn in the legend column"
        );
        let mut bare = chart.clone();
        bare.series[0].name = "a much longer name for the same series".into();
        assert!(
            bare.size().0 > chart.size().0,
            "the column widens for longer names"
        );
    }

    #[test]
    fn a_score_axis_stays_within_zero_and_one_even_when_a_band_leaves_it() {
        let mut score = chart();
        score.series[0].band = vec![(1.0, -0.2, 0.6), (2.0, 0.3, 1.3), (3.0, 0.4, 0.9)];
        let fitted = score.y_bounds();
        assert!(
            fitted.0 < -0.2 && fitted.1 > 1.3,
            "fits the data: {fitted:?}"
        );
        score.y_range = Some((0.0, 1.0));
        assert_eq!(score.y_bounds(), (0.0, 1.0));
        let dir = tempfile::tempdir().expect("tempdir");
        let [_, svg] = save(&score, &dir.path().join("score")).expect("figure");
        let text = std::fs::read_to_string(&svg).expect("svg");
        // Every number written in the SVG is a tick label (epochs on x, scores on y).
        let numbers: Vec<f64> = text
            .split('>')
            .filter_map(|t| t.split('<').next()?.trim().parse::<f64>().ok())
            .collect();
        let scores: Vec<f64> = numbers
            .iter()
            .copied()
            .filter(|v| v.fract() != 0.0)
            .collect();
        assert!(!scores.is_empty(), "the y axis is labelled: {numbers:?}");
        assert!(
            numbers.iter().all(|v| (0.0..=3.5).contains(v)) && scores.iter().all(|v| *v <= 1.0),
            "nothing labelled beyond [0, 1] on y: {numbers:?}"
        );
    }

    #[test]
    fn small_multiples_share_one_legend_with_each_name_once() {
        let figure = SmallMultiples {
            title: "panels".into(),
            panels: vec![chart(), chart()],
            columns: 2,
        };
        let names: Vec<String> = figure.entries().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["cce", "all off"]);
    }
}
