"""Which library's definition each lossbench overlap loss follows, checked against the
libraries' own loss classes (not copies of their formulas): segmentation_models_pytorch
0.6.0 (`DiceLoss`, `JaccardLoss`, `TverskyLoss`, multiclass, from logits) and MONAI 1.6.1
(`DiceLoss`, `DiceLoss(jaccard=True)`, `TverskyLoss`, batch=True, reduction="none" for the
per-class terms), on the cases of tests/reference/losses.json in float64. lossbench's side
is peer/losses.py, which tests/reference holds lossbench to (1e-6 relative).

The mappings it checks, at smoothing s:
  dice      lossbench smooth=2s            == smp DiceLoss(smooth=s)
            lossbench smooth=s             == MONAI DiceLoss(smooth_nr=s, smooth_dr=s), per
                                              class present in the target; MONAI's class
                                              absent from the target is 1 - s/(P + s), not 0
  iou       lossbench smooth=s             == smp JaccardLoss(smooth=s)
            lossbench smooth=s/2           == MONAI DiceLoss(jaccard=True, smooth_nr=s,
                                              smooth_dr=s), present classes
  tversky   lossbench alpha, beta, smooth  == smp TverskyLoss(alpha, beta, smooth=s) and
                                              MONAI TverskyLoss(alpha, beta, smooth_nr=s,
                                              smooth_dr=s), present classes

    python peer/libraries.py      # exits 1 on a mismatch
    # needs monai==1.6.1 and segmentation-models-pytorch==0.6.0; smp's encoders (timm,
    # torchvision) are not needed: `pip install --no-deps segmentation-models-pytorch==0.6.0`
"""

import importlib.util
import json
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss as MonaiDice
from monai.losses import TverskyLoss as MonaiTversky

sys.path.insert(0, str(Path(__file__).resolve().parent))
import losses  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def smp_losses():
    """smp's losses package without its encoders (which import timm and torchvision)."""
    spec = importlib.util.find_spec("segmentation_models_pytorch")
    if spec is None:
        sys.exit("segmentation_models_pytorch is not installed: pip install --no-deps segmentation-models-pytorch==0.6.0")
    package = types.ModuleType("segmentation_models_pytorch")
    package.__path__ = [str(Path(spec.origin).parent)]
    sys.modules["segmentation_models_pytorch"] = package
    import segmentation_models_pytorch.losses as smp  # noqa: E402
    return smp


def monai_per_class(loss, logits, target, ignore):
    """MONAI's per-class terms over the batch, on the softmax with ignored pixels zeroed
    out of prediction and target (as lossbench does), and which classes the target has."""
    mask, clean, y = losses._valid(logits, target, ignore)
    p = logits.softmax(1) * mask
    terms = loss(p, y).reshape(-1)
    return terms, y.sum((0, 2, 3)) > 0


def main():
    smp = smp_losses()
    cases = json.loads((ROOT / "tests/reference/losses.json").read_text())["cases"]
    checks, failures = 0, []

    def check(what, got, want):
        nonlocal checks
        checks += 1
        if not torch.allclose(torch.as_tensor(got), torch.as_tensor(want), rtol=1e-6, atol=1e-9):
            failures.append(f"{what}: {got} against {want}")

    for i, c in enumerate(cases):
        n, ch, h, w = c["shape"]
        z = torch.tensor(c["logits"], dtype=torch.float64).reshape(n, ch, h, w)
        t = torch.tensor(c["target"], dtype=torch.int64).reshape(n, h, w)
        ignore = c["ignore_index"]
        for s in [0.0, 0.5, 1.0]:
            tag = f"case {i} s={s}"
            check(f"dice {tag} smp", losses.dice(z, t, ignore, smooth=2 * s).item(),
                  smp.DiceLoss("multiclass", smooth=s, ignore_index=ignore)(z, t).item())
            check(f"iou {tag} smp", losses.iou(z, t, ignore, smooth=s).item(),
                  smp.JaccardLoss("multiclass", smooth=s, ignore_index=ignore)(z, t).item())
            check(f"tversky {tag} smp", losses.tversky(z, t, ignore, 0.3, 0.7, smooth=s).item(),
                  smp.TverskyLoss("multiclass", smooth=s, ignore_index=ignore, alpha=0.3, beta=0.7)(z, t).item())
            mask, _, y = losses._valid(z, t, ignore)
            p = z.softmax(1) * mask
            per = lambda score: (1.0 - score((p * y).sum((0, 2, 3)), p.sum((0, 2, 3)), y.sum((0, 2, 3))))
            for name, ours, theirs in [
                ("dice", per(losses._dice(s)), MonaiDice(smooth_nr=s, smooth_dr=s, batch=True, reduction="none")),
                ("iou", per(losses._iou(s / 2)), MonaiDice(jaccard=True, smooth_nr=s, smooth_dr=s, batch=True, reduction="none")),
                ("tversky", per(losses._tversky(0.3, 0.7, s)),
                 MonaiTversky(alpha=0.3, beta=0.7, smooth_nr=s, smooth_dr=s, batch=True, reduction="none")),
            ]:
                terms, present = monai_per_class(theirs, z, t, ignore)
                check(f"{name} {tag} MONAI, present classes", ours[present], terms[present])
                if (~present).any() and name == "dice":
                    absent = terms[~present]
                    check(f"dice {tag} MONAI, absent classes are 1 - s/(P + s)", absent,
                          1.0 - s / (p.sum((0, 2, 3))[~present] + s))
    print(f"{checks - len(failures)} of {checks} comparisons with smp 0.6.0 and MONAI 1.6.1 agree")
    for f in failures:
        print("differs:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
