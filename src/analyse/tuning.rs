//! What tuning changed: each loss's paired difference from the reference loss in the final,
//! tuned comparison beside the same difference in the untuned grid (`[base]`'s settings,
//! the same final seeds), and the share of the untuned difference that tuning removed, said
//! only where the untuned difference is established (its 95% interval excludes 0).

use serde::Serialize;

use super::findings::{paired_differences, PairedDifference};
use super::runs::Runs;
use super::AnalyseError;

/// One loss against the reference, untuned and tuned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effect {
    pub loss: String,
    pub reference: String,
    pub metric: String,
    /// Mean paired difference `loss − reference` and its 95% interval, untuned.
    pub untuned: (f64, Option<(f64, f64)>),
    /// The same in the tuned comparison.
    pub tuned: (f64, Option<(f64, f64)>),
    /// `1 − |tuned| / |untuned|` when the two have the same sign: the share of the untuned
    /// difference that tuning removed (negative: tuning widened it); `None` when the sign
    /// changed or the untuned difference is zero.
    pub removed: Option<f64>,
}

/// Each loss of both comparisons against `reference` on `metric`, pooled over the other axes.
pub fn effects(
    tuned: &Runs,
    untuned: &Runs,
    metric: &str,
    reference: &str,
) -> Result<Vec<Effect>, AnalyseError> {
    let of = |runs: &Runs| -> Result<Vec<PairedDifference>, AnalyseError> {
        if !runs.metrics.iter().any(|m| m == metric) {
            return Ok(Vec::new());
        }
        paired_differences(runs, metric, reference, &[], None)
    };
    let (after, before) = (of(tuned)?, of(untuned)?);
    Ok(after
        .iter()
        .filter_map(|a| {
            let b = before.iter().find(|b| b.loss == a.loss)?;
            Some(Effect {
                loss: a.loss.clone(),
                reference: a.reference.clone(),
                metric: metric.to_string(),
                untuned: (b.mean, b.ci),
                tuned: (a.mean, a.ci),
                removed: removed(b.mean, a.mean),
            })
        })
        .collect())
}

/// `1 − |tuned| / |untuned|` when both have the same sign (or tuned is 0).
fn removed(untuned: f64, tuned: f64) -> Option<f64> {
    (untuned != 0.0 && (tuned == 0.0 || tuned.signum() == untuned.signum()))
        .then(|| 1.0 - tuned.abs() / untuned.abs())
}

/// The sentence of one effect, in metric units.
pub fn sentence(e: &Effect) -> String {
    let interval = |ci: Option<(f64, f64)>| {
        ci.map_or_else(String::new, |(l, h)| {
            format!(" (95% CI {l:+.3} to {h:+.3})")
        })
    };
    let base = format!(
        "{} − {}: {:+.3}{} untuned, {:+.3}{} tuned",
        e.loss,
        e.reference,
        e.untuned.0,
        interval(e.untuned.1),
        e.tuned.0,
        interval(e.tuned.1)
    );
    if e.untuned.1.is_none_or(|(l, h)| l <= 0.0 && 0.0 <= h) {
        return format!(
            "{base}: the untuned difference is not established (its 95% interval includes 0), so no share of it is said to be removed."
        );
    }
    let tuned = if e.tuned.1.is_none_or(|(l, h)| l <= 0.0 && 0.0 <= h) {
        "; the tuned difference is not established (its 95% interval includes 0)"
    } else {
        ""
    };
    match e.removed {
        Some(r) if r >= 0.0 => format!(
            "{base}: tuning removed {:.0}% of the mean difference{tuned}.",
            100.0 * r
        ),
        Some(r) => format!(
            "{base}: tuning widened the mean difference by {:.0}%{tuned}.",
            -100.0 * r
        ),
        None if e.untuned.0 == 0.0 => format!("{base}."),
        None => format!("{base}: tuning reversed the sign of the mean difference{tuned}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effect(untuned: f64, tuned: f64) -> Effect {
        Effect {
            loss: "bce".into(),
            reference: "cce".into(),
            metric: "test_miou".into(),
            untuned: (untuned, Some((untuned - 0.01, untuned + 0.01))),
            tuned: (tuned, None),
            removed: removed(untuned, tuned),
        }
    }

    #[test]
    fn the_sentence_says_how_much_tuning_removed_widened_or_reversed() {
        assert!(sentence(&effect(-0.2, -0.05))
            .ends_with("tuning removed 75% of the mean difference; the tuned difference is not established (its 95% interval includes 0)."));
        let mut established = effect(-0.2, -0.05);
        established.tuned.1 = Some((-0.08, -0.02));
        assert!(sentence(&established).ends_with("tuning removed 75% of the mean difference."));
        assert!(sentence(&effect(-0.1, -0.15)).contains("widened the mean difference by 50%"));
        assert!(sentence(&effect(-0.1, 0.02)).contains("reversed the sign of the mean difference"));
        let mut unsure = effect(-0.001, -0.03);
        unsure.untuned.1 = Some((-0.1, 0.09));
        assert!(
            sentence(&unsure).contains("untuned difference is not established"),
            "{}",
            sentence(&unsure)
        );
    }
}
