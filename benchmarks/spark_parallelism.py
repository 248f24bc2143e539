"""Speed-up of trials in parallel on Spark: the same 8 trials at parallelism 1 and 2, back to back.

Runs the real command, ``hyperopt_optimize.py --backend spark``, on Debian's Fashion-MNIST
(``/usr/share/datasets/fashion-mnist``, a training subset) with a fixed small objective: every
trial trains the same one-layer MLP (the space has a single choice, so every trial does the same
work) for a fixed number of epochs, with no early stopping. Each run gets a fresh results folder
and ``local[P]``. Prints the wall time of each run, with and without Spark's start-up (the time
from the search's first trial to its last), and the speed-ups.

    python benchmarks/spark_parallelism.py [--trials 8] [--epochs 3] [--samples 12000]
"""

from __future__ import annotations

import argparse
import json
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

SPACE = """
from hyperopt import hp
DATASET, MODEL = "fashion_mnist", "mlp"
DEFAULTS = {{"epochs": {epochs}, "validation_fraction": 0.1, "patience": {epochs}}}
SPACE = {{"hidden_layers": [{{"units": 256, "dropout": 0.1}}],
          "activation": hp.choice("activation", ["relu"]),
          "optimizer": "Adam", "learning_rate": 0.001, "batch_size": 128}}
"""


def run(parallelism: int, args, folder: Path) -> dict:
    from trial_store import TrialStore
    results = folder / f"results-p{parallelism}"
    command = [sys.executable, str(ROOT / "hyperopt_optimize.py"), "--space",
               str(folder / "space.py"), "--results-dir", str(results), "--max-evals",
               str(args.trials), "--max-train-samples", str(args.samples), "--backend", "spark",
               "--parallelism", str(parallelism), "--algo", "rand", "--no-plot",
               "--no-tensorboard", "--seed", "0"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "SPARK_LOCAL_IP": "127.0.0.1"}
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"parallelism {parallelism} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    records = TrialStore(results).load_records()
    starts = [datetime.fromisoformat(r.started_at).timestamp() for r in records]
    ends = [s + r.wall_time_s for s, r in zip(starts, records)]
    return {"parallelism": parallelism, "trials": len(records), "wall_s": wall,
            "trials_span_s": max(ends) - min(starts),
            "mean_trial_s": sum(r.wall_time_s for r in records) / len(records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=12000, help="training images per trial")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()}; "
          f"{args.trials} trials x {args.epochs} epochs x {args.samples} images")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "space.py").write_text(SPACE.format(epochs=args.epochs))
        rows = [run(p, args, folder) for p in (1, 2)]
    for row in rows:
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v
                          for k, v in row.items()}))
    one, two = rows
    print(f"speed-up, parallelism 2 / 1, whole command (Spark start-up included): "
          f"{one['wall_s'] / two['wall_s']:.2f}")
    print(f"speed-up, parallelism 2 / 1, first trial start to last trial end: "
          f"{one['trials_span_s'] / two['trials_span_s']:.2f}")
    print(f"mean trial time, parallelism 2 / 1 (two trials share the cores): "
          f"{two['mean_trial_s'] / one['mean_trial_s']:.2f}")


if __name__ == "__main__":
    main()
