"""A worker pool with a head start: the first trials train in the search's own process while the
pool's worker starts, then every trial goes to the worker.

A worker imports its Keras backend before its first trial (about 4 s of TensorFlow here) while
the search's process waits. From Python (``search()``, Keras Tuner's API) that process has
Keras imported already, so a small search's first trials need not wait: they train here, as
with ``isolation="none"``, until the worker says it is ready, and the worker takes every trial
after that. A search that will be over before a worker could take a trial (a few trials, and
after the first one, less than ``WORKER_WORTH_S`` left at its pace) starts none: its CPU would
be taken from the trials for nothing. Only with one worker and no GPU: two trials at once would
wait for the worker anyway, and a GPU's memory, once this process trains on it, stays taken
from the worker's trials. ``head_start=False`` sends every trial to the worker. Each trial
trained here says so in its record (``extra.head_start``).
"""

from __future__ import annotations

import sys
from typing import Callable

from hyperopt_nas import gpus as machine
from hyperopt_nas import runtime
from hyperopt_nas.executors import Executor
from hyperopt_nas.executors.in_process import InProcessExecutor
from hyperopt_nas.executors.pool import WorkerPool
from hyperopt_nas.trial import ProgressCallback, TrialOutcome, TrialSpec

# A worker is started when the search has more than this left at its pace (it takes 4 to 8 s to
# start here, and should then train a trial or more), or before the first trial when more than
# FEW_TRIALS are to come (or no count is set).
WORKER_WORTH_S = 10.0
FEW_TRIALS = 5

# What the search has left: seconds at its pace (None: not known yet), trials (None: no count).
Outlook = Callable[[], "tuple[float | None, int | None]"]


def applies(pool: WorkerPool) -> bool:
    """Whether ``pool`` would start from nothing, with one worker, no GPU, in a process whose
    Keras already runs on the pool's backend (where a trial here costs no import)."""
    if pool.slots != 1 or any(w.alive for w in pool.workers) or "keras" not in sys.modules:
        return False
    if pool.workers[0].gpu is not None or machine.visible_gpus():
        return False
    return runtime.active() == runtime.requested(pool.setup.keras_backend)


class HeadStart(Executor):
    slots = 1

    def __init__(self, pool: WorkerPool, here: InProcessExecutor):
        self.pool, self.here = pool, here
        self.outlook: Outlook = lambda: (None, None)  # the search's, set once it runs
        self.launched = False  # the worker is starting (or started)
        self.handed_over = False  # the worker is ready: every trial from now on goes there
        self._here_pending = False

    @property
    def on_progress(self) -> ProgressCallback | None:
        return self.pool.on_progress

    @on_progress.setter
    def on_progress(self, callback: ProgressCallback | None) -> None:
        self.pool.on_progress = self.here.on_progress = callback

    def worth_a_worker(self) -> bool:
        """Whether the search has enough left for a worker to take part in it."""
        seconds, trials = self.outlook()
        if seconds is not None:
            return seconds > WORKER_WORTH_S
        return trials is None or trials > FEW_TRIALS

    @property
    def running(self) -> int:
        return int(self._here_pending) + self.pool.running

    def submit(self, spec: TrialSpec) -> None:
        if not self.launched and self.worth_a_worker():
            self.pool.start()  # it loads the backend and the data while trials train here
            self.launched = True
        if self.launched and not self.handed_over and self.pool.ready_now():
            self.handed_over = True
            self.here.runner = None  # its copy of the data and model builder: not needed now
        if self.handed_over:
            self.pool.submit(spec)
        else:
            self.here.submit(spec)
            self._here_pending = True

    def collect(self) -> TrialOutcome:
        if not self._here_pending:
            return self.pool.collect()
        self._here_pending = False
        outcome = self.here.collect()
        outcome.extra["head_start"] = True
        return outcome

    def park(self) -> None:
        self.pool.park()

    def close(self) -> None:
        self.pool.close()
