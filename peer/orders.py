"""The order in which PyTorch's DataLoader visits a training set, and which items a
RandomHorizontalFlip-style draw in the Dataset flips: what lossbench's default batch order
(train.order = "pytorch", src/data/order.rs) replays. tests/parity.rs compares lossbench's
orders with tests/reference/orders.json and, when the venv is there, with this script's
output from the venv's torch.

Each case is a script: torch.manual_seed(seed), optionally peer/unet.py's U-Net (whose
initialisation draws from the same generator), then `epochs` passes over
DataLoader(dataset, batch_size, shuffle=True, num_workers=0, drop_last) of a Dataset whose
__getitem__ draws `torch.rand(1) < 0.5` per item when hflip is on. For each epoch it records
the items in the order fetched and the flips.

    python peer/orders.py --out tests/reference/orders.json   # the golden file
    python peer/orders.py                                       # the same JSON on stdout
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from unet import build  # noqa: E402

# A U-Net small enough to build in no time; its initialisation draws thousands of values.
MODEL = {"init": "pytorch", "in_channels": 3, "classes": 4, "base": 8, "depth": 2}

CASES = [
    {"seed": 0, "n": 10, "batch": 3, "epochs": 3, "drop_last": False, "hflip": False, "model": None},
    {"seed": 5, "n": 18, "batch": 4, "epochs": 4, "drop_last": False, "hflip": True, "model": None},
    {"seed": 1, "n": 367, "batch": 16, "epochs": 2, "drop_last": True, "hflip": True, "model": None},
    {"seed": 2**40 + 3, "n": 33, "batch": 8, "epochs": 2, "drop_last": False, "hflip": False, "model": None},
    {"seed": 2, "n": 1, "batch": 1, "epochs": 2, "drop_last": False, "hflip": True, "model": None},
    {"seed": 5, "n": 18, "batch": 4, "epochs": 3, "drop_last": False, "hflip": True, "model": MODEL},
    {"seed": 7, "n": 25, "batch": 8, "epochs": 2, "drop_last": True, "hflip": False, "model": MODEL},
]


class Recorded(Dataset):
    """Items 0..n-1, each fetch recorded with its flip draw."""

    def __init__(self, n, hflip):
        self.n, self.hflip, self.fetched = n, hflip, []

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        flip = bool(torch.rand(1) < 0.5) if self.hflip else False
        self.fetched.append((i, flip))
        return i


def run(case):
    torch.manual_seed(case["seed"])
    if case["model"]:
        m = case["model"]
        build(case["seed"], m["init"], in_channels=m["in_channels"], classes=m["classes"], base=m["base"], depth=m["depth"])
    data = Recorded(case["n"], case["hflip"])
    loader = DataLoader(data, batch_size=case["batch"], shuffle=True, num_workers=0, drop_last=case["drop_last"])
    epochs = []
    for _ in range(case["epochs"]):
        data.fetched = []
        batches = [b.tolist() for b in loader]
        indices = [i for b in batches for i in b]
        if indices != [i for i, _ in data.fetched]:
            sys.exit("the fetches differ from the batches")
        flips = [f for _, f in data.fetched] if case["hflip"] else []
        epochs.append({"indices": indices, "flips": flips})
    return {**case, "orders": epochs}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, help="write the golden file here (default: stdout)")
    args = p.parse_args()
    text = json.dumps({"torch": torch.__version__, "cases": [run(c) for c in CASES]})
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
