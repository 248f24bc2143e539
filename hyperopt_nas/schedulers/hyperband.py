"""Hyperband over epochs, with configurations proposed by TPE (``--schedule hyperband``).

Hyperband (Li et al., 2018) runs brackets of successive halving. With a maximum of R epochs and a
reduction factor eta (3), bracket s (from s_max = floor(log_eta R) down to 0) starts
n = ceil((s_max + 1) / (s + 1) * eta^s) configurations at R * eta^-s epochs; after each rung the
best 1/eta of them (by validation accuracy) are promoted and trained on to eta times the epochs,
until R. The brackets repeat, so the whole budget (``--max-evals``, ``--timeout``) is used.

Here the new configurations of each rung 0 are proposed by TPE, conditioned on every finished run
so far (as in BOHB, runs of all fidelities inform it). A promoted configuration continues from its
saved model (weights and optimizer state, ``<results-dir>/checkpoints/trial-NNNN.keras``) instead
of starting over. Every run, new or promoted, is one trial record with
``extra.hyperband = {"iteration", "bracket", "rung", "config", "epochs"}`` (``config``: the trial
number of the configuration's first run), so the schedule's state is read back from the records:
a search resumed after an interruption continues its bracket where it stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from hyperopt_nas.schedulers import checkpoints
from hyperopt_nas.schedulers.base import Pending, Run, Scheduler, Situation, check_one_model_per_run
from hyperopt_nas.trial_store import UNSCORED, TrialRecord, TrialStatus, ranked

ETA = 3
KEY = "hyperband"


@dataclass(frozen=True)
class Rung:
    bracket: int  # s
    index: int  # i, 0 for the bracket's new configurations
    epochs: int  # total epochs a configuration has trained after this rung
    size: int  # configurations in this rung


def brackets(max_epochs: int, eta: int = ETA) -> list[list[Rung]]:
    """The brackets of one Hyperband round, most aggressive first."""
    if max_epochs < 1 or eta < 2:
        raise ValueError("Hyperband needs at least 1 epoch and a reduction factor of 2 or more.")
    s_max = int(math.floor(math.log(max_epochs) / math.log(eta) + 1e-9))
    rounds = []
    for s in range(s_max, -1, -1):
        n = int(math.ceil((s_max + 1) / (s + 1) * eta ** s))
        rungs = [Rung(s, i, max(1, int(round(max_epochs * eta ** (i - s)))),
                      max(1, int(n // eta ** i))) for i in range(s + 1)]
        rounds.append(rungs)
    return rounds


@dataclass(frozen=True)
class Job:
    """The next run: a new configuration (``parent`` None) or a promotion of ``parent``."""

    iteration: int  # the bracket's position in the sequence of brackets, from 0
    rung: Rung
    parent: TrialRecord | None = None

    @property
    def config(self) -> int | None:
        return None if self.parent is None else self.parent.extra[KEY]["config"]

    @property
    def initial_epoch(self) -> int:
        return 0 if self.parent is None else int(self.parent.extra[KEY]["epochs"])

    def tag(self, number: int) -> dict:
        return {"iteration": self.iteration, "bracket": self.rung.bracket,
                "rung": self.rung.index, "epochs": self.rung.epochs,
                "config": number if self.parent is None else self.config}


@dataclass(frozen=True)
class Running:
    """A run still in flight, as ``next_job`` counts it: its place, no score yet."""

    number: int
    extra: dict
    status: TrialStatus | None = None
    loss: float | None = None


def next_job(records: Iterable[TrialRecord], max_epochs: int, eta: int = ETA,
             running: Iterable[Running] = ()) -> Job | None:
    """What to run next, read off the records of the runs so far and the runs in flight; None
    when every run that can start must wait for a rung still running to end (a promotion needs
    the whole rung's scores)."""
    runs = [r for r in list(records) + list(running) if KEY in r.extra]
    schedule = brackets(max_epochs, eta)
    iteration = 0
    while True:
        rungs = schedule[iteration % len(schedule)]
        mine = [r for r in runs if r.extra[KEY]["iteration"] == iteration]
        for rung in rungs:
            here = [r for r in mine if r.extra[KEY]["rung"] == rung.index]
            if rung.index == 0:
                if len(here) < rung.size:
                    return Job(iteration, rung)
                previous = here
                continue
            if any(isinstance(r, Running) for r in previous):
                return None
            promoted = {r.extra[KEY]["config"] for r in here}
            best = ranked(previous)[:rung.size]
            waiting = [r for r in best if r.extra[KEY]["config"] not in promoted]
            if waiting:
                return Job(iteration, rung, waiting[0])
            previous = here
        iteration += 1


def promotable(records: Iterable[TrialRecord], max_epochs: int, eta: int = ETA) -> set[int]:
    """Record numbers whose saved model a later rung may still continue: in a complete rung,
    its best not yet promoted; in a rung still filling, all of it. Every bracket counts, not
    only the first unfinished one: with several workers the next bracket's runs end while the
    last promotions of the one before are still running."""
    runs = [r for r in records if KEY in r.extra]
    schedule = brackets(max_epochs, eta)
    keep: set[int] = set()
    for iteration in sorted({r.extra[KEY]["iteration"] for r in runs}):
        rungs = schedule[iteration % len(schedule)]
        current = [r for r in runs if r.extra[KEY]["iteration"] == iteration]
        for rung, following in zip(rungs, rungs[1:]):
            here = [r for r in current if r.extra[KEY]["rung"] == rung.index]
            continued = {r.extra[KEY]["config"] for r in current
                         if r.extra[KEY]["rung"] == following.index}
            order = ranked(here)
            candidates = order if len(here) < rung.size else order[:following.size]
            keep |= {r.number for r in candidates if r.extra[KEY]["config"] not in continued}
    return keep


class Hyperband(Scheduler):
    """``--schedule hyperband``: brackets of successive halving, one rung at a time."""

    name = "hyperband"
    key = KEY

    def __init__(self, max_epochs, results_dir, eta: int = ETA):
        super().__init__(max_epochs, results_dir)
        self.eta = int(eta)
        brackets(self.max_epochs, self.eta)  # refuses what cannot work

    @classmethod
    def from_settings(cls, settings, max_epochs, results_dir) -> "Hyperband":
        return cls(max_epochs, results_dir, settings.eta)

    def check(self, settings) -> None:
        check_one_model_per_run(self.name, settings)

    def next_run(self, situation: Situation) -> Run | None:
        running = [Running(p.number, p.extra) for p in situation.running]
        job = next_job(situation.records, self.max_epochs, self.eta, running)
        if job is None:
            return None
        return Run(job.rung.epochs, job.parent, {KEY: job.tag(situation.number)},
                   checkpoints.options(self.results_dir, situation.number, job.parent,
                                       job.initial_epoch))

    def after_save(self, records: list[TrialRecord], running: list[Pending]) -> None:
        checkpoints.keep_only(self.results_dir / checkpoints.FOLDER,
                              promotable(records, self.max_epochs, self.eta)
                              | checkpoints.in_use(running))

    def describe(self, record: TrialRecord) -> str:
        rung = record.extra.get(KEY)
        if rung is None or record.status in UNSCORED:
            return ""
        return (f" (hyperband rung {rung['rung']}, {rung['epochs']} epochs"
                f"{', config of trial ' + str(rung['config']) if rung['rung'] else ''})")

    def full_budget(self, record: TrialRecord) -> bool:
        rung = record.extra.get(KEY)
        return rung is None or rung["epochs"] >= self.max_epochs
