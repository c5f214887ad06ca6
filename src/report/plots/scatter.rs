//! Scatter charts: points with vertical intervals on a numeric or a categorical x axis.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    beside_legend, category_lines, clamp, draw_category_lines, drawing, legend_width, no_label,
    padded, text, title_style, Entry, Figure, Key, PLOT_SIZE,
};

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
            .caption(&self.title, title_style(&self.title, plot.dim_in_pixel().0))
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
