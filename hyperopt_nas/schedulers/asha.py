"""Asynchronous successive halving, with TPE modelling one fidelity (``--schedule asha``).

Rungs over epochs: with at most R epochs per trial, a reduction factor eta (``--eta``, 3) and
at least r epochs in the first rung (``--min-epochs``, 1), the rungs end at R / eta^K, ...,
R / eta, R epochs (rounded; K as many as r allows): [1, 3, 10] for R = 10. Each new
configuration trains to the first rung. Whenever a worker is free (ASHA's rule, Li et al.,
2020), the best configuration of the highest rung that has one to give is promoted: a
configuration is promotable when it is in the top 1/eta of the runs its rung has so far and has
not been promoted yet; otherwise a new configuration starts. No worker ever waits for a rung to
fill, and a promotion goes on from the saved model (``checkpoints.py``), as Hyperband's do.

The proposer learns from one fidelity (BOHB's rule, Falkner et al., 2018): the results of the
highest rung that holds as many runs as it needs to model them (TPE's start-up trials), else the
first rung's; never a mix, since a 1-epoch score and a 10-epoch score of the same network are
not comparable.

With a time budget (``--timeout``), a promotion that cannot finish in the time left (at the
pace of its configuration's last run) is not started. Every run is one trial record with
``extra.asha = {"rung", "epochs", "from_epoch", "config"}`` (``config``: the trial number of
the configuration's first run); the schedule is read back from the records, so a relaunch
continues it.
"""

from __future__ import annotations

import math

from hyperopt_nas.schedulers import checkpoints
from hyperopt_nas.schedulers.base import (Pending, Run, Scheduler, Situation, comparable,
                                          check_one_model_per_run)
from hyperopt_nas.trial_store import UNSCORED, TrialRecord, ranked
from hyperopt_nas.options import default

KEY = "asha"
DEFAULT_ETA = default("eta")
DEFAULT_MIN_EPOCHS = default("min_epochs")


def rung_epochs(max_epochs: int, eta: int = DEFAULT_ETA,
                min_epochs: int = DEFAULT_MIN_EPOCHS) -> list[int]:
    """The epochs each rung ends at, lowest first; the last is ``max_epochs``."""
    if eta < 2:
        raise ValueError(f"--eta must be at least 2, got {eta}.")
    if not 1 <= min_epochs <= max_epochs:
        raise ValueError(f"--min-epochs must be between 1 and the epochs per trial "
                         f"({max_epochs}), got {min_epochs}.")
    top = int(math.floor(math.log(max_epochs / min_epochs) / math.log(eta) + 1e-9))
    return sorted({max(min_epochs, int(round(max_epochs / eta ** (top - k))))
                   for k in range(top + 1)})


class ASHA(Scheduler):
    name = "asha"
    key = KEY

    def __init__(self, max_epochs, results_dir, eta: int = DEFAULT_ETA,
                 min_epochs: int = DEFAULT_MIN_EPOCHS):
        super().__init__(max_epochs, results_dir)
        self.eta = int(eta)
        self.rungs = rung_epochs(self.max_epochs, self.eta, int(min_epochs))

    @classmethod
    def from_settings(cls, settings, max_epochs, results_dir) -> "ASHA":
        return cls(max_epochs, results_dir, settings.eta, settings.min_epochs)

    def check(self, settings) -> None:
        check_one_model_per_run(self.name, settings)

    # -- the schedule ---------------------------------------------------------------------------

    @staticmethod
    def _by_rung(records: list[TrialRecord]) -> dict[int, list[TrialRecord]]:
        """The runs of each rung, in the records' order: one pass over the records, so the
        driver's cost per trial does not grow with the rungs asked about."""
        rungs: dict[int, list[TrialRecord]] = {}
        for r in records:
            if KEY in r.extra:
                rungs.setdefault(r.extra[KEY]["rung"], []).append(r)
        return rungs

    def _promoted(self, rungs: dict[int, list[TrialRecord]], running: list[Pending],
                  rung: int) -> set[int]:
        """The configurations of ``rung`` that went on (or are going on) to the next one."""
        above = rungs.get(rung + 1, []) + [p for p in running
                                           if p.extra.get(KEY, {}).get("rung") == rung + 1]
        return {r.extra[KEY]["config"] for r in above}

    def promotable(self, rungs: dict[int, list[TrialRecord]], running: list[Pending],
                   rung: int) -> list[TrialRecord]:
        """The runs of ``rung`` that may go on to the next one, best first: in the top 1/eta of
        the rung's runs so far and not promoted (or being promoted) yet."""
        here = rungs.get(rung, [])
        promoted = self._promoted(rungs, running, rung)
        top = ranked(here)[:len(here) // self.eta]
        return [r for r in top if r.extra[KEY]["config"] not in promoted]

    def next_run(self, situation: Situation) -> Run:
        rungs, number = self._by_rung(situation.records), situation.number
        for rung in range(len(self.rungs) - 2, -1, -1):
            for parent in self.promotable(rungs, situation.running, rung):
                saved = checkpoints.path(self.results_dir / checkpoints.FOLDER, parent.number)
                if saved.is_file() and self._fits(parent, rung + 1, situation.time_left_s):
                    return self._run(number, rung + 1, parent)
        return self._run(number, 0, None)

    def _run(self, number: int, rung: int, parent: TrialRecord | None) -> Run:
        start = 0 if parent is None else self.rungs[rung - 1]
        tag = {"rung": rung, "epochs": self.rungs[rung], "from_epoch": start,
               "config": number if parent is None else parent.extra[KEY]["config"]}
        return Run(self.rungs[rung], parent, {KEY: tag},
                   checkpoints.options(self.results_dir, number, parent, start))

    def _fits(self, parent: TrialRecord, rung: int, time_left_s: float | None) -> bool:
        """Whether the promotion can end within the search's time left, at the pace of the
        configuration's last run."""
        if time_left_s is None:
            return True
        tag = parent.extra[KEY]
        per_epoch = parent.wall_time_s / max(1, tag["epochs"] - tag["from_epoch"])
        return per_epoch * (self.rungs[rung] - tag["epochs"]) <= time_left_s

    # -- what the proposer learns from ----------------------------------------------------------

    def evidence(self, records: list[TrialRecord], enough: int) -> list[TrialRecord]:
        """The highest rung with at least ``enough`` scored runs, else the first rung."""
        rungs = self._by_rung(records)
        for rung in range(len(self.rungs) - 1, 0, -1):
            here = comparable(rungs.get(rung, []))
            if len(here) >= enough:
                return here
        first = rungs.get(0, [])
        untagged = [r for r in records if KEY not in r.extra]  # a folder's earlier trials
        return [r for r in first + untagged if r.status not in UNSCORED] + \
            [r for r in first + untagged if r.status in UNSCORED]

    def after_save(self, records: list[TrialRecord], running: list[Pending]) -> None:
        """Keep the saved models that a promotion may still continue: each rung's unpromoted
        runs that rank in its better half (plus eta places: the top 1/eta may be promoted now,
        the next as the rung grows), and those running trials read or write. A run that falls
        below loses its model and is no longer promoted (``next_run`` skips it): the folder
        holds about half the search's runs at most, not all of them."""
        wanted, rungs = checkpoints.in_use(running), self._by_rung(records)
        for rung in range(len(self.rungs) - 1):
            here = ranked(rungs.get(rung, []))
            promoted = self._promoted(rungs, running, rung)
            keep = int(math.ceil(len(here) / 2)) + self.eta
            wanted |= {r.number for r in here[:keep] if r.extra[KEY]["config"] not in promoted}
        checkpoints.keep_only(self.results_dir / checkpoints.FOLDER, wanted)

    # -- reporting ------------------------------------------------------------------------------

    def describe(self, record: TrialRecord) -> str:
        tag = record.extra.get(KEY)
        if tag is None or record.status in UNSCORED:
            return ""
        of = f", config of trial {tag['config']}" if tag["rung"] else ""
        return f" (asha rung {tag['rung']}, {tag['epochs']} epochs{of})"

    def full_budget(self, record: TrialRecord) -> bool:
        tag = record.extra.get(KEY)
        return tag is None or tag["epochs"] >= self.max_epochs
