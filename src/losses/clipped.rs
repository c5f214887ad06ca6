//! Keras' cross-entropies with `from_logits=False` (`loss.from_logits = false`): computed
//! from the softmax or sigmoid probabilities clipped to `[ε, 1 − ε]`, as Keras 3's torch
//! backend computes them, so that no gradient passes where the clip binds.

use tch::{Reduction, Tensor};

use super::{bce_weight, by_target, per_class, Params, Targets};

/// Keras' `categorical_crossentropy` with `from_logits=False` on `probabilities` `[N, C, H,
/// W]` (a softmax, or depth_softmax_cce's sigmoids): each pixel's probabilities divided by
/// their sum, clipped to `[eps, 1 − eps]`, then `−Σ_c y_c log q_c`; the mean over the valid
/// pixels, or with class weights PyTorch's weighted mean `Σ w_t ℓ / Σ w_t`.
pub(super) fn cce(probabilities: &Tensor, t: &Targets, p: &Params, eps: f64) -> Tensor {
    let kind = probabilities.kind();
    let q = probabilities / probabilities.sum_dim_intlist(1, true, kind);
    // [N, 1, H, W]; the one-hot target is already 0 at invalid pixels.
    let per_pixel = -(&t.one_hot * q.clamp(eps, 1.0 - eps).log()).sum_dim_intlist(1, true, kind);
    match &p.class_weights {
        Some(w) => {
            let w = t.masked(by_target(w, probabilities, &t.clean.unsqueeze(1)));
            (per_pixel * &w).sum(kind) / w.sum(kind)
        }
        None => per_pixel.sum(kind) / &t.valid,
    }
}

/// Keras' `binary_crossentropy` with `from_logits=False`: the sigmoids clipped to `[eps, 1
/// − eps]`, then PyTorch's `binary_cross_entropy` (as Keras' torch backend computes it), with
/// [`super::bce`]'s channel weights, positive weights and mean over the valid pixels × C.
pub(super) fn bce(logits: &Tensor, t: &Targets, p: &Params, eps: f64) -> Tensor {
    let classes = logits.size()[1] as f64;
    let s = logits.sigmoid().clamp(eps, 1.0 - eps);
    let weight = bce_weight(logits, t, p);
    let sum = match p.pos_weight.as_deref() {
        None => s.binary_cross_entropy(
            &t.one_hot,
            weight.map(|w| w.expand_as(logits)),
            Reduction::Sum,
        ),
        Some(pw) => {
            let pw = per_class(pw, logits, true);
            let y = &t.one_hot;
            let terms = -(y * s.log() * pw + (-y + 1.0) * (-&s + 1.0).log());
            match weight {
                Some(w) => (terms * w).sum(logits.kind()),
                None => terms.sum(logits.kind()),
            }
        }
    };
    sum / (&t.valid * classes)
}
