//! Segmentation metrics of a split, one family per file: overlap here (the confusion
//! matrix of the argmax prediction, by `bincount` on the tensor side and read back once:
//! per-class IoU and Dice, mIoU, mean Dice, pixel accuracy, Keras-style binary accuracy
//! under sigmoid and softmax), calibration of the probabilities in [`calibration`], and
//! boundary distances in [`boundary`] (on the CPU, through the distance transform of
//! [`distance`]).
//!
//! Definitions follow `peer/README.md`; pixels whose target is `ignore_index`
//! take no part in any of them.

pub mod boundary;
pub mod calibration;
pub mod distance;
#[cfg(test)]
mod reference_tests;

use tch::{Kind, Tensor};

/// The prefix of the test split's frame columns: every validation metric's column with
/// `val_` dropped and the prefix added (`test_loss`, `test_miou`, `test_pixel_accuracy`,
/// `test_iou_0`, `test_ece`, `test_dice_3`, `test_reliability_count_0`, ..., as
/// [`test_metric`] names them). Defined here, below both the store that writes the columns
/// and the analysis that reads them.
pub const TEST_PREFIX: &str = "test_";

/// The validation columns whose names start with `val_`; every other validation column
/// (`pixel_accuracy`, `iou_3`, `dice_3`, ...) has no split prefix.
const VAL_PREFIXED: [&str; 11] = [
    "loss",
    "miou",
    "dice",
    "ece",
    "brier",
    "nll",
    "hd95",
    "nsd",
    "biou",
    "boundary_both_empty",
    "boundary_one_empty",
];

/// The test split's column of the validation metric `metric`: `val_miou` → `test_miou`,
/// `pixel_accuracy` → `test_pixel_accuracy`, `iou_3` → `test_iou_3`. A test column is
/// returned as it is.
pub fn test_metric(metric: &str) -> String {
    if metric.starts_with(TEST_PREFIX) {
        return metric.to_string();
    }
    format!(
        "{TEST_PREFIX}{}",
        metric.strip_prefix("val_").unwrap_or(metric)
    )
}

/// The validation metric whose test column is `metric` (the inverse of [`test_metric`]),
/// `None` when `metric` is not a test column.
pub fn validation_metric(metric: &str) -> Option<String> {
    let rest = metric.strip_prefix(TEST_PREFIX)?;
    Some(if VAL_PREFIXED.contains(&rest) {
        format!("val_{rest}")
    } else {
        rest.to_string()
    })
}

/// The frame column of the epoch whose weights a run kept (`train.select`).
pub const SELECTED_EPOCH: &str = "selected_epoch";
/// The frame column of the training steps fp16's loss scaling skipped in an epoch.
pub const SKIPPED_STEPS: &str = "skipped_steps";
/// The frame column of the seconds an epoch's steps waited for their batches.
pub const DATA_SECONDS: &str = "data_seconds";
pub use boundary::{Boundary, BoundaryAccumulator};
pub use calibration::{Calibration, CalibrationAccumulator};

/// The surface Dice's tolerance and the boundary IoU's band width, in pixels, when the
/// sweep does not set `report.boundary_tolerance`.
pub const DEFAULT_BOUNDARY_TOLERANCE: f64 = 2.0;

/// The frame's columns of a validation metric per loss the report summarises and the
/// verdict weighs, the overlap ones first: each is one value per epoch.
pub const SUMMARY_METRICS: [&str; 9] = [
    "val_miou",
    "val_dice",
    "pixel_accuracy",
    "val_ece",
    "val_brier",
    "val_nll",
    "val_hd95",
    "val_nsd",
    "val_biou",
];

/// Whether `metric` is one of [`SUMMARY_METRICS`].
pub fn is_summary_metric(metric: &str) -> bool {
    SUMMARY_METRICS.contains(&metric)
}

/// Whether a smaller value of `metric` (a frame column, per class ones included) is
/// better: calibration errors, distances and the counts of empty masks.
pub fn lower_is_better(metric: &str) -> bool {
    // A per-class column's `_<k>` suffix; `val_hd95`'s own digits stay.
    let name = match metric.rsplit_once('_') {
        Some((head, k)) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => metric,
    };
    [
        "ece",
        "brier",
        "nll",
        "hd95",
        "boundary_both_empty",
        "boundary_one_empty",
    ]
    .iter()
    .any(|m| name.ends_with(m))
}

/// The values a metric (a frame column, per class ones included) can take, `(low, high)`:
/// [0, 1] for overlaps, accuracies, the ECE and the confidences; [0, 2] for the multi-class
/// Brier score; [0, ∞) for the NLL, distances, counts, gradient norms, rates and times.
/// `None` for a loss, which a scaled or custom loss may put anywhere.
pub fn range(metric: &str) -> Option<(f64, f64)> {
    let name = metric
        .strip_prefix(TEST_PREFIX)
        .or_else(|| metric.strip_prefix("val_"))
        .unwrap_or(metric);
    let name = match name.rsplit_once('_') {
        Some((head, k)) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => name,
    };
    const UNIT: [&str; 13] = [
        "miou",
        "iou",
        "pixel_accuracy",
        "binary_accuracy",
        "binary_accuracy_sigmoid",
        "binary_accuracy_softmax",
        "dice",
        "ece",
        "nsd",
        "biou",
        "grad_share",
        "reliability_confidence",
        "reliability_accuracy",
    ];
    const NON_NEGATIVE: [&str; 10] = [
        "nll",
        SKIPPED_STEPS,
        "hd95",
        "grad_norm",
        "lr",
        "seconds",
        DATA_SECONDS,
        "boundary_both_empty",
        "boundary_one_empty",
        "reliability_count",
    ];
    if UNIT.contains(&name) {
        Some((0.0, 1.0))
    } else if name == "brier" {
        Some((0.0, 2.0))
    } else if NON_NEGATIVE.contains(&name) {
        Some((0.0, f64::INFINITY))
    } else {
        None
    }
}

/// The metrics of a split beyond its overlap counts: Dice, calibration and boundaries.
#[derive(Clone, Debug, PartialEq)]
pub struct Quality {
    /// `None` where a class is in neither the target nor the prediction.
    pub dice_per_class: Vec<Option<f64>>,
    /// Mean Dice over the classes that have one.
    pub mean_dice: f64,
    pub calibration: Calibration,
    pub boundary: Boundary,
}

impl Quality {
    /// A split's quality from its overlap metrics and its calibration and boundary sums.
    pub fn new(metrics: &Metrics, calibration: Calibration, boundary: Boundary) -> Self {
        Quality {
            mean_dice: boundary::mean_of_present(&metrics.dice_per_class),
            dice_per_class: metrics.dice_per_class.clone(),
            calibration,
            boundary,
        }
    }

    /// NaN everywhere for `classes` classes: what a frame written before these metrics
    /// were recorded holds (and, for no class, the [`Default`]).
    pub fn missing(classes: usize) -> Self {
        let nan_bin = calibration::Bin {
            count: f64::NAN,
            confidence: f64::NAN,
            accuracy: f64::NAN,
        };
        Quality {
            dice_per_class: vec![None; classes],
            mean_dice: f64::NAN,
            calibration: Calibration {
                ece: f64::NAN,
                brier: f64::NAN,
                nll: f64::NAN,
                bins: vec![nan_bin; calibration::BINS],
            },
            boundary: Boundary {
                hd95_per_class: vec![None; classes],
                nsd_per_class: vec![None; classes],
                biou_per_class: vec![None; classes],
                hd95: f64::NAN,
                nsd: f64::NAN,
                biou: f64::NAN,
                both_empty: 0,
                one_empty: 0,
            },
        }
    }
}

/// Running sums for one split; call [`Accumulator::update`] per batch and
/// [`Accumulator::finish`] once.
pub struct Accumulator {
    classes: i64,
    ignore_index: Option<i64>,
    /// `[C * C]` int64 counts, row = target, column = prediction.
    confusion: Tensor,
    /// Channel-pixels where `(sigmoid(z) > 0.5) == (y == 1)`, int64 scalar.
    binary_hits_sigmoid: Tensor,
    /// Channel-pixels where `(softmax(z) > 0.5) == (y == 1)`, int64 scalar.
    binary_hits_softmax: Tensor,
}

/// The metrics of one split, read back from an [`Accumulator`].
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// `confusion[i][j]`: valid pixels of target class `i` predicted as class `j`.
    pub confusion: Vec<Vec<i64>>,
    /// `None` where a class has an empty union (never in target nor prediction).
    pub iou_per_class: Vec<Option<f64>>,
    /// `2 tp / (row + column)`, `None` where both are 0.
    pub dice_per_class: Vec<Option<f64>>,
    /// Mean IoU over the classes with a non-empty union.
    pub miou: f64,
    pub pixel_accuracy: f64,
    pub binary_accuracy_sigmoid: f64,
    pub binary_accuracy_softmax: f64,
}

impl Accumulator {
    /// Empty sums for `classes` classes on `device`.
    pub fn new(classes: i64, ignore_index: Option<i64>, device: tch::Device) -> Self {
        let zeros = |n: i64| Tensor::zeros([n], (Kind::Int64, device));
        Accumulator {
            classes,
            ignore_index,
            confusion: zeros(classes * classes),
            binary_hits_sigmoid: zeros(1),
            binary_hits_softmax: zeros(1),
        }
    }

    /// Adds one batch: `logits` `[N, C, H, W]`, `target` `[N, H, W]` int64.
    pub fn update(&mut self, logits: &Tensor, target: &Tensor) {
        let _guard = tch::no_grad_guard();
        let c = self.classes;
        let valid = match self.ignore_index {
            Some(ignore) => target.ne(ignore),
            None => target.ones_like().to_kind(Kind::Bool),
        };
        let prediction = logits.argmax(1, false);
        let pairs = (target.masked_select(&valid) * c) + prediction.masked_select(&valid);
        self.confusion += pairs.bincount::<Tensor>(None, c * c);

        // Channel-wise hits over valid pixels: `[N, C, H, W]` booleans, invalid pixels dropped.
        let clean = target.where_scalarother(&valid, 0);
        let on = clean.one_hot(c).permute([0, 3, 1, 2]).to_kind(Kind::Bool);
        let valid_c = valid.unsqueeze(1).expand_as(&on);
        let hits = |probs: Tensor| {
            probs
                .gt(0.5)
                .eq_tensor(&on)
                .logical_and(&valid_c)
                .sum(Kind::Int64)
                .reshape([1])
        };
        self.binary_hits_sigmoid += hits(logits.sigmoid());
        self.binary_hits_softmax += hits(logits.softmax(1, logits.kind()));
    }

    /// Reads the sums back (one host transfer) and derives every metric.
    pub fn finish(&self) -> Result<Metrics, tch::TchError> {
        let c = self.classes as usize;
        let sums = Tensor::cat(
            &[
                &self.confusion,
                &self.binary_hits_sigmoid,
                &self.binary_hits_softmax,
            ],
            0,
        )
        .to_device(tch::Device::Cpu);
        let flat = Vec::<i64>::try_from(&sums)?;
        let confusion: Vec<Vec<i64>> = flat[..c * c].chunks(c).map(<[i64]>::to_vec).collect();
        Ok(Metrics::from_confusion(
            confusion,
            flat[c * c],
            flat[c * c + 1],
        ))
    }
}

impl Metrics {
    /// Derives every metric from a confusion matrix and the binary-accuracy hit counts.
    pub fn from_confusion(confusion: Vec<Vec<i64>>, sigmoid_hits: i64, softmax_hits: i64) -> Self {
        let c = confusion.len();
        let row = |i: usize| confusion[i].iter().sum::<i64>();
        let col = |j: usize| confusion.iter().map(|r| r[j]).sum::<i64>();
        let total: i64 = (0..c).map(row).sum();
        let trace: i64 = (0..c).map(|i| confusion[i][i]).sum();
        let ratio = |num: i64, den: i64| (den > 0).then(|| num as f64 / den as f64);
        let iou_per_class: Vec<Option<f64>> = (0..c)
            .map(|k| ratio(confusion[k][k], row(k) + col(k) - confusion[k][k]))
            .collect();
        let dice_per_class = (0..c)
            .map(|k| ratio(2 * confusion[k][k], row(k) + col(k)))
            .collect();
        let present: Vec<f64> = iou_per_class.iter().flatten().copied().collect();
        let miou = if present.is_empty() {
            f64::NAN
        } else {
            present.iter().sum::<f64>() / present.len() as f64
        };
        let channel_pixels = total * c as i64;
        Metrics {
            pixel_accuracy: ratio(trace, total).unwrap_or(f64::NAN),
            binary_accuracy_sigmoid: ratio(sigmoid_hits, channel_pixels).unwrap_or(f64::NAN),
            binary_accuracy_softmax: ratio(softmax_hits, channel_pixels).unwrap_or(f64::NAN),
            confusion,
            iou_per_class,
            dice_per_class,
            miou,
        }
    }

    /// Total valid pixels counted.
    pub fn pixels(&self) -> i64 {
        self.confusion.iter().flatten().sum()
    }

    /// The binary accuracy a framework would report for a model trained with `loss`: on
    /// sigmoid outputs for the sigmoid family, on softmax outputs otherwise.
    pub fn binary_accuracy_for(&self, loss: crate::losses::Loss) -> f64 {
        match loss.activation() {
            crate::losses::Activation::Sigmoid => self.binary_accuracy_sigmoid,
            crate::losses::Activation::Softmax => self.binary_accuracy_softmax,
        }
    }
}

impl Default for Quality {
    fn default() -> Self {
        Quality::missing(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_off_prediction_scores_c_minus_one_over_c_binary_accuracy() {
        // Every logit very negative: every sigmoid channel "off", so (C-1)/C of the
        // channel-pixels are correct whatever the target.
        let logits = Tensor::full([1, 7, 4, 4], -10.0, (Kind::Float, tch::Device::Cpu));
        let target = Tensor::arange(16, (Kind::Int64, tch::Device::Cpu))
            .remainder(7)
            .reshape([1, 4, 4]);
        let mut acc = Accumulator::new(7, None, tch::Device::Cpu);
        acc.update(&logits, &target);
        let m = acc.finish().expect("metrics");
        assert!((m.binary_accuracy_sigmoid - 6.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn test_columns_name_their_validation_metric_and_back() {
        for (val, test) in [
            ("val_miou", "test_miou"),
            ("val_loss", "test_loss"),
            ("val_ece", "test_ece"),
            ("val_boundary_one_empty", "test_boundary_one_empty"),
            ("pixel_accuracy", "test_pixel_accuracy"),
            ("iou_3", "test_iou_3"),
            ("dice_10", "test_dice_10"),
        ] {
            assert_eq!(test_metric(val), test);
            assert_eq!(test_metric(test), test, "a test column stays as it is");
            assert_eq!(validation_metric(test).as_deref(), Some(val));
        }
        assert_eq!(validation_metric("val_miou"), None);
    }

    #[test]
    fn errors_and_distances_are_lower_is_better_scores_are_not() {
        for m in [
            "val_ece",
            "val_brier",
            "val_nll",
            "val_hd95",
            "hd95_3",
            "val_boundary_one_empty",
        ] {
            assert!(lower_is_better(m), "{m}");
        }
        for m in [
            "val_miou", "val_dice", "val_nsd", "val_biou", "nsd_10", "dice_0",
        ] {
            assert!(!lower_is_better(m), "{m}");
        }
    }

    #[test]
    fn ignored_pixels_are_not_counted() {
        let logits = Tensor::zeros([1, 3, 2, 2], (Kind::Float, tch::Device::Cpu));
        let target = Tensor::from_slice(&[0i64, 255, 255, 1]).reshape([1, 2, 2]);
        let mut acc = Accumulator::new(3, Some(255), tch::Device::Cpu);
        acc.update(&logits, &target);
        assert_eq!(acc.finish().expect("metrics").pixels(), 2);
    }
}
