"""Running trials in one process: the data loaded once with its seeded validation split, the
model builder resolved once, the backend set up once (``TrialRunner``), and one point evaluated
as the protocol says (``train_point``: one run, repeats, or K folds).

It imports Keras (through the families and ``training``): a process reaches it through
``executors.start_runner``, which chooses the backend first.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import neural_net
from hyperopt_nas import data_loaders, gpus, runtime, training
from hyperopt_nas.errors import FatalError
from hyperopt_nas.gpu_monitor import GpuSampler
from hyperopt_nas.objectives import Objective
from hyperopt_nas.runtime import Accelerator
from hyperopt_nas.trial import (DataSetup, ProgressCallback, Protocol, TrainBudget, TrialOutcome,
                                TrialProgress, TrialSpec, derive_seed, now)
from hyperopt_nas.workload import Workload

logger = logging.getLogger(__name__)


@dataclass
class PreparedData:
    info: data_loaders.DatasetInfo
    train: data_loaders.Split
    validation: data_loaders.Split
    test: data_loaders.Split
    source: str = ""

    def sizes(self) -> dict[str, Any]:
        """What a record's budget says of the data: its sizes, where it was read, the shape of
        an example and the classes of each head."""
        return {"train_samples": len(self.train), "validation_samples": len(self.validation),
                "test_samples": len(self.test), "data_source": self.source,
                "input_shape": list(self.info.input_shape), "heads": dict(self.info.heads),
                "primary_head": self.info.primary_head}


def prepare_data(setup: DataSetup, workload: Workload | None = None) -> PreparedData:
    """Load the dataset (through ``workload``, if the caller resolved it already) and carve the
    validation split; the split depends on the seed only."""
    try:
        dataset = (workload or Workload.from_setup(setup)).load()
    except data_loaders.DataError as e:
        raise FatalError(str(e)) from e
    train, validation = data_loaders.training_splits(dataset, setup.validation_fraction,
                                                     setup.seed, setup.max_train_samples)
    return PreparedData(dataset.info, train, validation, dataset.test, dataset.source)


def _fold_splits(data: PreparedData, k: int, seed: int):
    pool = data_loaders.Split.concatenate([data.train, data.validation])
    folds = data_loaders.k_fold_indices(pool.y[data.info.primary_head], k, seed)
    for i, held_out in enumerate(folds):
        rest = np.concatenate([f for j, f in enumerate(folds) if j != i])
        yield pool.take(rest), pool.take(held_out)


def train_point(builder: neural_net.ModelBuilder, params: dict[str, Any], data: PreparedData,
                budget: TrainBudget, trial_seed: int, accel: Accelerator,
                protocol: Protocol = Protocol(),
                on_progress: Callable[[dict[str, Any]], None] | None = None,
                callbacks: Callable[[], list] = list) -> training.TrainResult:
    """Evaluate one point as the protocol says; several runs are averaged, their spread kept,
    and the first run's network saved where ``budget.save_to`` says. ``on_progress`` hears each
    run's progress, with the run's index and count; ``callbacks`` gives each run the user's own
    Keras callbacks."""
    if protocol.cv_folds:
        splits = list(_fold_splits(data, protocol.cv_folds, protocol.split_seed))
    else:
        splits = [(data.train, data.validation)]
    deadline = (time.monotonic() + budget.time_limit_s) if budget.time_limit_s is not None \
        else None
    if len(splits) * protocol.executions > 1:  # the runs' test metrics are averaged: all of them
        budget = dataclasses.replace(budget, test_if_loss_below=None)
    runs: list[training.TrainResult] = []
    for fold, (train, validation) in enumerate(splits):
        for execution in range(protocol.executions):
            index = fold * protocol.executions + execution
            seed = trial_seed if index == 0 else derive_seed(trial_seed, index)
            if deadline is not None:  # the trial's time limit covers all its runs
                budget = dataclasses.replace(budget,
                                             time_limit_s=max(0.0, deadline - time.monotonic()))
            if index == 1:  # the first run's network is the one kept (best_models/)
                budget = dataclasses.replace(budget, save_to=None)
            report = None if on_progress is None else functools.partial(
                _with_run, on_progress, index + 1, len(splits) * protocol.executions)
            runs.append(training.train_and_evaluate(builder, params, data.info, train,
                                                    validation, data.test, budget, seed,
                                                    accel, on_progress=report,
                                                    user_callbacks=callbacks()))
    if len(runs) == 1:
        return runs[0]
    objectives = [r.objective for r in runs]
    metrics = {head: {key: float(np.mean([r.metrics[head][key] for r in runs]))
                      for key in runs[0].metrics[head]} for head in runs[0].metrics}
    return training.TrainResult(
        metrics=metrics, history=runs[0].history,
        epochs_run=max(r.epochs_run for r in runs),
        best_epoch=int(round(float(np.median([r.best_epoch for r in runs])))),
        stopped_by_time=any(r.stopped_by_time for r in runs),
        objective=float(np.mean(objectives)), trained_as=runs[-1].trained_as,
        size=runs[-1].size, notes=runs[-1].notes, timing=runs[0].timing, graph=runs[0].graph,
        runs=[{"fold": i // protocol.executions if protocol.cv_folds else None,
               "execution": i % protocol.executions, "objective": r.objective,
               "best_epoch": r.best_epoch, "epochs_run": r.epochs_run}
              for i, r in enumerate(runs)])


def _with_run(on_progress: Callable[[dict[str, Any]], None], run: int, runs: int,
              where: dict[str, Any]) -> None:
    on_progress({**where, "run": run, "runs": runs})


def _as_progress(on_progress: ProgressCallback, number: int, sampler: GpuSampler | None,
                 where: dict[str, Any]) -> None:
    on_progress(TrialProgress(number, **where, **(sampler.latest() if sampler else {})))


def gpu_description(gpu: gpus.GpuInfo | None, share: float | None) -> dict[str, Any]:
    """What every record of a process on ``gpu`` says of it: its name, compute capability and
    memory, and the memory this worker may use when it shares the GPU."""
    if gpu is None:
        return {}
    out: dict[str, Any] = {"gpu_name": gpu.name,
                           "gpu_compute_capability": gpu.capability_text}
    if share is not None:
        out["gpu_share"] = round(share, 4)
    if gpu.memory_mb is not None:
        out["gpu_memory_total_mb"] = round(gpu.memory_mb)
        if share is not None:
            out["gpu_memory_limit_mb"] = round(gpu.memory_mb * share)
    return out


def _extra(result: training.TrainResult) -> dict[str, Any]:
    extra: dict[str, Any] = {"best_epoch": result.best_epoch,
                             "stopped_by_time": result.stopped_by_time, **result.size,
                             **result.timing}
    if result.pruned_at is not None:
        extra["pruned_at_epoch"] = result.pruned_at
    if result.notes:
        extra["notes"] = result.notes
    if result.runs:
        extra["runs"] = result.runs
        extra["objective_std"] = float(np.std([r["objective"] for r in result.runs]))
    return extra


class TrialRunner:
    """Runs trials in one process: the backend is set up and the data loaded once, here, in that
    order (a ``tf.data`` dataset from a space's ``load_data()`` touches the GPU)."""

    def __init__(self, setup: DataSetup, accelerator_info: dict[str, Any] | None = None):
        self.setup = setup
        runtime.choose(setup.keras_backend)  # start_runner's: refused if Keras runs on another
        accel = training.configure_accelerator(setup.mixed_precision, setup.xla,
                                               setup.deterministic)
        self.accel = accel.for_training(setup.steps_per_execution, setup.data_on_gpu)
        pinned = (accelerator_info or {}).get("gpu")
        if pinned is not None and not self.accel.gpus:
            raise FatalError(gpus.pinned_without_gpu(pinned, setup.keras_backend))
        # Said by whoever owns the console (the pool, the in-process executor).
        self.gpu_warning = gpus.unused_gpus_warning(self.accel.gpus, setup.keras_backend)
        workload = Workload.from_setup(setup)
        self.data = prepare_data(setup, workload)
        self.workload = workload
        try:
            self.builder = neural_net.builder_for(workload)
        except ValueError as e:
            raise FatalError(str(e)) from e
        self.accelerator = {**self.accel.as_dict(), **(accelerator_info or {})}
        if gpus.VISIBLE in os.environ:  # what TensorFlow was shown
            self.accelerator["cuda_visible_devices"] = os.environ[gpus.VISIBLE]
        # The GPU it trains on (physical id: the one it is pinned to, else the first visible),
        # described in every record and sampled while each trial trains.
        info = gpus.details_of(pinned) if self.accel.gpus else None
        self.gpu = pinned if pinned is not None else (info.index if info else None)
        if self.gpu is not None:
            self.accelerator.setdefault("gpu", self.gpu)
            self.accelerator.update(gpu_description(info, gpus.share_of_this_process()))

    def _memory_hint(self, error: Exception) -> str:
        """For a trial that ran out of GPU memory in a worker holding a share of its GPU: the
        share, and what to change."""
        limit = self.accelerator.get("gpu_memory_limit_mb")
        if limit is None or not runtime.out_of_memory(error):
            return ""
        return (f" (this worker may use {limit:,} MiB, its share of GPU {self.gpu}: lower "
                "--trials-per-gpu, or the space's batch sizes or widths)")

    def run(self, spec: TrialSpec, on_progress: ProgressCallback | None = None,
            device: str | None = None) -> TrialOutcome:
        """Train ``spec``; an error of the trial is its outcome, never an exception (except
        Ctrl-C and FatalError). ``on_progress`` hears where its training is; ``device`` (a
        TensorFlow device name such as ``/GPU:1``) is where it trains, if not the default."""
        started, started_at = time.monotonic(), now()
        sampler = GpuSampler(self.gpu).start() if self.gpu is not None else None
        report = (None if on_progress is None
                  else functools.partial(_as_progress, on_progress, spec.number, sampler))
        result = None
        try:
            with runtime.current().device_scope(device):
                result = train_point(self.builder, spec.params, self.data, spec.budget,
                                     spec.seed, self.accel, spec.protocol, report,
                                     lambda: self.workload.callbacks)
        except (KeyboardInterrupt, FatalError):
            raise
        except training.OverBudget as e:  # measured, not trained: not a failure
            outcome = TrialOutcome(spec.number, False, started_at,
                                   time.monotonic() - started, over_budget=True,
                                   error=f"over budget: {e.reason}", extra=dict(e.measured))
        except Exception as e:  # any error of one trial is recorded and the search goes on
            logger.debug("trial %s failed", spec.number, exc_info=True)
            outcome = TrialOutcome.failure(spec, f"{type(e).__name__}: {e}"
                                           + self._memory_hint(e), traceback.format_exc(),
                                           started, started_at)
            if getattr(e, "build_notes", None):
                outcome.extra["notes"] = list(e.build_notes)
        else:
            outcome = TrialOutcome(
                spec.number, True, started_at, time.monotonic() - started,
                loss=Objective(spec.budget.objective, spec.budget.direction).loss_of(
                    result.objective),
                metrics=result.metrics, history=result.history, epochs_run=result.epochs_run,
                pruned=result.pruned_at is not None, extra=_extra(result), graph=result.graph)
        outcome.data_sizes = self.data.sizes()
        outcome.accelerator = {**self.accelerator, **(result.trained_as if result else {})}
        held = training.gpu_memory_mb(self.accel)
        if held is not None:  # after the trial's clear_session(): what it did not give back
            outcome.accelerator["gpu_memory_mb"] = round(held, 1)
        peak = training.gpu_peak_mb(self.accel)
        if peak is not None:  # the backend allocator's most at once
            outcome.accelerator["gpu_peak_mb"] = round(peak, 1)
        if sampler is not None:
            outcome.accelerator.update(sampler.stop())
        if device is not None:
            outcome.accelerator["device"] = device
        return outcome
