#!/usr/bin/env bash
# Seed by seed on camvid-small: lossbench (experiments/camvid-parity.toml) beside plain
# PyTorch (peer/train.py), both drawing their batches as DataLoader(shuffle=True) does after
# torch.manual_seed(seed) and the model (lossbench's default train.order = "pytorch"), one
# thread each, the two sides at the same time (one core each); then peer/seed_table.py prints, per loss and seed, the final validation mIoU
# on both sides and the difference, the epoch-1 mean training loss on both sides and the
# relative difference, and how the differences grow epoch by epoch.
#
#   experiments/parity-by-seed.sh                       # 5 losses x seeds 1-3, 10 epochs (hours on 2 cores)
#   LOSSES=cce SEEDS=1 EPOCHS=1 experiments/parity-by-seed.sh   # one run a side, to try it
#
# LOSSBENCH_CAMVID: the camvid-small folder (default ../shared/data/camvid-small);
# LOSSBENCH_PYTHON: the venv's python; LOSSBENCH: the binary; RESULTS and PLOTS: where the
# sweep's folder camvid-parity and its report go (default results and plots, absolute or
# relative to the repository). Runs already finished in RESULTS/camvid-parity are kept, so
# an interrupted call goes on where it stopped; the peer side is trained again.
set -euo pipefail
cd "$(dirname "$0")/.."
LOSSES=${LOSSES:-cce,bce,dice,iou,bce_dice}
SEEDS=${SEEDS:-1,2,3}
EPOCHS=${EPOCHS:-10}
DATA=${LOSSBENCH_CAMVID:-../shared/data/camvid-small}
PYTHON=${LOSSBENCH_PYTHON:-$HOME/.cache/lossbench/torch-2.13.0/bin/python}
LOSSBENCH=${LOSSBENCH:-${CARGO_TARGET_DIR:-$HOME/.cache/lossbench/target}/release/lossbench}
RESULTS=$(realpath -m "${RESULTS:-results}")
PLOTS=$(realpath -m "${PLOTS:-plots}")
OUT=$RESULTS/camvid-parity

quoted_losses=$(printf '"%s",' ${LOSSES//,/ })
mkdir -p "$OUT"
"$LOSSBENCH" run experiments/camvid-parity.toml --jobs 1 \
    --set train.threads=1 --set "train.epochs=$EPOCHS" --set "data.root=\"$(realpath "$DATA")\"" \
    --set "sweep.results=\"$RESULTS\"" --set "sweep.plots=\"$PLOTS\"" \
    --set "grid.loss=[${quoted_losses%,}]" --set "grid.seed=[$SEEDS]" &
ours=$!
trap 'kill "$ours" 2>/dev/null' EXIT
"$PYTHON" peer/train.py --root "$DATA" --classes 11 --ignore-index 255 \
    --losses "$LOSSES" --seeds "$SEEDS" --epochs "$EPOCHS" --batch 16 --threads 1 --channels-last \
    > "$OUT/peer.jsonl"
wait "$ours"
trap - EXIT
"$PYTHON" peer/seed_table.py "$OUT/metrics.csv" "$OUT/peer.jsonl"
