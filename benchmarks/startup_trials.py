"""How many random start-up trials should TPE draw at small budgets? Evidence for the default.

hyperopt's TPE draws its first 20 trials at random (``n_startup_jobs=20``): at 10 to 30 trials
that is random search. This script compares, at budgets of 10, 20, 30 and 50 trials, TPE with
20 start-up trials against fewer (fixed 5 and 10, and the budget rule of
``search_loop.default_startup_trials``) and against random search, on synthetic objectives over
the hyperparameters of a shipped space (no training: seconds, not days).

Each objective gives every hyperparameter of the space a random effect: a numeric one is a
quadratic bowl around a random optimum on its (log) range, a choice gives each option a random
value; a few hyperparameters matter a lot and most little (weights decaying geometrically), plus
one random pairwise interaction and evaluation noise. The space is flattened (every
hyperparameter always active). Reported: per budget and strategy, the median over objectives and
seeds of the regret (the best true score found versus the best of 5,000 random points), and how
often each strategy beats 20 start-up trials.

    python benchmarks/startup_trials.py [--space search_spaces/cifar100.py] [--objectives 20]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import sys
from functools import partial
from pathlib import Path

import numpy as np
from hyperopt import STATUS_OK, Trials, fmin, hp, rand, tpe

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hyperopt_nas.proposers import default_startup_trials  # noqa: E402
from hyperopt_nas.space_files import load_space_file  # noqa: E402

BUDGETS = (10, 20, 30, 50)


def flat_space(params) -> dict:
    space = {}
    for p in params.values():
        d, a = p.distribution, p.args
        if d == "choice":
            space[p.label] = hp.choice(p.label, list(range(int(a[0]))))
        elif d == "loguniform":
            space[p.label] = hp.loguniform(p.label, a[0], a[1])
        elif d == "quniform":
            space[p.label] = hp.quniform(p.label, a[0], a[1], a[2])
        elif d == "uniform":
            space[p.label] = hp.uniform(p.label, a[0], a[1])
        else:
            raise SystemExit(f"{p.label}: {d} is not handled by this benchmark")
    return space


class Objective:
    """A random synthetic score over the space's hyperparameters (higher is better)."""

    def __init__(self, params, rng: np.random.Generator, noise: float = 0.01):
        self.params = list(params.values())
        order = rng.permutation(len(self.params))
        self.weight = {self.params[i].label: 0.6 ** rank for rank, i in enumerate(order)}
        self.optimum, self.option_value = {}, {}
        for p in self.params:
            if p.distribution == "choice":
                self.option_value[p.label] = rng.normal(0, 1, int(p.args[0]))
            else:
                self.optimum[p.label] = rng.uniform(0, 1)
        numeric = [p.label for p in self.params if p.distribution != "choice"]
        self.pair = tuple(rng.choice(numeric, 2, replace=False)) if len(numeric) > 1 else None
        self.noise, self.rng = noise, rng

    def position(self, p, value) -> float:
        low, high = p.args[0], p.args[1]
        x = math.log(value) if p.distribution == "loguniform" else value
        return (x - low) / (high - low) if high > low else 0.0

    def true_score(self, vals: dict) -> float:
        score = 0.0
        positions = {}
        for p in self.params:
            w = self.weight[p.label]
            if p.distribution == "choice":
                score += w * self.option_value[p.label][int(vals[p.label])]
            else:
                positions[p.label] = self.position(p, vals[p.label])
                score -= 4 * w * (positions[p.label] - self.optimum[p.label]) ** 2
        if self.pair:
            a, b = self.pair
            score -= 0.5 * (positions[a] - positions[b]) ** 2
        return score

    def __call__(self, vals: dict) -> dict:
        observed = self.true_score(vals) + self.rng.normal(0, self.noise)
        return {"loss": -observed, "status": STATUS_OK, "true": self.true_score(vals)}


def best_true(objective, space, budget, algo, seed) -> float:
    trials = Trials()
    fmin(objective, space, algo=algo, max_evals=budget, trials=trials,
         rstate=np.random.default_rng(seed), show_progressbar=False, verbose=False)
    return max(t["result"]["true"] for t in trials.trials)


def reference_best(objective, space, seed) -> float:
    from hyperopt.pyll.stochastic import sample
    rng = np.random.default_rng(seed)
    return max(objective.true_score(sample(space, rng)) for _ in range(5000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default=str(ROOT / "search_spaces" / "cifar100.py"))
    parser.add_argument("--objectives", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("hyperopt").setLevel(logging.ERROR)
    params = load_space_file(args.space).params
    space = flat_space(params)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; space {Path(args.space).name} "
          f"({len(params)} hyperparameters, flattened); {args.objectives} objectives x "
          f"{args.seeds} seeds")
    strategies = {
        "tpe, 20 start-up (hyperopt default)": lambda b: partial(tpe.suggest, n_startup_jobs=20),
        "tpe, 10 start-up": lambda b: partial(tpe.suggest, n_startup_jobs=10),
        "tpe, 5 start-up": lambda b: partial(tpe.suggest, n_startup_jobs=5),
        "tpe, budget rule": lambda b: partial(tpe.suggest,
                                              n_startup_jobs=default_startup_trials(b)),
        "random search": lambda b: rand.suggest,
    }
    regrets = {(name, b): [] for name in strategies for b in BUDGETS}
    for k in range(args.objectives):
        objective = Objective(params, np.random.default_rng(1000 + k))
        best = reference_best(objective, space, 2000 + k)
        for b in BUDGETS:
            for s in range(args.seeds):
                for name, make in strategies.items():
                    found = best_true(objective, space, b, make(b), seed=10 * k + s)
                    regrets[name, b].append(max(0.0, best - found))
    baseline = "tpe, 20 start-up (hyperopt default)"
    print(f"{'strategy':<38}" + "".join(f"{f'budget {b}':>22}" for b in BUDGETS))
    for name in strategies:
        cells = []
        for b in BUDGETS:
            mine, base = np.array(regrets[name, b]), np.array(regrets[baseline, b])
            wins = np.mean(mine < base) if name != baseline else float("nan")
            cells.append(f"{np.median(mine):7.3f} ({wins:4.0%} wins)" if name != baseline
                         else f"{np.median(mine):7.3f}            ")
        print(f"{name:<38}" + "".join(f"{c:>22}" for c in cells))
    print("cells: median regret (lower is better); wins: share of (objective, seed) pairs where "
          "the strategy found a better point than 20 start-up trials. "
          f"Budget rule: {[default_startup_trials(b) for b in BUDGETS]} start-up trials.")


if __name__ == "__main__":
    main()
