"""After the search: the best configuration, retrained on all the training data, saved, loadable.

The small public API::

    from hyperopt_nas import retrain
    retrain.best_trial("results")          # the best TrialRecord (by the search's objective)
    retrain.best_config("results")         # its decoded hyperparameters
    result = retrain.retrain("results")    # train on training + validation data, save .keras
    model = retrain.load_model("results")  # the saved Keras model of the best trial
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperopt_nas import data_loaders, kept_models, runtime
from hyperopt_nas.errors import SpaceFileError
from hyperopt_nas.families import metric_key
from hyperopt_nas.trial_store import (UNSCORED, SizeBudget, TrialRecord, TrialStore,
                                      ranked)
from hyperopt_nas.workload import Workload

MODELS_DIR = "models"


def retrain_command(results_dir: Path, number: int) -> str:
    """The command that retrains trial ``number`` of ``results_dir``, to be run as written (the
    report and ``load_model``'s message give it)."""
    return (f"python hyperopt_optimize.py retrain --results-dir {shlex.quote(str(results_dir))} "
            f"--trial {number}")


class RetrainError(RuntimeError):
    pass


@dataclass
class RetrainResult:
    number: int
    path: Path
    epochs: int
    train_samples: int
    test_metrics: dict[str, float]  # by Keras' metric names: accuracy, or fine_accuracy, ...
    deterministic: bool = False  # trained with deterministic kernels: it repeats exactly
    primary_metric: str = "accuracy"  # the primary head's accuracy among test_metrics

    @property
    def test_accuracy(self) -> float | None:
        """The primary head's test accuracy; None without test data (nothing was evaluated)."""
        return self.test_metrics.get(self.primary_metric)


def _scored(results_dir: str | Path) -> list[TrialRecord]:
    records = TrialStore(results_dir).load_records()
    scored = [r for r in records if r.status not in UNSCORED and r.loss is not None]
    if not scored:
        raise RetrainError(f"no completed trial in {results_dir}; run a search first.")
    return scored


def best_trial(results_dir: str | Path = "results") -> TrialRecord:
    """The trial with the best score under the search's objective (validation accuracy unless
    it chose another; ties: the earlier trial)."""
    return ranked(_scored(results_dir))[0]


def best_config(results_dir: str | Path = "results") -> dict[str, Any]:
    return best_trial(results_dir).params


def trial(results_dir: str | Path, number: int | None) -> TrialRecord:
    if number is None:
        return best_trial(results_dir)
    for record in _scored(results_dir):
        if record.number == number:
            return record
    raise RetrainError(f"trial {number} is not a completed trial in {results_dir}; "
                       "`rank` lists them.")


def model_path(results_dir: str | Path, number: int) -> Path:
    return Path(results_dir) / MODELS_DIR / f"trial-{number:04d}.keras"


def configure_like(record: TrialRecord) -> runtime.Accelerator:
    """Set the backend up for retraining ``record``: a trial trained with deterministic kernels
    is trained again with them and with its own dtype policy and XLA setting, so that a retrain
    repeats itself; any other in this machine's defaults (``auto``)."""
    used = record.accelerator or {}
    if not used.get("deterministic"):
        return runtime.current().configure()
    mixed = used.get("dtype_policy", "mixed_float16" if used.get("mixed_precision") else "")
    return runtime.current().configure(
        mixed_precision=mixed.removeprefix("mixed_") if mixed.startswith("mixed") else "off",
        xla=bool(used.get("jit_compile", used.get("xla"))), deterministic=True)


def retrain(results_dir: str | Path = "results", number: int | None = None,
            data_dir: str | Path | None = None, out_dir: str | Path | None = None,
            keras_backend: str | None = None, epochs: int | None = None,
            full_data: bool = False) -> RetrainResult:
    """Rebuild a trial's network, train it on training + validation data for the epoch count
    that early stopping chose (or ``epochs``), evaluate it once on the test set, and save it
    (in ``models/`` of ``out_dir``, default the results folder). It trains on the images the
    trial's split drew from (a ``--max-train-samples`` subset stays one) unless ``full_data``:
    then on every training image. It trains on ``keras_backend``, default the one the trial
    trained on."""
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int)
                               or epochs < 1):
        raise RetrainError(f"epochs must be a whole number of at least 1, got {epochs!r}.")
    record = trial(results_dir, number)
    runtime.choose(keras_backend or record.keras_backend)
    # Keras, the families and the training function: only now that the backend is chosen.
    import neural_net
    from hyperopt_nas import training
    try:
        workload = Workload.from_record(record, results_dir, data_dir)
    except SpaceFileError as e:
        raise RetrainError(str(e)) from e
    # Before the data (a tf.data dataset touches the GPU); set up as a trial's runner is.
    accel = configure_like(record).for_training()
    try:
        dataset = workload.load()
    except data_loaders.DataError as e:
        raise RetrainError(str(e)) from e
    budget = record.budget
    # The trial's own training and validation images, together (every training image with
    # ``full_data``); validation data given apart is among them either way.
    pool = data_loaders.Split.concatenate(list(data_loaders.training_splits(
        dataset, budget["validation_fraction"], record.seed,
        None if full_data else budget.get("max_train_samples"))))
    epochs = epochs or int(record.extra.get("best_epoch") or record.epochs_run or 1)
    path = model_path(out_dir if out_dir is not None else results_dir, record.number)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.keras")
    # The trials' own training function, without a validation split: no early stopping.
    result = training.train_and_evaluate(
        neural_net.builder_for(workload), record.params, dataset.info, pool, None, dataset.test,
        training.TrainBudget(epochs=epochs, patience=epochs, save_to=str(tmp)),
        record.trial_seed, accel)
    os.replace(tmp, path)
    tested = {metric_key(dataset.info, head, name.removeprefix("test_")): value
              for head, values in result.metrics.items() for name, value in values.items()}
    return RetrainResult(record.number, path, epochs, len(pool), tested, accel.deterministic,
                         metric_key(dataset.info, dataset.info.primary_head, "accuracy"))


def best_within(results_dir: str | Path, max_params: int | None = None,
                max_latency_ms: float | None = None) -> TrialRecord:
    """The best trial whose network is within the budget (its measured size; a trial whose
    size was not measured is not known to fit)."""
    budget = SizeBudget(max_params, max_latency_ms)
    fitting = [r for r in ranked(_scored(results_dir))
               if (max_params is None or r.model_params is not None)
               and (max_latency_ms is None or r.latency_ms is not None)
               and budget.over(r.model_params, r.latency_ms) is None]
    if not fitting:
        smallest = min((r.model_params for r in _scored(results_dir)
                        if r.model_params is not None), default=None)
        raise RetrainError(
            f"no completed trial in {results_dir} is within "
            f"{budget.text()}"
            + (f" (the smallest network has {smallest:,} parameters)" if smallest else
               " (their sizes were not measured: trials of an older version)")
            + "; search with that budget (--max-params, --max-latency-ms) to find one.")
    return fitting[0]


def load_model(results_dir: str | Path = "results", number: int | None = None,
               max_params: int | None = None, max_latency_ms: float | None = None):
    """The Keras model of a trial (default: the best; with ``max_params`` and/or
    ``max_latency_ms``, the best whose network is within them): the network the search
    trained, kept in ``best_models/`` for the best trials (``--keep-models``); else its
    retrained model (``models/``, from ``retrain``)."""
    if number is not None and (max_params is not None or max_latency_ms is not None):
        raise ValueError("load_model takes a trial number or a budget (max_params, "
                         "max_latency_ms), not both.")
    if max_params is not None or max_latency_ms is not None:
        number = best_within(results_dir, max_params, max_latency_ms).number
    record = trial(results_dir, number)
    if "keras" not in sys.modules:  # else the running backend loads it: a .keras file is the same
        runtime.choose(record.keras_backend)
    for path in (kept_models.path(results_dir, record.number),
                 model_path(results_dir, record.number)):
        if path.exists():
            return kept_models.load_file(path)
    raise RetrainError(f"trial {record.number} has no saved model ({not_kept_why(record)}); "
                       f"run `{retrain_command(Path(results_dir), record.number)}`.")


def not_kept_why(record: TrialRecord) -> str:
    """Why a trial's trained network is not in best_models/, in the user's words."""
    runs = record.extra.get("runs") or []
    if any(r.get("fold") is not None for r in runs):
        return (f"--cv trains {len(runs)} networks on different folds for each trial and "
                "keeps none")
    return "only the best trials' networks are kept, --keep-models"


def best_models_of(results_dir: str | Path = "results", k: int | None = None
                   ) -> list[tuple[TrialRecord, Any]]:
    """The kept networks of the best trials, best first: ``(record, Keras model)`` pairs, at
    most ``k`` (default: every kept one)."""
    kept = set(kept_models.kept_numbers(results_dir))
    chosen = [r for r in ranked(_scored(results_dir)) if r.number in kept][:k]
    return [(r, kept_models.load(results_dir, r.number)) for r in chosen]
