//! Line charts: curves with bands over epochs, and small multiples of them.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    beside_legend, clamp, drawing, legend_width, padded, text, title_style, unique, Entry, Figure,
    Key, PLOT_SIZE,
};

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
            .caption(&self.title, title_style(&self.title, area.dim_in_pixel().0))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::plots::{colour, save};

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
