#!/usr/bin/env bash
# Builds lossbench against libtorch 2.11 (PyTorch 2.11.0's wheel, through tch 0.24) for a
# machine whose PyTorch is 2.11 and that cannot fetch another (a cluster's compute nodes).
# The default build pins libtorch 2.13 (tch 0.26); this one builds a copy of this tree whose
# manifest asks for tch 0.24 and torch-sys 0.24 (the lock beside this script pins the
# rest), in a target folder of its own, and strips the binary.
#
#   scripts/build-torch-2.11.sh          # prints the stripped binary's path
#   scripts/build-torch-2.11.sh test     # then runs the whole test suite against libtorch 2.11
#   scripts/build-torch-2.11.sh check    # then the unit tests and the PyTorch parity tests (CI)
#
# The binary finds libtorch through the rpath of the build machine's venv, or, on another
# machine, through LD_LIBRARY_PATH pointing at that machine's torch/lib:
#
#   export LD_LIBRARY_PATH=$(python -c 'import torch, os; print(os.path.dirname(torch.__file__))')/lib
#
# Environment: TORCH_211_VENV (default ~/.cache/lossbench/torch-2.11.0, installed when
# missing: about 4.7 GB once), TORCH_211_TARGET (default ~/.cache/lossbench/target-torch-2.11).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${TORCH_211_VENV:-$HOME/.cache/lossbench/torch-2.11.0}
target=${TORCH_211_TARGET:-$HOME/.cache/lossbench/target-torch-2.11}
src=$target/src

if ! "$venv/bin/python" -c 'import torch, PIL, sys; sys.exit(torch.__version__.split("+")[0] != "2.11.0")' 2>/dev/null; then
  echo "installing PyTorch 2.11.0 and Pillow into $venv; this downloads about 4.7 GB once" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check torch==2.11.0 pillow
fi

# The tree as it is (tracked files and untracked ones git does not ignore), with the
# manifest and lock of tch 0.24.
rm -rf "$src"
mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$src"
sed -i -e 's/^tch = "0.26"$/tch = "0.24"/' -e 's/^torch-sys = "0.26"$/torch-sys = "0.24"/' "$src/Cargo.toml"
grep -q '^tch = "0.24"$' "$src/Cargo.toml" || { echo "Cargo.toml no longer names tch 0.26 as this script expects" >&2; exit 2; }
cp scripts/torch-2.11.lock "$src/Cargo.lock"

commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- src csrc build.rs Cargo.toml Cargo.lock 2>/dev/null)" ]; then
  commit="$commit-dirty"
fi
export LIBTORCH_USE_PYTORCH=1 PATH="$venv/bin:$PATH" CARGO_TARGET_DIR="$target/build"
export LOSSBENCH_CLONE="$src" LOSSBENCH_COMMIT="$commit"
(cd "$src" && cargo build --release --locked >&2)
strip -o "$target/lossbench" "$target/build/release/lossbench"
"$target/lossbench" --version >&2
# The PyTorch side of the parity tests is this venv's torch, the libtorch the binary links;
# the tests whose tools are not in it (TensorBoard, MLflow, Keras) say they skip.
tests() {
  (cd "$src" && env -u CI LOSSBENCH_PYTHON="$venv/bin/python" cargo test --release --locked "$@" >&2)
}
case "${1:-}" in
  test) tests ;;
  check) tests --lib --test parity ;;
  "") ;;
  *) echo "usage: $0 [test|check]" >&2; exit 2 ;;
esac
echo "$target/lossbench"
