"""Writes tests/reference/metrics.json, the values lossbench's Dice, calibration and
boundary metrics are checked against, computed by the libraries themselves:

- Dice per class: MONAI 1.6.1 `compute_dice` (include_background=True, ignore_empty=False)
  on the case's images pooled into one (lossbench's Dice is over the whole split);
- top-label expected calibration error: torchmetrics `multiclass_calibration_error`
  (n_bins=15, norm="l1", ignore_index), on the softmax and on the class-normalised sigmoid;
  Brier and NLL, which neither library has in this form, in float64 torch from the same
  float32 probabilities, and the 16 bin counts torchmetrics' `torch.bucketize` makes;
- per image and class: MONAI `compute_hausdorff_distance(percentile=95)` (and without a
  percentile, whose infinity for a class in one mask only shows the rule MONAI's
  `torch.quantile` turns into NaN: the quantile of infinities is NaN) and
  `compute_surface_dice` (Euclidean, unit spacing, include_background=True) at tolerances
  1, 2 and 3 pixels, and the boundary IoU bands of Cheng et al. (2021), their
  `mask_to_boundary` (an OpenCV 3x3 erosion `d` times after a zero border) written with
  scipy's `binary_erosion`, as intersection and union pixel counts.

Ignored pixels belong to no class in either mask. The cases are those of
tests/reference/losses.json (same logits and targets) and three more: blobs with a shifted
prediction and an ignored frame, an empty prediction (everything predicted as class 0),
and a class absent from prediction and target.

    make reference-metrics     # or: python peer/metrics.py
    # needs monai==1.6.1, torchmetrics and scipy (pip install monai==1.6.1 torchmetrics scipy)
"""

import argparse
import json
import math
import warnings
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F
import monai
import torchmetrics
from monai.metrics import compute_dice, compute_hausdorff_distance, compute_surface_dice
from torchmetrics.functional.classification import multiclass_calibration_error

ROOT = Path(__file__).resolve().parent.parent
TOLERANCES = [1.0, 2.0, 3.0]
BINS = 15


def number(x):
    """JSON has no NaN or infinity: they are written as strings."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def one_hots(logits, target, ignore):
    """Prediction and target one-hot [N, C, H, W] bool, ignored pixels in no class."""
    c = logits.shape[1]
    valid = target != ignore if ignore is not None else torch.ones_like(target, dtype=torch.bool)
    clean = torch.where(valid, target, torch.zeros_like(target))
    y = F.one_hot(clean, c).permute(0, 3, 1, 2).bool() & valid.unsqueeze(1)
    p = F.one_hot(logits.argmax(1), c).permute(0, 3, 1, 2).bool() & valid.unsqueeze(1)
    return p, y, valid, clean


def probabilities(logits, activation):
    if activation == "softmax":
        return logits.softmax(1), logits.log_softmax(1)
    s, log_s = logits.sigmoid(), F.logsigmoid(logits)
    return s / s.sum(1, keepdim=True), log_s - log_s.logsumexp(1, keepdim=True)


def calibration(logits, target, ignore, activation):
    c = logits.shape[1]
    p, log_p = probabilities(logits, activation)
    valid = target != ignore if ignore is not None else torch.ones_like(target, dtype=torch.bool)
    clean = torch.where(valid, target, torch.zeros_like(target))
    ece = multiclass_calibration_error(p, target, num_classes=c, n_bins=BINS, norm="l1",
                                       ignore_index=ignore)
    conf = p.max(1).values[valid]
    boundaries = torch.linspace(0, 1, BINS + 1, dtype=conf.dtype)
    counts = torch.bincount(torch.bucketize(conf, boundaries, right=True) - 1, minlength=BINS + 1)
    y = F.one_hot(clean, c).permute(0, 3, 1, 2).double()
    brier = ((p.double() - y) ** 2).sum(1)[valid].mean()
    nll = -log_p.gather(1, clean.unsqueeze(1)).squeeze(1).double()[valid].mean()
    return {"ece": ece.item(), "brier": brier.item(), "nll": nll.item(), "bin_counts": counts.tolist()}


def dice(p, y):
    """MONAI's Dice of the case's images pooled into one image; None where neither has the class."""
    n, c, h, w = p.shape
    pooled_p = p.permute(1, 0, 2, 3).reshape(1, c, n * h, w).float()
    pooled_y = y.permute(1, 0, 2, 3).reshape(1, c, n * h, w).float()
    d = compute_dice(pooled_p, pooled_y, include_background=True, ignore_empty=False)[0]
    both_empty = (pooled_p.sum((0, 2, 3)) + pooled_y.sum((0, 2, 3))) == 0
    return [None if both_empty[k] else d[k].item() for k in range(c)]


def band(mask, d):
    """Cheng et al.'s mask_to_boundary: the mask minus its 3x3 erosion d times, with a zero
    border of one pixel around the image (OpenCV's erode leaves the border beyond it alone)."""
    padded = np.pad(mask, 1)
    eroded = ndi.binary_erosion(padded, structure=np.ones((3, 3)), iterations=d, border_value=1)
    return mask & ~eroded[1:-1, 1:-1]


def boundaries(p, y):
    """Per image and class: MONAI's HD95 and NSD at each tolerance, and band counts."""
    n, c = p.shape[:2]
    pf, yf = p.float(), y.float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hd = compute_hausdorff_distance(pf, yf, include_background=True, percentile=95)
        hd_max = compute_hausdorff_distance(pf, yf, include_background=True)
        nsd = {t: compute_surface_dice(pf, yf, [t] * c, include_background=True) for t in TOLERANCES}
    out = []
    for b in range(n):
        row = []
        for k in range(c):
            pm, ym = p[b, k].numpy(), y[b, k].numpy()
            bands = {}
            for t in TOLERANCES:
                bp, by = band(pm, int(t)), band(ym, int(t))
                bands[str(int(t))] = [int((bp & by).sum()), int((bp | by).sum())]
            row.append({"hd95": number(hd[b, k]), "hd": number(hd_max[b, k]),
                        "nsd": {str(int(t)): number(nsd[t][b, k]) for t in TOLERANCES},
                        "bands": bands})
        out.append(row)
    return out


def blobs(g):
    """Two 24x32 images of four classes in rectangles and a disc, class 3 nowhere; the
    prediction is the target shifted by a few pixels, with noise, and an ignored frame."""
    n, c, h, w = 2, 5, 24, 32
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    target = torch.zeros(n, h, w, dtype=torch.int64)
    target[0][(yy > 4) & (yy < 15) & (xx > 3) & (xx < 20)] = 1
    target[0][((yy - 16) ** 2 + (xx - 24) ** 2) < 30] = 2
    target[1][(yy > 10) & (xx > 12)] = 4
    target[1][((yy - 8) ** 2 + (xx - 8) ** 2) < 20] = 1
    shifted = torch.roll(target, shifts=(2, -3), dims=(1, 2))
    logits = F.one_hot(shifted, c).permute(0, 3, 1, 2).double() * 4.0
    logits = (logits + torch.randn(logits.shape, generator=g, dtype=torch.float64)).float()
    frame = (yy < 1) | (yy >= h - 1) | (xx < 2)
    target = torch.where(frame, torch.tensor(255), target)
    return logits, target, 255


def empty_prediction(g):
    """Three classes in the target, every pixel predicted as class 0."""
    n, c, h, w = 1, 3, 10, 12
    target = torch.randint(c, (n, h, w), generator=g)
    target[0, 2:6, 3:9] = 2
    logits = torch.randn((n, c, h, w), generator=g, dtype=torch.float64) * 0.5
    logits[:, 0] += 6.0
    return logits.float(), target, None


def absent_class(g):
    """Four classes, class 2 in neither the target nor the prediction."""
    n, c, h, w = 2, 4, 8, 9
    pool = torch.tensor([0, 1, 3])
    target = pool[torch.randint(3, (n, h, w), generator=g)]
    logits = torch.randn((n, c, h, w), generator=g, dtype=torch.float64) * 2.0
    logits[:, 2] -= 20.0
    return logits.float(), target, None


def case(logits, target, ignore, name):
    p, y, _, _ = one_hots(logits, target, ignore)
    return {
        "name": name,
        "shape": list(logits.shape),
        "ignore_index": ignore,
        "logits": logits.reshape(-1).tolist(),
        "target": target.reshape(-1).tolist(),
        "dice_per_class": dice(p, y),
        "calibration": {a: calibration(logits, target, ignore, a) for a in ["softmax", "sigmoid"]},
        "boundaries": boundaries(p, y),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--losses", type=Path, default=ROOT / "tests/reference/losses.json")
    p.add_argument("--out", type=Path, default=ROOT / "tests/reference/metrics.json")
    args = p.parse_args()
    cases = []
    for i, c in enumerate(json.loads(args.losses.read_text())["cases"]):
        logits = torch.tensor(c["logits"], dtype=torch.float32).reshape(c["shape"])
        n, _, h, w = c["shape"]
        target = torch.tensor(c["target"], dtype=torch.int64).reshape(n, h, w)
        cases.append(case(logits, target, c["ignore_index"], f"losses.json case {i}"))
    g = torch.Generator().manual_seed(20261203)
    for make in [blobs, empty_prediction, absent_class]:
        cases.append(case(*make(g), make.__name__))
    doc = {
        "about": "reference values for lossbench's Dice, calibration and boundary metrics, written by peer/metrics.py",
        "monai": monai.__version__,
        "torchmetrics": torchmetrics.__version__,
        "torch": torch.__version__,
        "tolerances": TOLERANCES,
        "cases": cases,
    }
    args.out.write_text(json.dumps(doc) + "\n")
    pairs = sum(len(c["boundaries"]) * len(c["boundaries"][0]) for c in cases)
    print(f"wrote {len(cases)} cases ({pairs} image x class pairs) to {args.out}")


if __name__ == "__main__":
    main()
