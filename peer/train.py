"""A plain PyTorch training loop for a folder dataset laid out as lossbench reads it
(images/{split}/*.png, masks/{split}/*.png paired by file stem, masks holding class
indices and `--ignore-index`): what a user would write to check lossbench's numbers.

The same experiment as `lossbench run` with data.normalize = false (and data.hflip as
--hflip): peer/unet.py's U-Net after torch.manual_seed(seed), torch.optim.Adam with
PyTorch's defaults, batches from DataLoader(shuffle=True, num_workers=0) over a Dataset
whose items are flipped when --hflip and torch.rand(1) < 0.5 (peer/pairs.py; the last
smaller batch kept unless --drop-last), batch norm in evaluation mode for validation, and
the validation mIoU of the argmax over the whole split (mean over the classes whose union
is not empty). Validation slices the tensors without a DataLoader, which would draw a seed
of its own from the global generator each epoch. lossbench's default batch order draws as
this script does, so a seed is the same run on both sides. One JSON line per run:

  {"loss": "cce", "seed": 1, "epochs": [{"epoch": 1, "train_loss": ..., "val_loss": ...,
   "val_miou": ...}, ...], "seconds": ...}

Needs Pillow to read the PNGs (`make libtorch` installs it into the venv).
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

import losses  # noqa: E402
from pairs import Pairs  # noqa: E402
from unet import INITS, build  # noqa: E402


def read_split(root, split):
    """Images [N, C, H, W] in [0, 1] and masks [N, H, W] (int64) of one split."""
    images, masks = [], []
    for path in sorted((root / "images" / split).iterdir()):
        mask_path = root / "masks" / split / (path.stem + ".png")
        image = Image.open(path).convert("RGB")
        mask = Image.open(mask_path)
        if mask.mode not in ("L", "P"):
            sys.exit(f"{mask_path}: expected an 8-bit index mask, got mode {mask.mode}")
        w, h = image.size
        pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
        images.append(pixels.reshape(h, w, 3).permute(2, 0, 1).float() / 255.0)
        labels = torch.frombuffer(bytearray(mask.tobytes()), dtype=torch.uint8)
        masks.append(labels.reshape(h, w).long())
    return torch.stack(images), torch.stack(masks)


def miou(confusion):
    tp = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - tp
    present = union > 0
    return (tp[present] / union[present]).mean().item()


def layout(args, x):
    """`x` in the memory layout of --channels-last (lossbench's model.channels_last)."""
    return x.contiguous(memory_format=torch.channels_last) if args.channels_last else x


def evaluate(args, net, loss_fn, xs, ys, classes, ignore, batch):
    net.eval()
    confusion = torch.zeros(classes, classes, dtype=torch.float64)
    loss_sum = 0.0
    with torch.no_grad():
        for start in range(0, xs.shape[0], batch):
            x, y = xs[start : start + batch], ys[start : start + batch]
            logits = net(layout(args, x))
            loss_sum += loss_fn(logits, y, ignore).item() * x.shape[0]
            valid = y != ignore if ignore is not None else torch.ones_like(y, dtype=torch.bool)
            pred = logits.argmax(1)[valid]
            truth = y[valid]
            confusion += torch.bincount(truth * classes + pred, minlength=classes * classes).reshape(classes, classes).double()
    net.train()
    return loss_sum / xs.shape[0], miou(confusion)


def train(args, loss, seed, data, classes):
    (train_x, train_y), (val_x, val_y) = data
    start = time.perf_counter()
    net = build(seed, args.init, in_channels=train_x.shape[1], classes=classes, base=args.base, depth=args.depth)
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    loss_fn = losses.LOSSES[loss]
    loader = DataLoader(
        Pairs(train_x, train_y, args.hflip),
        batch_size=args.batch,
        shuffle=True,
        num_workers=0,
        drop_last=args.drop_last,
    )
    epochs = []
    for epoch in range(1, args.epochs + 1):
        total, steps = 0.0, 0
        for x, y in loader:
            value = loss_fn(net(layout(args, x)), y, args.ignore_index)
            opt.zero_grad()
            value.backward()
            opt.step()
            total += value.item()
            steps += 1
        val_loss, val_miou = evaluate(args, net, loss_fn, val_x, val_y, classes, args.ignore_index, args.batch)
        epochs.append({"epoch": epoch, "train_loss": total / steps, "val_loss": val_loss, "val_miou": val_miou})
        print(f"{loss} seed {seed} epoch {epoch}: train loss {total / steps:.4f}, val mIoU {val_miou:.3f}", file=sys.stderr, flush=True)
    return {"loss": loss, "seed": seed, "epochs": epochs, "seconds": time.perf_counter() - start}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, required=True, help="the dataset folder")
    p.add_argument("--train", default="train")
    p.add_argument("--val", default="val")
    p.add_argument("--classes", type=int, required=True)
    p.add_argument("--ignore-index", type=int, default=None)
    p.add_argument("--losses", default="cce,bce,dice,iou,bce_dice")
    p.add_argument("--seeds", default="1,2")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--drop-last", action="store_true")
    p.add_argument("--hflip", action="store_true", help="flip as lossbench's data.hflip = true")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--base", type=int, default=16)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--init", choices=INITS, default="pytorch")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--channels-last", action="store_true",
                   help="weights and inputs in torch.channels_last, the layout lossbench trains in by default (model.channels_last)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = (read_split(args.root, args.train), read_split(args.root, args.val))
    for loss in args.losses.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            print(json.dumps(train(args, loss, seed, data, args.classes)), flush=True)


if __name__ == "__main__":
    main()
