"""Compilation with and without the persistent compilation cache, side by side, under Keras' JAX
backend (where every trial compiles its steps).

Two spaces, each searched twice in one run from the same seed, once at the tool's defaults (the
cache in ``<results>/compile_cache/``) and once with ``--no-compile-cache``; TPE's random start-up
draws the same points both times. ``same network``: only the learning rate varies (a variable,
not a constant of the compiled program), the best case; ``fashion_mnist_cnn.py``: the Keras
Tuner tutorial's space as users search it, where a network recurs only when its layers and
dropout rates do. Then a relaunch of each cached search adds as many trials again (the cache
outlives the process). Prints, per search, the median ``compile_s`` of the trials after the
first, the trials' median wall time, and the ratios cache / no cache.

    python benchmarks/compile_cache.py [--trials 8] [--epochs 3] [--samples 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hyperopt_nas import data_loaders  # noqa: E402

SAME_NETWORK = textwrap.dedent("""
    from hyperopt import hp
    DATASET = "fashion_mnist"
    MODEL = "simple_cnn"
    DEFAULTS = {"epochs": 3, "validation_fraction": 0.1, "patience": 3, "max_train_samples": None}
    SPACE = {"conv_blocks": [{"filters": 32, "kernel_size": 3, "padding": "same", "dropout": 0.1}],
             "dense_units": 64, "activation": "relu", "optimizer": "Adam",
             "learning_rate": hp.loguniform("learning_rate", -8, -4)}
""")


def search(space: Path, folder: Path, trials: int, args, *extra: str) -> list[dict]:
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, str(ROOT / "hyperopt_optimize.py"), "--space", str(space),
           "--data-dir", str(args.data_dir), "--results-dir", str(folder), "--max-evals",
           str(trials), "--epochs", str(args.epochs), "--max-train-samples", str(args.samples),
           "--keras-backend", "jax", "--seed", "0", "--progress", "off", "--no-plot",
           "--no-tensorboard", *extra]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"search failed: {done.stderr[-2000:]}")
    out = []
    for path in folder.glob("*trial-*.json"):
        record = json.loads(path.read_text())
        out.append(record)
    return sorted(out, key=lambda r: r["number"])


def describe(name: str, records: list[dict], relaunch: bool = False) -> dict:
    """The median compilation and wall time of the trials after the first (a relaunch: of all
    its trials, each in a process that starts with no compiled program in memory)."""
    later = records if relaunch else records[1:]
    compiles = [r["extra"]["compile_s"] for r in later if r["extra"].get("compile_s") is not None]
    walls = [r["wall_time_s"] for r in later]
    row = {"search": name, "trials": len(records),
           "first_compile_s": None if relaunch else records[0]["extra"].get("compile_s"),
           "later_compile_s": statistics.median(compiles) if compiles else None,
           "later_wall_s": statistics.median(walls) if walls else None}
    first = "" if relaunch else f"first trial compiled {row['first_compile_s']} s; "
    print(f"{name:>44}: {first}{'its' if relaunch else 'later'} trials: median compile "
          f"{row['later_compile_s']} s, median wall {row['later_wall_s']:.2f} s", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--data-dir", type=Path, default=data_loaders.DEBIAN_FASHION_MNIST)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; {args.trials} trials a search, {args.epochs} epochs, "
          f"{args.samples} training images, Keras on JAX", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        same = Path(tmp) / "same_network.py"
        same.write_text(SAME_NETWORK)
        for label, space in (("same network", same),
                             ("fashion_mnist_cnn.py", ROOT / "search_spaces" /
                              "fashion_mnist_cnn.py")):
            cached_dir = Path(tmp) / f"cached-{space.stem}"
            plain = describe(f"{label}, --no-compile-cache", search(
                space, Path(tmp) / f"plain-{space.stem}", args.trials, args,
                "--no-compile-cache"))
            cached = describe(f"{label}, cache (default)",
                              search(space, cached_dir, args.trials, args))
            again = describe(f"{label}, cache, relaunch", search(
                space, cached_dir, 2 * args.trials, args)[args.trials:], relaunch=True)
            for row in (cached, again):
                if plain["later_compile_s"] and row["later_compile_s"] is not None:
                    compile_ratio = row["later_compile_s"] / plain["later_compile_s"]
                    wall_ratio = row["later_wall_s"] / plain["later_wall_s"]
                    print(f"{'':>44}  {row['search']}: compile {compile_ratio:.2f}x, wall "
                          f"{wall_ratio:.2f}x the same trials without the cache", flush=True)


if __name__ == "__main__":
    main()
