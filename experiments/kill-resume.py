#!/usr/bin/env python3
"""How much work random SIGKILLs waste, with per-epoch checkpoints and without.

Runs a sweep (default experiments/quick.toml) into a temporary results folder, kills the
whole `lossbench run` with SIGKILL --kills times at random moments (uniform in --min..--max
seconds after each start, from --seed), then lets it finish. At each kill it reads every run
folder's status.json: the epochs a running run had finished are what a run without
checkpoints throws away (it starts over from epoch 1); with checkpoints only the epoch in
progress is lost. It counts the epochs actually trained (the per-epoch lines of every
attempt) against the sweep's epochs, and checks the final frame with `lossbench verify`.

  python3 experiments/kill-resume.py --lossbench ~/.cache/lossbench/target/release/lossbench

Standard library only.
"""

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def statuses(root):
    out = []
    for status in sorted((root / "runs").glob("*/status.json")):
        try:
            out.append(json.loads(status.read_text()))
        except (OSError, ValueError):
            pass
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lossbench", required=True)
    p.add_argument("--sweep", default="experiments/quick.toml")
    p.add_argument("--kills", type=int, default=5)
    p.add_argument("--min", type=float, default=15.0)
    p.add_argument("--max", type=float, default=45.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="kill-resume-"))
    name = "kill-resume"
    command = [
        args.lossbench, "run", args.sweep,
        "--set", f"sweep.name={name}",
        "--set", f"sweep.results={work / 'results'}",
        "--set", f"sweep.plots={work / 'plots'}",
    ]
    root = work / "results" / name
    trained = 0
    lost_without = 0
    running_at_kills = 0
    epoch_line = re.compile(r"epoch +(\d+)/(\d+) ")
    total_epochs = None
    for attempt in range(args.kills + 1):
        log = work / f"attempt-{attempt}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            if attempt < args.kills:
                wait = rng.uniform(args.min, args.max)
                try:
                    proc.wait(timeout=wait)
                    print(f"attempt {attempt}: finished before its kill at {wait:.0f} s", file=sys.stderr)
                except subprocess.TimeoutExpired:
                    running = [s for s in statuses(root) if s["state"] == "running"]
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    finished = sum(s["epochs_done"] for s in running)
                    lost_without += finished
                    running_at_kills += len(running)
                    print(
                        f"attempt {attempt}: killed after {wait:.0f} s; {len(running)} runs in progress "
                        f"had finished {finished} epochs",
                        file=sys.stderr,
                    )
            else:
                proc.wait()
        for line in log.read_text().splitlines():
            m = epoch_line.search(line)
            if m:
                trained += 1
                total_epochs = int(m.group(2))
    runs = statuses(root)
    planned = sum(s["epochs"] for s in runs)
    done = sum(1 for s in runs if s["state"] == "done")
    verify = subprocess.run([args.lossbench, "verify", str(root)], capture_output=True, text=True)
    retrained = trained - planned
    result = {
        "sweep": args.sweep,
        "kills": args.kills,
        "runs": len(runs),
        "done": done,
        "epochs_planned": planned,
        "epochs_trained": trained,
        "epochs_retrained_with_checkpoints": retrained,
        "epochs_retrained_without_checkpoints_at_least": lost_without,
        "runs_in_progress_at_the_kills": running_at_kills,
        "verify": verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else verify.stderr.strip(),
        "epochs_per_run": total_epochs,
        "folder": str(work),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
