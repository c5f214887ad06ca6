//! Helpers the sections share: bands as series and in words, figure references, loss order.

use crate::analyse::{Band, BandKind, Runs};
use crate::losses::Loss;

use super::html::FigureRef;
use super::plots::Series;
use super::Colours;

/// A band as a plotted series, optionally divided by its value at the first epoch.
pub(super) fn series(band: &Band, name: String, normalise: bool, colours: &Colours) -> Series {
    let scale = if normalise {
        band.mean
            .first()
            .copied()
            .filter(|v| *v != 0.0)
            .unwrap_or(1.0)
    } else {
        1.0
    };
    let x: Vec<f64> = band.epochs.iter().map(|e| *e as f64).collect();
    Series {
        name,
        colour: colours.of(&band.loss),
        points: x
            .iter()
            .zip(&band.mean)
            .map(|(x, y)| (*x, y / scale))
            .collect(),
        band: x
            .iter()
            .zip(band.low.iter().zip(&band.high))
            .filter(|(_, (l, h))| l.is_finite() && h.is_finite())
            .map(|(x, (l, h))| (*x, l / scale, h / scale))
            .collect(),
        dashed: false,
    }
}

/// The mark after an interval that reached past its metric's range and was clipped to it.
pub(super) const CLIPPED: &str = " (clipped)";

/// How the report makes the interval of a metric's mean, in words for the page.
pub(super) const INTERVALS: &str = "Student's t-interval of the mean over seeds, clipped to the metric's range where it reaches past it and then marked (clipped); the true mean lies inside the range, so clipping never changes whether the interval covers it. Where seeds' values pile up against a bound they are skewed and the interval covers less than 95%: 94-95% in simulation when their spread is under a third of the distance to the bound, 87-92% when it equals that distance (README, Statistics)";

/// "mean with a 95% t-interval of the mean over seeds", or the min–max wording.
pub(super) fn band_words(bands: &[Band]) -> String {
    let kinds: Vec<BandKind> = bands.iter().map(|b| b.kind).collect();
    let describe = |k: BandKind| k.describe().to_string();
    match (kinds.contains(&BandKind::TInterval95), kinds.contains(&BandKind::MinMax)) {
        (true, true) => format!(
            "Lines are means over seeds; bands are the {} where a loss has at least 3 seeds, the {} otherwise.",
            describe(BandKind::TInterval95),
            describe(BandKind::MinMax)
        ),
        (false, true) => format!("Lines are means over seeds; bands are the {} (fewer than 3 seeds).", describe(BandKind::MinMax)),
        _ => format!("Lines are means over seeds; bands are the {}.", describe(BandKind::TInterval95)),
    }
}

pub(super) fn named(bands: &[Band]) -> Vec<(String, &Band)> {
    bands
        .iter()
        .map(|b| {
            let n = b.runs;
            let band = match b.kind {
                BandKind::TInterval95 => "95% CI band",
                BandKind::MinMax => "min–max band",
            };
            (format!("{} (n={n}, {band})", b.loss), b)
        })
        .collect()
}

pub(super) fn figure(stem: &str, caption: String) -> FigureRef {
    FigureRef {
        stem: stem.to_string(),
        caption,
        png_only: false,
    }
}

/// The losses of the frame, in the order of the study.
pub(super) fn loss_order(runs: &Runs) -> Vec<String> {
    let mut losses: Vec<String> = Vec::new();
    for r in &runs.runs {
        if !losses.contains(&r.loss) {
            losses.push(r.loss.clone());
        }
    }
    let rank = |l: &String| {
        l.parse::<Loss>()
            .ok()
            .and_then(|x| Loss::ALL.iter().position(|y| *y == x))
            .unwrap_or(usize::MAX)
    };
    losses.sort_by_key(rank);
    losses
}
