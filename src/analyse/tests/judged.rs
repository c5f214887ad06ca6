//! Tests of the split a sweep is judged on: the test split's scores at each run's selected
//! epoch when the frame has them, validation otherwise, said in the verdict's first sentence.

use super::*;

/// `frame` with a `selected_epoch` of 1 on every row and, on epoch 1's rows, a test mIoU
/// from `test` (by run id); NaN elsewhere.
fn with_test(frame: DataFrame, test: &dyn Fn(&str) -> f64) -> DataFrame {
    let ids: Vec<String> = frame
        .column("run_id")
        .expect("run_id")
        .str()
        .expect("text")
        .iter()
        .map(|s| s.unwrap_or_default().to_string())
        .collect();
    let epochs: Vec<u32> = frame
        .column("epoch")
        .expect("epoch")
        .u32()
        .expect("u32")
        .iter()
        .map(|e| e.unwrap_or(0))
        .collect();
    let values: Vec<f64> = ids
        .iter()
        .zip(&epochs)
        .map(|(id, &e)| if e == 1 { test(id) } else { f64::NAN })
        .collect();
    let mut frame = frame;
    frame
        .with_column(Column::new(
            crate::metrics::SELECTED_EPOCH.into(),
            vec![1u32; ids.len()],
        ))
        .expect("column");
    frame
        .with_column(Column::new(TEST_METRIC.into(), values))
        .expect("column");
    frame
}

#[test]
fn a_frame_with_test_scores_is_judged_on_test_at_the_selected_epoch_and_says_so_first() {
    // On validation (last epoch) dice is 5 points ahead of cce; on test, at the selected
    // epoch, it is 5 points behind.
    let specs = six_seeds(0.05);
    let validation = analyse(&frame(&specs), &[], &Settings::default()).expect("analysis");
    assert_eq!(validation.metric, MAIN_METRIC);
    assert!(
        validation.verdict.text.starts_with(
            "Judged on the validation split, with the weights of each run's last epoch"
        ),
        "{}",
        validation.verdict.text
    );
    assert!(validation.pooled_differences[0].mean > 0.04);

    let seed_of = |id: &str| id.rsplit('-').next().and_then(|s| s.parse::<f64>().ok());
    let tested = with_test(frame(&specs), &|id| {
        let s = seed_of(id).unwrap_or(0.0);
        if id.starts_with("dice") {
            0.50 + 0.001 * s * s
        } else {
            0.55 + 0.001 * s
        }
    });
    let analysis = analyse(&tested, &[], &Settings::default()).expect("analysis");
    assert_eq!(analysis.metric, TEST_METRIC);
    assert!(
        analysis
            .verdict
            .text
            .starts_with("Judged on the held-out test split"),
        "{}",
        analysis.verdict.text
    );
    assert!(
        analysis.judged_on.contains("selected epoch"),
        "{}",
        analysis.judged_on
    );
    let d = &analysis.pooled_differences[0];
    assert_eq!(d.metric, TEST_METRIC);
    assert!(d.mean < -0.02, "{d:?}");
    assert!(
        analysis.verdict.text.contains("test mIoU"),
        "{}",
        analysis.verdict.text
    );
    let runs = Runs::from_frame(&tested).expect("runs");
    let finals = finals(&runs, "val_miou").expect("finals");
    assert!(
        finals.iter().all(|f| f.epoch == 1),
        "the selected epoch's values"
    );
}

#[test]
fn test_columns_without_a_finite_test_score_leave_the_judgement_on_validation() {
    let tested = with_test(frame(&six_seeds(0.05)), &|_| f64::NAN);
    let analysis = analyse(&tested, &[], &Settings::default()).expect("analysis");
    assert_eq!(analysis.metric, MAIN_METRIC);
}
