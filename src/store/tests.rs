//! The store's tests: epoch rows through their frame and a Parquet round trip.

use super::*;

fn row(epoch: usize) -> EpochRow {
    EpochRow {
        epoch,
        train_loss: 1.0 / epoch as f64,
        val_loss: 0.5,
        val_miou: 0.25,
        pixel_accuracy: 0.75,
        binary_accuracy: 0.9,
        binary_accuracy_sigmoid: 0.9,
        binary_accuracy_softmax: 0.8,
        iou_per_class: vec![0.5, f64::NAN, 0.1],
        grad_norm: 2.0,
        grad_share: vec![0.2, 0.3, 0.5],
        quality: quality(epoch),
        lr: 1e-3,
        seconds: 0.1,
        data_seconds: 0.01,
        skipped_steps: None,
        selected_epoch: None,
        test: None,
    }
}

/// Quality metrics with every kind of cell: values, classes without one, counts.
fn quality(epoch: usize) -> crate::metrics::Quality {
    let mut q = crate::metrics::Quality::missing(3);
    q.dice_per_class = vec![Some(0.5), None, Some(0.25 * epoch as f64)];
    q.mean_dice = 0.375;
    q.calibration.ece = 0.04;
    q.calibration.brier = 0.3;
    q.calibration.nll = 0.9;
    q.calibration.bins[14].count = 12.0;
    q.calibration.bins[14].confidence = 0.97;
    q.calibration.bins[14].accuracy = 0.9;
    q.boundary.hd95_per_class = vec![Some(1.5), None, Some(3.0)];
    q.boundary.nsd_per_class = vec![Some(0.8), None, Some(0.5)];
    q.boundary.biou_per_class = vec![Some(0.7), Some(0.1), None];
    q.boundary.hd95 = 2.25;
    q.boundary.nsd = 0.65;
    q.boundary.biou = 0.4;
    q.boundary.both_empty = 3;
    q.boundary.one_empty = 1;
    q
}

#[test]
fn a_frame_without_quality_columns_reads_back_as_missing_quality() {
    let frame = epoch_frame(&[row(1)]).expect("frame");
    let old: Vec<String> = frame
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .filter(|n| !n.starts_with("val_") || n == "val_loss" || n == "val_miou")
        .filter(|n| {
            !["dice_", "hd95_", "nsd_", "biou_", "reliability_"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .collect();
    let back = epoch_rows(&frame.select(old).expect("old columns")).expect("rows");
    assert_eq!(
        format!("{:?}", back[0].quality),
        format!("{:?}", crate::metrics::Quality::missing(3))
    );
}

#[test]
fn rows_read_back_from_the_frame_are_the_rows_written() {
    let rows = vec![row(1), row(2)];
    let back = epoch_rows(&epoch_frame(&rows).expect("frame")).expect("rows");
    assert_eq!(back.len(), 2);
    for (a, b) in rows.iter().zip(&back) {
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "NaN included");
    }
}

#[test]
fn frame_has_one_row_per_epoch_and_one_iou_column_per_class() {
    let df = epoch_frame(&[row(1), row(2)]).expect("frame");
    assert_eq!(df.height(), 2);
    assert!(df.column("iou_2").is_ok());
    assert!(df.column("iou_3").is_err());
    assert!(df.column("grad_share_2").is_ok());
}

#[test]
fn parquet_round_trip_keeps_every_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut df = epoch_frame(&[row(1), row(2)]).expect("frame");
    write_frame(&mut df, dir.path(), "metrics").expect("write");
    let back = read_parquet(&dir.path().join("metrics.parquet")).expect("read");
    assert!(back.equals_missing(&df));
    assert!(dir.path().join("metrics.csv").exists());
    let leftovers = std::fs::read_dir(dir.path())
        .expect("list")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().contains(".tmp."))
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn a_selection_puts_the_selected_epoch_on_every_row_and_test_scores_on_its_row_only() {
    let mut rows = vec![row(1), row(2), row(3)];
    let plain = epoch_frame(&rows).expect("frame");
    assert!(plain.column(SELECTED_EPOCH).is_err() && plain.column("test_miou").is_err());
    let test = SplitScores {
        loss: 0.4,
        miou: 0.3,
        pixel_accuracy: 0.8,
        binary_accuracy: 0.9,
        binary_accuracy_sigmoid: 0.9,
        binary_accuracy_softmax: 0.85,
        iou_per_class: vec![0.2, f64::NAN, 0.4],
        quality: quality(7),
    };
    record_selection(
        &mut rows,
        &Selection {
            epoch: 2,
            test: Some(test.clone()),
        },
    );
    let frame = epoch_frame(&rows).expect("frame");
    let selected: Vec<Option<u32>> = frame
        .column(SELECTED_EPOCH)
        .and_then(|c| c.u32().map(|c| c.iter().collect()))
        .expect("selected_epoch");
    assert_eq!(selected, [Some(2); 3]);
    let miou: Vec<f64> = frame
        .column(&test_column("miou"))
        .and_then(|c| {
            c.f64()
                .map(|c| c.iter().map(|v| v.unwrap_or(0.0)).collect())
        })
        .expect("test_miou");
    assert!(
        miou[0].is_nan() && miou[1] == 0.3 && miou[2].is_nan(),
        "{miou:?}"
    );
    for name in [
        "test_loss",
        "test_pixel_accuracy",
        "test_binary_accuracy",
        "test_binary_accuracy_sigmoid",
        "test_binary_accuracy_softmax",
        "test_iou_0",
        "test_iou_2",
        "test_dice",
        "test_ece",
        "test_hd95",
        "test_boundary_one_empty",
        "test_dice_2",
        "test_biou_0",
        "test_reliability_count_14",
    ] {
        assert!(frame.column(name).is_ok(), "{name}");
    }
    // Every test column is the test form of a validation column of the same frame.
    for name in frame.get_column_names() {
        if let Some(val) = crate::metrics::validation_metric(name) {
            assert!(frame.column(&val).is_ok(), "{name} has no {val}");
        }
    }
    let ece: Vec<Option<f64>> = frame
        .column("test_ece")
        .and_then(|c| c.f64().map(|c| c.iter().collect()))
        .expect("test_ece");
    assert!(
        ece[0].is_some_and(f64::is_nan) && ece[1] == Some(0.04),
        "{ece:?}"
    );
    let back = epoch_rows(&frame).expect("rows");
    assert_eq!(format!("{back:?}"), format!("{rows:?}"), "NaN included");
    assert_eq!(format!("{:?}", back[1].test), format!("{:?}", Some(test)));
}

#[test]
fn runs_with_and_without_selection_columns_stack_with_nulls_in_the_sweep_frame() {
    let mut selected = vec![row(1), row(2)];
    record_selection(
        &mut selected,
        &Selection {
            epoch: 1,
            test: None,
        },
    );
    let a = epoch_frame(&[row(1)]).expect("frame");
    let b = epoch_frame(&selected).expect("frame");
    let (mut all, rows) = aligned(a, b).expect("aligned");
    all.vstack_mut(&rows).expect("stacks");
    assert_eq!(all.height(), 3);
    let column = all.column(SELECTED_EPOCH).expect("column");
    assert_eq!(column.null_count(), 1);
}
