"""The losses of the study in plain PyTorch, written from their definitions in
peer/README.md (the same as lossbench's src/losses.rs): logits [N, C, H, W] and an int64
target [N, H, W] in, a scalar out. Pixels whose target is `ignore_index` take no part.

These are the PyTorch side of every parity check: peer/reference.py computes the values
and gradients tests/reference/losses.json holds with them, and peer/train.py trains with
them.
"""

import torch
import torch.nn.functional as F

EPS = 1e-7
TVERSKY_ALPHA = 0.3
TVERSKY_BETA = 0.7


def _valid(logits, target, ignore_index):
    """The valid-pixel mask [N, 1, H, W] in the logits' dtype, the target with ignored
    pixels set to 0, and the one-hot target [N, C, H, W] with invalid pixels zeroed."""
    if ignore_index is None:
        valid = torch.ones_like(target, dtype=torch.bool)
    else:
        valid = target != ignore_index
    clean = torch.where(valid, target, torch.zeros_like(target))
    mask = valid.unsqueeze(1).to(logits.dtype)
    one_hot = F.one_hot(clean, logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype) * mask
    return mask, clean, one_hot


def cce(logits, target, ignore_index=None):
    return F.cross_entropy(logits, target, ignore_index=-100 if ignore_index is None else ignore_index)


def bce(logits, target, ignore_index=None):
    mask, _, y = _valid(logits, target, ignore_index)
    per_element = F.binary_cross_entropy_with_logits(logits, y, reduction="none") * mask
    return per_element.sum() / (mask.sum() * logits.shape[1])


def _overlap(probs, target, ignore_index, score):
    mask, _, y = _valid(probs, target, ignore_index)
    probs = probs * mask
    dims = (0, 2, 3)
    intersection = (probs * y).sum(dims)
    predicted = probs.sum(dims)
    actual = y.sum(dims)
    present = (actual > 0).to(probs.dtype)
    return ((1.0 - score(intersection, predicted, actual)) * present).mean()


def _dice(i, p, a):
    return 2.0 * i / (p + a).clamp_min(EPS)


def _iou(i, p, a):
    return i / (p + a - i).clamp_min(EPS)


def _tversky(i, p, a):
    return i / (i + TVERSKY_ALPHA * (p - i) + TVERSKY_BETA * (a - i)).clamp_min(EPS)


def dice(logits, target, ignore_index=None):
    return _overlap(logits.softmax(1), target, ignore_index, _dice)


def iou(logits, target, ignore_index=None):
    return _overlap(logits.softmax(1), target, ignore_index, _iou)


def tversky(logits, target, ignore_index=None):
    return _overlap(logits.softmax(1), target, ignore_index, _tversky)


def bce_dice(logits, target, ignore_index=None):
    return bce(logits, target, ignore_index) + _overlap(logits.sigmoid(), target, ignore_index, _dice)


def cce_dice(logits, target, ignore_index=None):
    return cce(logits, target, ignore_index) + dice(logits, target, ignore_index)


def focal(logits, target, ignore_index=None):
    mask, clean, _ = _valid(logits, target, ignore_index)
    p_t = logits.softmax(1).gather(1, clean.unsqueeze(1))
    per_pixel = -((1.0 - p_t) ** 2) * p_t.log()
    return (per_pixel * mask).sum() / mask.sum()


def depth_softmax_cce(logits, target, ignore_index=None):
    mask, clean, _ = _valid(logits, target, ignore_index)
    s = logits.sigmoid()
    q = s / s.sum(1, keepdim=True)
    return -(q.gather(1, clean.unsqueeze(1)).log() * mask).sum() / mask.sum()


LOSSES = {
    "cce": cce,
    "bce": bce,
    "dice": dice,
    "iou": iou,
    "bce_dice": bce_dice,
    "cce_dice": cce_dice,
    "focal": focal,
    "tversky": tversky,
    "depth_softmax_cce": depth_softmax_cce,
}
