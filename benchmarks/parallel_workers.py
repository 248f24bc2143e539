"""Speed-up of ``--workers 2`` over ``--workers 1`` on one machine, with Spark beside it.

Runs the real command, ``hyperopt_optimize.py``, on Debian's Fashion-MNIST
(``/usr/share/datasets/fashion-mnist``), ``search_spaces/fashion_mnist_cnn.py``, 8 trials x 3
epochs x 12,000 training images by default, each configuration in a fresh results folder, back to
back. ``--algo rand`` with the same seed makes every configuration train the same 8 points (random
search does not depend on the order in which trials end; TPE would), so the runs do the same work;
everything else is the tool's defaults (outputs on). Configurations: ``--workers 1``,
``--workers 2``, and ``--backend spark --parallelism 2`` (Spark ``local[2]``; ``--no-spark``
leaves it out). Prints, for each, the whole command's wall clock and the span from the first
trial's start to the last trial's end, then the speed-ups against ``--workers 1``.

    python benchmarks/parallel_workers.py [--trials 8] [--epochs 3] [--samples 12000] [--no-spark]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
SPACE = ROOT / "search_spaces" / "fashion_mnist_cnn.py"


def run(name: str, extra: list[str], args, folder: Path) -> dict:
    from hyperopt_nas.trial_store import TrialStore
    results = folder / name.replace(" ", "_")
    command = [sys.executable, str(ROOT / "hyperopt_optimize.py"), "--space", str(SPACE),
               "--results-dir", str(results), "--max-evals", str(args.trials), "--epochs",
               str(args.epochs), "--max-train-samples", str(args.samples), "--data-dir",
               str(DATA_DIR), "--algo", "rand", "--seed", "0", *extra]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "SPARK_LOCAL_IP": "127.0.0.1"}
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{name} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    records = TrialStore(results).load_records()
    starts = [datetime.fromisoformat(r.started_at).timestamp() for r in records]
    ends = [s + r.wall_time_s for s, r in zip(starts, records)]
    return {"name": name, "trials": len(records), "wall_s": wall,
            "span_s": max(ends) - min(starts),
            "mean_trial_s": sum(r.wall_time_s for r in records) / len(records),
            "points": sorted(str(sorted(r.hyperopt_vals.items())) for r in records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=12000, help="training images per trial")
    parser.add_argument("--no-spark", action="store_true", help="leave Spark out")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()}; "
          f"{SPACE.name}, {args.trials} trials x {args.epochs} epochs x {args.samples} images, "
          "--algo rand --seed 0, outputs on", flush=True)
    configs = {"workers 1": ["--workers", "1"], "workers 2": ["--workers", "2"]}
    if not args.no_spark:
        configs["spark parallelism 2"] = ["--backend", "spark", "--parallelism", "2"]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(name, extra, args, Path(tmp)) for name, extra in configs.items()]
    if len({str(r["points"]) for r in rows}) != 1:
        print("note: the configurations trained different points; compare with care")
    one = rows[0]
    print(f"{'configuration':22s} {'trials':>6s} {'wall s':>8s} {'trials span s':>13s} "
          f"{'mean trial s':>12s} {'speed-up (wall)':>15s} {'speed-up (span)':>15s}")
    for r in rows:
        print(f"{r['name']:22s} {r['trials']:6d} {r['wall_s']:8.1f} {r['span_s']:13.1f} "
              f"{r['mean_trial_s']:12.1f} {one['wall_s'] / r['wall_s']:15.2f} "
              f"{one['span_s'] / r['span_s']:15.2f}")


if __name__ == "__main__":
    main()
