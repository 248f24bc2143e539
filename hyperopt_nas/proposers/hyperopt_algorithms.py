"""hyperopt's own suggestion algorithms as proposers: TPE (with start-up trials sized by the
budget), random search, annealing and ATPE."""

from __future__ import annotations

from typing import Any, Callable

from hyperopt import tpe

from hyperopt_nas.errors import FatalError
from hyperopt_nas.proposers.base import Pace, Proposer

HYPEROPT_STARTUP_TRIALS = 20  # hyperopt's own n_startup_jobs


def default_startup_trials(budget: float | None) -> int:
    """TPE's random start-up trials for a search of about ``budget`` trials: a quarter of the
    budget, at least 3 and at most hyperopt's 20 (``benchmarks/startup_trials.py``)."""
    if budget is None:
        return HYPEROPT_STARTUP_TRIALS
    return int(max(3, min(HYPEROPT_STARTUP_TRIALS, round(budget / 4))))


class HyperoptAlgorithm(Proposer):
    """One of hyperopt's ``suggest`` functions, asked for one point at a time."""

    def __init__(self, suggest: Callable):
        self.suggest = suggest

    def propose(self, new_id, domain, trials, seed, tried):
        docs = self.suggest([new_id], domain, trials, seed)
        return docs[0] if docs else None


class BudgetTPE(HyperoptAlgorithm):
    """``tpe.suggest`` with start-up trials that follow the budget: ``--startup-trials`` if
    given, else ``default_startup_trials`` of ``--max-evals``, or of the trials ``--timeout``
    allows at the pace of the trials so far; hyperopt's 20 without a budget."""

    def __init__(self, startup_trials: int | None, max_evals: int | None,
                 timeout_s: float | None):
        super().__init__(self._suggest)
        self.explicit = startup_trials is not None
        self.timeout_s = None if self.explicit or max_evals else timeout_s
        self.startup = (startup_trials if self.explicit else
                        default_startup_trials(max_evals) if max_evals else
                        HYPEROPT_STARTUP_TRIALS)
        self.proposed_with: dict[int, int] = {}  # trial id -> start-up trials at its proposal

    @property
    def min_observations(self) -> int:
        return self.startup

    def update(self, earlier_trials: int, done_this_run: int, elapsed_s: float) -> None:
        """Re-estimate the budget of a ``--timeout`` search from its pace."""
        if self.timeout_s is None or done_this_run == 0 or elapsed_s <= 0:
            return
        pace = elapsed_s / done_this_run
        expected = earlier_trials + done_this_run + max(0.0, self.timeout_s - elapsed_s) / pace
        self.startup = default_startup_trials(expected)

    def after_trial(self, pace: Pace) -> None:
        self.update(pace.earlier_trials, pace.done_this_run, pace.elapsed_s)

    def tags(self, new_id: int) -> dict[str, Any]:
        return {"tpe_startup_trials": self.proposed_with.get(new_id, self.startup)}

    def _suggest(self, new_ids, domain, trials, seed):
        self.proposed_with.update((new_id, self.startup) for new_id in new_ids)
        return tpe.suggest(new_ids, domain, trials, seed, n_startup_jobs=self.startup)


def atpe_suggest() -> Callable:
    try:
        import lightgbm  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as e:
        raise FatalError("--algo atpe needs lightgbm and scikit-learn: "
                         "pip install 'lightgbm' 'scikit-learn'") from e
    from hyperopt import atpe  # imports lightgbm: only when asked for
    return atpe.suggest
