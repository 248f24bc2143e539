"""Executors run ``TrialSpec`` values and hand back ``TrialOutcome`` values, behind one interface.

- ``InProcessExecutor``: here, one trial at a time (``--isolation none``).
- ``WorkerPool``: persistent worker processes, one trial each at a time (``--workers N``), one GPU
  each where there are GPUs (the default, with one worker).
- ``HeadStart``: a pool of one worker whose first trials train here while it starts (from
  Python, where Keras is imported already; ``head_start.py``).
- ``SparkExecutor``: each trial a one-task Spark job (``--executor spark``).

The engine submits up to ``slots`` trials and waits for whichever ends first. A trial that fails,
even by killing its process, comes back as a failed outcome; only what makes every later trial
fail too (data that cannot be loaded) raises ``FatalError``.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

from hyperopt_nas import runtime
from hyperopt_nas.trial import DataSetup, ProgressCallback, TrialOutcome, TrialSpec


class Executor(abc.ABC):
    slots: int = 1  # trials that can run at the same time
    # Told where running trials are (TrialProgress), from inside ``collect``, where the executor
    # can hear it (in-process and worker pool; Spark tasks cannot report before they end).
    on_progress: ProgressCallback | None = None

    def start(self) -> None:
        """Get ready ahead of the first trial (start processes, load data); optional."""

    @abc.abstractmethod
    def submit(self, spec: TrialSpec) -> None:
        """Start ``spec``; at most ``slots`` trials are submitted and not yet collected."""

    @abc.abstractmethod
    def collect(self) -> TrialOutcome:
        """Wait for the next submitted trial to end, and return what came of it."""

    @property
    def running(self) -> int:
        return 0

    def park(self) -> None:
        """Keep what can serve this process's next search (a pool's idle workers); else
        ``close``."""
        self.close()

    def close(self) -> None:
        """Stop: a trial still running is abandoned (its result is never collected)."""


def start_runner(setup: DataSetup, accelerator_info: dict[str, Any] | None = None):
    """A ``trial_runner.TrialRunner`` for this process: its Keras backend chosen first (a pool
    worker, a Spark executor, the search's own process with ``--workers 0``), then Keras and the
    model families imported, the data loaded once. Raises ``FatalError`` when it cannot start."""
    runtime.choose(setup.keras_backend)
    if setup.compile_cache is not None:  # before the backend starts: some read it only then
        try:
            Path(setup.compile_cache).mkdir(parents=True, exist_ok=True)
        except OSError:  # a Spark executor on another machine, say: compile as without
            pass
        else:
            runtime.current().compile_cache(setup.compile_cache)
    runtime.current().import_backend()  # TensorFlow without what no trial uses
    from hyperopt_nas.trial_runner import TrialRunner  # Keras: only once the backend is chosen
    return TrialRunner(setup, accelerator_info)
