"""Writes TorchScript losses for lossbench's `loss.name = "script"`: the one the README
shows (cross-entropy written in PyTorch, which must train bit for bit as lossbench's
`cce`), a focal loss with its own gamma, and, with --broken, the modules lossbench must
refuse before any run starts (each named for what is wrong with it).

    python peer/script_loss.py --out losses/            # cce.pt, focal_gamma1.pt
    python peer/script_loss.py --out /tmp/x --broken    # and detached.pt, vector.pt, ...
"""

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F


class CrossEntropy(torch.nn.Module):
    """Softmax + cross-entropy, pixels of `ignore_index` left out: lossbench's cce."""

    def __init__(self, ignore_index: int = 255):
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, target, ignore_index=self.ignore_index)


class Focal(torch.nn.Module):
    """Softmax focal loss with its own gamma, the mean over valid pixels."""

    def __init__(self, gamma: float, ignore_index: int = 255):
        super().__init__()
        self.gamma = gamma
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = target != self.ignore_index
        clean = torch.where(valid, target, torch.zeros_like(target))
        log_pt = logits.log_softmax(1).gather(1, clean.unsqueeze(1)).squeeze(1)
        term = -((1.0 - log_pt.exp()).clamp_min(1e-30) ** self.gamma) * log_pt
        return (term * valid).sum() / valid.sum()


class Detached(torch.nn.Module):
    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.detach(), target, ignore_index=255)


class Vector(torch.nn.Module):
    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, target, ignore_index=255, reduction="none")


class OneInput(torch.nn.Module):
    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.mean()


class NotFinite(torch.nn.Module):
    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (logits - logits).sum() / (target - target).sum()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--ignore-index", type=int, default=255)
    p.add_argument("--broken", action="store_true", help="also write the modules lossbench refuses")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    modules = {
        "cce": CrossEntropy(args.ignore_index),
        "focal_gamma1": Focal(1.0, args.ignore_index),
    }
    if args.broken:
        modules.update({
            "detached": Detached(),
            "vector": Vector(),
            "one_input": OneInput(),
            "not_finite": NotFinite(),
        })
    for name, module in modules.items():
        torch.jit.save(torch.jit.script(module), str(args.out / f"{name}.pt"))
    if args.broken:
        (args.out / "not_torchscript.pt").write_text("this is not a TorchScript file\n")
    print(f"wrote {', '.join(sorted(modules))} to {args.out}")


if __name__ == "__main__":
    main()
