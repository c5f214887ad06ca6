//! The segmentation losses of the study, each exactly as defined in the reference README
//! (`peer/README.md`): logits `[N, C, H, W]` and an int64 target `[N, H, W]` in,
//! a scalar tensor out, differentiable through libtorch's autograd.
//!
//! A [`Loss`] is a name; a [`Criterion`] is a loss with its parameters ([`Params`]: focal
//! γ and α, Tversky α and β, class weights, BCE's `pos_weight`, whether the soft-overlap
//! losses count the background class, their smoothing, a compound loss's term weights), or
//! a user's TorchScript module. Every loss works in the dtype of its logits, so the same
//! code is checked in f64 against the reference values and trained in f32. With `loss.from_logits = false` the
//! cross-entropies are Keras' instead, from clipped probabilities ([`clipped`]).

mod clipped;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::{Reduction, TchError, Tensor};

/// The denominator floor of the soft-overlap losses (segmentation_models_pytorch's default).
pub const EPS: f64 = 1e-7;

/// The floor of focal's `1 − p_t` (far below any value it takes in f64).
const FOCAL_FLOOR: f64 = 1e-30;

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
    /// Softmax focal loss (γ 2 unless set).
    Focal,
    /// Soft Tversky on the softmax (α 0.3, β 0.7 unless set).
    Tversky,
    /// Sigmoid divided by its channel sum, then cross-entropy.
    DepthSoftmaxCce,
    /// Generalized Dice (Sudre et al. 2017): Dice with each class weighted by the inverse
    /// square of its target volume.
    GeneralizedDice,
    /// Lovász-softmax (Berman et al. 2018), as segmentation_models_pytorch's multiclass
    /// `LovaszLoss`: the Lovász extension of each present class's Jaccard loss.
    Lovasz,
    /// The user's TorchScript module (`loss.path`).
    Script,
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
    pub const ALL: [Loss; 12] = [
        Loss::Cce,
        Loss::Bce,
        Loss::Dice,
        Loss::Iou,
        Loss::BceDice,
        Loss::CceDice,
        Loss::Focal,
        Loss::Tversky,
        Loss::DepthSoftmaxCce,
        Loss::GeneralizedDice,
        Loss::Lovasz,
        Loss::Script,
    ];

    /// Every loss lossbench defines itself: all but `script`, the last.
    pub const BUILT_IN: &'static [Loss] = match Loss::ALL.as_slice().split_last() {
        Some((_, built_in)) => built_in,
        None => &[],
    };

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
            Loss::GeneralizedDice => "generalized_dice",
            Loss::Lovasz => "lovasz",
            Loss::Script => "script",
        }
    }

    /// The comma-separated list of valid names, for error messages.
    pub fn valid_names() -> String {
        Loss::ALL.map(Loss::name).join(", ")
    }

    /// The activation the loss applies to the logits (a script loss is taken as softmax).
    pub fn activation(self) -> Activation {
        match self {
            Loss::Bce | Loss::BceDice | Loss::DepthSoftmaxCce => Activation::Sigmoid,
            _ => Activation::Softmax,
        }
    }

    /// Whether the loss has a cross-entropy that Keras computes from probabilities when
    /// `from_logits=False` (`loss.from_logits`): cce, bce, depth_softmax_cce and the
    /// compounds with a cross-entropy term.
    pub fn has_logits_form(self) -> bool {
        matches!(
            self,
            Loss::Cce | Loss::Bce | Loss::BceDice | Loss::CceDice | Loss::DepthSoftmaxCce
        )
    }

    /// The names of a compound loss's two terms, for `loss.weights`.
    pub fn terms(self) -> Option<[&'static str; 2]> {
        match self {
            Loss::BceDice => Some(["bce", "dice"]),
            Loss::CceDice => Some(["cce", "dice"]),
            _ => None,
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

/// The parameters of the built-in losses, with every default filled in; each loss reads
/// the ones that are its own (the configuration rejects the others).
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Focal's focusing exponent γ.
    pub gamma: f64,
    /// Focal's class balance as MONAI's softmax focal loss: the background (class 0)
    /// weighs `1 − α`, every other class `α`.
    pub focal_alpha: Option<f64>,
    /// Tversky's weights of false positives (α) and false negatives (β).
    pub tversky_alpha: f64,
    pub tversky_beta: f64,
    /// One weight per class for cce, bce and focal (and the cce or bce term of a compound):
    /// cce and focal take PyTorch's weighted mean `Σ w_y ℓ / Σ w_y`, bce weighs channels.
    pub class_weights: Option<Vec<f64>>,
    /// BCE's weight of the positive term, per channel (`BCEWithLogitsLoss(pos_weight=)`).
    pub pos_weight: Option<Vec<f64>>,
    /// Whether the soft-overlap losses (and Lovász) count class 0.
    pub include_background: bool,
    /// Added to the numerator and denominator of each soft-overlap score.
    pub smooth: f64,
    /// A compound loss's weights of its two terms, in [`Loss::terms`] order.
    pub terms: [f64; 2],
    /// `Some(ε)`: the cross-entropies (cce, bce, depth_softmax_cce and the compounds'
    /// cross-entropy term) from probabilities clipped to `[ε, 1 − ε]`, as Keras' losses with
    /// `from_logits=False`; `None`: from the logits.
    pub clip: Option<f64>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            gamma: 2.0,
            focal_alpha: None,
            tversky_alpha: 0.3,
            tversky_beta: 0.7,
            class_weights: None,
            pos_weight: None,
            include_background: true,
            smooth: 0.0,
            terms: [1.0, 1.0],
            clip: None,
        }
    }
}

/// A loss ready to compute: a built-in loss with its parameters, or a TorchScript module.
pub struct Criterion {
    inner: Inner,
}

enum Inner {
    BuiltIn(Loss, Params),
    Script(tch::CModule),
}

impl Criterion {
    /// The built-in `loss` with `params`.
    ///
    /// # Panics
    /// When `loss` is [`Loss::Script`], which needs a module ([`Criterion::script`]).
    pub fn built_in(loss: Loss, params: Params) -> Criterion {
        assert!(loss != Loss::Script, "a script loss needs its module");
        Criterion {
            inner: Inner::BuiltIn(loss, params),
        }
    }

    /// A TorchScript module whose forward takes `(logits, target)` and returns the loss.
    pub fn script(module: tch::CModule) -> Criterion {
        Criterion {
            inner: Inner::Script(module),
        }
    }

    /// The loss of `logits` `[N, C, H, W]` against `target` `[N, H, W]` (int64); pixels whose
    /// target equals `ignore_index` take no part (a script loss gets the target unchanged
    /// and handles them itself). An error only from a script module.
    pub fn compute(
        &self,
        logits: &Tensor,
        target: &Tensor,
        ignore_index: Option<i64>,
    ) -> Result<Tensor, TchError> {
        match &self.inner {
            Inner::BuiltIn(loss, params) => {
                Ok(built_in(*loss, params, logits, target, ignore_index))
            }
            Inner::Script(module) => module.forward_ts(&[logits, target]),
        }
    }
}

/// A built-in loss's value.
fn built_in(
    loss: Loss,
    p: &Params,
    logits: &Tensor,
    target: &Tensor,
    ignore_index: Option<i64>,
) -> Tensor {
    let t = || Targets::new(logits, target, ignore_index);
    let softmax = || logits.softmax(1, logits.kind());
    // A soft-overlap loss of the softmax against the target.
    let softmax_overlap = |score: Score| {
        let t = t();
        overlap(&t.masked(softmax()), &t, score, p)
    };
    let [first, second] = p.terms;
    let cce = || match p.clip {
        Some(eps) => {
            let probabilities = logits.softmax(1, logits.kind());
            clipped::cce(&probabilities, &t(), p, eps)
        }
        None => cce(logits, target, ignore_index, p),
    };
    let bce = |t: &Targets| match p.clip {
        Some(eps) => clipped::bce(logits, t, p, eps),
        None => bce(logits, t, p),
    };
    match loss {
        Loss::Cce => cce(),
        Loss::Bce => bce(&t()),
        Loss::Dice => softmax_overlap(Score::Dice),
        Loss::Iou => softmax_overlap(Score::Iou),
        Loss::BceDice => {
            let t = t();
            bce(&t) * first + overlap(&t.masked(logits.sigmoid()), &t, Score::Dice, p) * second
        }
        Loss::CceDice => cce() * first + softmax_overlap(Score::Dice) * second,
        Loss::Focal => focal(logits, &t(), p),
        Loss::Tversky => softmax_overlap(Score::Tversky),
        Loss::DepthSoftmaxCce => match p.clip {
            Some(eps) => clipped::cce(&logits.sigmoid(), &t(), p, eps),
            None => depth_softmax_cce(logits, &t()),
        },
        Loss::GeneralizedDice => {
            let t = t();
            generalized_dice(&t.masked(softmax()), &t, p)
        }
        Loss::Lovasz => lovasz_softmax(&softmax(), &t(), p),
        Loss::Script => unreachable!("Criterion::built_in refuses a script loss"),
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

/// `values` as a tensor of `like`'s dtype and device, shaped to broadcast over `[N, C, H, W]`
/// channels (`[C, 1, 1]`), or flat (`[C]`).
fn per_class(values: &[f64], like: &Tensor, channels: bool) -> Tensor {
    let t = Tensor::from_slice(values)
        .to_kind(like.kind())
        .to_device(like.device());
    if channels {
        t.reshape([-1, 1, 1])
    } else {
        t
    }
}

fn cce(logits: &Tensor, target: &Tensor, ignore_index: Option<i64>, p: &Params) -> Tensor {
    let weight = p
        .class_weights
        .as_deref()
        .map(|w| per_class(w, logits, false));
    logits.cross_entropy_loss(
        target,
        weight,
        Reduction::Mean,
        ignore_index.unwrap_or(-100),
        0.0,
    )
}

/// BCE's weight of each element: the valid-pixel mask times the channel weights, shaped to
/// broadcast over `[N, C, H, W]`; `None` when every element weighs 1.
fn bce_weight(logits: &Tensor, t: &Targets, p: &Params) -> Option<Tensor> {
    match (&t.mask, &p.class_weights) {
        (Some(m), Some(w)) => Some(m * per_class(w, logits, true)),
        (Some(m), None) => Some(m.shallow_clone()),
        (None, Some(w)) => Some(per_class(w, logits, true)),
        (None, None) => None,
    }
}

fn bce(logits: &Tensor, t: &Targets, p: &Params) -> Tensor {
    let classes = logits.size()[1] as f64;
    let weight = bce_weight(logits, t, p).map(|w| w.expand_as(logits));
    let pos_weight = p.pos_weight.as_deref().map(|w| per_class(w, logits, true));
    logits.binary_cross_entropy_with_logits(&t.one_hot, weight, pos_weight, Reduction::Sum)
        / (&t.valid * classes)
}

/// Which soft-overlap score.
#[derive(Clone, Copy)]
enum Score {
    Dice,
    Iou,
    Tversky,
}

/// Per-class sums over the batch: `Σ p y`, `Σ p`, `Σ y`, each `[C]`.
struct Overlap {
    intersection: Tensor,
    predicted: Tensor,
    actual: Tensor,
}

impl Overlap {
    fn new(probs: &Tensor, t: &Targets) -> Overlap {
        let dims: &[i64] = &[0, 2, 3];
        let kind = probs.kind();
        Overlap {
            intersection: (probs * &t.one_hot).sum_dim_intlist(dims, false, kind),
            predicted: probs.sum_dim_intlist(dims, false, kind),
            actual: t.one_hot.sum_dim_intlist(dims, false, kind),
        }
    }

    /// Each class's score, smoothed by `smooth`: `(num + smooth) / (den + smooth)
    /// .clamp_min(eps)` with Dice's `num = 2I`, MONAI's form (`smooth_nr = smooth_dr =
    /// smooth`). segmentation_models_pytorch 0.6.0 computes Dice as `(2I + 2s) / (P + A +
    /// 2s)`, so its `smooth = s` is this `smooth = 2s`; its IoU and Tversky smoothing is
    /// this one (`peer/libraries.py` checks both against the libraries).
    fn score(&self, score: Score, p: &Params) -> Tensor {
        let (i, s) = (&self.intersection, p.smooth);
        let (numerator, denominator) = match score {
            Score::Dice => (i * 2.0, &self.predicted + &self.actual),
            Score::Iou => (i.shallow_clone(), &self.predicted + &self.actual - i),
            Score::Tversky => {
                let fp = &self.predicted - i;
                let fn_ = &self.actual - i;
                (
                    i.shallow_clone(),
                    i + fp * p.tversky_alpha + fn_ * p.tversky_beta,
                )
            }
        };
        (numerator + s) / (denominator + s).clamp_min(EPS)
    }
}

/// The classes a soft-overlap loss averages over: all, or all but class 0.
fn counted(per_class: Tensor, p: &Params) -> Tensor {
    if p.include_background {
        per_class
    } else {
        let classes = per_class.size()[0];
        per_class.narrow(0, 1, classes - 1)
    }
}

/// `mean_c (1 - score_c)` over the counted classes, with classes absent from the target
/// counting 0.
fn overlap(probs: &Tensor, t: &Targets, score: Score, p: &Params) -> Tensor {
    let o = Overlap::new(probs, t);
    let present = o.actual.gt(0.0).to_kind(probs.kind());
    counted((o.score(score, p).neg() + 1.0).multiply(&present), p).mean(probs.kind())
}

/// `1 − (2 Σ_c w_c I_c + s) / (Σ_c w_c (P_c + A_c) + s)` with `w_c = 1 / A_c²`, and a class
/// absent from the target weighted as the heaviest present one (MONAI's
/// `GeneralizedDiceLoss`, over the whole batch).
fn generalized_dice(probs: &Tensor, t: &Targets, p: &Params) -> Tensor {
    let o = Overlap::new(probs, t);
    let kind = probs.kind();
    let (intersection, predicted, actual) = (
        counted(o.intersection, p),
        counted(o.predicted, p),
        counted(o.actual, p),
    );
    let present = actual.gt(0.0);
    let w = actual
        .square()
        .reciprocal()
        .where_self(&present, &actual.zeros_like());
    let w = &w + present.logical_not().to_kind(kind) * w.max();
    let numerator = (intersection * &w).sum(kind) * 2.0;
    let denominator = ((predicted + actual) * &w).sum(kind);
    ((numerator + p.smooth) / (denominator + p.smooth).clamp_min(EPS)).neg() + 1.0
}

/// Lovász-softmax over the valid pixels of the batch, averaged over the classes present in
/// the target (segmentation_models_pytorch's `classes="present"`, `per_image=False`).
fn lovasz_softmax(probs: &Tensor, t: &Targets, p: &Params) -> Tensor {
    let kind = probs.kind();
    let classes = probs.size()[1];
    // [pixels, C], valid pixels only.
    let flat = |x: &Tensor| x.permute([0, 2, 3, 1]).reshape([-1, classes]);
    let (probs, fg) = match &t.mask {
        Some(mask) => {
            let keep = mask.reshape([-1]).gt(0.0).nonzero().squeeze_dim(1);
            (
                flat(probs).index_select(0, &keep),
                flat(&t.one_hot).index_select(0, &keep),
            )
        }
        None => (flat(probs), flat(&t.one_hot)),
    };
    let errors = (&fg - probs).abs();
    let (sorted, order) = errors.sort(0, true);
    let fg_sorted = fg.gather(0, &order, false);
    // The Lovász gradient of the Jaccard loss at the sorted errors, per class.
    let total = fg_sorted.sum_dim_intlist(0, true, kind);
    let intersection = &total - fg_sorted.cumsum(0, kind);
    let union = &total + (fg_sorted.neg() + 1.0).cumsum(0, kind);
    let jaccard = (intersection / union).neg() + 1.0;
    let pixels = jaccard.size()[0];
    let grad = if pixels > 1 {
        let head = jaccard.narrow(0, 0, 1);
        let rest = jaccard.narrow(0, 1, pixels - 1) - jaccard.narrow(0, 0, pixels - 1);
        Tensor::cat(&[head, rest], 0)
    } else {
        jaccard
    };
    let per_class = (sorted * grad).sum_dim_intlist(0, false, kind);
    let present = total.squeeze_dim(0).gt(0.0).to_kind(kind);
    let (per_class, present) = (counted(per_class, p), counted(present, p));
    (per_class * &present).sum(kind) / present.sum(kind).clamp_min(1.0)
}

fn focal(logits: &Tensor, t: &Targets, p: &Params) -> Tensor {
    let kind = logits.kind();
    let target = t.clean.unsqueeze(1);
    let log_pt = logits.log_softmax(1, kind).gather(1, &target, false);
    // 1 − p_t floored at FOCAL_FLOOR: where p_t rounds to 1 (large logits in f32), the
    // term is 0 either way, and its gradient is then 0 instead of 0 · ∞ = NaN for γ < 1.
    let away = (log_pt.exp().neg() + 1.0).clamp_min(FOCAL_FLOOR);
    let per_pixel = away.pow_tensor_scalar(p.gamma).neg() * log_pt;
    let per_pixel = match p.focal_alpha {
        Some(alpha) => {
            let mut balance = vec![alpha; logits.size()[1] as usize];
            balance[0] = 1.0 - alpha;
            per_pixel * by_target(&balance, logits, &target)
        }
        None => per_pixel,
    };
    match &p.class_weights {
        None => t.masked(per_pixel).sum(kind) / &t.valid,
        Some(w) => {
            let w = t.masked(by_target(w, logits, &target));
            (per_pixel * &w).sum(kind) / w.sum(kind)
        }
    }
}

/// Each pixel's value of `values` at its target class, shaped as `target` `[N, 1, H, W]`.
fn by_target(values: &[f64], like: &Tensor, target: &Tensor) -> Tensor {
    per_class(values, like, false)
        .index_select(0, &target.reshape([-1]))
        .reshape_as(target)
}

fn depth_softmax_cce(logits: &Tensor, t: &Targets) -> Tensor {
    let kind = logits.kind();
    let log_s = logits.log_sigmoid();
    let log_q = &log_s - log_s.logsumexp([1], true);
    let log_q_target = log_q.gather(1, &t.clean.unsqueeze(1), false);
    -t.masked(log_q_target).sum(kind) / &t.valid
}

/// How class weights are derived from the training split (`loss.class_weights`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frequency {
    /// `w_c = total / (C · count_c)`: the inverse of each class's share of the pixels.
    Inverse,
    /// `w_c = median_k f_k / f_c`, where `f_c` is class c's pixels over the pixels of the
    /// images that contain c (SegNet's median frequency balancing).
    Median,
}

/// Per image of `masks` `[N, H, W]` (int64), its pixels of each class of `0..classes`
/// (`ignore` and other values left out).
pub fn image_class_counts(masks: &Tensor, classes: i64, ignore: Option<i64>) -> Vec<Vec<i64>> {
    (0..masks.size()[0])
        .map(|n| {
            let mask = masks.get(n).reshape([-1]);
            let valid = match ignore {
                Some(i) => mask.masked_select(&mask.ne(i)),
                None => mask,
            };
            let valid = valid.masked_select(&valid.ge(0).logical_and(&valid.lt(classes)));
            Vec::try_from(valid.bincount::<Tensor>(None, classes)).unwrap_or_default()
        })
        .collect()
}

/// Per class, its pixels over the images (`per_image`: each image's pixels of each class,
/// as [`image_class_counts`] gives them) and the pixels of the images that contain it.
pub fn class_pixels(per_image: &[Vec<i64>]) -> (Vec<f64>, Vec<f64>) {
    let classes = per_image.first().map_or(0, Vec::len);
    let mut counts = vec![0.0; classes];
    let mut containing = vec![0.0; classes];
    for image in per_image {
        let pixels: i64 = image.iter().sum();
        for (c, &k) in image.iter().enumerate().take(classes) {
            counts[c] += k as f64;
            if k > 0 {
                containing[c] += pixels as f64;
            }
        }
    }
    (counts, containing)
}

/// Class weights by `frequency` from the pixel counts [`class_pixels`] gives. A class with
/// no pixels takes the largest weight of the others (as MONAI weighs absent classes).
pub fn frequency_weights(frequency: Frequency, counts: &[f64], containing: &[f64]) -> Vec<f64> {
    let classes = counts.len() as f64;
    let total: f64 = counts.iter().sum();
    let present = |c: usize| counts[c] > 0.0;
    let weights: Vec<Option<f64>> = match frequency {
        Frequency::Inverse => (0..counts.len())
            .map(|c| present(c).then(|| total / (classes * counts[c])))
            .collect(),
        Frequency::Median => {
            let freq: Vec<Option<f64>> = (0..counts.len())
                .map(|c| present(c).then(|| counts[c] / containing[c]))
                .collect();
            let mut sorted: Vec<f64> = freq.iter().flatten().copied().collect();
            sorted.sort_by(f64::total_cmp);
            let median = match sorted.len() {
                0 => 1.0,
                n if n % 2 == 1 => sorted[n / 2],
                n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
            };
            freq.iter().map(|f| f.map(|f| median / f)).collect()
        }
    };
    let heaviest = weights.iter().flatten().copied().fold(f64::NAN, f64::max);
    let fill = if heaviest.is_nan() { 1.0 } else { heaviest };
    weights.into_iter().map(|w| w.unwrap_or(fill)).collect()
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

    fn value(loss: Loss, params: Params, logits: &Tensor, target: &Tensor) -> f64 {
        Criterion::built_in(loss, params)
            .compute(logits, target, Some(255))
            .expect("a built-in loss")
            .double_value(&[])
    }

    #[test]
    fn focal_with_gamma_0_is_cross_entropy_with_or_without_class_weights() {
        let logits = (Tensor::arange(2 * 3 * 4 * 4, (tch::Kind::Double, tch::Device::Cpu)).sin()
            * 4.0)
            .reshape([2, 3, 4, 4]);
        let target = Tensor::arange(32, (tch::Kind::Int64, tch::Device::Cpu))
            .remainder(3)
            .index_fill(0, &Tensor::from_slice(&[0i64, 5]), 255)
            .reshape([2, 4, 4]);
        for weights in [None, Some(vec![0.5, 2.0, 1.25])] {
            let params = Params {
                gamma: 0.0,
                class_weights: weights.clone(),
                ..Params::default()
            };
            let cce = Params {
                class_weights: weights,
                ..Params::default()
            };
            let (focal, cce) = (
                value(Loss::Focal, params, &logits, &target),
                value(Loss::Cce, cce, &logits, &target),
            );
            assert!((focal - cce).abs() < 1e-12, "{focal} against {cce}");
        }
    }

    #[test]
    fn class_pixels_count_valid_pixels_and_the_images_that_hold_each_class() {
        // Two images of 2×2 (one pixel ignored): [0, 0, 1, ignored] and [0, 0, 0, 0].
        let (counts, containing) = class_pixels(&[vec![2, 1, 0], vec![4, 0, 0]]);
        assert_eq!(counts, [6.0, 1.0, 0.0]);
        assert_eq!(containing, [7.0, 3.0, 0.0]);
    }

    #[test]
    fn frequency_weights_follow_their_formulas_and_fill_absent_classes_with_the_largest() {
        let (counts, containing) = ([30.0, 10.0, 0.0], [40.0, 40.0, 0.0]);
        let inverse = frequency_weights(Frequency::Inverse, &counts, &containing);
        assert_eq!(inverse, [40.0 / 90.0, 40.0 / 30.0, 40.0 / 30.0]);
        // f = [0.75, 0.25]; the median of two is their mean, 0.5.
        let median = frequency_weights(Frequency::Median, &counts, &containing);
        assert_eq!(median, [0.5 / 0.75, 2.0, 2.0]);
    }

    #[test]
    fn sigmoid_family_is_bce_bce_dice_and_depth_softmax() {
        let sigmoid: Vec<Loss> = Loss::ALL
            .into_iter()
            .filter(|l| l.activation() == Activation::Sigmoid)
            .collect();
        assert_eq!(sigmoid, [Loss::Bce, Loss::BceDice, Loss::DepthSoftmaxCce]);
    }

    /// Logits `[1, 3, 1, 2]`: the first pixel's class-0 logit so large that its softmax and
    /// sigmoid round past `1 − 1e-7`, the second pixel moderate.
    fn saturated() -> (Tensor, Tensor) {
        let logits = Tensor::from_slice(&[30.0f32, 0.5, -30.0, 0.2, -40.0, 0.1])
            .reshape([1, 3, 1, 2])
            .set_requires_grad(true);
        (logits, Tensor::from_slice(&[0i64, 1]).reshape([1, 1, 2]))
    }

    #[test]
    fn keras_clipped_cross_entropies_pass_no_gradient_where_the_clip_binds() {
        let clip = Params {
            clip: Some(1e-7),
            ..Params::default()
        };
        for loss in [Loss::Cce, Loss::Bce, Loss::DepthSoftmaxCce] {
            let (logits, target) = saturated();
            let value = built_in(loss, &clip, &logits, &target, None);
            value.backward();
            let grad = logits.grad();
            // Pixel 0 is class 0 at probability ≈ 1: clipped, so no gradient reaches its
            // class-0 logit; pixel 1 trains.
            assert_eq!(grad.double_value(&[0, 0, 0, 0]), 0.0, "{loss}");
            assert!(grad.double_value(&[0, 1, 0, 1]).abs() > 1e-3, "{loss}");
            // Where no clip binds, the loss is the logits form's, to float rounding.
            let (logits, target) = saturated();
            let moderate = logits.narrow(3, 1, 1);
            let target = target.narrow(2, 1, 1);
            let a = built_in(loss, &clip, &moderate, &target, None).double_value(&[]);
            let b = built_in(loss, &Params::default(), &moderate, &target, None).double_value(&[]);
            assert!((a - b).abs() < 1e-6 * b.abs(), "{loss}: {a} against {b}");
        }
    }

    #[test]
    fn keras_clipped_cross_entropies_weigh_classes_and_ignore_pixels_as_the_logits_forms() {
        let logits = Tensor::from_slice(&[0.3f32, -0.2, 0.5, 0.1, 0.4, -0.6, 0.2, 0.0, -0.1])
            .reshape([1, 3, 1, 3]);
        let target = Tensor::from_slice(&[0i64, 2, 255]).reshape([1, 1, 3]);
        let weighted = |clip| Params {
            class_weights: Some(vec![1.0, 2.0, 0.5]),
            clip,
            ..Params::default()
        };
        for loss in [Loss::Cce, Loss::Bce] {
            let a = built_in(loss, &weighted(Some(1e-7)), &logits, &target, Some(255));
            let b = built_in(loss, &weighted(None), &logits, &target, Some(255));
            let (a, b) = (a.double_value(&[]), b.double_value(&[]));
            assert!((a - b).abs() < 1e-6 * b.abs(), "{loss}: {a} against {b}");
        }
    }
}
