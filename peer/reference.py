"""Writes tests/reference/losses.json, the reference values lossbench's tests read: for a
set of cases (float32 logits [N, C, H, W] and int64 targets [N, H, W], with and without an
ignore index, with absent classes and large logits), every loss's value and its gradient
with respect to the logits, computed in float64 by PyTorch autograd from exactly those
float32 logits (peer/losses.py, the definitions of peer/README.md), and the metrics of the
argmax prediction. The format is that of `lossbench verify-losses`.

    make reference        # or: python peer/reference.py --out tests/reference/losses.json
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import losses  # noqa: E402

IGNORE = 255

# (shape, ignore share, classes the target uses (None: all), logit scale)
CASES = [
    ((2, 7, 8, 8), 0.0, None, 3.0),
    ((3, 3, 5, 7), 0.0, None, 1.0),
    ((1, 7, 16, 16), 0.0, [0, 1, 2, 4], 2.0),
    ((2, 7, 8, 8), 0.2, None, 3.0),
    ((2, 5, 6, 6), 0.3, [0, 2, 3], 8.0),
    ((1, 2, 9, 5), 0.1, None, 1.0),
    ((4, 11, 4, 4), 0.5, [1, 3, 5, 7, 9], 4.0),
]


def metrics(logits, target, ignore):
    c = logits.shape[1]
    valid = target != ignore if ignore is not None else torch.ones_like(target, dtype=torch.bool)
    pred = logits.argmax(1)
    confusion = torch.zeros(c, c, dtype=torch.int64)
    for t, p in zip(target[valid].tolist(), pred[valid].tolist()):
        confusion[t, p] += 1
    tp = confusion.diag().double()
    union = confusion.sum(0).double() + confusion.sum(1).double() - tp
    iou = [(tp[i] / union[i]).item() if union[i] > 0 else None for i in range(c)]
    present = [v for v in iou if v is not None]
    clean = torch.where(valid, target, torch.zeros_like(target))
    y = torch.nn.functional.one_hot(clean, c).permute(0, 3, 1, 2).bool()
    v = valid.unsqueeze(1).expand_as(y)
    z = logits.double()

    def binary(on):
        return ((on == y) & v).sum().item() / v.sum().item()

    return {
        "confusion": confusion.tolist(),
        "iou_per_class": iou,
        "miou": sum(present) / len(present),
        "pixel_accuracy": tp.sum().item() / valid.sum().item(),
        "binary_accuracy_sigmoid": binary(z.sigmoid() > 0.5),
        "binary_accuracy_softmax": binary(z.softmax(1) > 0.5),
    }


def variants(c):
    """The losses with parameters each case also checks: every parameter of peer/README.md,
    with ignore pixels and absent classes wherever the case has them."""
    w = [round(0.5 + 0.37 * k, 2) for k in range(c)]
    pw = [round(1.0 + 0.5 * k, 2) for k in range(c)]
    return [
        {"name": "focal", "gamma": 0.0},
        {"name": "focal", "gamma": 0.5, "alpha": 0.25},
        {"name": "focal", "gamma": 1.0, "class_weights": w},
        {"name": "focal", "class_weights": "median_frequency"},
        {"name": "tversky", "alpha": 0.5, "beta": 0.5, "smooth": 1.0},
        {"name": "tversky", "alpha": 0.7, "beta": 0.3, "include_background": False},
        {"name": "dice", "include_background": False, "smooth": 1.0},
        {"name": "iou", "include_background": False},
        {"name": "cce", "class_weights": w},
        {"name": "cce", "class_weights": "inverse_frequency"},
        {"name": "bce", "class_weights": w, "pos_weight": pw},
        {"name": "bce", "pos_weight": 3.0},
        {"name": "bce_dice", "weights": {"bce": 1.0, "dice": 0.5}, "pos_weight": 2.0, "smooth": 0.5},
        {"name": "cce_dice", "weights": {"cce": 0.3, "dice": 2.0},
         "class_weights": "median_frequency", "include_background": False},
        {"name": "generalized_dice", "include_background": False, "smooth": 1e-5},
        {"name": "generalized_dice"},
        {"name": "lovasz", "include_background": False},
    ]


def value_and_grad(fn, logits, target, ignore):
    z = logits.double().requires_grad_()
    value = fn(z, target, ignore)
    value.backward()
    return {"value": value.item(), "grad": z.grad.reshape(-1).tolist()}


def case(g, shape, ignore_share, classes, scale):
    n, c, h, w = shape
    logits = (torch.randn(shape, generator=g, dtype=torch.float64) * scale).float()
    pool = torch.tensor(classes if classes is not None else list(range(c)))
    target = pool[torch.randint(len(pool), (n, h, w), generator=g)]
    ignore = None
    if ignore_share > 0:
        ignore = IGNORE
        target = torch.where(torch.rand((n, h, w), generator=g) < ignore_share, torch.tensor(IGNORE), target)
    out = {"shape": list(shape), "ignore_index": ignore, "logits": logits.reshape(-1).tolist(),
           "target": target.reshape(-1).tolist(), "losses": {}}
    for name, fn in losses.LOSSES.items():
        out["losses"][name] = value_and_grad(fn, logits, target, ignore)
    out["variants"] = [
        {"loss": v, **value_and_grad(losses.make(v, target), logits, target, ignore)}
        for v in variants(c)
    ]
    out["metrics"] = metrics(logits, target, ignore)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "tests/reference/losses.json")
    args = p.parse_args()
    g = torch.Generator().manual_seed(20261201)
    doc = {
        "about": "reference values for lossbench's losses and metrics, written by peer/reference.py; see peer/README.md",
        "torch": torch.__version__,
        "eps": losses.EPS,
        "tolerance": {"f64": {"rel": 1e-6, "abs": 1e-9}, "f32": {"rel": 1e-4, "abs": 1e-6}},
        "cases": [case(g, *c) for c in CASES],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc) + "\n")
    print(f"wrote {len(doc['cases'])} cases x ({len(losses.LOSSES)} losses + {len(variants(2))} with parameters) to {args.out}")


if __name__ == "__main__":
    main()
