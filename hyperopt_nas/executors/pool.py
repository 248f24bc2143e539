"""Trials trained in persistent worker processes (``--workers N``), one GPU each where there are.

Each worker loads TensorFlow and the data once and then trains trial after trial. A worker is
replaced only when needed: when it dies (a segfault, the out-of-memory killer: that trial is
recorded as failed and the search goes on), when its memory has grown by more than
``memory_growth_mb`` since its first trial (TensorFlow keeps some memory from every ``model.fit``
that ``clear_session()`` does not give back, tensorflow/tensorflow#61791), when its TensorFlow
still holds more than ``gpu_memory_held_mb`` of GPU memory after a trial (the figure is in each
record: ``accelerator.gpu_memory_mb``), or every ``trials_per_worker`` trials if that is asked for.

On a machine with GPUs, worker ``i`` sees only GPU ``gpus[i % len(gpus)]``: ``CUDA_VISIBLE_DEVICES``
is set in the worker before TensorFlow is imported there, and the GPU is in each trial's record.
Several workers on one GPU (``--trials-per-gpu``) each get a share of its memory
(``gpus.worker_slots``), enforced by the backend (``runtime/``) and written in each record. A
pinned worker in which TensorFlow sees no GPU stops the search (``gpus.pinned_without_gpu``); an
unpinned one on a machine whose GPUs TensorFlow cannot use is said once, as a warning.
Workers write their TensorFlow/absl chatter to a log file, not to the console.

Once started (the backend imported, the data loaded), a worker moves what it holds out of the
garbage collector's reach (``gc.freeze()``): the full collection that ends each trial
(``clear_session``) then looks at that trial's objects only, in about 3 ms where it took 0.17 s
(TensorFlow's modules are most of a worker's objects). What is frozen is still freed when its
last reference goes; only cycles among it would stay, and it lives as long as the worker.

A search from Python (``search()``, Keras Tuner's API) parks its idle workers when it ends
(``park``): the next search of the same process with the same kind of pool (backend, workers,
GPUs) takes them (``WorkerPool.warm``), each loading the new search's data and model in the
process that has its backend imported already, instead of starting afresh.
"""

from __future__ import annotations

import atexit
import gc
import logging
import multiprocessing
import os
import resource
import signal
import threading
from multiprocessing.connection import wait
from pathlib import Path

from hyperopt_nas.child_processes import exit_with_parent, starting_helper
from hyperopt_nas.errors import FatalError
from hyperopt_nas.executors import Executor
from hyperopt_nas.gpus import SHARE_ENV, VISIBLE, worker_slots
from hyperopt_nas.interrupts import STOP
from hyperopt_nas.log_files import see_log, send_output_to
from hyperopt_nas.options import default
from hyperopt_nas.executors import start_runner
from hyperopt_nas.trial import DataSetup, TrialOutcome, TrialSpec

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 600.0
DEFAULT_MEMORY_GROWTH_MB = default("memory_growth_mb")
# GPU memory a worker's TensorFlow may still hold for tensors after a trial's clear_session()
# before the worker is replaced: a finished trial should leave next to nothing there.
DEFAULT_GPU_MEMORY_HELD_MB = 1024.0
# A worker that died starting without an error in its log nor a signal: what to try.
NO_CAUSE_HINT = ("Its log names no cause; try isolation=\"none\" (--isolation none), which "
                 "trains in this process and shows the error.")


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_main(conn, setup: DataSetup, parent_pid: int, gpu: str | None,
                 log_path: str | None, share: float | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    exit_with_parent(parent_pid)
    pin(gpu, share)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if log_path is not None:  # TensorFlow's C++ and absl lines
        send_output_to(log_path)
    try:
        runner = start_runner(setup, {"gpu": gpu} if gpu is not None else None)
    except Exception as e:  # anything that stops the worker from starting is fatal
        conn.send(("fatal", str(e)))
        return
    freeze_heap()
    conn.send(("ready", runner.gpu_warning))
    lock = threading.Lock()  # progress is reported from a thread of its own

    def report(progress) -> None:
        with lock:
            conn.send(("progress", progress))

    while True:
        try:
            spec = conn.recv()
        except EOFError:
            return
        if spec is None:
            return
        if isinstance(spec, tuple):  # ("setup", setup, log_path): another search's data, model
            _, setup, log_path = spec
            if log_path is not None:
                send_output_to(log_path)
            try:
                runner = start_runner(setup, {"gpu": gpu} if gpu is not None else None)
            except Exception as e:
                conn.send(("fatal", str(e)))
                return
            freeze_heap()
            conn.send(("ready", runner.gpu_warning))
            continue
        try:
            outcome = runner.run(spec, report)
        except FatalError as e:  # itself, so that its kind (LabelsError) reaches the caller
            conn.send(("fatal", e))
            return
        with lock:
            conn.send(("done", outcome, _rss_mb(), gc.get_freeze_count()))


def freeze_heap() -> None:
    """Move what this worker holds now out of the garbage collector's reach (the module's
    docstring says why), after collecting what is garbage already: an earlier search's last
    trial, in a worker a new search took, is freed rather than frozen."""
    gc.collect()
    gc.freeze()


def pin(gpu: str | None, share: float | None) -> None:
    """Show this worker process only its GPU, and tell its backend its share of that GPU's
    memory; before the backend is imported, which reads both once."""
    if gpu is not None:
        os.environ[VISIBLE] = gpu
    if share is not None:
        os.environ[SHARE_ENV] = f"{share:.6g}"
    else:
        os.environ.pop(SHARE_ENV, None)


class _Worker:
    """One worker process and what the pool knows of it."""

    def __init__(self, index: int, gpu: str | None, share: float | None = None):
        self.index, self.gpu, self.share = index, gpu, share
        self.process = self.conn = None
        self.ready = False
        self.spec: TrialSpec | None = None  # the trial it is training
        self.trials_done = 0
        self.first_rss_mb: float | None = None
        self.warning: str | None = None  # the worker's word on its GPUs, once ready

    @property
    def alive(self) -> bool:
        return self.process is not None

    def launch(self, context, setup: DataSetup, log_path: str | None) -> None:
        parent_conn, child_conn = context.Pipe()
        self.process = context.Process(target=_worker_main, name=f"trial-worker-{self.index}",
                                       args=(child_conn, setup, os.getpid(), self.gpu, log_path,
                                             self.share),
                                       daemon=True)
        with starting_helper():
            self.process.start()
        child_conn.close()
        self.conn, self.ready, self.spec = parent_conn, False, None
        self.trials_done, self.first_rss_mb = 0, None
        self.log_path = log_path

    def wait_ready(self) -> None:
        if self.ready:
            return
        if not self.conn.poll(STARTUP_TIMEOUT_S):
            self.stop()
            raise FatalError(f"a trial worker did not start within {STARTUP_TIMEOUT_S:.0f} s"
                             f"{see_log(self.log_path)}.")
        try:
            kind, payload = self.conn.recv()
        except EOFError:
            self.process.join(timeout=5)
            code = self.process.exitcode
            self.stop()
            raise FatalError(f"the trial worker died while starting (exit code {code}"
                             f"{see_log(self.log_path)}). {_startup_hint(self.log_path, code)}"
                             ) from None
        if kind == "fatal":
            self.stop()
            raise FatalError(payload)
        self.ready, self.warning = True, payload

    def stop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.send(None)
            except (OSError, EOFError):
                pass
            self.conn.close()
            self.conn = None
        if self.process is not None:
            if self.spec is not None:  # abandoned mid-trial: no need to wait for it
                self.process.kill()
            self.process.join(timeout=2)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
            self.process = None
        self.ready, self.spec = False, None


# Pools parked by finished searches of this process, by their kind (``WorkerPool.kind``).
_PARKED: dict[tuple, "WorkerPool"] = {}


class WorkerPool(Executor):
    """``workers`` persistent worker processes, replaced only when needed."""

    @classmethod
    def warm(cls, setup: DataSetup, workers: int = 1, gpus: list[str] | None = None,
             trials_per_worker: int | None = None,
             memory_growth_mb: float = DEFAULT_MEMORY_GROWTH_MB,
             log_path: Path | None = None) -> "WorkerPool":
        """A pool that an earlier search of this process parked, of the same kind, its workers
        given ``setup`` (each loads the data and the model builder again, its backend already
        imported); else a new pool."""
        pool = cls(setup, workers, gpus, trials_per_worker, memory_growth_mb, log_path)
        parked = _PARKED.pop(pool.kind, None)
        if parked is None:
            return pool
        parked.adopt(setup, pool.log_path)
        return parked

    @property
    def kind(self) -> tuple:
        """What a worker fixes when it starts: the backend and how it is set up, its GPU and
        share; a parked pool is taken only by a search that asks for the same."""
        s = self.setup
        return (s.keras_backend, s.deterministic, s.compile_cache is not None,
                tuple((w.gpu, w.share) for w in self.workers), self.trials_per_worker,
                self.memory_growth_mb)

    def adopt(self, setup: DataSetup, log_path: str | None) -> None:
        """Give the idle workers another search's ``setup`` (read as they start again)."""
        self.setup, self.log_path = setup, log_path
        for worker in self.workers:
            if not worker.alive:
                continue
            try:
                # One still starting (parked by a search whose trials all had a head start):
                # its "ready" first, so that it is not taken for the new setup's.
                worker.wait_ready()
            except FatalError:
                continue  # stopped: started afresh at its next trial
            try:
                worker.conn.send(("setup", setup, log_path))
            except (OSError, BrokenPipeError):
                worker.stop()  # started afresh at its next trial
                continue
            worker.ready, worker.log_path = False, log_path

    def park(self) -> None:
        """Keep the idle workers for the next search of this process (see ``warm``); one pool
        of a kind is kept, and every parked pool ends with the process."""
        if any(w.spec is not None for w in self.workers) or not any(w.alive
                                                                    for w in self.workers):
            self.close()
            return
        earlier = _PARKED.pop(self.kind, None)
        if earlier is not None:
            earlier.close()
        _PARKED[self.kind] = self

    def __init__(self, setup: DataSetup, workers: int = 1, gpus: list[str] | None = None,
                 trials_per_worker: int | None = None,
                 memory_growth_mb: float = DEFAULT_MEMORY_GROWTH_MB,
                 log_path: Path | None = None,
                 gpu_memory_held_mb: float = DEFAULT_GPU_MEMORY_HELD_MB):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}.")
        if trials_per_worker is not None and trials_per_worker < 1:
            raise ValueError(f"trials_per_worker must be at least 1, got {trials_per_worker}.")
        self.setup, self.slots = setup, workers
        self.trials_per_worker, self.memory_growth_mb = trials_per_worker, memory_growth_mb
        self.gpu_memory_held_mb = gpu_memory_held_mb
        self._warned: set[str] = set()
        self.log_path = str(log_path) if log_path is not None else None
        self.workers = [_Worker(i, gpu, share)
                        for i, (gpu, share) in enumerate(worker_slots(gpus, workers))]
        self._context = multiprocessing.get_context("spawn")  # no forked TensorFlow state
        # Each worker keeps TensorFlow's own thread pools: capping CPU-only workers to their
        # share of the cores was measured slower (benchmarks/parallel_workers.py, 2026-11-24:
        # two 1-thread workers 108.9 s, two with TensorFlow's threading 93.1 s).
        self.replaced = 0  # workers started again after their first

    def start(self) -> None:
        """Start every worker now: they load TensorFlow and the data while the search sets up."""
        for worker in self.workers:
            if not worker.alive:
                worker.launch(self._context, self.setup, self.log_path)

    @property
    def pids(self) -> list[int | None]:
        return [w.process.pid if w.alive else None for w in self.workers]

    @property
    def running(self) -> int:
        return sum(w.spec is not None for w in self.workers)

    def submit(self, spec: TrialSpec) -> None:
        idle = [w for w in self.workers if w.spec is None]
        if not idle:
            raise RuntimeError("every worker is busy: collect a trial first")
        worker = next((w for w in idle if w.ready), idle[0])
        if not worker.alive:
            worker.launch(self._context, self.setup, self.log_path)
            self.replaced += 1
        self._ready(worker)
        try:
            worker.conn.send(spec)
        except (OSError, BrokenPipeError):  # died while idle: start afresh, once
            worker.stop()
            worker.launch(self._context, self.setup, self.log_path)
            self.replaced += 1
            self._ready(worker)
            worker.conn.send(spec)
        worker.spec = spec

    def ready_now(self) -> bool:
        """Whether an idle worker has started (without waiting for one); a worker that could
        not start raises ``FatalError`` here, as at its first trial."""
        for worker in self.workers:
            if worker.alive and worker.spec is None and (worker.ready or worker.conn.poll(0)):
                self._ready(worker)
                return True
        return False

    def _ready(self, worker: _Worker) -> None:
        """Wait for ``worker`` to start; say its warning (GPUs TensorFlow cannot use), once."""
        worker.wait_ready()
        if worker.warning and worker.warning not in self._warned:
            self._warned.add(worker.warning)
            logger.warning(worker.warning)

    def collect(self) -> TrialOutcome:
        busy = {w.conn: w for w in self.workers if w.spec is not None}
        if not busy:
            raise RuntimeError("no trial was submitted")
        while True:  # progress reports until a trial ends
            conn = wait(list(busy))[0]
            worker = busy[conn]
            spec = worker.spec
            try:
                message = conn.recv()
            except (EOFError, OSError):
                worker.process.join(timeout=5)
                code = worker.process.exitcode
                worker.spec = None
                worker.stop()
                return self._tag(TrialOutcome.failure(spec, _death_reason(code, self.log_path)),
                                 worker)
            if message[0] != "progress":
                break
            STOP.check()  # a Ctrl-C that Python dropped (interrupts.py): not a whole trial later
            if self.on_progress is not None:
                self.on_progress(message[1])
        worker.spec = None
        if message[0] == "fatal":
            worker.stop()
            raise message[1]
        _, outcome, rss_mb, frozen = message
        worker.trials_done += 1
        if worker.first_rss_mb is None:
            worker.first_rss_mb = rss_mb
        outcome.extra["worker"] = {"index": worker.index, "trial": worker.trials_done,
                                   "rss_mb": round(rss_mb, 1), "frozen_objects": frozen}
        if self._due(worker, rss_mb, outcome.accelerator.get("gpu_memory_mb")):
            worker.stop()  # started again at its next trial
        return self._tag(outcome, worker)

    def _due(self, worker: _Worker, rss_mb: float, gpu_mb: float | None = None) -> bool:
        """Whether to replace ``worker`` now, after a trial that left it at ``rss_mb`` of host
        memory and ``gpu_mb`` of GPU memory held for tensors (None: no GPU)."""
        if self.trials_per_worker is not None and worker.trials_done >= self.trials_per_worker:
            return True
        if gpu_mb is not None and gpu_mb > self.gpu_memory_held_mb:
            logger.info("worker %d still holds %.0f MiB of GPU memory after trial %d: replacing "
                        "it", worker.index, gpu_mb, worker.trials_done)
            return True
        if rss_mb - worker.first_rss_mb > self.memory_growth_mb:
            logger.info("worker %d grew by %.0f MiB over %d trials: replacing it", worker.index,
                        rss_mb - worker.first_rss_mb, worker.trials_done)
            return True
        return False

    @staticmethod
    def _tag(outcome: TrialOutcome, worker: _Worker) -> TrialOutcome:
        if worker.gpu is not None:
            outcome.accelerator["gpu"] = worker.gpu
        return outcome

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()


def close_parked() -> None:
    """End the parked workers (at the process's exit; they would end with it anyway)."""
    while _PARKED:
        _PARKED.popitem()[1].close()


atexit.register(close_parked)


def _last_error(log_path: str | None) -> str | None:
    """The last line of the worker's log that names an error (``ModuleNotFoundError: ...``)."""
    try:
        with open(log_path or "", errors="replace") as f:
            lines = f.read()[-20_000:].splitlines()
    except OSError:
        return None
    return next((line.strip() for line in reversed(lines)
                 if line.split(":", 1)[0].strip().endswith(("Error", "Exception"))), None)


def _startup_hint(log_path: str | None, code: int | None) -> str:
    """What most likely stopped a worker from starting: the error its log ends with (a backend
    that cannot be imported, say), a signal while it loaded its libraries, else a way to see
    the error."""
    error = _last_error(log_path)
    if error is not None:
        return f"It ended with: {error}"
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        why = (" (SIGILL: a build of the Keras backend that this CPU cannot run)"
               if -code == signal.SIGILL else "")
        return f"It was killed by {name} while loading its libraries{why}."
    return NO_CAUSE_HINT


def _death_reason(code: int | None, log_path: str | None = None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (often the out-of-memory killer)" if -code == signal.SIGKILL else ""
        return f"the trial's process was killed by {name}{hint}{see_log(log_path)}"
    return f"the trial's process ended unexpectedly (exit code {code}{see_log(log_path)})"
