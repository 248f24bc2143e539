"""The saved models that successive-halving schedulers continue: ``<results-dir>/checkpoints/``.

A run that a later rung may continue saves its model (weights and optimizer state) to
``trial-NNNN.keras``; its promotion loads it and trains on from the epoch it reached, instead of
starting over. A scheduler keeps only the files a later run may still read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from hyperopt_nas.trial_store import TrialRecord

FOLDER = "checkpoints"


def path(folder: Path, number: int) -> Path:
    return folder / f"trial-{number:04d}.keras"


def options(results_dir: Path, number: int, parent: TrialRecord | None,
            initial_epoch: int) -> dict[str, Any]:
    """A run's TrialSpec fields: save its model; continue its parent's, if it has one."""
    folder = results_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return {"initial_epoch": initial_epoch if parent is not None else 0,
            "resume_from": str(path(folder, parent.number)) if parent is not None else None,
            "save_to": str(path(folder, number))}


def in_use(running: Iterable[Any]) -> set[int]:
    """The saved models that running trials read (a promotion's parent) or are writing."""
    running = list(running)
    return ({p.run.parent.number for p in running if p.run.parent is not None}
            | {p.number for p in running})


def keep_only(folder: Path, wanted: set[int]) -> None:
    """Delete the saved models of trials not in ``wanted`` (and only this folder's models)."""
    for file in folder.glob("trial-*.keras"):
        try:
            number = int(file.stem.split("-")[1])
        except (IndexError, ValueError):
            continue
        if number not in wanted:
            file.unlink(missing_ok=True)
