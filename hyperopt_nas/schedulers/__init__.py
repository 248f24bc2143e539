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
    chosen = Pruning if settings.prune.active else SCHEDULERS[settings.schedule]
    try:
        return chosen.from_settings(settings, max_epochs, results_dir)
    except ValueError as e:
        raise FatalError(str(e)) from e
