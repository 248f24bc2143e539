"""Proposers: what to try next.

Each is a ``Proposer`` (``base.py``); the engine knows only that interface. To add one, write
its file here and list it below (and its name in ``choices.ALGORITHMS``, which the command line
reads without importing this package).
"""

from __future__ import annotations

from typing import Callable

from hyperopt import anneal, rand
from hyperopt import tpe  # noqa: F401  (tests watch hyperopt's TPE through this name)

from hyperopt_nas.errors import FatalError
from hyperopt_nas.proposers.budget_screen import BudgetScreen
from hyperopt_nas.proposers.base import (Pace, Proposer, done_doc, drawn_vals,  # noqa: F401
                                         hyperopt_result, insert_done, new_doc, trial_misc)
from hyperopt_nas.proposers.grid import MAX_GRID_POINTS, GridSuggest  # noqa: F401
from hyperopt_nas.proposers.hyperopt_algorithms import (  # noqa: F401
    HYPEROPT_STARTUP_TRIALS, BudgetTPE, HyperoptAlgorithm, atpe_suggest, default_startup_trials)
from hyperopt_nas.proposers.start_points import StartPoints
from hyperopt_nas.space_files import SpaceFile

# name -> factory(space_file, seed, startup_trials, max_evals, timeout_s)
PROPOSERS: dict[str, Callable[..., Proposer]] = {
    "tpe": lambda space, seed, startup, max_evals, timeout: BudgetTPE(startup, max_evals,
                                                                      timeout),
    "rand": lambda *_: HyperoptAlgorithm(rand.suggest),
    "anneal": lambda *_: HyperoptAlgorithm(anneal.suggest),
    "atpe": lambda *_: HyperoptAlgorithm(atpe_suggest()),
    "grid": lambda space, seed, *_: GridSuggest(space, seed),
}


def make_proposer(algo: str, space_file: SpaceFile, seed: int, start_points: bool = True,
                  startup_trials: int | None = None, max_evals: int | None = None,
                  timeout_s: float | None = None,
                  limits: dict[str, float] | None = None) -> Proposer:
    """The proposer a search asks: the algorithm, screened against a size or latency budget
    (``limits``: ``{"model_params": 50_000}``) unless it enumerates a grid, behind the space's
    start points if any."""
    if startup_trials is not None and startup_trials < 1:
        raise FatalError(f"--startup-trials must be at least 1, got {startup_trials}.")
    if algo not in PROPOSERS:
        raise FatalError(f"--algo must be one of {', '.join(PROPOSERS)}, got {algo!r}.")
    proposer = PROPOSERS[algo](space_file, seed, startup_trials, max_evals, timeout_s)
    if limits and algo != "grid":  # a grid tries each point once, in its order
        proposer = BudgetScreen(proposer, space_file.params, limits)
    if space_file.start_vals and start_points:
        proposer = StartPoints(proposer, space_file)
    return proposer
