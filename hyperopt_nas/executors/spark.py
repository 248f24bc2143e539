"""Trials on Apache Spark (``--backend spark``): each trial is a one-task Spark job.

The engine's loop runs on the driver (this process) exactly as in a local search: it proposes a
point, submits it here, and saves each trial as it ends. ``submit`` starts a thread that runs
``sc.parallelize([spec], 1).map(run_on_executor).collect()`` under its own job group, so at most
``--parallelism`` trials run at once and any of them can be cancelled. Only the ``TrialSpec`` and
the ``DataSetup`` travel to the executors, never a dataset: each executor's Python worker loads
the data itself through the same loaders (``--data-dir`` must hold the same files at the same path
on every worker, or each worker reads Keras' cache) and keeps it for the next trial it runs.

Spark reuses an executor's Python worker across tasks (``spark.python.worker.reuse``, on by
default) when the task consumes its input partition, as ``map`` does, so TensorFlow and the data
are loaded once per Python worker, not once per trial; each record's ``accelerator`` says which
process ran the trial and how many trials that process had run. A task whose executor is lost is
retried by Spark (``spark.task.maxFailures``); a trial that raises is recorded as failed.

pyspark is imported inside the functions that use it: ``check_spark`` can then say what to
install instead of an ImportError, and its import-time warnings are silenced where it loads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import socket
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

from hyperopt_nas.errors import FatalError
from hyperopt_nas.executors import Executor
from hyperopt_nas.gpus import VISIBLE, parse_visible
from hyperopt_nas.log_files import output_to, see_log
from hyperopt_nas.executors import start_runner
from hyperopt_nas.trial import DataSetup, TrialOutcome, TrialSpec

logger = logging.getLogger(__name__)

SPARK_MESSAGES = "Spark's own messages"  # where they are, in errors: see_log()

APP_NAME = "hyperopt-keras-nas"
POLL_S = 0.5

# -- On the executors ---------------------------------------------------------------------------

_runners: dict[DataSetup, Any] = {}  # per Python worker: loaded once, kept for reuse
_trials_here = 0


def task_gpus() -> list[str]:
    """The GPU addresses Spark gave this task (``spark.task.resource.gpu.amount``), if any."""
    try:
        from pyspark import TaskContext
    except ImportError:
        return []
    context = TaskContext.get()
    gpus = context.resources().get("gpu") if context is not None else None
    return list(gpus.addresses) if gpus is not None else []


def task_device(addresses: list[str], visible: str | None) -> str | None:
    """The TensorFlow device of a task's first GPU address: TensorFlow numbers the GPUs this
    process sees (``visible``: the executor's ``CUDA_VISIBLE_DEVICES``, None if unset) from 0.

    A reused Python worker keeps the TensorFlow it started, which sees every GPU of the
    executor; each task then trains under the device of its own GPU (a worker pinned with
    ``CUDA_VISIBLE_DEVICES`` would train every later task on its first task's GPU)."""
    if not addresses:
        return None
    if visible is None:
        return f"/GPU:{int(addresses[0])}"
    ids = parse_visible(visible)
    if addresses[0] not in ids:
        raise FatalError(f"Spark gave a task GPU {addresses[0]}, which this executor's "
                         f"CUDA_VISIBLE_DEVICES={visible!r} hides; make the executors' GPU "
                         "discovery script and CUDA_VISIBLE_DEVICES agree.")
    return f"/GPU:{ids.index(addresses[0])}"


def run_on_executor(setup: DataSetup, spec: TrialSpec) -> TrialOutcome:
    """A trial, on a Spark executor, on the GPU Spark gave its task."""
    global _trials_here
    addresses = task_gpus()
    if setup not in _runners:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        _runners[setup] = start_runner(setup)
    runner = _runners[setup]
    device = task_device(addresses, os.environ.get(VISIBLE)) if runner.accel.gpus else None
    _trials_here += 1
    outcome = runner.run(spec, device=device)
    outcome.accelerator.update(host=socket.gethostname(), spark_task_gpus=addresses,
                               pid=os.getpid(), process_trials=_trials_here)
    return outcome


# -- On the driver ------------------------------------------------------------------------------


def check_spark() -> None:
    """Refuse early, saying what to install, when Spark cannot run here."""
    try:
        import pyspark  # noqa: F401
    except ImportError as e:
        raise FatalError("--backend spark needs pyspark: pip install -e . (it is in setup.cfg's "
                         "requirements) or pip install pyspark.") from e
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and Path(java_home, "bin", "java").exists()):
        raise FatalError("--backend spark needs Java 17: sudo apt-get install "
                         "openjdk-17-jre-headless (./setup.sh installs it).")


def spark_session(master: str | None, parallelism: int, log_path: Path | None = None):
    """The session to run trials on, and whether this process created it (and stops it).

    Under ``spark-submit`` (or with a session already active) the existing one is used. A
    session started here writes Spark's messages (log4j, the JVM, the local executors'
    TensorFlow) to ``log_path``, not to the console."""
    quiet = output_to(log_path) if log_path is not None else contextlib.nullcontext()
    with quiet, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pyspark's import-time pandas warning
        from pyspark.sql import SparkSession
        active = SparkSession.getActiveSession()
        if active is not None:
            return active, False
        return _start_session(SparkSession, master, parallelism), True


def _start_session(SparkSession, master: str | None, parallelism: int):
    under_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    master = master or (None if under_submit else f"local[{parallelism}]")
    builder = SparkSession.builder.appName(APP_NAME).config("spark.ui.showConsoleProgress",
                                                            "false")
    if master is not None:
        builder = builder.master(master)
    # Executors run this same Python, with its packages, unless PYSPARK_PYTHON says otherwise.
    python = os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (builder.config("spark.pyspark.python", python)
               .config("spark.executorEnv.PYSPARK_PYTHON", python))
    if master is not None and (master.startswith("local") or "127.0.0.1" in master
                               or "localhost" in master):
        builder = (builder.config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1"))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def task_error(error: BaseException) -> str:
    """One line out of a failed Spark job's long error: the Python exception, if there is one."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    python = [line for line in lines if line.split(":")[0].endswith(("Error", "Exception"))
              and not line.startswith(("py4j", "org.apache", "Traceback"))]
    return (python or lines or [type(error).__name__])[-1]


class SparkExecutor(Executor):
    """Up to ``parallelism`` trials at a time, each a one-task Spark job."""

    def __init__(self, setup: DataSetup, master: str | None, parallelism: int,
                 space_module: str | None = None, log_path: Path | None = None):
        check_spark()
        self.setup, self.slots, self.log_path = setup, parallelism, log_path
        try:
            self.session, self.owns_session = spark_session(master, parallelism, log_path)
        except Exception as e:  # no JVM, a master that cannot be reached, ...
            raise FatalError(f"Spark did not start: {task_error(e).rstrip('.')}"
                             f"{see_log(log_path, SPARK_MESSAGES)}.") from e
        if space_module is not None and space_module in sys.modules:
            # Ship the space file's own functions by value: executors cannot import it by name.
            from pyspark import cloudpickle
            cloudpickle.register_pickle_by_value(sys.modules[space_module])
        self._done: queue.Queue[TrialOutcome] = queue.Queue()
        self._threads: dict[int, threading.Thread] = {}

    @property
    def running(self) -> int:
        return len(self._threads)

    def submit(self, spec: TrialSpec) -> None:
        thread = threading.Thread(target=self._job, args=(spec,), name=f"trial-{spec.number}",
                                  daemon=True)
        self._threads[spec.number] = thread
        thread.start()

    def _job(self, spec: TrialSpec) -> None:
        context = self.session.sparkContext
        setup = self.setup
        try:
            context.setJobGroup(f"trial-{spec.number}", f"trial {spec.number}",
                                interruptOnCancel=True)
            (outcome,) = (context.parallelize([spec], 1)
                          .map(lambda s: run_on_executor(setup, s)).collect())
        except Exception as e:  # a lost task past its retries, a cancelled job
            outcome = TrialOutcome.failure(
                spec, f"Spark task failed: {task_error(e)}{see_log(self.log_path, SPARK_MESSAGES)}",
                str(e))
        self._done.put(outcome)

    def collect(self) -> TrialOutcome:
        if not self._threads:
            raise RuntimeError("no trial was submitted")
        while True:  # in short waits, so that Ctrl-C is seen at once
            try:
                outcome = self._done.get(timeout=POLL_S)
            except queue.Empty:
                continue
            self._threads.pop(outcome.number, None)
            return outcome

    def close(self) -> None:
        if self._threads:
            self.session.sparkContext.cancelAllJobs()
            for thread in list(self._threads.values()):
                thread.join(timeout=30)
            self._threads.clear()
        if self.owns_session:
            self.session.stop()
