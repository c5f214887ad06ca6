#!/usr/bin/env bash
# Shows that a change of code changes no output: runs the demo (experiments/quick.toml) with
# the lossbench of BASE (a git revision, built in a temporary worktree) and with this
# checkout's, then compares what they wrote.
#
#   scripts/same-output.sh BASE [NEW_BINARY]
#
# - the report (plots/quick: index.html, every PNG and SVG) byte for byte;
# - results/quick/metrics.parquet and metrics.csv byte for byte as this checkout's binary
#   rebuilds them (`lossbench collect`) from BASE's run folders;
# - every column of the two trainings' frames bit for bit, but for `seconds` (wall-clock
#   time, which differs between any two runs of one binary).
#
# Exit status 0 when all are equal. Needs the Makefile's setup (make build) and about 12
# minutes on 2 cores (two demos and a build of BASE's lossbench).
set -euo pipefail
base="${1:?usage: scripts/same-output.sh BASE [NEW_BINARY]}"
here="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lossbench/target}"
new="${2:-$CARGO_TARGET_DIR/release/lossbench}"
work="$(mktemp -d)"
trap 'git -C "$here" worktree remove --force "$work/base-src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

git -C "$here" worktree add --detach "$work/base-src" "$base" >/dev/null
cp "$new" "$work/new"
(cd "$work/base-src" && LOSSBENCH_CLONE="$work/base-src" make build >/dev/null)
cp "$CARGO_TARGET_DIR/release/lossbench" "$work/base"

for side in base new; do
  mkdir -p "$work/$side-run"
  (cd "$work/$side-run" && "$work/$side" run "$here/experiments/quick.toml" >/dev/null)
done

status=0
if diff -r "$work/base-run/plots/quick" "$work/new-run/plots/quick"; then
  echo "same: the report (plots/quick), byte for byte"
else
  echo "DIFFERENT: the report"; status=1
fi

# The new binary rebuilds the frame from the base's run folders.
cp -r "$work/base-run" "$work/collect-run"
(cd "$work/collect-run" && "$work/new" collect "$here/experiments/quick.toml" >/dev/null)
for f in metrics.parquet metrics.csv runs.parquet; do
  if cmp "$work/base-run/results/quick/$f" "$work/collect-run/results/quick/$f"; then
    echo "same: results/quick/$f rebuilt from the base's run folders, byte for byte"
  else
    echo "DIFFERENT: results/quick/$f rebuilt from the base's run folders"; status=1
  fi
done

python3 - "$work/base-run/results/quick/metrics.csv" "$work/new-run/results/quick/metrics.csv" <<'EOF' || status=1
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
columns = [c for c in a[0] if c != "seconds"] if a else []
assert a and b and list(a[0]) == list(b[0]), "the frames' columns differ"
differ = [(i, c) for i, (ra, rb) in enumerate(zip(a, b)) for c in columns if ra[c] != rb[c]]
if len(a) != len(b) or differ:
    print(f"DIFFERENT: the trainings' frames ({len(a)} and {len(b)} rows; first differences {differ[:5]})")
    sys.exit(1)
print(f"same: the trainings' frames, {len(a)} rows x {len(columns)} columns but seconds, as written")
EOF
exit "$status"
