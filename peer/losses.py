"""The losses of the study in plain PyTorch, written from their definitions in
peer/README.md (the same as lossbench's src/losses.rs): logits [N, C, H, W] and an int64
target [N, H, W] in, a scalar out. Pixels whose target is `ignore_index` take no part.

These are the PyTorch side of every parity check: peer/reference.py computes the values
and gradients tests/reference/losses.json holds with them, and peer/train.py trains with
them.
"""

import statistics

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


def _tensor(values, like):
    return torch.tensor(values, dtype=like.dtype)


def cce(logits, target, ignore_index=None, class_weights=None):
    weight = None if class_weights is None else _tensor(class_weights, logits)
    return F.cross_entropy(logits, target, weight=weight,
                           ignore_index=-100 if ignore_index is None else ignore_index)


def bce(logits, target, ignore_index=None, class_weights=None, pos_weight=None):
    """Keras' binary_crossentropy on one-hot masks; class_weights and pos_weight as
    BCEWithLogitsLoss's weight and pos_weight, one per channel."""
    c = logits.shape[1]
    mask, _, y = _valid(logits, target, ignore_index)
    weight = mask.expand_as(logits)
    if class_weights is not None:
        weight = weight * _tensor(class_weights, logits).view(1, c, 1, 1)
    pw = None if pos_weight is None else _tensor(pos_weight, logits).view(c, 1, 1)
    total = F.binary_cross_entropy_with_logits(logits, y, weight=weight, pos_weight=pw, reduction="sum")
    return total / (mask.sum() * c)


def _overlap(probs, target, ignore_index, score, include_background=True):
    """segmentation_models_pytorch's multiclass DiceLoss/JaccardLoss/TverskyLoss shape:
    per-class scores over the batch, absent classes 0, the mean over the classes counted."""
    mask, _, y = _valid(probs, target, ignore_index)
    probs = probs * mask
    dims = (0, 2, 3)
    intersection = (probs * y).sum(dims)
    predicted = probs.sum(dims)
    actual = y.sum(dims)
    present = (actual > 0).to(probs.dtype)
    loss = (1.0 - score(intersection, predicted, actual)) * present
    if not include_background:
        loss = loss[1:]
    return loss.mean()


def _dice(smooth):
    return lambda i, p, a: (2.0 * i + smooth) / (p + a + smooth).clamp_min(EPS)


def _iou(smooth):
    return lambda i, p, a: (i + smooth) / (p + a - i + smooth).clamp_min(EPS)


def _tversky(alpha, beta, smooth):
    return lambda i, p, a: (i + smooth) / (i + alpha * (p - i) + beta * (a - i) + smooth).clamp_min(EPS)


def dice(logits, target, ignore_index=None, include_background=True, smooth=0.0):
    return _overlap(logits.softmax(1), target, ignore_index, _dice(smooth), include_background)


def iou(logits, target, ignore_index=None, include_background=True, smooth=0.0):
    return _overlap(logits.softmax(1), target, ignore_index, _iou(smooth), include_background)


def tversky(logits, target, ignore_index=None, alpha=TVERSKY_ALPHA, beta=TVERSKY_BETA,
            include_background=True, smooth=0.0):
    return _overlap(logits.softmax(1), target, ignore_index, _tversky(alpha, beta, smooth), include_background)


def bce_dice(logits, target, ignore_index=None, weights=None, class_weights=None, pos_weight=None,
             include_background=True, smooth=0.0):
    w = {"bce": 1.0, "dice": 1.0, **(weights or {})}
    return (w["bce"] * bce(logits, target, ignore_index, class_weights, pos_weight)
            + w["dice"] * _overlap(logits.sigmoid(), target, ignore_index, _dice(smooth), include_background))


def cce_dice(logits, target, ignore_index=None, weights=None, class_weights=None,
             include_background=True, smooth=0.0):
    w = {"cce": 1.0, "dice": 1.0, **(weights or {})}
    return (w["cce"] * cce(logits, target, ignore_index, class_weights)
            + w["dice"] * dice(logits, target, ignore_index, include_background, smooth))


def focal(logits, target, ignore_index=None, gamma=2.0, alpha=None, class_weights=None):
    """MONAI's softmax_focal_loss summed over channels per pixel (alpha: class 0 weighs
    1 - alpha, the others alpha), then the mean over valid pixels, or with class_weights
    the weighted mean sum(w_t * l) / sum(w_t) as cross_entropy's."""
    c = logits.shape[1]
    mask, clean, y = _valid(logits, target, ignore_index)
    log_p = logits.log_softmax(1)
    loss = -(1.0 - log_p.exp()).pow(gamma) * log_p * y
    if alpha is not None:
        loss = loss * _tensor([1.0 - alpha] + [alpha] * (c - 1), logits).view(1, c, 1, 1)
    per_pixel = loss.sum(1)
    weight = mask[:, 0]
    if class_weights is not None:
        weight = weight * _tensor(class_weights, logits)[clean]
    return (per_pixel * weight).sum() / weight.sum()


def depth_softmax_cce(logits, target, ignore_index=None):
    mask, clean, _ = _valid(logits, target, ignore_index)
    s = logits.sigmoid()
    q = s / s.sum(1, keepdim=True)
    return -(q.gather(1, clean.unsqueeze(1)).log() * mask).sum() / mask.sum()


def generalized_dice(logits, target, ignore_index=None, include_background=True, smooth=0.0):
    """MONAI's GeneralizedDiceLoss (softmax, w_type="square") over the whole batch, with
    smooth as both smooth_nr and smooth_dr (and the denominator floored at EPS)."""
    mask, _, y = _valid(logits, target, ignore_index)
    p = logits.softmax(1) * mask
    dims = (0, 2, 3)
    intersection = (p * y).sum(dims)
    ground = y.sum(dims)
    pred = p.sum(dims)
    if not include_background:
        intersection, ground, pred = intersection[1:], ground[1:], pred[1:]
    w = 1.0 / ground**2
    infs = torch.isinf(w)
    w[infs] = 0.0
    w = w + infs * torch.max(w)
    numer = 2.0 * (intersection * w).sum()
    denom = ((ground + pred) * w).sum()
    return 1.0 - (numer + smooth) / (denom + smooth).clamp_min(EPS)


def _lovasz_grad(gt_sorted):
    """segmentation_models_pytorch's _lovasz_grad: the gradient of the Lovász extension
    of the Jaccard loss at sorted errors."""
    p = len(gt_sorted)
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1.0 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    if p > 1:
        jaccard[1:p] = jaccard[1:p] - jaccard[0:-1]
    return jaccard


def lovasz(logits, target, ignore_index=None, include_background=True):
    """segmentation_models_pytorch's LovaszLoss("multiclass", per_image=False): the
    Lovász-softmax over the valid pixels of the batch, classes="present"."""
    probas = logits.softmax(1)
    c = probas.shape[1]
    probas = probas.permute(0, 2, 3, 1).reshape(-1, c)
    labels = target.reshape(-1)
    if ignore_index is not None:
        valid = labels != ignore_index
        probas, labels = probas[valid], labels[valid]
    losses = []
    for k in range(0 if include_background else 1, c):
        fg = (labels == k).to(probas.dtype)
        if fg.sum() == 0:
            continue
        errors = (fg - probas[:, k]).abs()
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        losses.append(torch.dot(errors_sorted, _lovasz_grad(fg[perm])))
    if not losses:
        return probas.sum() * 0.0
    return sum(losses) / len(losses)


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
    "generalized_dice": generalized_dice,
    "lovasz": lovasz,
}


def frequency_weights(mode, target, classes, ignore_index):
    """Class weights from a training target [N, H, W]: "inverse_frequency" is
    total / (C * count_c); "median_frequency" is SegNet's median(f) / f_c with f_c the
    pixels of c over the pixels of the images containing c. A class without pixels takes
    the largest weight of the others."""
    counts = [0.0] * classes
    containing = [0.0] * classes
    for image in target:
        v = image.reshape(-1)
        if ignore_index is not None:
            v = v[v != ignore_index]
        found = torch.bincount(v, minlength=classes).tolist()
        for k in range(classes):
            counts[k] += found[k]
            if found[k] > 0:
                containing[k] += v.numel()
    total = sum(counts)
    if mode == "inverse_frequency":
        w = [total / (classes * n) if n > 0 else None for n in counts]
    elif mode == "median_frequency":
        f = [counts[k] / containing[k] if counts[k] > 0 else None for k in range(classes)]
        median = statistics.median([x for x in f if x is not None])
        w = [median / x if x is not None else None for x in f]
    else:
        raise ValueError(f"unknown class_weights {mode!r}")
    heaviest = max(x for x in w if x is not None)
    return [heaviest if x is None else x for x in w]


def make(config, target=None):
    """The loss of a [loss] table as a dict ({"name": "focal", "gamma": 1}), as a function
    of (logits, target, ignore_index); class weights by frequency come from `target`."""
    config = dict(config)
    name = config.pop("name")
    config.pop("label", None)

    def fn(logits, t, ignore_index=None):
        params = dict(config)
        c = logits.shape[1]
        if isinstance(params.get("class_weights"), str):
            params["class_weights"] = frequency_weights(params["class_weights"], target, c, ignore_index)
        if isinstance(params.get("pos_weight"), (int, float)):
            params["pos_weight"] = [float(params["pos_weight"])] * c
        return LOSSES[name](logits, t, ignore_index, **params)

    return fn
