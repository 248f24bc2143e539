"""Trials that do not train: a surrogate of the space on a simulated clock.

``SimulatedExecutor`` runs the real engine, proposers, schedulers and store without TensorFlow:
each trial's learning curve and duration come from a cheap deterministic function of its point
and its seed (``Surrogate``), with noise, a cost per epoch that grows with the network, and
failures at a set rate. Its clock (``clock()``) is simulated: it advances to the end of each
trial it hands back, and by the time the driver itself spent between two calls (as Syne Tune's
simulator does), so the driver's own cost is counted as it would be on a real cluster. Hours of
a search on many workers take seconds; the engine's tests and ``benchmarks/`` use it.

Python API only: ``run_search(settings, executor=SimulatedExecutor(slots=32))``.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hyperopt_nas.executors import Executor
from hyperopt_nas.trial import TrialOutcome, TrialSpec, now
from hyperopt_nas.trial_store import to_jsonable


def _unit(*parts: Any) -> float:
    """A number in [0, 1) fixed by ``parts``."""
    text = json.dumps(to_jsonable(parts), sort_keys=True, default=str)
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16) / 16 ** 12


def _leaves(params: Any) -> list[float]:
    """Each leaf of a decoded point as a number (strings hashed into [0, 1))."""
    return [float(bool(v)) if isinstance(v, bool) or v is None else
            float(v) if isinstance(v, (int, float)) else _unit(v) for _, v in _items(params)]


def _items(params: Any, path: str = "") -> list[tuple[str, Any]]:
    """``(path, value)`` for each leaf of a decoded point."""
    if isinstance(params, dict):
        return [x for k in sorted(params) for x in _items(params[k], f"{path}/{k}")]
    if isinstance(params, (list, tuple)):
        return [x for i, v in enumerate(params) for x in _items(v, f"{path}/{i}")]
    return [(path, params)]


def _bucket(value: Any) -> Any:
    """Nearby numbers share a bucket (a tenth of a decade), so quality is smooth enough to learn."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return round(math.log10(abs(value) + 1e-12) * 10)


@dataclass(frozen=True)
class Surrogate:
    """A family of learning curves: the point fixes how good a network can get, how fast it
    learns and how long an epoch takes; the training seed adds noise.

    - ``ceiling``: the accuracy the curve tends to, in [low, high]: with ``structure`` 0 (the
      default) a hash of the whole point, which no model can learn; with ``structure`` s, that
      blended with an additive part, each hyperparameter's value (numbers by tenth of a decade)
      having a fixed quality of its own, which a model such as TPE can learn;
    - accuracy after e epochs: ceiling - (ceiling - chance) * exp(-e / tau), plus noise;
    - an epoch costs ``epoch_s`` times 0.5..2, larger for points with larger numbers (a proxy
      for wider networks).
    """

    low: float = 0.70
    high: float = 0.93
    chance: float = 0.10
    noise: float = 0.004
    epoch_s: float = 30.0
    failure_rate: float = 0.0
    structure: float = 0.0

    def ceiling(self, params: dict[str, Any]) -> float:
        u = _unit("ceiling", params)
        if self.structure:
            parts = [_unit("quality", path, _bucket(value)) for path, value in _items(params)]
            additive = float(np.mean(parts)) if parts else u
            # Means of many uniforms bunch around 0.5: spread them back over [0, 1].
            spread = 0.5 + (additive - 0.5) * math.sqrt(12 * max(1, len(parts))) / 3.5
            u = (1 - self.structure) * u + self.structure * min(1.0, max(0.0, spread))
        return self.low + (self.high - self.low) * u ** 0.5

    def tau(self, params: dict[str, Any]) -> float:
        return 0.5 + 3.0 * _unit("tau", params)

    def seconds_per_epoch(self, params: dict[str, Any]) -> float:
        size = math.log1p(sum(abs(x) for x in _leaves(params)))
        return self.epoch_s * (0.5 + 1.5 * (0.5 * _unit("cost", params) + 0.5 * math.tanh(
            size / 10)))

    def accuracy(self, params: dict[str, Any], seed: int, epoch: int) -> float:
        c = self.ceiling(params)
        clean = c - (c - self.chance) * math.exp(-epoch / self.tau(params))
        rng = np.random.default_rng([seed, epoch])
        return float(np.clip(clean + rng.normal(0.0, self.noise), 0.0, 1.0))

    def fails(self, params: dict[str, Any], seed: int) -> bool:
        return _unit("fail", params, seed) < self.failure_rate


class SimulatedExecutor(Executor):
    """``slots`` simulated workers; see the module's docstring."""

    def __init__(self, slots: int = 1, surrogate: Surrogate = Surrogate()):
        self.slots, self.surrogate = int(slots), surrogate
        self.now = 0.0  # the simulated clock, in seconds
        self._heap: list[tuple[float, int, TrialOutcome]] = []
        self._last_real = time.perf_counter()
        self.busy_s = 0.0  # simulated seconds the workers spent training
        self.trials = 0

    def clock(self) -> float:
        """Simulated seconds since the start, counting the driver's own time so far."""
        self._advance_by_driver()
        return self.now

    def _advance_by_driver(self) -> None:
        real = time.perf_counter()
        self.now += real - self._last_real
        self._last_real = real

    @property
    def running(self) -> int:
        return len(self._heap)

    def submit(self, spec: TrialSpec) -> None:
        if len(self._heap) >= self.slots:
            raise RuntimeError(f"all {self.slots} simulated workers are busy")
        self._advance_by_driver()
        outcome, seconds = self._outcome(spec)
        self.busy_s += seconds
        self.trials += 1
        heapq.heappush(self._heap, (self.now + seconds, spec.number, outcome))

    def collect(self) -> TrialOutcome:
        if not self._heap:
            raise RuntimeError("no trial was submitted")
        self._advance_by_driver()
        end, _, outcome = heapq.heappop(self._heap)
        self.now = max(self.now, end)
        self._last_real = time.perf_counter()
        return outcome

    def close(self) -> None:
        self._heap.clear()

    def _outcome(self, spec: TrialSpec) -> tuple[TrialOutcome, float]:
        s, params, budget = self.surrogate, spec.params, spec.budget
        per_epoch = s.seconds_per_epoch(params)
        if budget.resume_from is not None and not Path(budget.resume_from).is_file():
            return TrialOutcome(spec.number, False, now(), 0.0,
                                error=f"no saved model to continue: {budget.resume_from}"), 0.0
        if budget.save_to is not None:  # as a trained trial leaves its model (a stand-in)
            Path(budget.save_to).write_text("simulated\n")
        if s.fails(params, spec.seed):
            seconds = per_epoch / 2
            return TrialOutcome(spec.number, False, now(), seconds,
                                error="SimulatedFailure: the surrogate's failure rate"), seconds
        val, best, best_epoch, seconds = [], -1.0, budget.initial_epoch, 0.0
        pruned = stopped_by_time = False
        for epoch in range(budget.initial_epoch + 1, budget.epochs + 1):
            acc = s.accuracy(params, spec.seed, epoch)
            val.append(acc)
            seconds += per_epoch
            if acc > best:
                best, best_epoch = acc, epoch
            if epoch - best_epoch >= budget.patience:  # early stopping
                break
            if budget.prune is not None and budget.prune.should_stop(epoch, best):
                pruned = True
                break
            if budget.time_limit_s is not None and seconds >= budget.time_limit_s:
                stopped_by_time = True
                break
        test = None
        if budget.test_if_loss_below is None or 1 - best < budget.test_if_loss_below:
            test = s.accuracy(params, spec.seed + 1, best_epoch)
        metrics = {"label": {"best_val_accuracy": best, "final_val_accuracy": val[-1],
                             **({"test_accuracy": test} if test is not None else {})}}
        outcome = TrialOutcome(
            spec.number, True, now(), seconds, loss=1.0 - best,
            metrics=metrics, history={"val_accuracy": val}, epochs_run=budget.initial_epoch
            + len(val), pruned=pruned,
            extra={"best_epoch": best_epoch, "stopped_by_time": stopped_by_time,
                   "simulated": True},
            data_sizes={"train_samples": 0, "validation_samples": 5000, "heads": {"label": 10}})
        if pruned:
            outcome.extra["pruned_at_epoch"] = budget.initial_epoch + len(val)
        return outcome, seconds
