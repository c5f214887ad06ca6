#!/usr/bin/env bash
# Shows that two clones sharing the Makefile's cargo target folder each build and run their
# own lossbench: clone A at HEAD, clone B one commit further (its --help text changed) with
# every file dated a day back, so that cargo's file times alone would call A's build fresh
# for B. Builds A, then B, then A again, through `make build`, and checks each time that the
# binary is the clone's own (its --help text and the folder --version names). Only
# lossbench's own crate rebuilds; the dependencies are shared. About 3 builds of lossbench.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone --quiet "$here" "$work/a"
git clone --quiet "$here" "$work/b"
(
  cd "$work/b"
  sed -i 's/Sweeps losses x seeds and reports with evidence\./Sweeps losses x seeds and reports with evidence (clone B)./' src/cli.rs
  git -c user.name=check -c user.email=check@localhost commit --quiet -am "clone B"
  find . -path ./.git -prune -o -type f -exec touch -d '1 day ago' {} +
)
bin="${CARGO_TARGET_DIR:-$HOME/.cache/lossbench/target}/release/lossbench"
check() { # clone, whether its help says "clone B"
  local clone=$1 want=$2 help version
  make -C "$work/$clone" build >/dev/null
  help="$("$bin" --help)"
  version="$("$bin" --version)"
  if [ "$want" = yes ]; then grep -q "(clone B)" <<<"$help"; else ! grep -q "(clone B)" <<<"$help"; fi ||
    { echo "FAIL: clone $clone runs the other clone's code: $help" >&2; exit 1; }
  grep -q "built from $work/$clone)" <<<"$version" ||
    { echo "FAIL: clone $clone's binary says: $version" >&2; exit 1; }
  echo "clone $clone runs its own code: $version"
}
check a no
check b yes
check a no
echo "ok: each clone built and ran its own lossbench"
