"""`make bench`: lossbench against PyTorch eager on the same machine, in one invocation.

1. The training step. Per image size (64x64, 96x128; batch 16) and loss (cce, dice), four
   processes take turns, round after round (A B C D, then B C D A, ...), each timing
   `--steps` steps after `--warmup`: lossbench's own step (`lossbench bench-step`, the
   function its training loop calls) in channels-last (its default) and in NCHW, and
   bench/pytorch_step.py in PyTorch's default layout and in channels-last. Medians of
   every step of every round, and their ratios.
2. FLOP rate. FLOPs of one step (torch.utils.flop_counter) over the median step time,
   against the fp32 2048x2048 matmul rate measured in the same invocation (before, between
   and after the step rounds; their median).
3. Sweep throughput. bench/sweep.toml (2 losses x 3 seeds) through `lossbench run --jobs
   auto` and `--jobs 1`, against bench/pytorch_step.py training the same runs one after
   another; runs per hour.
4. Outside libtorch. `perf record` (cpu-clock, DWARF call stacks) of one more `lossbench run`
   of the sweep. Each sample goes to the innermost frame that is not in the C library, the
   maths library, the loader or the kernel: inside libtorch when that frame is in libtorch,
   c10, OpenMP, MKL or oneDNN's generated code, outside otherwise (lossbench's own code,
   Polars, the PNG and plotting libraries); samples with no such frame count as outside.
   Per training thread, from its first to its last sample in `run::train::train`: the
   samples outside libtorch plus the wall time that no sample covers (blocked or
   preempted), over that thread's wall time. Skipped when perf cannot record.
5. Peak resident memory of `lossbench run experiments/quick.toml` (results in a temporary
   folder), from wait4's rusage.
6. Kernels: one step of lossbench at the last size with ONEDNN_VERBOSE=1, in
   channels-last and in NCHW: the time, oneDNN implementation and FLOP rate of each
   convolution pass (forward, backward data, backward weights), oneDNN's layout reorders,
   and what the rest of the step takes.
7. `lossbench report` on a synthetic results folder of 1000 runs x 50 epochs (written by
   `lossbench bench-results bench/report.toml`).
8. `lossbench plan` of bench/plan.toml at 10,000, 100,000 and 1,000,000 runs (5 losses x
   1000 seeds x 2, 20 or 200 epochs values; its output dropped): wall seconds and peak
   resident memory, and what each run adds.

The machine is shared: before each measurement the driver waits (up to --quiet-wait
seconds) for other processes to leave the CPUs idle, and says how often they did not.
Quote medians and ratios from one invocation, never a lone absolute time.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEP_PY = ROOT / "bench" / "pytorch_step.py"
VARIANTS = ["lossbench", "lossbench_nchw", "torch_default", "torch_channels_last"]
# --ablate: lossbench with glibc's default allocation thresholds (its mallopt call made a
# no-op by a preloaded shim), to measure what that setting pays.
ABLATION = "lossbench_default_malloc"
SHIM = "int mallopt(int param, int value) { (void)param; (void)value; return 1; }\n"
# Where a sample's innermost frame is not attributable: look further out.
SYSTEM = re.compile(r"kernel\.kallsyms|/libc\.so|/libm\.so|/ld-linux|libstdc\+\+|\[unknown\]|\[vdso\]")
# oneDNN's generated kernels are the process's only JIT code; perf names them [JIT] or
# perf-<pid>.map.
LIBTORCH = re.compile(r"libtorch|libc10|libgomp|libmkl|libdnnl|libiomp|libshm|\[JIT\]|perf-\d+\.map")


class Noise:
    """Waits for the CPUs to be idle before a measurement and counts when they were not."""

    def __init__(self, wait, threshold=20.0):
        self.wait, self.threshold = wait, threshold
        self.checks = self.busy = 0
        self.shares = []

    @staticmethod
    def busy_share(seconds=0.5):
        """CPU busy share, niced processes included: they yield the CPUs to the benchmark
        but still slow a 2-thread OpenMP step several-fold here."""

        def read():
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
            return sum(v), v[3] + v[4]

        t1, i1 = read()
        time.sleep(seconds)
        t2, i2 = read()
        return 100.0 * (1 - (i2 - i1) / max(t2 - t1, 1))

    def settle(self):
        if self.wait <= 0 or not os.path.exists("/proc/stat"):
            return
        deadline = time.time() + self.wait
        share = self.busy_share()
        while share > self.threshold and time.time() < deadline:
            time.sleep(1.0)
            share = self.busy_share()
        self.checks += 1
        self.shares.append(share)
        if share > self.threshold:
            self.busy += 1


def run_json(cmd, env=None):
    """Runs `cmd`; returns the JSON objects it printed, one a line."""
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def timed(cmd, env=None):
    """Wall seconds and peak resident KiB of `cmd` (its output dropped)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{err[-2000:]}")
    return seconds, usage.ru_maxrss


def build_shim(tmp):
    """Compiles the no-op mallopt shim of --ablate; returns its path."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("--ablate needs a C compiler (cc) for its shim")
    src, lib = Path(tmp) / "nomallopt.c", Path(tmp) / "nomallopt.so"
    src.write_text(SHIM)
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(lib), str(src)], check=True)
    return str(lib)


def step_env(args, variant):
    if variant != ABLATION:
        return None
    return dict(os.environ, LD_PRELOAD=args.shim)


def step_cmd(args, variant, height, width, loss):
    if variant.startswith("lossbench"):
        sets = {
            "data.height": height,
            "data.width": width,
            "data.train_images": 4 * args.batch,
            "data.val_images": args.batch,
            "train.batch_size": args.batch,
            "train.threads": args.threads,
            "loss.name": loss,
            "model.channels_last": "false" if variant == "lossbench_nchw" else "true",
            "device": f'"{args.device}"',
            "train.precision": f'"{args.precision}"',
        }
        cmd = [args.lossbench, "bench-step", "--warmup", args.warmup, "--steps", args.steps]
        for k, v in sets.items():
            cmd += ["--set", f"{k}={v}"]
    else:
        layout = "channels_last" if variant == "torch_channels_last" else "default"
        cmd = [args.python, STEP_PY, "step", "--height", height, "--width", width]
        cmd += ["--batch", args.batch, "--loss", loss, "--threads", args.threads, "--layout", layout]
        cmd += ["--device", args.device, "--precision", args.precision]
        cmd += ["--warmup", args.warmup, "--steps", args.steps]
    return [str(c) for c in cmd]


def matmul(args, noise):
    noise.settle()
    out = run_json([args.python, str(STEP_PY), "matmul", "--threads", str(args.threads)])
    return out[0]["matmul_gflops"]


def bench_steps(args, noise, rates):
    results = {}
    sizes = [tuple(int(x) for x in size.split("x")) for size in args.sizes.split(",")]
    for height, width in sizes:
        for loss in args.losses.split(","):
            flops = run_json(
                [args.python, str(STEP_PY), "flops", "--height", str(height), "--width", str(width),
                 "--batch", str(args.batch), "--loss", loss]
            )[0]["flops"]
            variants = VARIANTS + ([ABLATION] if args.ablate else [])
            times = {v: [] for v in variants}
            for r in range(args.rounds):
                order = variants[r % len(variants):] + variants[: r % len(variants)]
                for variant in order:
                    noise.settle()
                    out = run_json(step_cmd(args, variant, height, width, loss), env=step_env(args, variant))
                    times[variant] += [o["step_seconds"] for o in out]
            med = {v: statistics.median(t) for v, t in times.items()}
            key = f"{height}x{width} {loss}"
            results[key] = {"flops": flops, "median_seconds": med, "times": times}
            print(f"  {key}: " + ", ".join(f"{v} {1e3 * m:.0f} ms" for v, m in med.items()), file=sys.stderr)
        if (height, width) != sizes[-1]:
            rates.append(matmul(args, noise))
    return results


def sweep_cmd(args, tmp, jobs):
    return [
        args.lossbench, "run", str(ROOT / "bench" / "sweep.toml"), "--force", "--jobs", jobs,
        "--set", f"sweep.results={tmp}/results", "--set", f"sweep.plots={tmp}/plots",
        "--set", f"train.threads={0 if jobs == 'auto' else args.threads}",
    ]


def torch_sweep_cmd(args, layout):
    """bench/pytorch_step.py `sweep` with the data, batch, epochs and grid of bench/sweep.toml."""
    sweep = tomllib.loads((ROOT / "bench" / "sweep.toml").read_text())
    base, grid = sweep["base"], sweep["grid"]
    data, train = base["data"], base["train"]
    return [
        args.python, str(STEP_PY), "sweep", "--height", str(data["height"]), "--width", str(data["width"]),
        "--batch", str(train["batch_size"]), "--train-images", str(data["train_images"]),
        "--val-images", str(data["val_images"]), "--epochs", str(train["epochs"]),
        "--losses", ",".join(grid["loss"]), "--seeds", ",".join(str(x) for x in grid["seed"]),
        "--threads", str(args.threads), "--layout", layout,
    ]


def bench_sweep(args, noise, tmp):
    cmds = {
        "lossbench --jobs auto": sweep_cmd(args, tmp, "auto"),
        "lossbench --jobs 1": sweep_cmd(args, tmp, "1"),
        "PyTorch eager, one after another (default layout)": torch_sweep_cmd(args, "default"),
        "PyTorch eager, one after another (channels-last)": torch_sweep_cmd(args, "channels_last"),
    }
    walls = {k: [] for k in cmds}
    for r in range(args.sweep_rounds):
        names = list(cmds)
        names = names[r % len(names):] + names[: r % len(names)]
        for name in names:
            noise.settle()
            walls[name].append(timed(cmds[name])[0])
    med = {k: statistics.median(v) for k, v in walls.items()}
    print("  sweep: " + ", ".join(f"{k} {v:.1f} s" for k, v in med.items()), file=sys.stderr)
    return {"median_seconds": med, "seconds": walls, "runs": 6}


def conv_shape(desc):
    """The sizes in a oneDNN (de)convolution's problem descriptor, e.g.
    `mb16_ic64oc32_ih48oh48kh3sh1dh0ph1_iw64ow64kw3sw1dw0pw1` -> {"mb": 16, "ic": 64, ...}."""
    return {k: int(n) for k, n in re.findall(r"([a-z]+?)(\d+)", desc.replace("_", ""))}


def conv_flops(kind, v):
    """FLOPs of one pass of the (de)convolution of shape `v` (each pass does as many)."""
    # A convolution does one multiply-add per output pixel and kernel tap, a transposed one
    # per input pixel and tap.
    pixels = v["ih"] * v["iw"] if kind == "deconvolution" else v["oh"] * v["ow"]
    return 2 * v["mb"] * pixels * v["ic"] * v["oc"] * v["kh"] * v["kw"]


def kernels(args, noise):
    """Where one training step's time goes inside libtorch: lossbench's step at the last
    size with ONEDNN_VERBOSE=1, in channels-last and in NCHW; the oneDNN primitives of its
    last step summed by convolution pass (forward, backward data, backward weights; 1x1
    apart) with their implementations and FLOP rates, and the layout reorders; the rest of
    the step is everything that is not oneDNN."""
    height, width = args.sizes.split(",")[-1].split("x")
    loss = args.losses.split(",")[0]
    layouts = {}
    for name, variant in (("channels-last", "lossbench"), ("NCHW", "lossbench_nchw")):
        cmd = step_cmd(args, variant, height, width, loss)
        cmd[cmd.index("--steps") + 1] = "1"
        noise.settle()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                             env=dict(os.environ, ONEDNN_VERBOSE="1")).stdout.splitlines()
        step = [json.loads(line) for line in out if line.startswith("{")][-1]["step_seconds"]
        # oneDNN's log is block-buffered apart from the step times, but every step runs the
        # same primitives: the last step's are the last 1/(warm-up + 1) of them.
        execs = [f for f in (line.split(",") for line in out if line.startswith("onednn_verbose"))
                 if len(f) >= 10 and f[3] == "exec"]
        passes = {}
        for f in execs[len(execs) - len(execs) // (args.warmup + 1):]:
            if f[5] in ("convolution", "deconvolution"):
                shape = conv_shape(f[-2])
                one = shape["kh"] == shape["kw"] == 1
                key = f"{f[5]}{' 1x1' if one else ''} {f[7]}"
                flops = conv_flops(f[5], shape)
            else:
                key, flops = f"{f[5]} (layout changes)", 0
            p = passes.setdefault(key, {"calls": 0, "ms": 0.0, "flops": 0, "kernels": []})
            p["calls"] += 1
            p["ms"] += float(f[-1])
            p["flops"] += flops
            if f[6] not in p["kernels"]:
                p["kernels"].append(f[6])
        layouts[name] = {"step_ms": 1e3 * step, "passes": passes}
    return {"size": f"{height}x{width}", "loss": loss, "layouts": layouts}


def kernel_table(k):
    names = list(k["layouts"])
    head = " | ".join(f"{n}: kernel | calls | ms | GFLOP/s" for n in names)
    lines = [f"| oneDNN in one {k['size']} {k['loss']} step (ONEDNN_VERBOSE) | GFLOP | {head} |",
             "|---|---|" + "---|---|---|---|" * len(names)]
    first = k["layouts"][names[0]]["passes"]
    keys = sorted({key for v in k["layouts"].values() for key in v["passes"]},
                  key=lambda key: -first.get(key, {"ms": 0})["ms"])
    for key in keys:
        cells, flops = [], 0
        for n in names:
            p = k["layouts"][n]["passes"].get(key)
            if p is None:
                cells.append(" | | | ")
                continue
            flops = max(flops, p["flops"])
            rate = f"{p['flops'] / 1e6 / max(p['ms'], 1e-9):.0f}" if p["flops"] else ""
            cells.append(f"{'+'.join(p['kernels'])} | {p['calls']} | {p['ms']:.0f} | {rate}")
        gflop = f"{flops / 1e9:.1f}" if flops else ""
        lines.append(f"| {key} | {gflop} | {' | '.join(cells)} |")
    rest = [f" | | {v['step_ms'] - sum(p['ms'] for p in v['passes'].values()):.0f} | "
            for v in k["layouts"].values()]
    whole = [f" | | {v['step_ms']:.0f} | " for v in k["layouts"].values()]
    lines.append(f"| everything else (norms, ReLU, pooling, loss, optimizer, ...) | | {' | '.join(rest)} |")
    lines.append(f"| the whole step (verbose logging included) | | {' | '.join(whole)} |")
    return lines


def cpu_jiffies():
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)


def classify(frames):
    """`inside`, `outside` or `unattributed`: where the innermost attributable frame is."""
    for frame in frames:
        dso = frame[frame.rfind("(") + 1 : frame.rfind(")")] if "(" in frame else "[unknown]"
        if SYSTEM.search(dso):
            continue
        return ("inside" if LIBTORCH.search(dso) else "outside"), os.path.basename(dso)
    return "unattributed", None


def outside_share(args, noise, tmp):
    """Where a lossbench sweep's training threads spend their wall time: `perf record`
    (cpu-clock, every thread) of one `lossbench run` of bench/sweep.toml; for each thread
    that trains (one per job), between its first and last sample inside `run::train::train`,
    its samples sorted by `classify`, and the wall time no sample covers."""
    perf = shutil.which("perf")
    if perf is None:
        return {"skipped": "perf is not installed"}
    data = f"{tmp}/perf.data"
    noise.settle()
    before = cpu_jiffies()
    with open(f"{tmp}/perf.log", "w+") as log:
        proc = subprocess.Popen(
            [perf, "record", "-e", "cpu-clock", "-F", str(args.perf_hz), "--call-graph", "dwarf,16384",
             "-o", data, "--"] + sweep_cmd(args, tmp, "auto"),
            stdout=subprocess.DEVNULL, stderr=log,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        after = cpu_jiffies()
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            return {"skipped": f"perf record failed: {log.read().strip()[-300:]}"}
    # The CPU time other processes took meanwhile: the system's busy time less this one's.
    hz = os.sysconf("SC_CLK_TCK")
    ours = (usage.ru_utime + usage.ru_stime) * hz
    others = max((after[0] - before[0]) - ours, 0) / max(after[1] - before[1], 1)
    script = subprocess.run([perf, "script", "--no-inline", "-i", data, "-F", "tid,time,ip,sym,dso"],
                            capture_output=True, text=True, timeout=600)
    os.remove(data)
    samples = []
    for block in script.stdout.split("\n\n"):
        lines = [line.strip() for line in block.strip().splitlines() if line.strip()]
        if not lines:
            continue
        tid, stamp = int(lines[0].split()[0]), float(lines[0].split()[1].rstrip(":"))
        frames = lines[1:]
        training = any("run::train::train" in f for f in frames)
        samples.append((stamp, tid, training, *classify(frames)))
    # Per training thread (one per job), from its first to its last sample in
    # run::train::train: samples outside libtorch, and wall time no sample covers (the
    # thread blocked, on a file write or a lock, or preempted by another process).
    threads = {}
    for stamp, tid, training, kind, dso in samples:
        if training:
            first, last = threads.get(tid, (stamp, stamp))
            threads[tid] = (min(first, stamp), max(last, stamp))
    if not threads:
        return {"skipped": "no sample inside run::train::train"}
    counts = {"inside": 0, "outside": 0, "unattributed": 0}
    outside_where = {}
    expected = 0.0
    for tid, (first, last) in threads.items():
        expected += (last - first) * args.perf_hz
        for stamp, t, _, kind, dso in samples:
            if t == tid and first <= stamp <= last:
                counts[kind] += 1
                if kind == "outside":
                    outside_where[dso] = outside_where.get(dso, 0) + 1
    sampled = sum(counts.values())
    gap = max(expected - sampled, 0.0)
    # The whole training window over every core: also counts a core with no run left to train.
    start = min(f for f, _ in threads.values())
    end = max(last for _, last in threads.values())
    in_window = sum(1 for stamp, *_ in samples if start <= stamp <= end)
    core_samples = (end - start) * args.perf_hz * (os.cpu_count() or 1)
    return {
        "training_threads": len(threads),
        "window_seconds": end - start,
        "samples": sampled,
        "counts": counts,
        "outside_by_dso": outside_where,
        "outside_cpu_share": (counts["outside"] + counts["unattributed"]) / max(sampled, 1),
        "not_running_share": gap / max(expected, 1),
        # Of the training threads' wall time: outside libtorch, time not running included.
        "outside_share": (counts["outside"] + counts["unattributed"] + gap) / max(expected, 1),
        "cores_idle_share": max(core_samples - in_window, 0.0) / max(core_samples, 1),
        "others_cpu_share": others,
    }


def quick_rss(args, noise, tmp):
    text = (ROOT / "experiments" / "quick.toml").read_text()
    noise.settle()
    cmd = [args.lossbench, "run", str(ROOT / "experiments" / "quick.toml"), "--force",
           "--set", f"sweep.results={tmp}/quick-results", "--set", f"sweep.plots={tmp}/quick-plots"]
    if args.quick_epochs:
        cmd += ["--set", f"train.epochs={args.quick_epochs}"]
    seconds, kib = timed(cmd)
    epochs = args.quick_epochs or int(re.search(r"train\.epochs\s*=\s*(\d+)", text).group(1))
    return {"peak_rss_mib": kib / 1024, "seconds": seconds, "epochs": epochs}


def report_time(args, noise, tmp):
    seeds = ",".join(str(s) for s in range(1, args.report_seeds + 1))
    sets = ["--set", f"grid.seed=[{seeds}]", "--set", "train.epochs=50",
            "--set", f"sweep.results={tmp}/big", "--set", f"sweep.plots={tmp}/big-plots"]
    subprocess.run([args.lossbench, "bench-results", str(ROOT / "bench" / "report.toml")] + sets,
                   check=True, capture_output=True)
    walls = []
    for _ in range(args.report_rounds):
        noise.settle()
        walls.append(timed([args.lossbench, "report", f"{tmp}/big/bench-report"])[0])
    runs = len(tomllib.loads((ROOT / "bench" / "report.toml").read_text())["grid"]["loss"]) * args.report_seeds
    return {"runs": runs, "epochs": 50, "seconds": walls, "median_seconds": statistics.median(walls)}


def plan_time(args, noise, tmp):
    """`lossbench plan bench/plan.toml` at each size of --plan-sizes (runs, a multiple of
    5000: 5 losses x 1000 seeds x an epochs axis); wall seconds (median of --plan-rounds)
    and peak resident MiB."""
    seeds = ",".join(str(s) for s in range(1, 1001))
    sizes = {}
    for runs in (int(n) for n in args.plan_sizes.split(",")):
        epochs = ",".join(str(e) for e in range(1, runs // 5000 + 1))
        cmd = [args.lossbench, "plan", str(ROOT / "bench" / "plan.toml"),
               "--set", f"grid.seed=[{seeds}]", "--set", f"grid.train.epochs=[{epochs}]",
               "--set", f"sweep.results={tmp}/plan-results", "--set", f"sweep.plots={tmp}/plan-plots"]
        walls, peaks = [], []
        for _ in range(args.plan_rounds):
            noise.settle()
            seconds, kib = timed(cmd)
            walls.append(seconds)
            peaks.append(kib / 1024)
        sizes[str(runs)] = {"seconds": walls, "median_seconds": statistics.median(walls),
                            "peak_rss_mib": max(peaks)}
        print(f"  plan {runs} runs: {statistics.median(walls):.2f} s, {max(peaks):.0f} MiB", file=sys.stderr)
    return sizes


def plan_growth(p):
    """(runs, seconds, MiB) of the smallest and the largest size, and the bytes each run
    between them adds."""
    runs = sorted(int(n) for n in p)
    small, big = p[str(runs[0])], p[str(runs[-1])]
    per_run = (big["peak_rss_mib"] - small["peak_rss_mib"]) * 2**20 / max(runs[-1] - runs[0], 1)
    return runs, per_run


def verdict(ok):
    return "met" if ok else "NOT met"


def step_table(res, mm):
    lines = [
        "| size, loss | lossbench ms | lossbench NCHW ms | PyTorch default ms | PyTorch channels-last ms "
        "| lossbench ÷ default | lossbench ÷ channels-last | step GFLOP | lossbench GFLOP/s | share of matmul rate |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in res["steps"].items():
        m = r["median_seconds"]
        gf = r["flops"] / 1e9
        rate = gf / m["lossbench"]
        lines.append(
            f"| {key} | {1e3 * m['lossbench']:.0f} | {1e3 * m['lossbench_nchw']:.0f} | {1e3 * m['torch_default']:.0f} "
            f"| {1e3 * m['torch_channels_last']:.0f} | {m['lossbench'] / m['torch_default']:.2f} "
            f"| {m['lossbench'] / m['torch_channels_last']:.2f} | {gf:.1f} | {rate:.0f} | {rate / mm:.0%} |"
        )
    ablated = [(k, r["median_seconds"]) for k, r in res["steps"].items() if ABLATION in r["median_seconds"]]
    if ablated:
        lines.append("")
        lines.append("| size, loss | lossbench ms | lossbench with glibc's default allocation thresholds ms | ratio |")
        lines.append("|---|---|---|---|")
        for key, m in ablated:
            lines.append(f"| {key} | {1e3 * m['lossbench']:.0f} | {1e3 * m[ABLATION]:.0f} "
                         f"| {m['lossbench'] / m[ABLATION]:.2f} |")
    n = res["rounds"] * res["steps_per_round"]
    lines.append("")
    lines.append(f"Medians of {n} steps per cell ({res['rounds']} rounds x {res['steps_per_round']} steps after "
                 f"{res['warmup']} warm-up), batch {res['batch']}, {res['threads']} threads.")
    return lines


def table(res):
    lines = []
    mm = res["matmul_gflops_median"]
    lines.append(f"fp32 2048² matmul, {res['threads']} threads: {mm:.0f} GFLOP/s (median of "
                 + ", ".join(f"{r:.0f}" for r in res["matmul_gflops"]) + ")")
    lines.append("")
    if res["steps"]:
        lines += step_table(res, mm)
    if "sweep" in res:
        s = res["sweep"]
        lines.append("")
        lines.append("| 6-run sweep (bench/sweep.toml) | wall s (median) | runs per hour | ÷ PyTorch one after another |")
        lines.append("|---|---|---|---|")
        base = s["median_seconds"]["PyTorch eager, one after another (default layout)"]
        for name, sec in s["median_seconds"].items():
            lines.append(f"| {name} | {sec:.1f} | {3600 * s['runs'] / sec:.0f} | {base / sec:.2f} |")
    if "kernels" in res:
        lines.append("")
        lines += kernel_table(res["kernels"])
    extra = []
    if "outside" in res:
        o = res["outside"]
        if "skipped" in o:
            extra.append(f"outside libtorch: skipped ({o['skipped']})")
        else:
            extra.append(
                f"outside libtorch while bench/sweep.toml trains (--jobs auto: {o['training_threads']} training "
                f"threads, {o['samples']} perf samples on them): {o['outside_share']:.1%} of their wall time "
                f"= {o['outside_cpu_share']:.1%} of their samples outside libtorch "
                f"({', '.join(f'{k} {v}' for k, v in sorted(o['outside_by_dso'].items()))}; "
                f"{o['counts']['unattributed']} unattributed) + {o['not_running_share']:.1%} not running; "
                f"over the {o['window_seconds']:.0f} s training window {o['cores_idle_share']:.1%} of the cores' "
                f"time was idle (a core with no run left at the end); other processes took "
                f"{o['others_cpu_share']:.0%} of the CPUs meanwhile"
            )
    if "quick" in res:
        q = res["quick"]
        extra.append(f"experiments/quick.toml ({q['epochs']} epochs): peak resident {q['peak_rss_mib']:.0f} MiB, "
                     f"{q['seconds']:.0f} s")
    if "report" in res:
        r = res["report"]
        extra.append(f"lossbench report, {r['runs']} runs x {r['epochs']} epochs: {r['median_seconds']:.2f} s wall (median of "
                     + ", ".join(f"{x:.2f}" for x in r["seconds"]) + ")")
    if "plan" in res:
        p = res["plan"]
        runs, per_run = plan_growth(p)
        extra.append("lossbench plan: " + ", ".join(
            f"{int(n):,} runs {p[n]['median_seconds']:.2f} s, {p[n]['peak_rss_mib']:.0f} MiB peak" for n in map(str, runs))
            + f"; {per_run:.0f} bytes of memory a run")
    n = res["noise"]
    extra.append(f"noise: {n['busy']} of {n['checks']} measurements started with other processes busy "
                 f"(median CPU busy before a measurement {n['median_busy']:.0f}%)")
    if extra:
        lines.append("")
        lines += [f"- {e}" for e in extra]

    lines.append("")
    lines.append("Targets:")
    steps = list(res["steps"].values())
    if steps:
        d = max(r["median_seconds"]["lossbench"] / r["median_seconds"]["torch_default"] for r in steps)
        c = max(r["median_seconds"]["lossbench"] / r["median_seconds"]["torch_channels_last"] for r in steps)
        lines.append(f"- step ≤ 0.80× PyTorch default (worst cell {d:.2f}): {verdict(d <= 0.80)}")
        lines.append(f"- step ≤ 1.0× PyTorch channels-last (worst cell {c:.2f}): {verdict(c <= 1.0)}")
    big = [r for k, r in res["steps"].items() if k.startswith("96x128")]
    if big:
        share = min(r["flops"] / 1e9 / r["median_seconds"]["lossbench"] / res["matmul_gflops_median"] for r in big)
        lines.append(f"- 96×128 step ≥ 80% of the matmul rate (worst {share:.0%}): {verdict(share >= 0.8)}")
    if "sweep" in res:
        s = res["sweep"]["median_seconds"]
        ratio = s["PyTorch eager, one after another (default layout)"] / s["lossbench --jobs auto"]
        lines.append(f"- sweep ≥ 1.3× PyTorch one after another ({ratio:.2f}×): {verdict(ratio >= 1.3)}")
    if "outside" in res and "skipped" not in res["outside"]:
        o = res["outside"]["outside_share"]
        lines.append(f"- < 3% of the time outside libtorch ({o:.1%}): {verdict(o < 0.03)}")
    if "report" in res:
        r = res["report"]
        t = r["median_seconds"]
        lines.append(f"- report of {r['runs']} runs x {r['epochs']} epochs < 2 s ({t:.2f} s): {verdict(t < 2.0)}")
    if "plan" in res:
        p = res["plan"]
        runs, per_run = plan_growth(p)
        if "100000" in p:
            t = p["100000"]["median_seconds"]
            lines.append(f"- plan of 100,000 runs ≤ 5 s ({t:.2f} s): {verdict(t <= 5.0)}")
        if len(runs) > 1:
            a, b = p[str(runs[-2])]["median_seconds"], p[str(runs[-1])]["median_seconds"]
            ratio, grows = b / a, runs[-1] / runs[-2]
            lines.append(f"- plan time linear in the runs: {runs[-1]:,} runs ÷ {runs[-2]:,} runs {ratio:.1f}× for "
                         f"{grows:.0f}× the runs (≤ {1.25 * grows:.1f}×): {verdict(ratio <= 1.25 * grows)}")
            lines.append(f"- plan memory ≤ 512 bytes a run ({per_run:.0f}): {verdict(per_run <= 512)}")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lossbench", required=True, help="the release binary")
    p.add_argument("--python", default=sys.executable, help="the venv's python (its torch is lossbench's libtorch)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--sweep-rounds", type=int, default=2)
    p.add_argument("--report-rounds", type=int, default=3)
    p.add_argument("--report-seeds", type=int, default=200,
                   help="seeds of the synthetic report sweep (x 5 losses: 1000 runs)")
    p.add_argument("--plan-sizes", default="10000,100000,1000000",
                   help="runs of the planned grids (multiples of 5000)")
    p.add_argument("--plan-rounds", type=int, default=1)
    p.add_argument("--perf-hz", type=int, default=49)
    p.add_argument("--quick-epochs", type=int, default=2,
                   help="train experiments/quick.toml this many epochs for its peak memory (0: its own 12, ~8 min)")
    p.add_argument("--quiet-wait", type=float, default=30.0, help="seconds to wait for idle CPUs before each measurement")
    p.add_argument("--only", default="steps,kernels,sweep,outside,quick,report,plan", help="which parts, comma-separated")
    p.add_argument("--json", help="also write every measurement here")
    p.add_argument("--ablate", action="store_true",
                   help="also time lossbench with glibc's default allocation thresholds")
    p.add_argument("--sizes", default="64x64,96x128", help="image sizes of the step table")
    p.add_argument("--device", default="cpu", help="the step table's device on both sides: cpu, cuda or cuda:N")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                   help="the step table's train.precision on both sides (torch.autocast in PyTorch)")
    p.add_argument("--losses", default="cce,dice", help="losses of the step table")
    args = p.parse_args()
    parts = set(args.only.split(","))
    noise = Noise(args.quiet_wait)
    res = {"threads": args.threads, "batch": args.batch, "rounds": args.rounds,
           "steps_per_round": args.steps, "warmup": args.warmup}
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="lossbench-bench-") as tmp:
        args.shim = build_shim(tmp) if args.ablate else None
        rates = [matmul(args, noise)]
        if "steps" in parts:
            res["steps"] = bench_steps(args, noise, rates)
        rates.append(matmul(args, noise))
        res["matmul_gflops"] = rates
        res["matmul_gflops_median"] = statistics.median(rates)
        if "kernels" in parts:
            res["kernels"] = kernels(args, noise)
        if "sweep" in parts:
            res["sweep"] = bench_sweep(args, noise, tmp)
        if "outside" in parts:
            res["outside"] = outside_share(args, noise, tmp)
            print(f"  outside: {res['outside']}", file=sys.stderr)
        if "quick" in parts:
            res["quick"] = quick_rss(args, noise, tmp)
            print(f"  quick: {res['quick']}", file=sys.stderr)
        if "report" in parts:
            res["report"] = report_time(args, noise, tmp)
            print(f"  report: {res['report']}", file=sys.stderr)
        if "plan" in parts:
            res["plan"] = plan_time(args, noise, tmp)
    res["noise"] = {"checks": noise.checks, "busy": noise.busy,
                    "median_busy": statistics.median(noise.shares) if noise.shares else 0.0}
    if "steps" not in parts:
        res["steps"] = {}
    print(table(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
