//! Intervals of metrics whose values sit at their bounds stay inside the metric's range.

use super::*;
use crate::metrics::range;

/// Three seeds of cce and dice whose scores sit near 0 and 1 and whose errors and distances
/// sit near 0, with every quality column the scorecard reads.
fn at_the_bounds() -> DataFrame {
    let miou = [[0.02, 0.001, 0.06], [0.03, 0.002, 0.09]];
    let accuracy = [[0.99, 0.999, 0.93], [0.995, 0.9999, 0.90]];
    let mut specs = Vec::new();
    for (l, loss) in ["cce", "dice"].into_iter().enumerate() {
        for s in 0..3 {
            let mut run = spec(loss, s as i64 + 1, &[0.5, miou[l][s]]);
            run.rows = vec![
                (0.5, 0.5, 0.5),
                (miou[l][s], accuracy[l][s], accuracy[l][s]),
            ];
            specs.push(run);
        }
    }
    let mut frame = frame(&specs);
    let height = frame.height();
    // Per row: the run's seed picks a value near the bound.
    let seeds: Vec<i64> = frame
        .column("seed")
        .and_then(|c| c.i64().cloned())
        .expect("seeds")
        .into_no_null_iter()
        .collect();
    let near = |values: [f64; 3]| -> Vec<f64> {
        seeds.iter().map(|&s| values[(s - 1) as usize]).collect()
    };
    for (name, values) in [
        ("val_dice", near([0.01, 0.0005, 0.07])),
        ("val_ece", near([0.001, 0.2, 0.01])),
        ("val_brier", near([1.99, 1.7, 1.999])),
        ("val_nll", near([0.01, 0.9, 0.001])),
        ("val_hd95", near([0.1, 10.0, 0.5])),
        ("val_nsd", near([0.999, 0.9, 0.9999])),
        ("val_biou", near([0.001, 0.1, 0.0001])),
    ] {
        assert_eq!(values.len(), height);
        frame
            .with_column(Column::new(name.into(), values))
            .expect("a quality column");
    }
    frame
}

fn inside(metric: &str, (low, high): (f64, f64)) -> bool {
    let (a, b) = range(metric).expect("a bounded metric");
    a <= low && low <= high && high <= b
}

#[test]
fn no_interval_of_a_bounded_metric_leaves_its_range() {
    let analysis = analyse(&at_the_bounds(), &[], &Settings::default()).expect("analysis");
    let card = analysis.scorecard.expect("a scorecard");
    assert!(card.metrics.len() >= 8, "{:?}", card.metrics);
    let mut clipped = 0;
    for cell in &card.cells {
        let ci = cell.ci.expect("3 seeds give an interval");
        assert!(
            inside(&cell.metric, ci),
            "{} {}: {ci:?}",
            cell.loss,
            cell.metric
        );
        clipped += usize::from(cell.ci_clipped);
    }
    // These finals would put unclipped t-intervals past their bounds.
    assert!(clipped >= 8, "{clipped} clipped");
    for s in &analysis.summaries {
        assert!(inside(&s.metric, s.ci.expect("an interval")), "{s:?}");
    }
    let runs = Runs::from_frame(&at_the_bounds()).expect("runs");
    for metric in ["pixel_accuracy", "val_miou"] {
        for band in bands(&runs, metric, &[]).expect("bands") {
            assert_eq!(band.kind, BandKind::TInterval95);
            for (&low, &high) in band.low.iter().zip(&band.high) {
                assert!(inside(metric, (low, high)), "{metric}: [{low}, {high}]");
            }
        }
    }
}

#[test]
fn paired_differences_keep_their_negative_intervals() {
    let analysis = analyse(&at_the_bounds(), &[], &Settings::default()).expect("analysis");
    let dice = analysis
        .pooled_differences
        .iter()
        .find(|d| d.loss == "dice")
        .expect("dice against cce");
    let (low, high) = dice.ci.expect("an interval");
    assert!(low < 0.0 && high > 0.0, "[{low}, {high}]");
}

#[test]
fn every_metric_column_but_the_losses_has_a_range() {
    for metric in METRICS.iter().chain(&QUALITY) {
        let is_loss = metric.ends_with("loss");
        assert_eq!(range(metric).is_none(), is_loss, "{metric}");
    }
    for prefix in PER_CLASS {
        assert!(range(&format!("{prefix}3")).is_some(), "{prefix}3");
    }
    assert_eq!(range("test_miou"), Some((0.0, 1.0)));
    assert_eq!(range("val_brier"), Some((0.0, 2.0)));
    assert_eq!(range("test_hd95"), Some((0.0, f64::INFINITY)));
}
