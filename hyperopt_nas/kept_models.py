"""The trained networks of the best trials, kept as they were trained (Keras Tuner's
``get_best_models``): ``<results-dir>/best_models/trial-NNNN.keras``.

Each trial that trains in this machine's processes saves its model (the weights of its best
epoch, as early stopping restored them) to a staging file; once its record is saved, the search
keeps the file if the trial is among the ``keep`` best by validation accuracy and removes the
files of trials that dropped out, so the folder never holds more than ``keep`` models.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from hyperopt_nas.options import default
from hyperopt_nas.trial_store import STAGING, TrialRecord, ranked

FOLDER = "best_models"
DEFAULT_KEEP = default("keep_models")


def path(results_dir: str | Path, number: int) -> Path:
    return Path(results_dir) / FOLDER / f"trial-{number:04d}.keras"


def staging(results_dir: str | Path, number: int) -> Path:
    """Where a running trial saves its model before the search decides to keep it."""
    return Path(results_dir) / FOLDER / f".trial-{number:04d}.tmp.keras"


def clear_staging(results_dir: str | Path) -> None:
    """Remove the staging files of trials a kill interrupted (no trial runs yet)."""
    folder = Path(results_dir) / FOLDER
    if folder.is_dir():
        for entry in folder.iterdir():
            if STAGING.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
                entry.unlink(missing_ok=True)


def keep_best(results_dir: str | Path, records: list[TrialRecord], keep: int,
              ended: TrialRecord, saved: str | Path | None) -> None:
    """After ``ended``'s record is saved: move its model (``saved``: its staging file, or a
    Hyperband checkpoint, which is copied) into the folder if it is among the ``keep`` best,
    and remove the models of trials no longer among them."""
    best = {r.number for r in ranked(records)[:keep]}
    folder = Path(results_dir) / FOLDER
    if saved is not None and Path(saved).is_file():
        if ended.number in best:
            folder.mkdir(parents=True, exist_ok=True)
            target = path(results_dir, ended.number)
            if Path(saved).parent == folder:
                os.replace(saved, target)
            else:  # a Hyperband checkpoint: a later rung may still continue it
                shutil.copyfile(saved, staging(results_dir, ended.number))
                os.replace(staging(results_dir, ended.number), target)
        elif Path(saved).parent == folder:
            Path(saved).unlink(missing_ok=True)
    for number in kept_numbers(results_dir):
        if number not in best:
            path(results_dir, number).unlink(missing_ok=True)


def kept_numbers(results_dir: str | Path) -> list[int]:
    """The trials whose trained model the folder keeps."""
    folder = Path(results_dir) / FOLDER
    numbers = []
    for entry in folder.glob("trial-*.keras") if folder.is_dir() else []:
        with contextlib.suppress(IndexError, ValueError):
            numbers.append(int(entry.stem.split("-")[1]))
    return sorted(numbers)


def load(results_dir: str | Path, number: int) -> Any:
    return load_file(path(results_dir, number))


def load_file(file: str | Path) -> Any:
    """A saved network as its user wants it: a network with one output (one label set)
    predicts an array, not ``{"label": array}`` as the search trained it, and is compiled
    with that output's loss and metrics."""
    import keras  # TensorFlow: the search's process imports this module and loads no model
    with warnings.catch_warnings():
        # Keras warns of the optimizer's state it does not restore (the file holds none): the
        # network predicts the same, and a user who trains it on starts its optimizer afresh,
        # as Keras Tuner's get_best_models does. Two lines of Keras' internals per model.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model = keras.saving.load_model(file)
    if len(model.outputs) != 1 or not isinstance(model.output, dict):
        return model
    head = model.output_names[0] if getattr(model, "output_names", None) else None
    single = keras.Model(model.inputs, model.outputs[0], name=model.name)
    config = getattr(getattr(model, "_compile_config", None), "config", None) or {}
    if getattr(model, "compiled", False) and config.get("loss") is not None:

        def of_head(value):
            return value.get(head, next(iter(value.values()))) \
                if isinstance(value, dict) and value else value
        single.compile(optimizer=model.optimizer, loss=of_head(config["loss"]),
                       metrics=of_head(config.get("metrics")))
    return single
