"""Workers kept busy, and the driver's cost per trial, on the simulated executor.

Runs the real engine, proposer (TPE at its defaults), schedulers and trial store on
``executors/simulated.py``: trials do not train, they return a learning curve of a surrogate of
the ``fashion_mnist_cnn.py`` space and last what its cost model says (``--epoch-s`` seconds per
epoch on average), on a simulated clock that also advances by the driver's own measured time.
For each scheduler and each number of workers, one search of ``--hours`` simulated hours at the
space's 10 epochs per trial prints, side by side:

- utilisation: the workers' busy time over the time they were available (workers x the search's
  simulated length);
- the driver's time per trial (ask + tell + save, in real milliseconds): the search's real
  duration over its trials;
- trials run and the best validation accuracy of the surrogate.

    python benchmarks/simulated_scaling.py [--workers 2,8,32,128] [--schedules none,asha,hyperband]
                                           [--hours 4] [--epoch-s 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hyperopt_nas.engine import SearchSettings, run_search  # noqa: E402
from hyperopt_nas.executors.simulated import SimulatedExecutor, Surrogate  # noqa: E402

SPACE = ROOT / "search_spaces" / "fashion_mnist_cnn.py"


def one_search(schedule: str, workers: int, args, folder: Path) -> dict:
    settings = SearchSettings(space_path=SPACE, results_dir=folder, seed=args.seed,
                              timeout_s=args.hours * 3600, schedule=schedule, workers=workers,
                              plot_best=False, plot_search=False, tensorboard=False,
                              progress="off", max_consecutive_failures=10**6)
    executor = SimulatedExecutor(workers, Surrogate(epoch_s=args.epoch_s, failure_rate=0.02))
    started = time.perf_counter()
    summary = run_search(settings, say=lambda line: None, executor=executor)
    real = time.perf_counter() - started
    return {"trials": summary.completed, "utilisation": executor.busy_s / (workers * executor.now),
            "driver_ms": 1000 * real / max(1, summary.completed),
            "best": summary.best.score if summary.best else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="2,8,32,128")
    parser.add_argument("--schedules", default="none,asha,hyperband")
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--epoch-s", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.hours:g} simulated hours "
          f"per search, {args.epoch_s:g} s per epoch on average, seed {args.seed}", flush=True)
    print(f"{'schedule':<10}{'workers':>8}{'trials':>8}{'utilisation':>13}"
          f"{'driver ms/trial':>17}{'best val acc':>14}")
    for schedule in args.schedules.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                r = one_search(schedule, workers, args, Path(tmp))
            print(f"{schedule:<10}{workers:>8}{r['trials']:>8}{r['utilisation']:>13.1%}"
                  f"{r['driver_ms']:>17.1f}{r['best']:>14.4f}", flush=True)


if __name__ == "__main__":
    main()
