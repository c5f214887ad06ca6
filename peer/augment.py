"""torchvision.transforms.v2.functional on fixed parameters: the reference that
tests/augment.rs compares lossbench's augmentation (src/data/augment.rs) with.

Reads the inputs lossbench wrote (safetensors: images "u8", "f32", "u16" (the bits of
uint16 as int16), "gray", masks "u8", "i32") and a JSON list of cases, each the
parameters of one draw: geometry, flips, quarter turns, a rotation and colour adjustments,
applied in that order. Writes each case's image and mask to a safetensors file as
"<name>.image" and "<name>.mask".

    python peer/augment.py --input inputs.safetensors --cases cases.json --output out.safetensors
"""

import argparse
import json
from pathlib import Path

import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

import tensors

# 16-bit images travel as the bits of int16.
tensors.DTYPES["I16"] = torch.int16
NAMES = {dtype: name for name, dtype in tensors.DTYPES.items()}
MODES = {"nearest": InterpolationMode.NEAREST, "bilinear": InterpolationMode.BILINEAR}


def write(path, named):
    """Writes {name: tensor} as safetensors: header length, JSON header, raw data."""
    header, blobs, offset = {}, [], 0
    for name, t in named.items():
        raw = t.contiguous().numpy().tobytes()
        header[name] = {
            "dtype": NAMES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def geometry(g, image, mask, ignore):
    """torchvision's resized_crop, or resize then crop then pad at the bottom and right.
    uint16 images are resized as int32: torchvision rounds resized integer images back for
    int8 to int64 but truncates uint16 (it is missing from its list); lossbench rounds."""
    if image.dtype == torch.uint16:
        image, mask = geometry(g, tv_tensors.Image(image.to(torch.int32)), mask, ignore)
        return tv_tensors.Image(image.to(torch.uint16)), mask
    if g["kind"] == "resized_crop":
        region = (g["top"], g["left"], g["height"], g["width"])
        image = F.resized_crop(image, *region, size=g["size"], antialias=True)
        mask = F.resized_crop(mask, *region, size=g["size"])
        return image, mask
    image = F.resize(image, g["scaled"], antialias=True)
    mask = F.resize(mask, g["scaled"])
    (sh, sw), (h, w) = g["scaled"], g["size"]
    ch, cw = min(h, sh), min(w, sw)
    image = F.crop(image, g["top"], g["left"], ch, cw)
    mask = F.crop(mask, g["top"], g["left"], ch, cw)
    if (ch, cw) != (h, w):
        padding = [0, 0, w - cw, h - ch]
        image = F.pad(image, padding, fill=0)
        mask = F.pad(mask, padding, fill=ignore)
    return image, mask


def augment(case, image, mask):
    """One case's parameters on a tv_tensors.Image and Mask."""
    ignore = case["ignore"]
    if case.get("geometry"):
        image, mask = geometry(case["geometry"], image, mask, ignore)
    if case["hflip"]:
        image, mask = F.horizontal_flip(image), F.horizontal_flip(mask)
    if case["vflip"]:
        image, mask = F.vertical_flip(image), F.vertical_flip(mask)
    if case["rot90"]:
        k = case["rot90"]
        image = tv_tensors.Image(torch.rot90(image.as_subclass(torch.Tensor), k, dims=[-2, -1]))
        mask = tv_tensors.Mask(torch.rot90(mask.as_subclass(torch.Tensor), k, dims=[-2, -1]))
    if case.get("rotate"):
        r = case["rotate"]
        image = F.rotate(image, r["degrees"], interpolation=MODES[r["interpolation"]], fill=0)
        mask = F.rotate(mask, r["degrees"], fill=ignore)
    for op, factor in case["color"]:
        image = getattr(F, f"adjust_{op}")(image, factor)
    return image, mask


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--cases", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    inputs = tensors.read(args.input)
    out = {}
    for case in json.loads(Path(args.cases).read_text()):
        image = inputs["image." + case["image"]]
        if case["image"] == "u16":
            image = image.view(torch.uint16)
        image, mask = augment(case, tv_tensors.Image(image), tv_tensors.Mask(inputs["mask." + case["mask"]]))
        image = image.as_subclass(torch.Tensor)
        if image.dtype == torch.uint16:
            image = image.view(torch.int16)
        out[case["name"] + ".image"] = image
        out[case["name"] + ".mask"] = mask.as_subclass(torch.Tensor)
    write(args.output, out)


if __name__ == "__main__":
    main()
