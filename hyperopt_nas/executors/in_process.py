"""Trials trained in this process, one at a time (``--isolation none``): the quickest start, but
TensorFlow keeps some memory from every trial (``pool.py`` says why that matters)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hyperopt_nas import runtime
from hyperopt_nas.executors import Executor
from hyperopt_nas.executors import start_runner
from hyperopt_nas.trial import DataSetup, TrialOutcome, TrialSpec

logger = logging.getLogger(__name__)


class InProcessExecutor(Executor):
    slots = 1

    def __init__(self, setup: DataSetup, log_path: Path | None = None):
        self.setup, self.log_path = setup, log_path
        self.runner: Any = None  # a trial_runner.TrialRunner, once started
        self._pending: TrialSpec | None = None

    def start(self) -> None:
        if self.runner is None:
            runtime.choose(self.setup.keras_backend)
            runtime.current().prepare(self.setup.deterministic)
            runtime.current().import_quietly(self.log_path)  # its start-up lines to the log
            self.runner = start_runner(self.setup)
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
