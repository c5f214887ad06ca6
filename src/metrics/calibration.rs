//! Calibration of the run's own probabilities over a split: the top-label expected
//! calibration error in 15 equal-width bins (as torchmetrics'
//! `MulticlassCalibrationError(n_bins=15, norm="l1")`), the multi-class Brier score, the
//! negative log-likelihood, and the reliability bins behind them.
//!
//! The probabilities are the softmax of the logits for softmax losses, and for sigmoid
//! losses the sigmoids normalised over the classes (`σ(z_c) / Σ_k σ(z_k)`), so that both
//! are a distribution over classes. A pixel's confidence is its largest probability and it
//! is correct when that class is the target. Bins are `[k/15, (k+1)/15)` on float32
//! boundaries; a confidence of exactly 1 falls, as in torchmetrics, in a bin of its own
//! after the 15th (it counts in the ECE; the reliability bins merge it into the 15th).
//! Brier is `Σ_c (p_c − y_c)²` per pixel (between 0 and 2), NLL `−log p_target`, both mean
//! over valid pixels. Pixels whose target is `ignore_index` take no part.

use tch::{Device, Kind, Tensor};

use crate::losses::Activation;

/// The number of equal-width confidence bins.
pub const BINS: usize = 15;

/// One reliability bin: how many pixels, their mean confidence and their accuracy (NaN
/// for an empty bin).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bin {
    pub count: f64,
    pub confidence: f64,
    pub accuracy: f64,
}

/// The calibration of one split.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    pub ece: f64,
    pub brier: f64,
    pub nll: f64,
    /// [`BINS`] bins, lowest confidence first.
    pub bins: Vec<Bin>,
}

/// Running sums over a split's batches, on the tensors' device.
pub struct CalibrationAccumulator {
    activation: Activation,
    ignore_index: Option<i64>,
    /// `[BINS + 1]` float64 each: pixel counts, confidence sums, correct counts.
    counts: Tensor,
    confidences: Tensor,
    correct: Tensor,
    /// `[2]` float64: Brier and NLL sums.
    scores: Tensor,
    boundaries: Tensor,
}

impl CalibrationAccumulator {
    /// Empty sums for a run whose loss uses `activation`.
    pub fn new(activation: Activation, ignore_index: Option<i64>, device: Device) -> Self {
        let zeros = |n: i64| Tensor::zeros([n], (Kind::Double, device));
        CalibrationAccumulator {
            activation,
            ignore_index,
            counts: zeros(BINS as i64 + 1),
            confidences: zeros(BINS as i64 + 1),
            correct: zeros(BINS as i64 + 1),
            scores: zeros(2),
            boundaries: Tensor::linspace(0.0, 1.0, BINS as i64 + 1, (Kind::Float, device)),
        }
    }

    /// The probabilities and their logarithms, `[N, C, H, W]`.
    fn probabilities(&self, logits: &Tensor) -> (Tensor, Tensor) {
        match self.activation {
            Activation::Softmax => (
                logits.softmax(1, Kind::Float),
                logits.log_softmax(1, Kind::Float),
            ),
            Activation::Sigmoid => {
                let s = logits.sigmoid();
                let log_s = logits.log_sigmoid();
                let p = &s / s.sum_dim_intlist([1i64].as_slice(), true, Kind::Float);
                let log_p = &log_s - log_s.logsumexp([1i64].as_slice(), true);
                (p, log_p)
            }
        }
    }

    /// Adds one batch: `logits` `[N, C, H, W]` float, `target` `[N, H, W]` int64.
    pub fn update(&mut self, logits: &Tensor, target: &Tensor) {
        let _guard = tch::no_grad_guard();
        let logits = logits.to_kind(Kind::Float);
        let valid = match self.ignore_index {
            Some(ignore) => target.ne(ignore),
            None => target.ones_like().to_kind(Kind::Bool),
        };
        let (p, log_p) = self.probabilities(&logits);
        let (confidence, prediction) = p.max_dim(1, false);
        let confidence = confidence.masked_select(&valid);
        let right = prediction
            .eq_tensor(target)
            .masked_select(&valid)
            .to_kind(Kind::Double);
        let bin = confidence.bucketize(&self.boundaries, false, true) - 1;
        let slots = BINS as i64 + 1;
        self.counts += bin.bincount::<Tensor>(None, slots).to_kind(Kind::Double);
        self.confidences += bin.bincount(Some(confidence.to_kind(Kind::Double)), slots);
        self.correct += bin.bincount(Some(right), slots);

        let clean = target.where_scalarother(&valid, 0);
        let classes = logits.size()[1];
        let y = clean
            .one_hot(classes)
            .permute([0, 3, 1, 2])
            .to_kind(Kind::Double);
        let brier = (p.to_kind(Kind::Double) - y)
            .square()
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Double)
            .masked_select(&valid)
            .sum(Kind::Double);
        let nll = -log_p
            .gather(1, &clean.unsqueeze(1), false)
            .squeeze_dim(1)
            .to_kind(Kind::Double)
            .masked_select(&valid)
            .sum(Kind::Double);
        self.scores += Tensor::stack(&[brier, nll], 0);
    }

    /// Reads the sums back (one host transfer) and derives the scores.
    pub fn finish(&self) -> Result<Calibration, tch::TchError> {
        let sums = Tensor::cat(
            &[&self.counts, &self.confidences, &self.correct, &self.scores],
            0,
        )
        .to_device(Device::Cpu);
        let flat = Vec::<f64>::try_from(&sums)?;
        let s = BINS + 1;
        Ok(Calibration::from_sums(
            &flat[..s],
            &flat[s..2 * s],
            &flat[2 * s..3 * s],
            flat[3 * s],
            flat[3 * s + 1],
        ))
    }
}

impl Calibration {
    /// The scores from per-slot counts, confidence sums and correct counts (`BINS + 1`
    /// slots, the last for a confidence of exactly 1) and the Brier and NLL sums.
    pub fn from_sums(
        counts: &[f64],
        confidences: &[f64],
        correct: &[f64],
        brier: f64,
        nll: f64,
    ) -> Self {
        let n: f64 = counts.iter().sum();
        let gap: f64 = confidences
            .iter()
            .zip(correct)
            .map(|(c, a)| (a - c).abs())
            .sum();
        let bins = (0..BINS)
            .map(|k| {
                // The slot of confidence 1 joins the last bin.
                let take = |v: &[f64]| v[k] + if k + 1 == BINS { v[BINS] } else { 0.0 };
                let count = take(counts);
                Bin {
                    count,
                    confidence: take(confidences) / count,
                    accuracy: take(correct) / count,
                }
            })
            .collect();
        Calibration {
            ece: gap / n,
            brier: brier / n,
            nll: nll / n,
            bins,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calibration(logits: &Tensor, target: &Tensor, activation: Activation) -> Calibration {
        let mut acc = CalibrationAccumulator::new(activation, Some(255), Device::Cpu);
        acc.update(logits, target);
        acc.finish().expect("calibration")
    }

    #[test]
    fn uniform_probabilities_on_two_classes_score_brier_half_and_nll_log_two() {
        let logits = Tensor::zeros([1, 2, 2, 2], (Kind::Float, Device::Cpu));
        let target = Tensor::from_slice(&[0i64, 1, 1, 255]).reshape([1, 2, 2]);
        let c = calibration(&logits, &target, Activation::Softmax);
        assert!((c.brier - 0.5).abs() < 1e-12);
        assert!((c.nll - 2f64.ln()).abs() < 1e-6);
        // Confidence 0.5 in bin 7 ([7/15, 8/15)); argmax of ties is class 0, right once
        // in three: |1/3 - 1/2|.
        assert_eq!(c.bins[7].count, 3.0);
        assert!((c.ece - (0.5 - 1.0 / 3.0)).abs() < 1e-7);
    }

    #[test]
    fn a_certain_correct_prediction_is_perfectly_calibrated() {
        let logits = Tensor::from_slice(&[40.0f32, -40.0]).reshape([1, 2, 1, 1]);
        let target = Tensor::from_slice(&[0i64]).reshape([1, 1, 1]);
        let c = calibration(&logits, &target, Activation::Softmax);
        assert_eq!(c.ece, 0.0);
        assert_eq!(
            c.bins[BINS - 1].count,
            1.0,
            "confidence 1 joins the last bin"
        );
    }

    #[test]
    fn sigmoid_probabilities_are_normalised_over_classes() {
        // σ(0) = 1/2 on both channels: normalised, 1/2 each, the softmax of zeros.
        let logits = Tensor::zeros([1, 2, 1, 2], (Kind::Float, Device::Cpu));
        let target = Tensor::from_slice(&[0i64, 1]).reshape([1, 1, 2]);
        let s = calibration(&logits, &target, Activation::Sigmoid);
        let m = calibration(&logits, &target, Activation::Softmax);
        assert!((s.nll - m.nll).abs() < 1e-7 && (s.brier - m.brier).abs() < 1e-12);
    }
}
