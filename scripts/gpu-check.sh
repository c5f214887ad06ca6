#!/usr/bin/env bash
# One command for a GPU machine: what lossbench does on this machine's GPU, written as JSON
# and as the table BENCHMARKS.md quotes. Nothing is fetched.
#
#   scripts/gpu-check.sh [LOSSBENCH_BINARY]      (or: make gpu-check)
#
# 1. doctor --json (versions, the CUDA backend, each GPU or why none);
# 2. the CPU part: experiments/quick.toml's cce seed 1 for EPOCHS epochs on the CPU;
# 3. without a usable GPU: says why and exits 3 (the CPU part has run);
# 4. the same run on cuda:0, its epochs against the CPU's: the first epoch's train_loss
#    within TOLERANCE (relative) — the weights start bitwise equal (drawn on the CPU), and
#    cuDNN's convolutions differ from oneDNN's in the last bits, which training amplifies;
# 5. lossbench's training step on cuda:0 (bench-step) at 96x128 B16 and 512x512 B8, in fp32
#    and bf16 (train.precision), and PyTorch eager's (bench/pytorch_step.py, channels-last
#    like lossbench, torch.autocast for bf16) when this machine's python has a CUDA torch;
# 6. sweep throughput: bench/sweep.toml's grid widened to 8 runs (2 losses x 4 seeds) on
#    cuda:0 with --jobs 1, 2, 4 and 8, against the same runs one after another in PyTorch
#    eager (when it is there). Without a CUDA torch the JSON names what was not measured.
#
# Environment: OUT (default target/gpu-check), EPOCHS (2), TOLERANCE (0.02), PYTHON (the
# python whose torch is PyTorch eager's side; default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

NO_GPU=3
BIN=${1:-}
if [[ -z "$BIN" ]]; then
  make build >&2
  BIN=${CARGO_TARGET_DIR:-$HOME/.cache/lossbench/target}/release/lossbench
fi
OUT=${OUT:-target/gpu-check}
EPOCHS=${EPOCHS:-2}
TOLERANCE=${TOLERANCE:-0.02}
mkdir -p "$OUT"
PY=$(command -v python3)
TORCH_PY=${PYTHON:-$PY}

echo "== doctor" >&2
"$BIN" doctor | tee "$OUT/doctor.txt" >&2
"$BIN" doctor --json > "$OUT/doctor.json"

# experiments/quick.toml's [base], as `train` takes it.
QUICK=(--set data.height=64 --set data.width=64 --set data.train_images=160
  --set data.val_images=96 --set model.base_channels=8 --set model.depth=4
  --set 'optim.name="adam"' --set optim.lr=1e-3 --set train.batch_size=8)
elapsed() { "$PY" -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$1" "$EPOCHREALTIME"; }

# One run of quick.toml (cce, seed 1) on DEVICE: its epoch lines.
train() {
  local device=$1
  "$BIN" train "${QUICK[@]}" \
    --set "device=\"$device\"" --set 'loss.name="cce"' --set train.seed=1 \
    --set "train.epochs=$EPOCHS" --set train.deterministic=true \
    | grep '^epoch' > "$OUT/train-$device.txt"
}

echo "== training quick.toml (cce, seed 1, $EPOCHS epochs) on the CPU" >&2
start=$EPOCHREALTIME
train cpu
cpu_seconds=$(elapsed "$start")
cat "$OUT/train-cpu.txt" >&2

gpus=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["gpus"]))' "$OUT/doctor.json")
if [[ "$gpus" == 0 ]]; then
  why=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["no_gpu"])' "$OUT/doctor.json")
  "$PY" - "$OUT" "$cpu_seconds" "$why" <<'PY'
import json, sys
out, seconds, why = sys.argv[1], float(sys.argv[2]), sys.argv[3]
json.dump({"gpu": None, "no_gpu": why, "cpu_train_seconds": seconds},
          open(f"{out}/gpu-check.json", "w"), indent=2)
PY
  echo "gpu-check: no usable GPU here: $why" >&2
  echo "gpu-check: the CPU part ran (results in $OUT); run this on a GPU machine for the rest" >&2
  exit "$NO_GPU"
fi

echo "== the same run on cuda:0" >&2
start=$EPOCHREALTIME
train cuda:0
gpu_seconds=$(elapsed "$start")
cat "$OUT/train-cuda:0.txt" >&2

has_torch=0
if "$TORCH_PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  has_torch=1
fi

echo "== training step on cuda:0 (fp32, bf16; PyTorch eager: $has_torch)" >&2
steps() {
  "$BIN" bench-step "${QUICK[@]}" --set 'device="cuda:0"' --set "train.precision=\"$4\"" \
    --set "data.height=$1" --set "data.width=$2" --set "train.batch_size=$3" \
    --set "data.train_images=$3" --set model.base_channels=16 --warmup 5 --steps 20
}
torch_steps() {
  "$TORCH_PY" bench/pytorch_step.py step --device cuda:0 --precision "$4" --layout channels_last \
    --height "$1" --width "$2" --batch "$3" --base 16 --depth 4 --classes 7 --warmup 5 --steps 20
}
for precision in fp32 bf16; do
  steps 96 128 16 $precision > "$OUT/step-96x128-b16-$precision.jsonl"
  steps 512 512 8 $precision > "$OUT/step-512x512-b8-$precision.jsonl"
  if [[ $has_torch == 1 ]]; then
    torch_steps 96 128 16 $precision > "$OUT/torch-step-96x128-b16-$precision.jsonl"
    torch_steps 512 512 8 $precision > "$OUT/torch-step-512x512-b8-$precision.jsonl"
  fi
done

echo "== sweep throughput on cuda:0: 8 runs at 1, 2, 4 and 8 at a time" >&2
for jobs in 1 2 4 8; do
  start=$EPOCHREALTIME
  "$BIN" run bench/sweep.toml --force --jobs "$jobs" --set 'device="cuda:0"' \
    --set 'grid.seed=[1, 2, 3, 4]' --set "sweep.results=\"$OUT/sweep-results\"" \
    --set "sweep.plots=\"$OUT/sweep-plots\"" > "$OUT/sweep-jobs-$jobs.txt" 2>&1
  elapsed "$start" > "$OUT/sweep-jobs-$jobs.seconds"
done
if [[ $has_torch == 1 ]]; then
  start=$EPOCHREALTIME
  "$TORCH_PY" bench/pytorch_step.py sweep --device cuda:0 --layout channels_last \
    --height 64 --width 64 --batch 16 --train-images 128 --val-images 32 --epochs 2 \
    --losses cce,dice --seeds 1,2,3,4 > "$OUT/torch-sweep.jsonl"
  elapsed "$start" > "$OUT/torch-sweep.seconds"
fi

"$PY" - "$OUT" "$TOLERANCE" "$cpu_seconds" "$gpu_seconds" "$has_torch" <<'PY'
import json, os, statistics, sys
out, tol, cpu_s, gpu_s = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
has_torch = sys.argv[5] == "1"
def losses(device):
    rows = [l.split() for l in open(f"{out}/train-{device}.txt")]
    return [float(r[r.index("train_loss") + 1]) for r in rows]
cpu, gpu = losses("cpu"), losses("cuda:0")
rel = abs(cpu[0] - gpu[0]) / abs(cpu[0])
def median(name):
    path = f"{out}/{name}.jsonl"
    if not os.path.exists(path):
        return None
    return statistics.median(json.loads(l)["step_seconds"] for l in open(path))
def seconds(name):
    path = f"{out}/{name}.seconds"
    return float(open(path).read()) if os.path.exists(path) else None
doctor = json.load(open(f"{out}/doctor.json"))
sizes = {"96x128 B16": "96x128-b16", "512x512 B8": "512x512-b8"}
steps = {f"{size} {p}": {"lossbench": median(f"step-{name}-{p}"), "pytorch": median(f"torch-step-{name}-{p}")}
         for size, name in sizes.items() for p in ("fp32", "bf16")}
sweep = {f"lossbench --jobs {j}": seconds(f"sweep-jobs-{j}") for j in (1, 2, 4, 8)}
sweep["PyTorch eager, one after another"] = seconds("torch-sweep")
result = {
    "gpu": doctor["gpus"][0], "libtorch": doctor["libtorch"], "commit": doctor["commit"],
    "train_loss_cpu": cpu, "train_loss_cuda": gpu, "first_epoch_rel_diff": rel,
    "tolerance": tol, "cpu_train_seconds": cpu_s, "cuda_train_seconds": gpu_s,
    "step_seconds": steps, "sweep_8_runs_seconds": sweep,
    "not_measured": [] if has_torch else ["PyTorch eager on this GPU (no CUDA torch for $PYTHON)"],
}
json.dump(result, open(f"{out}/gpu-check.json", "w"), indent=2)
ms = lambda s: "-" if s is None else f"{s * 1000:.1f}"
table = [f"GPU: {doctor['gpus'][0]['name']}, libtorch {doctor['libtorch']}", "",
         "| step | lossbench ms | PyTorch eager ms |", "|---|---|---|"]
for size, s in steps.items():
    table.append(f"| {size} | {ms(s['lossbench'])} | {ms(s['pytorch'])} |")
table += ["", "| 8 runs of bench/sweep.toml | seconds |", "|---|---|"]
for name, s in sweep.items():
    table.append(f"| {name} | {'-' if s is None else f'{s:.1f}'} |")
table += ["", f"quick.toml cce seed 1: first-epoch train_loss CPU {cpu[0]:.5f}, CUDA {gpu[0]:.5f} "
          f"(relative difference {rel:.2e}, tolerance {tol})"]
open(f"{out}/table.md", "w").write("\n".join(table) + "\n")
print("\n".join(table))
if rel > tol:
    sys.exit(f"gpu-check: the first epoch on CUDA differs from the CPU's by {rel:.2e} > {tol}")
PY
