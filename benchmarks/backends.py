"""The same search under each Keras backend, side by side: TensorFlow, JAX (and PyTorch where it
is installed), on this machine.

Runs the real command at the tool's defaults on Debian's Fashion-MNIST
(``/usr/share/datasets/fashion-mnist``, all 60,000 training images) with the Keras Tuner CNN
space (``search_spaces/fashion_mnist_cnn.py``: TPE, its 10 epochs with early stopping, outputs
on), for a fixed time per backend (``--timeout``, default 10 min), with the same search seed.
Only ``--keras-backend`` differs. From the records of each search it prints: trials finished,
seconds per epoch (median over trials, validation included), training images per second, the
first trial's time (compilation included), and the selected trial's validation and test
accuracy; then the ratios against TensorFlow. Each search is appended to
``benchmarks/results/backends.jsonl`` as it ends; a relaunch skips the (backend, seed, timeout)
searches already logged, so the log accumulates across sittings.

    python benchmarks/backends.py [--timeout 600] [--seeds 0] [--backends tensorflow jax]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
SPACE = ROOT / "search_spaces" / "fashion_mnist_cnn.py"
LOG = ROOT / "benchmarks" / "results" / "backends.jsonl"


def installed_backends() -> list[str]:
    from hyperopt_nas import runtime
    return [name for name in ("tensorflow", "jax", "torch") if runtime.missing(name) is None]


def search(backend: str, seed: int, timeout_s: int, folder: Path) -> dict:
    from hyperopt_nas.trial_store import TrialStatus, TrialStore
    results = folder / f"{backend}-{seed}"
    command = [sys.executable, str(ROOT / "hyperopt_optimize.py"), "--space", str(SPACE),
               "--results-dir", str(results), "--data-dir", str(DATA_DIR), "--seed", str(seed),
               "--timeout", str(timeout_s), "--keras-backend", backend]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    wall = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{backend} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    records = [r for r in TrialStore(results).load_records() if r.status == TrialStatus.OK]
    best = max(records, key=lambda r: r.score)
    first = min(records, key=lambda r: r.number)
    return {
        "backend": backend, "seed": seed, "timeout_s": timeout_s, "wall_s": round(wall, 1),
        "trials": len(records),
        "s_per_epoch": round(statistics.median(r.wall_time_s / max(r.epochs_run, 1)
                                               for r in records), 2),
        "train_images_per_s": round(statistics.median(
            r.budget["train_samples"] * r.epochs_run / r.wall_time_s for r in records)),
        "first_trial_s": round(first.wall_time_s, 1),
        "first_trial_epochs": first.epochs_run,
        "best_trial": best.number, "val_accuracy": round(best.score, 4),
        "test_accuracy": best.test_accuracy,
        "versions": best.versions, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
    }


def logged() -> list[dict]:
    if not LOG.exists():
        return []
    return [json.loads(line) for line in LOG.read_text().splitlines() if line.strip()]


def table(rows: list[dict]) -> str:
    lines = [f"{'backend':<11} {'seed':>4} {'trials':>6} {'s/epoch':>8} {'img/s':>7} "
             f"{'1st trial s':>11} {'val acc':>8} {'test acc':>8}"]
    for r in rows:
        test = f"{r['test_accuracy']:.4f}" if r["test_accuracy"] is not None else "-"
        lines.append(f"{r['backend']:<11} {r['seed']:>4} {r['trials']:>6} "
                     f"{r['s_per_epoch']:>8.2f} {r['train_images_per_s']:>7} "
                     f"{r['first_trial_s']:>11.1f} {r['val_accuracy']:>8.4f} {test:>8}")
    base = {r["seed"]: r for r in rows if r["backend"] == "tensorflow"}
    for r in rows:
        tf = base.get(r["seed"])
        if tf is None or r["backend"] == "tensorflow":
            continue
        points = 100 * ((r["test_accuracy"] or 0) - (tf["test_accuracy"] or 0))
        lines.append(f"{r['backend']} / tensorflow, seed {r['seed']}: images/s "
                     f"{r['train_images_per_s'] / tf['train_images_per_s']:.2f}x, trials "
                     f"{r['trials']} vs {tf['trials']}, first trial "
                     f"{r['first_trial_s'] / tf['first_trial_s']:.2f}x the time, selected "
                     f"test accuracy {points:+.2f} points")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per search")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--backends", nargs="+", default=None,
                        help="default: every installed one of tensorflow, jax, torch")
    args = parser.parse_args()
    if not DATA_DIR.is_dir():
        sys.exit(f"{DATA_DIR} is missing: apt-get install dataset-fashion-mnist")
    backends = args.backends or installed_backends()
    done = {(r["backend"], r["seed"], r["timeout_s"]) for r in logged()}
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            for backend in backends:
                if (backend, seed, args.timeout) in done:
                    print(f"{backend}, seed {seed}: already logged, skipped", flush=True)
                    continue
                row = search(backend, seed, args.timeout, Path(folder))
                with LOG.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(f"{backend}, seed {seed}: {row['trials']} trials, "
                      f"{row['train_images_per_s']} img/s", flush=True)
    rows = [r for r in logged() if r["timeout_s"] == args.timeout and r["seed"] in args.seeds
            and r["backend"] in backends]
    print(f"\nFashion-MNIST CNN space at the defaults, {args.timeout} s per search, "
          f"{rows[0]['machine'] if rows else platform.machine()}:")
    print(table(rows))


if __name__ == "__main__":
    main()
