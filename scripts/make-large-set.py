"""Writes a folder dataset of Cityscapes' size for the streaming benchmark: N images of
512x1024 (RGB PNG) and their index masks (19 classes, 255 on a border band: ignored), in
images/{train,val} and masks/{train,val}, the last 500 validating by default.

Each image is a smooth scene (sky, road and horizon gradients) with a few hundred
rectangles and discs of random classes, so that the PNGs compress as photographs do and
decoding costs what it costs on real data. Seeded: the same arguments write the same files.

  python scripts/make-large-set.py OUT [--images 3000] [--val 500] [--workers 2]

Needs numpy and Pillow (`make libtorch` installs both into the venv).
"""

import argparse
import json
import multiprocessing
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HEIGHT, WIDTH, CLASSES = 512, 1024, 19


def scene(i):
    """Image i (uint8 [H, W, 3]) and its mask (uint8 [H, W])."""
    rng = np.random.default_rng(i)
    y = np.linspace(0.0, 1.0, HEIGHT)[:, None]
    x = np.linspace(0.0, 1.0, WIDTH)[None, :]
    horizon = 0.35 + 0.1 * rng.random()
    mask = np.where(y < horizon, 10, 0) + np.zeros((1, WIDTH), dtype=np.int64)
    base = rng.uniform(60, 200, size=3)
    image = np.empty((HEIGHT, WIDTH, 3))
    for c in range(3):
        image[..., c] = base[c] * (0.6 + 0.4 * y) + 30 * np.sin(6 * x + c)
    for _ in range(rng.integers(150, 300)):
        cls = int(rng.integers(1, CLASSES))
        h, w = rng.integers(8, 80, size=2)
        top, left = rng.integers(0, HEIGHT - h), rng.integers(0, WIDTH - w)
        colour = rng.uniform(0, 255, size=3)
        if rng.random() < 0.5:
            mask[top : top + h, left : left + w] = cls
            image[top : top + h, left : left + w] = colour
        else:
            yy, xx = np.ogrid[:h, :w]
            disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 2) ** 2
            mask[top : top + h, left : left + w][disc] = cls
            image[top : top + h, left : left + w][disc] = colour
    image += rng.normal(0, 4, size=image.shape)
    mask[:6, :] = 255
    return np.clip(image, 0, 255).astype(np.uint8), mask.astype(np.uint8)


def write(job):
    out, i, split = job
    name = f"img_{i:05d}.png"
    image, mask = scene(i)
    Image.fromarray(image).save(out / "images" / split / name, compress_level=6)
    Image.fromarray(mask).save(out / "masks" / split / name, compress_level=6)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--val", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.val >= args.images:
        sys.exit("--val must be smaller than --images")
    for kind in ("images", "masks"):
        for split in ("train", "val"):
            (args.out / kind / split).mkdir(parents=True, exist_ok=True)
    names = [f"class_{k}" for k in range(CLASSES)]
    (args.out / "dataset.json").write_text(json.dumps({"classes": names, "ignore_index": 255}))
    train = args.images - args.val
    jobs = [(args.out, i, "train" if i < train else "val") for i in range(args.images)]
    with multiprocessing.Pool(args.workers) as pool:
        for k, _ in enumerate(pool.imap_unordered(write, jobs, chunksize=16), 1):
            if k % 250 == 0:
                print(f"{k}/{args.images}", flush=True)


if __name__ == "__main__":
    main()
