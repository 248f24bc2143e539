"""How long a user waits: ``--help``, launch to the first finished trial, and Ctrl-C to the prompt,
for one or more checkouts of this project side by side (rounds interleaved, so that a busy
machine slows each alike).

Each round, per checkout: ``python hyperopt_optimize.py --help``; then a search of a tiny space
(an MLP on a 300-image Fashion-MNIST written in its official format, 1 epoch, 2 trials: the
time is the start-up's, not training's) until its first trial line, then SIGINT, timed until the
program has exited. Prints each round and the medians, and each checkout's medians as a ratio of
the first's.

    python benchmarks/startup_latency.py [--rounds 3] CHECKOUT [CHECKOUT ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

SPACE = """
from hyperopt import hp
DATASET, MODEL = "fashion_mnist", "mlp"
DEFAULTS = {"epochs": 1, "validation_fraction": 0.2, "patience": 1}
SPACE = {"hidden_layers": [{"units": hp.choice("units", [8, 16])}], "batch_size": 32}
"""


def timed_help(checkout: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, str(checkout / "hyperopt_optimize.py"), "--help"],
                   cwd=checkout, capture_output=True, check=True)
    return time.perf_counter() - started


def timed_search(checkout: Path, space: Path, data: Path, results: Path) -> tuple[float, float]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    search = subprocess.Popen(
        [sys.executable, str(checkout / "hyperopt_optimize.py"), "--space", str(space),
         "--results-dir", str(results), "--data-dir", str(data), "--max-evals", "2",
         "--no-tensorboard", "--progress", "off"],
        cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = None
    for line in search.stdout:
        if line.startswith("trial "):
            first = time.perf_counter() - started
            break
    if first is None:
        search.wait()
        raise RuntimeError(f"{checkout}: the search ended before its first trial")
    interrupted = time.perf_counter()
    search.send_signal(signal.SIGINT)
    search.communicate(timeout=300)
    return first, time.perf_counter() - interrupted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkouts", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from conftest import write_fashion_mnist, write_space
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.rounds} rounds",
          flush=True)
    found: dict[Path, dict[str, list[float]]] = {c: {"help": [], "first trial": [],
                                                     "ctrl-c": []} for c in args.checkouts}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_fashion_mnist(tmp / "data")
        space = write_space(tmp / "tiny.py", text=SPACE)
        for round_ in range(args.rounds):
            for i, checkout in enumerate(args.checkouts):
                help_s = timed_help(checkout)
                first, stop = timed_search(checkout, space, data, tmp / f"r{round_}-{i}")
                for key, value in (("help", help_s), ("first trial", first), ("ctrl-c", stop)):
                    found[checkout][key].append(value)
                print(f"round {round_ + 1} {checkout}: --help {help_s:.2f} s, first trial "
                      f"{first:.1f} s, Ctrl-C to exit {stop:.1f} s", flush=True)
    base = found[args.checkouts[0]]
    for checkout, values in found.items():
        medians = {k: float(np.median(v)) for k, v in values.items()}
        ratios = ", ".join(f"{k} {medians[k] / float(np.median(base[k])):.2f}x" for k in medians)
        print(f"{checkout}: median --help {medians['help']:.2f} s, first trial "
              f"{medians['first trial']:.1f} s, Ctrl-C {medians['ctrl-c']:.1f} s "
              f"(against the first: {ratios})")


if __name__ == "__main__":
    main()
