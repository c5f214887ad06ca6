"""The camvid parity table: final validation mIoU per loss, lossbench beside the PyTorch
peer, from lossbench's sweep frame (metrics.csv) and peer/train.py's JSON lines.

    python peer/table.py results/camvid-parity/metrics.csv results/camvid-parity/peer.jsonl

Prints a Markdown table: per loss, each side's mean and seed standard deviation of the last
epoch's val_miou, the per-seed values, and lossbench minus PyTorch in units of the larger
seed standard deviation.
"""

import csv
import json
import statistics
import sys
from collections import defaultdict


def final_miou_lossbench(path):
    last = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["loss"], int(row["seed"]))
            epoch = int(row["epoch"])
            if key not in last or epoch > last[key][0]:
                last[key] = (epoch, float(row["val_miou"]))
    return {k: v[1] for k, v in last.items()}


def final_miou_peer(path):
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                run = json.loads(line)
                out[(run["loss"], run["seed"])] = run["epochs"][-1]["val_miou"]
    return out


def main():
    ours, theirs = final_miou_lossbench(sys.argv[1]), final_miou_peer(sys.argv[2])
    by_loss = defaultdict(lambda: ([], []))
    for (loss, seed) in sorted(set(ours) & set(theirs), key=lambda k: k[1]):
        by_loss[loss][0].append(ours[(loss, seed)])
        by_loss[loss][1].append(theirs[(loss, seed)])
    print("| loss | lossbench mean ± σ | PyTorch mean ± σ | lossbench per seed | PyTorch per seed | difference | in σ |")
    print("|---|---|---|---|---|---|---|")
    for loss, (a, b) in by_loss.items():
        sa = statistics.stdev(a) if len(a) > 1 else 0.0
        sb = statistics.stdev(b) if len(b) > 1 else 0.0
        d = statistics.mean(a) - statistics.mean(b)
        sigma = max(sa, sb)
        print(f"| {loss} | {statistics.mean(a):.3f} ± {sa:.3f} | {statistics.mean(b):.3f} ± {sb:.3f} | "
              f"{', '.join(f'{x:.3f}' for x in a)} | {', '.join(f'{x:.3f}' for x in b)} | {d:+.3f} | "
              f"{d / sigma if sigma > 0 else float('nan'):+.1f} |")


if __name__ == "__main__":
    main()
