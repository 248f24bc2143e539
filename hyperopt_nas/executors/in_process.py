"""Trials trained in this process, one at a time (``--isolation none``): the quickest start, but
TensorFlow keeps some memory from every trial (``pool.py`` says why that matters)."""

from __future__ import annotations

import logging
from pathlib import Path

from hyperopt_nas import runtime, training
from hyperopt_nas.executors import Executor
from hyperopt_nas.trial import DataSetup, TrialOutcome, TrialRunner, TrialSpec

logger = logging.getLogger(__name__)


class InProcessExecutor(Executor):
    slots = 1

    def __init__(self, setup: DataSetup, log_path: Path | None = None):
        self.setup, self.log_path = setup, log_path
        self.runner: TrialRunner | None = None
        self._pending: TrialSpec | None = None

    def start(self) -> None:
        if self.runner is None:
            runtime.choose(self.setup.keras_backend)
            runtime.current().prepare(self.setup.deterministic)
            training.import_backend_quietly(self.log_path)
            self.runner = TrialRunner(self.setup)
            if self.runner.gpu_warning:
                logger.warning(self.runner.gpu_warning)

    def submit(self, spec: TrialSpec) -> None:
        if self._pending is not None:
            raise RuntimeError("the in-process executor runs one trial at a time")
        self._pending = spec

    @property
    def running(self) -> int:
        return int(self._pending is not None)

    def collect(self) -> TrialOutcome:
        self.start()
        spec, self._pending = self._pending, None
        if spec is None:
            raise RuntimeError("no trial was submitted")
        return self.runner.run(spec, self.on_progress)
