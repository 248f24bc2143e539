"""What to try next: hyperopt's suggestion functions, start points and the grid, and the plumbing
of hyperopt's trial documents that the engine drives them with.

Every proposer is a hyperopt algorithm, ``algo(new_ids, domain, trials, seed) -> docs``; the
engine calls it directly (ask), so proposers never see an objective or a loop.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np
from hyperopt import STATUS_FAIL, STATUS_OK, Trials, anneal, rand, tpe
from hyperopt.base import JOB_STATE_DONE

from hyperopt_nas.choices import ALGORITHMS
from hyperopt_nas.errors import FatalError
from hyperopt_nas.space_files import SpaceFile, TooManyCombinations, discrete_points, same_point
from hyperopt_nas.trial_store import to_jsonable

MAX_GRID_POINTS = 1_000_000
HYPEROPT_STARTUP_TRIALS = 20  # hyperopt's own n_startup_jobs
DEFAULT_CMD = ("domain_attachment", "FMinIter_Domain")


def drawn_vals(doc: dict[str, Any]) -> dict[str, Any]:
    """A hyperopt trial document's values: ``{label: value}`` for the labels it drew."""
    return {k: v[0] for k, v in doc["misc"]["vals"].items() if v}


def trial_misc(tid: int, vals: dict[str, Any], labels: Iterable[str], cmd: Any = DEFAULT_CMD,
               workdir: Any = None) -> dict[str, Any]:
    """hyperopt's ``misc`` of a trial that draws ``vals``: every label, empty where inactive."""
    all_vals = {label: ([vals[label]] if label in vals else []) for label in labels}
    return {"tid": tid, "cmd": cmd, "workdir": workdir,
            "idxs": {k: ([tid] if v else []) for k, v in all_vals.items()}, "vals": all_vals}


def hyperopt_result(loss: float | None) -> dict[str, Any]:
    """The result hyperopt keeps of a finished trial: its loss, or a failure."""
    return {"status": STATUS_FAIL} if loss is None else {"status": STATUS_OK, "loss": loss}


def insert_done(trials: Trials, vals: dict[str, Any], loss: float | None,
                labels: Iterable[str]) -> None:
    """Add a finished trial that drew ``vals`` (a restored record, a Hyperband promotion)."""
    (tid,) = trials.new_trial_ids(1)
    (doc,) = trials.new_trial_docs([tid], [None], [hyperopt_result(loss)],
                                   [trial_misc(tid, vals, labels)])
    doc["state"] = JOB_STATE_DONE
    trials.insert_trial_docs([doc])
    trials.refresh()


def default_startup_trials(budget: float | None) -> int:
    """TPE's random start-up trials for a search of about ``budget`` trials: a quarter of the
    budget, at least 3 and at most hyperopt's 20 (``benchmarks/startup_trials.py``)."""
    if budget is None:
        return HYPEROPT_STARTUP_TRIALS
    return int(max(3, min(HYPEROPT_STARTUP_TRIALS, round(budget / 4))))


class BudgetTPE:
    """``tpe.suggest`` with start-up trials that follow the budget: ``--startup-trials`` if
    given, else ``default_startup_trials`` of ``--max-evals``, or of the trials ``--timeout``
    allows at the pace of the trials so far; hyperopt's 20 without a budget."""

    def __init__(self, startup_trials: int | None, max_evals: int | None,
                 timeout_s: float | None):
        self.explicit = startup_trials is not None
        self.timeout_s = None if self.explicit or max_evals else timeout_s
        self.startup = (startup_trials if self.explicit else
                        default_startup_trials(max_evals) if max_evals else
                        HYPEROPT_STARTUP_TRIALS)
        self.proposed_with: dict[int, int] = {}  # trial id -> start-up trials at its proposal

    def update(self, earlier_trials: int, done_this_run: int, elapsed_s: float) -> None:
        """Re-estimate the budget of a ``--timeout`` search from its pace."""
        if self.timeout_s is None or done_this_run == 0 or elapsed_s <= 0:
            return
        pace = elapsed_s / done_this_run
        expected = earlier_trials + done_this_run + max(0.0, self.timeout_s - elapsed_s) / pace
        self.startup = default_startup_trials(expected)

    def __call__(self, new_ids, domain, trials, seed):
        self.proposed_with.update((new_id, self.startup) for new_id in new_ids)
        return tpe.suggest(new_ids, domain, trials, seed, n_startup_jobs=self.startup)


def suggest_function(algo: str, startup_trials: int | None = None, max_evals: int | None = None,
                     timeout_s: float | None = None) -> Callable:
    if algo == "tpe":
        return BudgetTPE(startup_trials, max_evals, timeout_s)
    if algo == "rand":
        return rand.suggest
    if algo == "anneal":
        return anneal.suggest
    if algo == "atpe":
        try:
            import lightgbm  # noqa: F401
            import sklearn  # noqa: F401
        except ImportError as e:
            raise FatalError("--algo atpe needs lightgbm and scikit-learn: "
                             "pip install 'lightgbm' 'scikit-learn'") from e
        from hyperopt import atpe
        return atpe.suggest
    raise FatalError(f"--algo must be one of {', '.join(ALGORITHMS)}, got {algo!r}.")


class StartPoints:
    """A hyperopt algorithm: the space file's START_POINTS that no trial has tried yet, in their
    order, then ``algo``'s proposals. Restored and running trials count as tried, so no start
    point is run twice."""

    def __init__(self, algo: Callable, space_file: SpaceFile):
        self.algo, self.space_file, self.start_vals = algo, space_file, space_file.start_vals
        self.proposed: dict[int, int] = {}  # trial id -> index in START_POINTS

    def untried(self, trials: Trials) -> list[int]:
        tried = [to_jsonable(drawn_vals(t)) for t in trials.trials]
        return [i for i, vals in enumerate(self.start_vals)
                if not any(same_point(vals, t) for t in tried)]

    def __call__(self, new_ids, domain, trials, seed):
        untried = self.untried(trials)
        if not untried:
            return self.algo(new_ids, domain, trials, seed)
        docs = []
        for new_id, index in zip(new_ids, untried):  # fewer docs than ids is allowed
            misc = trial_misc(new_id, self.start_vals[index], self.space_file.params,
                              domain.cmd, domain.workdir)
            docs.extend(trials.new_trial_docs([new_id], [None], [domain.new_result()], [misc]))
            self.proposed[new_id] = index
        return docs


class GridSuggest:
    """A hyperopt algorithm that tries every combination of a discrete space once.

    The combinations are shuffled once with the search seed, so the order is random but the same
    on every relaunch; each call proposes the first one not tried yet, and none when all are.
    """

    def __init__(self, space_file: SpaceFile, seed: int):
        try:
            points = discrete_points(space_file.params, MAX_GRID_POINTS)
        except TooManyCombinations as e:
            raise FatalError(f"--algo grid: {space_file.name} has {e}; use tpe or rand.") from e
        except ValueError as e:
            raise FatalError(f"--algo grid needs a space of choices and quantised ranges only; "
                             f"{space_file.name} is {e}.") from e
        order = np.random.default_rng(seed).permutation(len(points))
        self.points = [points[i] for i in order]
        self.labels = list(space_file.params)

    def _key(self, vals: dict[str, Any]) -> tuple:
        return tuple((k, float(vals[k])) for k in self.labels if k in vals)

    def __call__(self, new_ids, domain, trials, seed):
        tried = {self._key(drawn_vals(t)) for t in trials.trials}
        docs = []
        for new_id in new_ids:
            point = next((p for p in self.points if self._key(p) not in tried), None)
            if point is None:
                break
            tried.add(self._key(point))
            misc = trial_misc(new_id, point, self.labels, domain.cmd, domain.workdir)
            docs.extend(trials.new_trial_docs([new_id], [None], [domain.new_result()], [misc]))
        return docs


def make_proposer(algo: str, space_file: SpaceFile, seed: int, start_points: bool = True,
                  startup_trials: int | None = None, max_evals: int | None = None,
                  timeout_s: float | None = None) -> Callable:
    """The proposer a search asks: the algorithm, behind the space's start points if any."""
    if startup_trials is not None and startup_trials < 1:
        raise FatalError(f"--startup-trials must be at least 1, got {startup_trials}.")
    proposer = (GridSuggest(space_file, seed) if algo == "grid"
                else suggest_function(algo, startup_trials, max_evals, timeout_s))
    if space_file.start_vals and start_points:
        proposer = StartPoints(proposer, space_file)
    return proposer
