"""Pruning: stop a trial that is clearly behind earlier trials at the same epoch (``--prune``).

At the end of each epoch, from ``warmup_epochs`` on, a trial's best objective so far (validation
accuracy unless the search chose another metric, ``--objective``) is compared with the
best-so-far values that earlier trials had reached *at the same epoch*. When it is below the
``percentile``-th percentile of those values (the median for ``--prune median``,
``--prune-percentile Q``, default 25, for ``--prune percentile``), and at least
``min_trials`` earlier trials reached that epoch, the trial stops there. This is the median
stopping rule of Google Vizier (Golovin et al., 2017) and Optuna's Median/PercentilePruner,
applied to best-so-far curves so that one noisy epoch does not condemn a trial.

A pruned trial is recorded with the status ``pruned``, its partial learning curve and the score it
reached (its best objective). TPE learns from it through that score: a pruned trial counts as
a finished trial whose loss is the loss of the best value it reached, which is an
upper bound on how bad the point is; since the rule only stops trials that trail most earlier
trials, their points land among TPE's "bad" group, which is where they belong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperopt_nas import data_loaders
from hyperopt_nas.families import metric_key
from hyperopt_nas.choices import PRUNE_RULES
from hyperopt_nas.errors import FatalError
from hyperopt_nas.options import PRUNE_PERCENTILE, default
from hyperopt_nas.schedulers.base import Run, Scheduler, Situation
from hyperopt_nas.trial_store import TrialStatus

RULES = PRUNE_RULES


# The percentile a trial must reach under --prune percentile unless told otherwise: it keeps the
# top three quarters (median keeps the top half).
DEFAULT_PERCENTILE = PRUNE_PERCENTILE  # the option table's (--prune-percentile's help names it)


@dataclass(frozen=True)
class PruneRule:
    kind: str = "none"
    # Stop below this percentile of earlier trials at the same epoch; None: 50 for median,
    # DEFAULT_PERCENTILE for percentile (the command line and the API alike).
    percentile: float | None = None
    # Never stop a trial before it has run this many epochs, and judge at an epoch only once
    # this many earlier trials have reached it.
    warmup_epochs: int = default("prune_warmup")
    min_trials: int = default("prune_min_trials")
    reference: tuple[tuple[float, ...], ...] = ()  # earlier trials' per-epoch validation acc.

    def __post_init__(self):
        if self.kind not in RULES:
            raise ValueError(f"--prune must be one of {', '.join(RULES)}, got {self.kind!r}.")
        if self.percentile is None:
            object.__setattr__(self, "percentile",
                               DEFAULT_PERCENTILE if self.kind == "percentile" else 50.0)
        if not 0 < self.percentile < 100:
            raise ValueError(f"--prune-percentile must be between 0 and 100, got "
                             f"{self.percentile}.")
        if self.warmup_epochs < 1 or self.min_trials < 1:
            raise ValueError("--prune-warmup and --prune-min-trials must be at least 1.")

    @property
    def active(self) -> bool:
        return self.kind != "none"

    def threshold(self, epoch: int) -> float | None:
        """The score a trial must reach by ``epoch`` (1-based) to go on; None: not judged."""
        if not self.active or epoch < self.warmup_epochs:
            return None
        at_epoch = [max(curve[:epoch]) for curve in self.reference if len(curve) >= epoch]
        if len(at_epoch) < self.min_trials:
            return None
        q = 50.0 if self.kind == "median" else self.percentile
        return float(np.percentile(at_epoch, q))

    def should_stop(self, epoch: int, best_so_far: float) -> bool:
        threshold = self.threshold(epoch)
        return threshold is not None and best_so_far < threshold

    def with_reference(self, curves: list[list[float]]) -> "PruneRule":
        return PruneRule(self.kind, self.percentile, self.warmup_epochs, self.min_trials,
                         tuple(tuple(float(v) for v in c) for c in curves if c))


def reference_curves(records: list, epochs: int) -> list[list[float]]:
    """Earlier trials' per-epoch objective (validation accuracy of the primary head unless the
    search chose another; a loss negated, so that higher is better), as pruning compares.

    A completed trial that early stopping ended before the last epoch keeps its best value for
    the epochs it did not run (it had stopped improving); a pruned trial counts only where it ran.
    """
    curves = []
    for r in records:
        info = data_loaders.record_info(r)
        objective = r.objective  # as a number where higher is better (accuracy, -loss)
        key = objective.history_key(
            r.history, "val_" + metric_key(info, info.primary_head, objective.metric))
        curve = [objective.upward(v) for v in r.history.get(key, [])] if key else []
        if not curve or r.status == TrialStatus.FAILED:
            continue
        running = list(np.maximum.accumulate(curve))
        if r.status == TrialStatus.OK:
            running += [running[-1]] * max(0, int(epochs) - len(running))
        curves.append(running)
    return curves


class Pruning(Scheduler):
    """``--prune median`` / ``--prune percentile``: every trial is given the full epochs and
    the curves of the trials ended before it starts; it stops itself when it trails them."""

    name = "prune"

    def __init__(self, max_epochs, results_dir, rule: PruneRule):
        super().__init__(max_epochs, results_dir)
        self.rule = rule

    @classmethod
    def from_settings(cls, settings, max_epochs, results_dir) -> "Pruning":
        return cls(max_epochs, results_dir, settings.prune)

    def check(self, settings) -> None:
        if settings.executions_per_trial > 1 or settings.cv_folds:
            raise FatalError("--prune judges one training run per trial; it cannot be combined "
                             "with --executions-per-trial or --cv.")

    def next_run(self, situation: Situation) -> Run:
        rule = self.rule.with_reference(reference_curves(situation.records, self.max_epochs))
        # Which trials' curves it is judged against: those ended by now.
        return Run(self.max_epochs, extra={"pruned_against": sorted(
            r.number for r in situation.records)}, options={"prune": rule})
