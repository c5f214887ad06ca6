//! Figures drawn with plotters, each written as PNG and SVG: line charts with bands (mean
//! and interval over seeds), small multiples of them, scatter charts with intervals, and
//! grouped bars. Text uses an embedded DejaVu Sans, so figures need no system fonts.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{anyhow, Context};
use plotters::coord::Shift;
use plotters::prelude::*;

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

const FAMILY: &str = "sans-serif";

/// Makes the embedded font the one plotters draws text with.
fn register_font() {
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
    /// Where the legend goes (away from where the curves are).
    pub legend: SeriesLabelPosition,
    /// Headroom above the data, as a share of its range, to keep the legend off the curves.
    pub headroom: f64,
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

/// The legend box, in the same style on every chart.
fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .label_font(text(13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(position)
        .draw()
        .map_err(drawing)
}

/// Labels whole x positions 0, 1, 2, ... with the names of `categories`.
fn category_label(categories: &[String]) -> impl Fn(&f64) -> String {
    let categories = categories.to_vec();
    move |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            categories.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    }
}

fn text(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

impl LineChart {
    fn draw_on<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let (x0, x1) = padded(xs);
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
        let (y0, y1) = padded(ys);
        let y1 = y1 + (y1 - y0) * self.headroom;
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

    /// Axes, labels and grid, whole-number x labels (epochs).
    fn mesh<'a, DB, Y>(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    ) -> anyhow::Result<()>
    where
        DB: DrawingBackend + 'a,
        DB::ErrorType: 'static,
        Y: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
    {
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_label_formatter(&whole)
            .label_style(text(13))
            .axis_desc_style(text(15))
            .draw()
            .map_err(drawing)
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
        for s in &self.series {
            if s.band.len() >= 2 {
                let mut polygon: Vec<(f64, f64)> = s.band.iter().map(|b| (b.0, b.2)).collect();
                polygon.extend(s.band.iter().rev().map(|b| (b.0, b.1)));
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
                .copied()
                .filter(|p| p.1.is_finite() && keep(p.1))
                .collect();
            let colour = s.colour;
            let style = colour.stroke_width(2);
            let drawn = if s.dashed {
                chart
                    .draw_series(DashedLineSeries::new(points, 6, 4, style))
                    .map_err(drawing)?
            } else {
                chart
                    .draw_series(LineSeries::new(points, style))
                    .map_err(drawing)?
            };
            drawn.label(&s.name).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
        }
        for (value, name) in &self.hlines {
            let grey = RGBColor(90, 90, 90);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x0, *value), (x1, *value)],
                    4,
                    4,
                    grey.stroke_width(1),
                ))
                .map_err(drawing)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], grey.stroke_width(1))
                });
        }
        legend(chart, self.legend.clone())
    }
}

impl Figure for LineChart {
    fn size(&self) -> (u32, u32) {
        (820, 500)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(drawing)?;
        self.draw_on(root)
    }
}

impl Figure for SmallMultiples {
    fn size(&self) -> (u32, u32) {
        let rows = self.panels.len().div_ceil(self.columns.max(1)) as u32;
        (460 * self.columns.max(1) as u32, 340 * rows.max(1) + 40)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(drawing)?;
        let body = root.titled(&self.title, text(22)).map_err(drawing)?;
        let columns = self.columns.max(1);
        let rows = self.panels.len().div_ceil(columns).max(1);
        for (panel, area) in self.panels.iter().zip(body.split_evenly((rows, columns))) {
            panel.draw_on(&area)?;
        }
        Ok(())
    }
}

impl Figure for Scatter {
    fn size(&self) -> (u32, u32) {
        (820, 500)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(drawing)?;
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
        let ys = self.groups.iter().flat_map(|g| {
            g.points
                .iter()
                .map(|p| p.1)
                .chain(g.intervals.iter().flat_map(|i| [i.2, i.3]))
        });
        let (y0, y1) = padded(ys);
        // Headroom for the legend, which sits in the upper right.
        let y1 = y1 + (y1 - y0) * 0.35;
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(&self.title, text(20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60);
        let label = category_label(&self.categories);
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
                    .x_label_formatter(&label)
                    .disable_x_mesh();
            }
            mesh.draw().map_err(drawing)?;
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
        for g in &self.groups {
            let colour = g.colour;
            chart
                .draw_series(
                    g.points
                        .iter()
                        .map(|p| Circle::new(*p, 4, colour.mix(0.75).filled())),
                )
                .map_err(drawing)?
                .label(&g.name)
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, colour.filled()));
            for (x, mean, low, high) in &g.intervals {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(*x, *low), (*x, *high)],
                        colour.stroke_width(2),
                    )))
                    .map_err(drawing)?;
                chart
                    .draw_series(std::iter::once(Cross::new(
                        (*x, *mean),
                        7,
                        colour.stroke_width(3),
                    )))
                    .map_err(drawing)?;
            }
        }
        legend(chart, SeriesLabelPosition::UpperRight)
    }
}

impl Figure for Bars {
    fn size(&self) -> (u32, u32) {
        (900, 500)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(drawing)?;
        let n = self.categories.len();
        let top = self
            .groups
            .iter()
            .flat_map(|g| g.2.iter().copied())
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, text(20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..(top * 1.1).max(1e-9))
            .map_err(drawing)?;
        let label = category_label(&self.categories);
        chart
            .configure_mesh()
            .y_desc(&self.y_label)
            .x_labels(n * 2 + 1)
            .x_label_formatter(&label)
            .disable_x_mesh()
            .label_style(text(12))
            .axis_desc_style(text(15))
            .draw()
            .map_err(drawing)?;
        let groups = self.groups.len().max(1) as f64;
        let width = 0.8 / groups;
        for (g, (name, colour, values)) in self.groups.iter().enumerate() {
            let colour = *colour;
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
                .map_err(drawing)?
                .label(name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            legend: SeriesLabelPosition::LowerRight,
            headroom: 0.0,
        }
    }

    #[test]
    fn line_chart_writes_a_valid_png_and_an_svg_with_its_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let [png, svg] = save(&chart(), &dir.path().join("miou")).expect("figure");
        let image = image::open(&png).expect("valid PNG");
        assert_eq!((image.width(), image.height()), (820, 500));
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
}
