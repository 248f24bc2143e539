"""One trial: what to run (``TrialSpec``) and what came of it (``TrialOutcome``); an executor
gets from one to the other through ``executors.start_runner``, then ``TrialRunner.run``.

A ``TrialSpec`` is a frozen value built once by the engine; executors take it as it is (in this
process, in a worker process, on a Spark executor) and send back a ``TrialOutcome``. Nothing about a
trial travels any other way. This module is light (no Keras): the search's own process builds
specs and reads outcomes; the process that trains them calls ``executors.start_runner``, which
chooses its Keras backend and only then imports ``trial_runner`` (Keras, the families, the
training function).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import numpy as np

from hyperopt_nas import runtime


def derive_seed(seed: int, number: int) -> int:
    """A 31-bit seed for trial ``number`` of the search seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0] >> 1)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Protocol:
    """How one point is evaluated: repeated with other seeds, and/or by K-fold cross-validation."""

    executions: int = 1
    cv_folds: int | None = None
    split_seed: int = 0  # the search seed: folds are the same for every trial


@dataclass(frozen=True)
class DataSetup:
    """What a process needs to load the data and build models, the same way in every process."""

    dataset: str
    model: str
    validation_fraction: float
    max_train_samples: int | None
    seed: int  # the search seed: the validation split depends on it only
    data_dir: str | None = None
    # A space file's own load_data()/build_model(): its path and its text (a worker or a Spark
    # executor loads it from the text when the path is not there).
    space_path: str | None = None
    space_source: str | None = None
    # How every process trains (training.configure_accelerator): auto, on or off.
    mixed_precision: str = "auto"
    xla: str = "auto"
    deterministic: bool = False
    keras_backend: str = runtime.DEFAULT  # tensorflow, jax or torch (runtime/)
    # Where compiled programs are kept for later trials and relaunches (runtime's
    # compile_cache); None: the backend's own default (no persistent cache under JAX).
    compile_cache: str | None = None
    # Training steps per call from Keras' loop; None: the backend's measured default.
    steps_per_execution: int | None = None
    data_on_gpu: bool = False  # keep the splits on the accelerator (JAX; --data-on-gpu)

    @property
    def own_space(self) -> bool:
        return self.space_source is not None


@dataclass
class TrainBudget:
    """How long one network trains and what happens to it (``training.train_and_evaluate``)."""

    epochs: int
    patience: int
    time_limit_s: float | None = None  # stop at the first epoch end past it
    prune: Any = None  # a pruning.PruneRule: stop when clearly behind earlier trials
    initial_epoch: int = 0  # epochs already trained (continuing a saved model)
    resume_from: str | None = None  # a saved .keras model to continue instead of building one
    save_to: str | None = None  # save the trained model (with optimizer state) here
    # Evaluate the test split only if the run's loss (its objective's, Objective.loss_of) is
    # below this, i.e. it beats the best earlier trial; None: always.
    test_if_loss_below: float | None = None
    # The size budget (--max-params, --max-latency-ms): a built network over it is not trained.
    max_params: int | None = None
    max_latency_ms: float | None = None
    # What early stopping, pruning and the trial's score follow (objectives.Objective).
    objective: str = "val_accuracy"
    direction: str = "max"


@dataclass(frozen=True)
class TrialSpec:
    """One trial to run, complete: an executor needs nothing else."""

    number: int
    params: dict[str, Any]  # the decoded point
    seed: int  # the training seed, derive_seed(search seed, number)
    budget: TrainBudget  # how long it trains and what happens to it (the pruning curves too)
    protocol: Protocol = Protocol()


@dataclass
class TrialOutcome:
    """What came of a ``TrialSpec``: its metrics, or the error it failed with (its point is
    the spec's: the engine holds it, so it does not travel back)."""

    number: int
    ok: bool
    started_at: str
    wall_time_s: float
    loss: float | None = None  # 1 - objective
    metrics: dict[str, Any] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_run: int = 0
    pruned: bool = False
    over_budget: bool = False  # built and measured over the size budget: not trained
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    data_sizes: dict[str, int] = field(default_factory=dict)
    accelerator: dict[str, Any] = field(default_factory=dict)
    graph: str | None = None  # the trained network as Graphviz dot text (training.graph_text)

    @classmethod
    def failure(cls, spec: TrialSpec, error: str, trace: str | None = None,
                started: float | None = None, started_at: str | None = None) -> "TrialOutcome":
        return cls(spec.number, False, started_at or now(),
                   0.0 if started is None else time.monotonic() - started,
                   error=error, traceback=trace)


@dataclass(frozen=True)
class TrialProgress:
    """Where a running trial is, as it reports it (``training._progress_callback``): sent from
    wherever it trains to whoever shows it; never saved."""

    number: int
    epoch: int  # 1-based, counting the epochs a resumed model already had
    epochs: int  # the epoch it stops at, at the latest
    first_epoch: int  # where this run began (past 1 when Hyperband continues a model)
    step: int | None  # batches done in this epoch
    steps: int | None  # batches per epoch
    images_per_s: float  # training throughput in this epoch so far
    epoch_done: bool = False
    val_accuracy: float | None = None  # at an epoch's end
    run: int = 1  # with --cv or --executions-per-trial: which run of how many
    runs: int = 1
    gpu: str | None = None  # on a GPU (NVML, gpu_monitor.py): its id, its utilisation in %
    gpu_util: float | None = None  # and this process's memory on it in MiB
    gpu_memory_mb: float | None = None


ProgressCallback = Callable[[TrialProgress], None]
