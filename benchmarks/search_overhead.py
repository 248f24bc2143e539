"""The time a search spends around its trials: the defaults against the leanest configuration,
side by side in one run, and optionally against an earlier revision of this project.

Runs the real command, ``hyperopt_optimize.py``, on Debian's Fashion-MNIST
(``/usr/share/datasets/fashion-mnist``) with a small search (default: 12 trials x 1 epoch x 1,000
training images of ``search_spaces/fashion_mnist_mlp.py``, seed 0), once per configuration, each
in a fresh results folder:

- ``defaults``: what a user gets (worker process, plots, TensorBoard logs, best_model.png);
- ``no outputs``: ``--no-plot --no-tensorboard``;
- ``in-process, no outputs``: ``--isolation none --no-plot --no-tensorboard``, the reference;
- with ``--before REV``: the defaults of revision REV (checked out in a temporary git worktree).

For each: the whole command's wall clock, the time from launch to the first saved trial, the sum
of the trials' own wall times (from their records) and the share of the wall clock outside
them. Then the ratio of each total to the reference's.

    python benchmarks/search_overhead.py [--trials 12] [--epochs 1] [--samples 1000]
                                         [--before 0b793b0]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA_DIR = Path("/usr/share/datasets/fashion-mnist")

CONFIGS = {
    "defaults": [],
    "no outputs": ["--no-plot", "--no-tensorboard"],
    "in-process, no outputs": ["--isolation", "none", "--no-plot", "--no-tensorboard"],
}
REFERENCE = "in-process, no outputs"


def run(name: str, script: Path, extra: list[str], args, folder: Path) -> dict:
    from hyperopt_nas.trial_store import TrialStore
    results = folder / name.replace(" ", "_").replace(",", "")
    command = [sys.executable, str(script), "--space", str(args.space), "--results-dir",
               str(results), "--max-evals", str(args.trials), "--epochs", str(args.epochs),
               "--max-train-samples", str(args.samples), "--data-dir", str(args.data_dir),
               "--seed", "0", *extra]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, cwd=script.parent, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    first = None
    while process.poll() is None:
        if first is None and results.is_dir() and any(results.glob("*trial-*.json")):
            first = time.monotonic() - started
        time.sleep(0.05)
    wall = time.monotonic() - started
    output = process.stdout.read()
    if process.returncode != 0:
        sys.exit(f"{name} failed:\n{output[-3000:]}")
    records = TrialStore(results).load_records()
    inside = sum(r.wall_time_s for r in records)
    return {"name": name, "trials": len(records), "wall_s": wall, "first_trial_s": first,
            "inside_s": inside, "outside_share": 1 - inside / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--samples", type=int, default=1000, help="training images per trial")
    parser.add_argument("--space", type=Path,
                        default=ROOT / "search_spaces" / "fashion_mnist_mlp.py")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--before", default=None, metavar="REV",
                        help="also run the defaults of this git revision, for a before/after")
    args = parser.parse_args()
    args.space = args.space.resolve()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()}; "
          f"{args.space.name}, {args.trials} trials x {args.epochs} epochs x {args.samples} "
          "images, seed 0")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.before:
            tree = folder / "before"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree),
                            args.before], check=True, capture_output=True)
            try:
                rows.append(run(f"before ({args.before}): defaults", tree / "hyperopt_optimize.py",
                                [], args, folder))
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(tree)], capture_output=True)
        for name, extra in CONFIGS.items():
            rows.append(run(name, ROOT / "hyperopt_optimize.py", extra, args, folder))
    reference = next(r for r in rows if r["name"] == REFERENCE)
    print(f"{'configuration':34s} {'trials':>6s} {'wall s':>8s} {'1st trial s':>11s} "
          f"{'in trials s':>11s} {'outside':>8s} {'x reference':>11s}")
    for r in rows:
        first = f"{r['first_trial_s']:.1f}" if r["first_trial_s"] is not None else "-"
        print(f"{r['name']:34s} {r['trials']:6d} {r['wall_s']:8.1f} {first:>11s} "
              f"{r['inside_s']:11.1f} {r['outside_share']:8.0%} "
              f"{r['wall_s'] / reference['wall_s']:11.2f}")


if __name__ == "__main__":
    main()
