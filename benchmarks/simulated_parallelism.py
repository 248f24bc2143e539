"""Search quality against parallelism, on the simulated executor: what TPE loses to the trials
still running when it proposes a point.

The real engine and TPE at their defaults run on ``executors/simulated.py`` with a learnable
surrogate of the ``fashion_mnist_cnn.py`` space (``Surrogate(structure=0.8)``: each
hyperparameter's value has a quality of its own, plus a part no model can learn), for 1, 8, 32
and 128 workers and ``--seeds`` seeds. For each number of workers it prints, side by side (medians
over seeds):

- at a fixed simulated wall clock (``--hours``): trials run and the best validation accuracy
  of the surrogate, for TPE and for random search (``--algo rand``), and TPE's lead over random;
- at an equal number of trials (``--trials``, no clock): TPE's best, and how far it is below
  one worker's. With W workers, each point is proposed while W - 1 others run unseen (TPE counts
  them as not good yet, so it does not propose the same point again); at 128 workers and 64
  trials every point is proposed before any has finished, which is random search.

    python benchmarks/simulated_parallelism.py [--seeds 20] [--workers 1,8,32,128] [--hours 2]
                                               [--trials 64] [--epoch-s 60]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hyperopt_nas.engine import SearchSettings, run_search  # noqa: E402
from hyperopt_nas.executors.simulated import SimulatedExecutor, Surrogate  # noqa: E402

SPACE = ROOT / "search_spaces" / "fashion_mnist_cnn.py"
STRUCTURE = 0.8


def best(algo: str, workers: int, seed: int, args, hours: float | None = None,
         trials: int | None = None) -> tuple[float, int]:
    """One search's best validation accuracy and its trial count."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = SearchSettings(
            space_path=SPACE, results_dir=Path(tmp), seed=seed, algo=algo, workers=workers,
            timeout_s=None if hours is None else hours * 3600, max_evals=trials,
            plot_best=False, plot_search=False, tensorboard=False, progress="off",
            keep_models=0, max_consecutive_failures=10**6)
        executor = SimulatedExecutor(workers, Surrogate(epoch_s=args.epoch_s,
                                                        structure=STRUCTURE))
        summary = run_search(settings, say=lambda line: None, executor=executor)
        return summary.best.score, summary.completed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--workers", default="1,8,32,128")
    parser.add_argument("--hours", type=float, default=2.0, help="simulated wall clock")
    parser.add_argument("--trials", type=int, default=64, help="for the equal-trials columns")
    parser.add_argument("--epoch-s", type=float, default=60.0)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    seeds = range(args.seeds)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {SPACE.name} surrogate "
          f"(structure {STRUCTURE}), {args.epoch_s:g} s per epoch on average, 10 epochs per "
          f"trial; medians over seeds 0..{args.seeds - 1}", flush=True)
    print(f"{'':>8}| {f'{args.hours:g} simulated hours':<44}| {f'{args.trials} trials':<26}")
    print(f"{'workers':>8}| {'trials':>8}{'tpe best':>10}{'rand best':>11}{'tpe - rand':>12}  "
          f"| {'tpe best':>10}{'vs 1 worker':>16}")
    one_worker = None
    for workers in (int(w) for w in args.workers.split(",")):
        tpe = [best("tpe", workers, seed, args, hours=args.hours) for seed in seeds]
        rand = [best("rand", workers, seed, args, hours=args.hours) for seed in seeds]
        equal = [best("tpe", workers, seed, args, trials=args.trials)[0] for seed in seeds]
        med_equal = statistics.median(equal)
        one_worker = med_equal if one_worker is None else one_worker
        lead = statistics.median([t[0] - r[0] for t, r in zip(tpe, rand)])
        print(f"{workers:>8}| {statistics.median([t[1] for t in tpe]):>8.0f}"
              f"{statistics.median([t[0] for t in tpe]):>10.4f}"
              f"{statistics.median([r[0] for r in rand]):>11.4f}{lead:>+12.4f}  "
              f"| {med_equal:>10.4f}{med_equal - one_worker:>+16.4f}", flush=True)


if __name__ == "__main__":
    main()
