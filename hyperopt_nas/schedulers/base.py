"""The scheduler interface: how long each trial trains, what is trained on, what stops early.

The engine asks its scheduler, before every trial, what the next run is (``next_run``): a new
configuration for the proposer to choose, trained for some epochs; a configuration already
trained that goes on from its saved model (a promotion); or nothing yet (wait for a running
trial). It tells the scheduler when a trial is saved (``after_save``), and asks it which
finished runs the proposer should learn from (``evidence``). A scheduler keeps no state of its
own that a relaunch would need: everything it decided is in the records (``Run.extra``), and it
reads its state back from them. Schedulers are listed in ``schedulers/__init__.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperopt_nas.errors import FatalError
from hyperopt_nas.trial_store import TrialRecord, TrialStatus


@dataclass(frozen=True)
class Run:
    """What the scheduler decided for the next trial."""

    epochs: int  # the epoch the run ends at, at the latest (counting its parent's)
    parent: TrialRecord | None = None  # a promotion: the run whose saved model goes on
    extra: dict[str, Any] = field(default_factory=dict)  # saved in the trial's record.extra
    options: dict[str, Any] = field(default_factory=dict)  # TrialSpec fields (initial_epoch,
    # resume_from, save_to, prune)


@dataclass(frozen=True)
class Pending:
    """A run in flight, as the scheduler counts it: where it is, no score yet."""

    number: int
    run: Run

    @property
    def extra(self) -> dict[str, Any]:
        return self.run.extra


@dataclass(frozen=True)
class Situation:
    """What the scheduler may consider when it decides the next run."""

    number: int  # the trial number the run will get
    records: list[TrialRecord]  # every saved trial
    running: list[Pending]  # runs in flight
    time_left_s: float | None = None  # of the search's --timeout
    max_epochs: int = 1  # the space's (or --epochs') epochs per trial


class Scheduler:
    """Train every trial for the full epochs (``--schedule none``): the base of all schedulers.

    A subclass overrides what it changes; the settings it cannot work with are refused by
    ``check`` before anything is written.
    """

    name = "none"
    key: str | None = None  # where its tags live in a record's ``extra``, if it tags runs

    def __init__(self, max_epochs: int, results_dir: Path):
        self.max_epochs, self.results_dir = int(max_epochs), Path(results_dir)

    @classmethod
    def from_settings(cls, settings: Any, max_epochs: int, results_dir: Path) -> "Scheduler":
        """The scheduler as the search's settings configure it."""
        return cls(max_epochs, results_dir)

    def check(self, settings: Any) -> None:
        """Raise ``FatalError`` for settings this scheduler cannot honour."""

    def next_run(self, situation: Situation) -> Run | None:
        """The next run; None when it must wait for a running trial to end."""
        return Run(epochs=self.max_epochs)

    def evidence(self, records: list[TrialRecord], enough: int) -> list[TrialRecord] | None:
        """The finished runs the proposer learns from (``enough``: how many it needs to model
        them); None: every run in hyperopt's Trials, which is the default."""
        return None

    def after_save(self, records: list[TrialRecord], running: list[Pending]) -> None:
        """A trial was saved: tidy up (e.g. saved models no later run will continue)."""

    def describe(self, record: TrialRecord) -> str:
        """What the console adds to the trial's line, e.g. its rung."""
        return ""

    def full_budget(self, record: TrialRecord) -> bool:
        """Whether the trial trained to the full epochs (or stopped early on its own)."""
        return True


def check_one_model_per_run(name: str, settings: Any) -> None:
    """Refuse what a successive-halving schedule cannot honour: a rung continues one saved
    model (``--prune`` with a schedule is refused before any scheduler is made)."""
    s = settings
    clash = ("--cv" if s.cv_folds else
             "--executions-per-trial" if s.executions_per_trial > 1 else
             "--algo grid" if s.algo == "grid" else None)
    if clash:
        raise FatalError(f"--schedule {name} cannot be combined with {clash}: a rung continues "
                         "one saved model.")


def comparable(records: list[TrialRecord]) -> list[TrialRecord]:
    """Records that hold a score: not failed."""
    return [r for r in records if r.status != TrialStatus.FAILED and r.loss is not None]
