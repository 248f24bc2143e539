"""Resident memory over many tiny trials: the shipped worker processes against in-process trials.

Runs the real search loop (``search_loop.run_search``) for N tiny trials on synthetic
Fashion-MNIST-format data and reads, after every trial, the resident set size of the search and
all its child processes. Three ways, side by side:

1. shipped: trials in a worker process replaced every 10 trials (``--isolation process``);
2. in-process, with ``keras.backend.clear_session()`` + ``gc.collect()`` after each trial;
3. in-process without clearing, to show what clearing alone is worth.

Prints RSS after the first and the last trial, the growth per trial, and the ratios.

    python benchmarks/memory_across_trials.py [--trials 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SPACE = """
from hyperopt import hp
from hyperopt.pyll import scope
DATASET, MODEL = "fashion_mnist", "mlp"
DEFAULTS = {"epochs": 1, "validation_fraction": 0.2, "patience": 1}
SPACE = {"hidden_layers": [{"units": scope.int(hp.quniform("units", 16, 64, 16))}],
         "learning_rate": hp.loguniform("learning_rate", -6, -3), "batch_size": 32}
"""


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []


def tree_rss_mib(pid: int | None = None) -> float:
    """Resident memory of a process and all its descendants."""
    pid = os.getpid() if pid is None else pid
    return (_rss_kib(pid) + sum(tree_rss_mib(c) * 1024 for c in _children(pid))) / 1024


def child(trials: int, mode: str, workdir: Path) -> None:
    """One measured search; prints a JSON list of RSS readings (MiB), one per trial."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from conftest import write_fashion_mnist

    from hyperopt_nas.engine import SearchSettings, run_search
    if mode == "not-cleared":
        import keras
        keras.backend.clear_session = lambda *args, **kwargs: None
    data = write_fashion_mnist(workdir / "data", n_train=600, n_test=100)
    space = workdir / "space.py"
    space.write_text(SPACE)
    readings: list[float] = []
    settings = SearchSettings(space_path=space, results_dir=workdir / "results", data_dir=data,
                              max_evals=trials, algo="rand",
                              isolation="process" if mode == "worker" else "none")

    def say(line: str) -> None:
        if line.startswith("trial"):
            readings.append(tree_rss_mib())

    run_search(settings, say=say)
    print(json.dumps(readings))


def measure(trials: int, mode: str) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, __file__, "--child", str(trials), "--mode", mode,
                              "--workdir", tmp], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.mode, args.workdir)
        return

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.trials} tiny trials "
          "through the real search loop")
    growth = {}
    for mode, label in (("worker", "worker processes (shipped)"),
                        ("cleared", "in-process, cleared"),
                        ("not-cleared", "in-process, not cleared")):
        readings = measure(args.trials, mode)
        # From trial 10 on, so that the worker's start-up and each worker's own saw-tooth
        # (it is replaced every 10 trials) are compared at the same phase.
        first = min(9, len(readings) - 2)
        growth[mode] = (readings[-1] - readings[first]) / (len(readings) - 1 - first)
        print(f"{label:>27}: RSS after trials 1/{first + 1}/{len(readings)}: "
              f"{readings[0]:6.0f}/{readings[first]:6.0f}/{readings[-1]:6.0f} MiB, peak "
              f"{max(readings):6.0f} MiB; growth from trial {first + 1} on "
              f"{growth[mode]:5.2f} MiB/trial")
    for mode in ("worker", "cleared"):
        print(f"growth per trial, {mode} / in-process not cleared = "
              f"{growth[mode] / growth['not-cleared']:.3f}")


if __name__ == "__main__":
    main()
