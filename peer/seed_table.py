"""Seed by seed: lossbench beside the PyTorch peer, for runs that draw the same batches
(lossbench's default batch order is DataLoader(shuffle=True)'s), from lossbench's sweep
frame (metrics.csv) and peer/train.py's JSON lines.

    python peer/seed_table.py results/camvid-parity/metrics.csv results/camvid-parity/peer.jsonl

Prints two Markdown tables. The first, per loss and seed: the final (last epoch's)
validation mIoU on each side and lossbench minus PyTorch, and epoch 1's mean training loss
on each side and their relative difference. The second, per loss and seed, how the
difference grows: each epoch's relative training-loss difference and mIoU difference.
Runs on one side only are listed as missing. A last line counts the epochs whose training
loss and validation mIoU are bitwise equal on both sides.
"""

import csv
import json
import sys


def lossbench_epochs(path):
    """{(loss, seed): {epoch: (train_loss, val_miou)}} of a sweep's metrics.csv."""
    runs = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["loss"], int(row["seed"]))
            runs.setdefault(key, {})[int(row["epoch"])] = (float(row["train_loss"]), float(row["val_miou"]))
    return runs


def peer_epochs(path):
    """The same from peer/train.py's JSON lines (a later line for a run replaces one before)."""
    runs = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                run = json.loads(line)
                runs[(run["loss"], run["seed"])] = {e["epoch"]: (e["train_loss"], e["val_miou"]) for e in run["epochs"]}
    return runs


def relative(a, b):
    return (a - b) / abs(b) if b else float("nan")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ours, theirs = lossbench_epochs(sys.argv[1]), peer_epochs(sys.argv[2])
    keys = sorted(set(ours) | set(theirs), key=lambda k: (k[0], k[1]))
    print("| loss | seed | final val mIoU lossbench | PyTorch | difference | epoch-1 train loss lossbench | PyTorch | relative |")
    print("|---|---|---|---|---|---|---|---|")
    both = []
    for key in keys:
        if key not in ours or key not in theirs:
            side = "lossbench" if key not in ours else "PyTorch"
            print(f"| {key[0]} | {key[1]} | missing on the {side} side | | | | | |")
            continue
        a, b = ours[key], theirs[key]
        last = min(max(a), max(b))
        (la, ma), (lb, mb) = a[last], b[last]
        (ta, _), (tb, _) = a[1], b[1]
        print(f"| {key[0]} | {key[1]} | {ma:.4f} | {mb:.4f} | {ma - mb:+.4f} | {ta:.6f} | {tb:.6f} | {relative(ta, tb):+.1e} |")
        both.append(key)
    if not both:
        return
    epochs = range(1, min(min(max(ours[k]), max(theirs[k])) for k in both) + 1)
    print()
    print("Per epoch, lossbench against PyTorch: relative train-loss difference / val mIoU difference.")
    print()
    print("| loss | seed | " + " | ".join(f"epoch {e}" for e in epochs) + " |")
    print("|---|---|" + "---|" * len(epochs))
    for key in both:
        cells = []
        for e in epochs:
            (ta, ma), (tb, mb) = ours[key][e], theirs[key][e]
            cells.append(f"{relative(ta, tb):+.1e} / {ma - mb:+.4f}")
        print(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")
    pairs = [(ours[k][e], theirs[k][e]) for k in both for e in epochs]
    same_loss = sum(a[0] == b[0] for a, b in pairs)
    same_miou = sum(a[1] == b[1] for a, b in pairs)
    largest = max(abs(a[1] - b[1]) for a, b in pairs)
    print()
    print(f"Of {len(pairs)} epochs: the mean training loss is bitwise equal in {same_loss}, the validation "
          f"mIoU in {same_miou} (the largest mIoU difference {largest:.1e}).")


if __name__ == "__main__":
    main()
