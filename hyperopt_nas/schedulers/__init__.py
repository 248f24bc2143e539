"""Schedulers: how long each trial trains, what is trained on, what stops early.

Each is a ``Scheduler`` (``base.py``); the engine knows only that interface. To add one, write
its file here and list it below (and its name in ``choices.SCHEDULES``, which the command line
reads without importing this package).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hyperopt_nas.errors import FatalError
from hyperopt_nas.schedulers.asha import ASHA
from hyperopt_nas.schedulers.base import Scheduler
from hyperopt_nas.schedulers.hyperband import Hyperband
from hyperopt_nas.schedulers.pruning import Pruning

SCHEDULERS: dict[str, type[Scheduler]] = {
    "none": Scheduler,
    "hyperband": Hyperband,
    "asha": ASHA,
}


def make_scheduler(settings: Any, max_epochs: int, results_dir: Path) -> Scheduler:
    """The scheduler of ``--schedule`` (or of ``--prune``, which is one too)."""
    try:
        if settings.prune.active:
            return Pruning(max_epochs, results_dir, settings.prune)
        if settings.schedule == "asha":
            return ASHA(max_epochs, results_dir, settings.eta, settings.min_epochs)
        if settings.schedule == "hyperband":
            return Hyperband(max_epochs, results_dir, settings.eta)
        return SCHEDULERS[settings.schedule](max_epochs, results_dir)
    except ValueError as e:
        raise FatalError(str(e)) from e
