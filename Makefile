# The two commands of the README: `make demo` and `make test`. Both install libtorch when it
# is missing (PyTorch 2.13.0 from PyPI into a reusable virtualenv), build in release, and
# keep cargo's target folder outside the clone so that a fresh clone reuses the build.
# A user with their own libtorch sets LIBTORCH=/path/to/libtorch and skips the virtualenv.

VENV ?= $(HOME)/.cache/lossbench/torch-2.13.0
export CARGO_TARGET_DIR ?= $(HOME)/.cache/lossbench/target
# Every clone shares the dependencies' build; build.rs rebuilds lossbench itself when the
# clone that builds changes (two clones at different commits each run their own code).
export LOSSBENCH_CLONE := $(CURDIR)

ifdef LIBTORCH
SETUP :=
else
SETUP := libtorch
export LIBTORCH_USE_PYTORCH := 1
export PATH := $(VENV)/bin:$(PATH)
endif

CARGO ?= cargo
LOSSBENCH := $(CARGO_TARGET_DIR)/release/lossbench

.PHONY: demo test build install libtorch lint clean-results bench reference reference-metrics script-losses gpu-check torch-2.11

libtorch:
	@scripts/setup-libtorch.sh "$(VENV)"

build: $(SETUP)
	$(CARGO) build --release

demo: build
	$(LOSSBENCH) run experiments/quick.toml

test: $(SETUP)
	$(CARGO) test --release

# Puts lossbench on PATH: builds in release and installs the binary as $(PREFIX)/bin/lossbench
# (default ~/.local/bin; `make install PREFIX=/usr/local` for another). The binary finds
# libtorch through the rpath of the build, so the venv (or LIBTORCH) stays where it is.
PREFIX ?= $(HOME)/.local
install: build
	install -d "$(PREFIX)/bin"
	install -m755 "$(LOSSBENCH)" "$(PREFIX)/bin/lossbench"

# lossbench against PyTorch eager (the venv's torch, the libtorch lossbench links) on this
# machine: step times, FLOP rate, sweep throughput, time outside libtorch, peak memory,
# report time, where the step's time goes in oneDNN, plan time and memory at 10k, 100k and
# 1M runs; prints the table BENCHMARKS.md quotes.
# About 16 minutes on 2 cores.
# BENCH_ARGS passes options to bench/compare.py (--help lists them).
PYTHON ?= $(VENV)/bin/python
BENCH_ARGS ?=
bench: build
	$(PYTHON) bench/compare.py --lossbench $(LOSSBENCH) --json $(CARGO_TARGET_DIR)/bench.json $(BENCH_ARGS)

# What lossbench does on this machine's GPU (scripts/gpu-check.sh): doctor, quick.toml's
# cce run on the CPU and on cuda:0, the training step on cuda:0; JSON and a table in
# target/gpu-check. Without a usable GPU it runs the CPU part and exits 3, saying why.
gpu-check: build
	scripts/gpu-check.sh $(LOSSBENCH)

# lossbench built against libtorch 2.11 (PyTorch 2.11.0, tch 0.24), stripped, for a machine
# whose PyTorch is 2.11 (scripts/build-torch-2.11.sh; docs/install.md).
torch-2.11:
	scripts/build-torch-2.11.sh

# Rewrites tests/reference/losses.json, the loss values and gradients the tests compare
# with, from the venv's PyTorch (peer/reference.py).
reference: $(SETUP)
	$(PYTHON) peer/reference.py

# Rewrites tests/reference/metrics.json, the Dice, calibration and boundary values the
# tests compare with, from MONAI and torchmetrics in the venv (peer/metrics.py; they are
# needed by this script only, not by the tests).
reference-metrics: $(SETUP)
	$(PYTHON) peer/metrics.py

# The TorchScript losses experiments/losses.toml trains (cross-entropy and focal in PyTorch).
script-losses: $(SETUP)
	$(PYTHON) peer/script_loss.py --out experiments/losses

lint: $(SETUP)
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings

clean-results:
	find results plots -mindepth 1 ! -name README.md -exec rm -rf {} +
