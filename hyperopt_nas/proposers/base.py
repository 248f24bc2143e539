"""The proposer interface (what to try next), and the plumbing of hyperopt's trial documents.

A proposer is asked for one point at a time: ``propose(new_id, domain, trials, seed, tried)``
returns hyperopt's document of trial ``new_id`` (its drawn values in ``misc.vals``), or None
when it has nothing left to try. ``trials`` is what the engine shows it to learn from: the
finished runs the scheduler chose as evidence (all of them, by default), and the points still
running (TPE counts a running point as not good yet). ``tried`` holds the drawn values of every
point the search has tried or is running, whatever the evidence, so that a start point or a grid
point is never run twice. A proposer keeps nothing a relaunch needs: both are rebuilt from the
records. Proposers are listed in ``proposers/__init__.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from hyperopt import STATUS_FAIL, STATUS_OK, Trials
from hyperopt.base import JOB_STATE_DONE, Domain

DEFAULT_CMD = ("domain_attachment", "FMinIter_Domain")


@dataclass(frozen=True)
class Pace:
    """How the search is going, as a proposer that sizes itself by it reads it."""

    earlier_trials: int  # in the results folder before this run
    done_this_run: int
    elapsed_s: float


class Proposer:
    """What to try next. Subclasses implement ``propose``."""

    min_observations = 1  # finished runs it needs to model them (TPE: its start-up trials)

    def propose(self, new_id: int, domain: Domain, trials: Trials, seed: int,
                tried: list[dict[str, Any]]) -> dict[str, Any] | None:
        raise NotImplementedError

    def tags(self, new_id: int) -> dict[str, Any]:
        """What the record of trial ``new_id`` should say about how it was proposed."""
        return {}

    def after_trial(self, pace: Pace) -> None:
        """A trial was saved."""

    def observe(self, vals: dict[str, Any], measured: dict[str, float | None]) -> None:
        """A point was built and measured (``{"model_params": ..., "latency_ms": ...}``),
        trained or not: told of every saved record, restored ones first."""


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


def new_doc(trials: Trials, tid: int, vals: dict[str, Any], labels: Iterable[str],
            domain: Domain | None = None) -> dict[str, Any]:
    """hyperopt's document of a new trial ``tid`` that draws ``vals`` (not inserted)."""
    cmd, workdir = (domain.cmd, domain.workdir) if domain is not None else (DEFAULT_CMD, None)
    result = domain.new_result() if domain is not None else {"status": "new"}
    (doc,) = trials.new_trial_docs([tid], [None], [result],
                                   [trial_misc(tid, vals, labels, cmd, workdir)])
    return doc


def done_doc(trials: Trials, tid: int, vals: dict[str, Any], loss: float | None,
             labels: Iterable[str]) -> dict[str, Any]:
    """hyperopt's document of a finished trial ``tid`` that drew ``vals`` (not inserted)."""
    (doc,) = trials.new_trial_docs([tid], [None], [hyperopt_result(loss)],
                                   [trial_misc(tid, vals, labels)])
    doc["state"] = JOB_STATE_DONE
    return doc


def insert_done(trials: Trials, vals: dict[str, Any], loss: float | None,
                labels: Iterable[str]) -> None:
    """Add a finished trial that drew ``vals`` (a restored record, a promotion)."""
    (tid,) = trials.new_trial_ids(1)
    trials.insert_trial_docs([done_doc(trials, tid, vals, loss, labels)])
    trials.refresh()
