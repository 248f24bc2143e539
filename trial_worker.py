"""Trials trained in a child process, replaced every few trials and whenever it dies.

TensorFlow keeps memory from every ``model.fit`` that ``keras.backend.clear_session()`` does not
give back (about 4.5 MiB per tiny trial here; tensorflow/tensorflow#61791), and a GPU's memory is
only handed back to the card when the process that took it ends. A search of hundreds of trials
therefore trains in a worker process that is replaced every ``trials_per_worker`` trials. The
same isolation turns a trial that kills its process (a segfault, the out-of-memory killer) into
one failed trial instead of a dead search.

The worker loads the data itself through the same loaders and the same seeded split as the
parent, so no dataset crosses the process boundary; only a trial's point and its result do.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PARENT_CHECK_S = 1.0  # how often an orphaned worker looks for its parent
STARTUP_TIMEOUT_S = 600.0


class WorkerDied(RuntimeError):
    """The worker process ended during a trial; the trial is recorded as failed."""


class WorkerFatal(RuntimeError):
    """The worker could not start (data missing, bad space file): the search cannot go on."""


class RemoteTrialError(RuntimeError):
    """A trial raised in the worker; carries the worker's traceback."""

    def __init__(self, message: str, remote_traceback: str):
        super().__init__(message)
        self.remote_traceback = remote_traceback


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to rebuild, on its own, the parent's data and models."""

    space_path: str
    budget: dict[str, Any]
    seed: int
    data_dir: str | None
    protocol: Any = None  # search_loop.Protocol; None: one run on the validation split


def _exit_with_parent(parent_pid: int) -> None:
    def watch():
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)  # the search is gone: stop training for nobody
            time.sleep(PARENT_CHECK_S)

    threading.Thread(target=watch, daemon=True).start()


def _worker_main(conn, spec: WorkerSpec, parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _exit_with_parent(parent_pid)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import neural_net
    import search_loop
    from space_files import load_space_file
    try:
        space_file = load_space_file(spec.space_path)
        accel = neural_net.configure_accelerator()
        data = search_loop.prepare_data(space_file, spec.budget, spec.seed,
                                        Path(spec.data_dir) if spec.data_dir else None)
        builder = neural_net.model_builder(space_file.model)
    except Exception as e:  # anything that stops the worker from starting is fatal
        conn.send(("fatal", f"{e}"))
        return
    conn.send(("ready", (accel, data.sizes())))
    protocol = spec.protocol or search_loop.Protocol(split_seed=spec.seed)
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        if request[0] == "plot":  # draw a network here, where TensorFlow is already loaded
            _, params, path = request
            try:
                import reports
                reports.plot_model_graph(params, space_file.model, space_file.dataset, Path(path))
                conn.send(("ok", path))
            except Exception as e:  # a drawing failure must not end the worker
                conn.send(("error", f"{type(e).__name__}: {e}", traceback.format_exc()))
            continue
        _, params, trial_seed, time_limit_s, prune, run = request
        budget = dataclasses.replace(
            neural_net.TrainBudget(spec.budget["epochs"], spec.budget["patience"],
                                   time_limit_s, prune), **(run or {}))
        try:
            result = search_loop.train_point(builder, params, data, budget, trial_seed, accel,
                                             protocol)
            conn.send(("ok", result))
        except Exception as e:  # one trial's error: report it, serve the next trial
            conn.send(("error", f"{type(e).__name__}: {e}", traceback.format_exc()))


class TrialWorker:
    """The parent's handle on the worker: start lazily, run trials, replace when due."""

    def __init__(self, spec: WorkerSpec, trials_per_worker: int):
        if trials_per_worker < 1:
            raise ValueError(f"trials_per_worker must be at least 1, got {trials_per_worker}.")
        self.spec = spec
        self.trials_per_worker = trials_per_worker
        self._context = multiprocessing.get_context("spawn")  # no forked TensorFlow state
        self._process = None
        self._conn = None
        self._trials_done = 0
        self.accelerator = None  # what the worker set TensorFlow up with, once started
        self.data_sizes: dict[str, int] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start(self) -> None:
        parent_conn, child_conn = self._context.Pipe()
        self._process = self._context.Process(target=_worker_main, name="trial-worker",
                                              args=(child_conn, self.spec, os.getpid()),
                                              daemon=True)
        self._process.start()
        child_conn.close()
        self._conn = parent_conn
        self._trials_done = 0
        if not parent_conn.poll(STARTUP_TIMEOUT_S):
            self.close()
            raise WorkerFatal(f"the trial worker did not start within {STARTUP_TIMEOUT_S:.0f} s")
        try:
            kind, payload = parent_conn.recv()
        except EOFError:
            code = self._process.exitcode
            self.close()
            raise WorkerFatal(f"the trial worker died while starting (exit code {code})") from None
        if kind == "fatal":
            self.close()
            raise WorkerFatal(payload)
        self.accelerator, self.data_sizes = payload

    def run(self, params: dict[str, Any], trial_seed: int, time_limit_s: float | None = None,
            prune: Any = None, run: dict[str, Any] | None = None):
        """Train one point; returns ``neural_net.TrainResult`` or raises RemoteTrialError or
        WorkerDied."""
        if self._process is None or self._trials_done >= self.trials_per_worker:
            self.close()
            self._start()
        self._trials_done += 1
        return self._request(("train", params, trial_seed, time_limit_s, prune, run))

    def plot(self, params: dict[str, Any], path: Path) -> None:
        """Draw a network (``reports.plot_model_graph``) in the worker, sparing this process
        TensorFlow's memory."""
        if self._process is None:
            self._start()
        self._request(("plot", params, str(path)))

    def _request(self, request: tuple):
        try:
            self._conn.send(request)
            message = self._conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            self._process.join(timeout=5)
            code = self._process.exitcode
            self.close()
            raise WorkerDied(_death_reason(code)) from None
        except BaseException:  # Ctrl-C while waiting: the trial is abandoned with its process
            self.close()
            raise
        if message[0] == "ok":
            return message[1]
        raise RemoteTrialError(message[1], message[2])

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(None)
            except (OSError, EOFError):
                pass
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=2)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None


def _death_reason(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (often the out-of-memory killer)" if -code == signal.SIGKILL else ""
        return f"the trial's process was killed by {name}{hint}"
    return f"the trial's process ended unexpectedly (exit code {code})"
