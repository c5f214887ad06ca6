//! Grouped bar charts: one bar per group in every category, each with its interval when it
//! has one.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    beside_legend, category_lines, draw_category_lines, drawing, legend_width, no_label, text,
    title_style, Entry, Figure, Key,
};

/// Grouped bars: `values[group][category]`.
#[derive(Debug, Clone)]
pub struct Bars {
    pub title: String,
    pub y_label: String,
    pub categories: Vec<String>,
    pub groups: Vec<(String, RGBColor, Vec<f64>)>,
    /// `intervals[group][category]`: an interval drawn as an error bar over the bar; empty
    /// (or `None`) for none.
    pub intervals: Vec<Vec<Option<(f64, f64)>>>,
}

impl Bars {
    /// The interval of group `g`'s bar in category `c`, when it has a finite one.
    fn interval(&self, g: usize, c: usize) -> Option<(f64, f64)> {
        let (low, high) = self.intervals.get(g)?.get(c).copied().flatten()?;
        (low.is_finite() && high.is_finite()).then_some((low, high))
    }

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
        let highs = (0..self.groups.len()).flat_map(|g| {
            (0..self.categories.len()).filter_map(move |c| self.interval(g, c).map(|i| i.1))
        });
        let top = self
            .groups
            .iter()
            .flat_map(|g| g.2.iter().copied())
            .chain(highs)
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        let (category_lines, label_area) = category_lines(&self.categories, 12);
        let mut chart = ChartBuilder::on(&plot)
            .caption(&self.title, title_style(&self.title, plot.dim_in_pixel().0))
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
            let whiskers = (0..values.len()).filter_map(|c| {
                let (low, high) = self.interval(g, c)?;
                let centre = left(c) + width * 0.46;
                let cap = width * 0.2;
                Some(vec![
                    PathElement::new(vec![(centre, low), (centre, high)], BLACK.stroke_width(2)),
                    PathElement::new(vec![(centre - cap, low), (centre + cap, low)], BLACK),
                    PathElement::new(vec![(centre - cap, high), (centre + cap, high)], BLACK),
                ])
            });
            chart.draw_series(whiskers.flatten()).map_err(drawing)?;
        }
        Ok(())
    }
}
