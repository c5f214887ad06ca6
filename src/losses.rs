//! The segmentation losses of the study, each exactly as defined in the reference README
//! (`peer/README.md`): logits `[N, C, H, W]` and an int64 target `[N, H, W]` in,
//! a scalar tensor out, differentiable through libtorch's autograd.
//!
//! Every loss works in the dtype of its logits, so the same code is checked in f64 against
//! the reference values and trained in f32.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::{Reduction, Tensor};

/// The denominator floor of the soft-overlap losses (segmentation_models_pytorch's default).
pub const EPS: f64 = 1e-7;

/// Tversky's weights of false positives and false negatives.
const TVERSKY_ALPHA: f64 = 0.3;
const TVERSKY_BETA: f64 = 0.7;

/// One loss of the study, chosen by name (`cce`, `bce`, `dice`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Softmax + categorical cross-entropy.
    Cce,
    /// Sigmoid + binary cross-entropy on the one-hot target, averaged over `|V| * C`.
    Bce,
    /// Soft Dice on the softmax, per class over the batch.
    Dice,
    /// Soft Jaccard on the softmax.
    Iou,
    /// `bce` plus soft Dice on the sigmoid.
    BceDice,
    /// `cce` plus soft Dice on the softmax.
    CceDice,
    /// Softmax focal loss, gamma 2.
    Focal,
    /// Soft Tversky on the softmax (alpha 0.3, beta 0.7).
    Tversky,
    /// Sigmoid divided by its channel sum, then cross-entropy.
    DepthSoftmaxCce,
}

/// The activation a loss puts on the logits, which decides which binary accuracy is the
/// model's "own" (the one Keras would report for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Softmax,
    Sigmoid,
}

impl Loss {
    /// Every loss, in the order of the study.
    pub const ALL: [Loss; 9] = [
        Loss::Cce,
        Loss::Bce,
        Loss::Dice,
        Loss::Iou,
        Loss::BceDice,
        Loss::CceDice,
        Loss::Focal,
        Loss::Tversky,
        Loss::DepthSoftmaxCce,
    ];

    /// The name used in sweep files, frames and reports.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Cce => "cce",
            Loss::Bce => "bce",
            Loss::Dice => "dice",
            Loss::Iou => "iou",
            Loss::BceDice => "bce_dice",
            Loss::CceDice => "cce_dice",
            Loss::Focal => "focal",
            Loss::Tversky => "tversky",
            Loss::DepthSoftmaxCce => "depth_softmax_cce",
        }
    }

    /// The comma-separated list of valid names, for error messages.
    pub fn valid_names() -> String {
        Loss::ALL.map(Loss::name).join(", ")
    }

    /// The activation the loss applies to the logits.
    pub fn activation(self) -> Activation {
        match self {
            Loss::Bce | Loss::BceDice | Loss::DepthSoftmaxCce => Activation::Sigmoid,
            _ => Activation::Softmax,
        }
    }

    /// The loss of `logits` `[N, C, H, W]` against `target` `[N, H, W]` (int64); pixels whose
    /// target equals `ignore_index` take no part.
    pub fn compute(self, logits: &Tensor, target: &Tensor, ignore_index: Option<i64>) -> Tensor {
        let t = || Targets::new(logits, target, ignore_index);
        // A soft-overlap score of the softmax against the target.
        let softmax_overlap = |score: fn(&Overlap) -> Tensor| {
            let t = t();
            overlap(&t.masked(logits.softmax(1, logits.kind())), &t, score)
        };
        match self {
            Loss::Cce => cce(logits, target, ignore_index),
            Loss::Bce => bce(logits, &t()),
            Loss::Dice => softmax_overlap(dice_score),
            Loss::Iou => softmax_overlap(iou_score),
            Loss::BceDice => {
                let t = t();
                bce(logits, &t) + overlap(&t.masked(logits.sigmoid()), &t, dice_score)
            }
            Loss::CceDice => cce(logits, target, ignore_index) + softmax_overlap(dice_score),
            Loss::Focal => focal(logits, &t()),
            Loss::Tversky => softmax_overlap(tversky_score),
            Loss::DepthSoftmaxCce => depth_softmax_cce(logits, &t()),
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A loss name that is not one of [`Loss::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown loss `{name}`; valid losses are: {valid}")]
pub struct UnknownLoss {
    pub name: String,
    pub valid: String,
}

impl FromStr for Loss {
    type Err = UnknownLoss;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Loss::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| UnknownLoss {
                name: s.to_string(),
                valid: Loss::valid_names(),
            })
    }
}

/// The target in the forms the losses need: the valid-pixel mask `[N, 1, H, W]` (`None`
/// when every pixel is valid: multiplying by ones would change nothing and cost a pass over
/// the batch), the one-hot target with invalid pixels zeroed `[N, C, H, W]`, and the count
/// of valid pixels.
struct Targets {
    mask: Option<Tensor>,
    one_hot: Tensor,
    valid: Tensor,
    /// The target with ignored pixels replaced by class 0 (masked out everywhere it is used).
    clean: Tensor,
}

impl Targets {
    fn new(logits: &Tensor, target: &Tensor, ignore_index: Option<i64>) -> Self {
        let kind = logits.kind();
        let classes = logits.size()[1];
        let one_hot = |clean: &Tensor| clean.one_hot(classes).permute([0, 3, 1, 2]).to_kind(kind);
        match ignore_index {
            Some(ignore) => {
                let valid_px = target.ne(ignore);
                let clean = target.where_scalarother(&valid_px, 0);
                let mask = valid_px.unsqueeze(1).to_kind(kind);
                Targets {
                    one_hot: one_hot(&clean) * &mask,
                    valid: mask.sum(kind),
                    mask: Some(mask),
                    clean,
                }
            }
            None => Targets {
                one_hot: one_hot(target),
                valid: Tensor::scalar_tensor(target.numel() as f64, (kind, target.device())),
                mask: None,
                clean: target.shallow_clone(),
            },
        }
    }

    /// `x` with the invalid pixels zeroed.
    fn masked(&self, x: Tensor) -> Tensor {
        match &self.mask {
            Some(mask) => x * mask,
            None => x,
        }
    }
}

fn cce(logits: &Tensor, target: &Tensor, ignore_index: Option<i64>) -> Tensor {
    logits.cross_entropy_loss::<Tensor>(
        target,
        None,
        Reduction::Mean,
        ignore_index.unwrap_or(-100),
        0.0,
    )
}

fn bce(logits: &Tensor, t: &Targets) -> Tensor {
    let classes = logits.size()[1] as f64;
    let weight = t.mask.as_ref().map(|m| m.expand_as(logits));
    logits.binary_cross_entropy_with_logits::<Tensor>(&t.one_hot, weight, None, Reduction::Sum)
        / (&t.valid * classes)
}

/// Per-class sums over the batch: `Σ p y`, `Σ p`, `Σ y`, each `[C]`.
struct Overlap {
    intersection: Tensor,
    predicted: Tensor,
    actual: Tensor,
}

fn dice_score(o: &Overlap) -> Tensor {
    (&o.intersection * 2.0) / (&o.predicted + &o.actual).clamp_min(EPS)
}

fn iou_score(o: &Overlap) -> Tensor {
    let union = &o.predicted + &o.actual - &o.intersection;
    &o.intersection / union.clamp_min(EPS)
}

fn tversky_score(o: &Overlap) -> Tensor {
    let fp = &o.predicted - &o.intersection;
    let fn_ = &o.actual - &o.intersection;
    let denominator = &o.intersection + fp * TVERSKY_ALPHA + fn_ * TVERSKY_BETA;
    &o.intersection / denominator.clamp_min(EPS)
}

/// `mean_c (1 - score_c)` over all classes, with classes absent from the target counting 0.
fn overlap(probs: &Tensor, t: &Targets, score: fn(&Overlap) -> Tensor) -> Tensor {
    let dims: &[i64] = &[0, 2, 3];
    let kind = probs.kind();
    let o = Overlap {
        intersection: (probs * &t.one_hot).sum_dim_intlist(dims, false, kind),
        predicted: probs.sum_dim_intlist(dims, false, kind),
        actual: t.one_hot.sum_dim_intlist(dims, false, kind),
    };
    let present = o.actual.gt(0.0).to_kind(kind);
    (score(&o).neg() + 1.0).multiply(&present).mean(kind)
}

fn focal(logits: &Tensor, t: &Targets) -> Tensor {
    let kind = logits.kind();
    let log_pt = logits
        .log_softmax(1, kind)
        .gather(1, &t.clean.unsqueeze(1), false);
    let pt = log_pt.exp();
    let per_pixel = (pt.neg() + 1.0).square().neg() * log_pt;
    t.masked(per_pixel).sum(kind) / &t.valid
}

fn depth_softmax_cce(logits: &Tensor, t: &Targets) -> Tensor {
    let kind = logits.kind();
    let log_s = logits.log_sigmoid();
    let log_q = &log_s - log_s.logsumexp([1], true);
    let log_q_target = log_q.gather(1, &t.clean.unsqueeze(1), false);
    -t.masked(log_q_target).sum(kind) / &t.valid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_loss() {
        for loss in Loss::ALL {
            assert_eq!(loss.name().parse::<Loss>().ok(), Some(loss));
        }
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let err = "dicee".parse::<Loss>().err().map(|e| e.to_string());
        let msg = err.unwrap_or_default();
        assert!(msg.contains("unknown loss `dicee`"), "{msg}");
        assert!(msg.contains("cce, bce, dice, iou, bce_dice"), "{msg}");
    }

    #[test]
    fn sigmoid_family_is_bce_bce_dice_and_depth_softmax() {
        let sigmoid: Vec<Loss> = Loss::ALL
            .into_iter()
            .filter(|l| l.activation() == Activation::Sigmoid)
            .collect();
        assert_eq!(sigmoid, [Loss::Bce, Loss::BceDice, Loss::DepthSoftmaxCce]);
    }
}
