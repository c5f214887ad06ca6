#!/usr/bin/env bash
# Installs libtorch once: PyTorch 2.13.0 from PyPI into a virtualenv that every clone of
# lossbench reuses (default ~/.cache/lossbench/torch-2.13.0), with Pillow for the PyTorch
# peer (peer/train.py reads PNGs). Does nothing when both are there.
set -euo pipefail
venv="${1:-$HOME/.cache/lossbench/torch-2.13.0}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import torch, PIL, sys; sys.exit(0 if torch.__version__.split("+")[0] == "2.13.0" else 1)' 2>/dev/null; then
  exit 0
fi
echo "installing PyTorch 2.13.0 (libtorch for tch) and Pillow into $venv; this downloads about 4.7 GB once" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check torch==2.13.0 pillow
