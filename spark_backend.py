"""Trials in parallel on Apache Spark, through hyperopt's ``SparkTrials`` (``--backend spark``).

The driver (this process) runs ``fmin`` with ``SparkTrials``: TPE proposes points, each trial runs
as a one-task Spark job on an executor, at most ``--parallelism`` at a time. The executors train
with the same code as a local run (``search_loop.train_point``) and load the data themselves
through the same loaders (``--data-dir`` must hold the same files at the same path on every
worker, or each worker reads Keras' cache). Only the configuration travels in the closure, never
a dataset.

After each finished trial the driver writes the trial's JSON and ``results.pkl`` atomically, with
the same schema as a local run (``search_loop.Bookkeeper``), so a killed driver loses only the
trials that were running, and a relaunch continues to ``--max-evals``. A trial whose executor is
lost is retried by Spark elsewhere; a trial that raises is recorded as failed.

A trial's training seed comes from the search seed and its point (``point_seed``), because under
Spark trials finish in any order; it is recorded in the trial's JSON as everywhere else.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import shutil
import socket
import sys
import threading
import time
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from hyperopt import STATUS_FAIL, STATUS_OK, Trials, fmin
from hyperopt.base import JOB_STATE_CANCEL, JOB_STATE_DONE, JOB_STATE_ERROR
from hyperopt.exceptions import AllTrialsFailed

import neural_net
from search_loop import (Bookkeeper, FatalError, PreparedData, Protocol, Restored,
                         SearchSettings, SearchSummary, derive_seed, evaluate, make_record,
                         prepare_dataset, train_point)
from space_files import SpaceFile, to_jsonable
from trial_store import TrialRecord, TrialStore

logger = logging.getLogger(__name__)

APP_NAME = "hyperopt-keras-nas"
POLL_S = 0.5
UNLIMITED_EVALS = 10**9


def point_seed(seed: int, params: dict[str, Any]) -> int:
    """The training seed of the trial of point ``params`` in the search seeded with ``seed``."""
    text = json.dumps(to_jsonable(params), sort_keys=True)
    return derive_seed(seed, zlib.crc32(text.encode()))


# ---------------------------------------------------------------------------------------------
# On the executors
# ---------------------------------------------------------------------------------------------

# Per executor Python process: data, accelerator. SparkTrials' tasks do not reuse Spark's Python
# workers (their function ignores its input partition, SPARK-26549), so each trial usually starts
# a fresh process: memory cannot grow across trials, and this cache helps only where Spark does
# reuse one.
_executor_cache: dict[tuple, Any] = {}


def _cached(key: tuple, make: Callable[[], Any]) -> Any:
    if key not in _executor_cache:
        _executor_cache[key] = make()
    return _executor_cache[key]


def pin_task_gpus() -> list[str]:
    """Show TensorFlow only the GPUs Spark gave this task (``spark.task.resource.gpu.amount``).

    Takes effect in the first trial of an executor's Python worker (before TensorFlow starts);
    with one GPU per executor every later trial there gets the same GPU."""
    try:
        from pyspark import TaskContext
    except ImportError:
        return []
    context = TaskContext.get()
    gpus = context.resources().get("gpu") if context is not None else None
    if gpus is None:
        return []
    addresses = list(gpus.addresses)
    if "tensorflow" not in sys.modules:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(addresses)
    return addresses


@dataclass(frozen=True)
class ExecutorObjective:
    """The objective shipped to the executors: configuration only, never data."""

    dataset: str
    model: str
    budget: tuple  # sorted (key, value) pairs of the budget dict
    seed: int
    data_dir: str | None
    protocol: Protocol
    trial_timeout_s: float | None

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        budget = dict(self.budget)
        task_gpus = pin_task_gpus()
        trial_seed = point_seed(self.seed, params)
        data: PreparedData = _cached(
            ("data", self.dataset, self.budget, self.seed, self.data_dir),
            lambda: prepare_dataset(self.dataset, budget, self.seed,
                                    Path(self.data_dir) if self.data_dir else None))
        accel = _cached(("accelerator",), neural_net.configure_accelerator)
        builder = neural_net.model_builder(self.model)
        train_budget = neural_net.TrainBudget(budget["epochs"], budget["patience"],
                                              self.trial_timeout_s)
        result = evaluate(lambda: train_point(builder, params, data, train_budget, trial_seed,
                                              accel, self.protocol), params)
        result.update(trial_seed=trial_seed, data_sizes=data.sizes(),
                      accelerator={**accel.as_dict(), "host": socket.gethostname(),
                                   "spark_task_gpus": task_gpus})
        return result


# ---------------------------------------------------------------------------------------------
# On the driver
# ---------------------------------------------------------------------------------------------


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


def spark_session(master: str | None, parallelism: int):
    """The session to run trials on, and whether this process created it (and stops it).

    Under ``spark-submit`` (or with a session already active) the existing one is used."""
    from pyspark.sql import SparkSession
    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
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
    return session, True


def _finished(doc: dict[str, Any]) -> bool:
    if doc["state"] == JOB_STATE_DONE:
        return doc["result"].get("status") in (STATUS_OK, STATUS_FAIL)
    return doc["state"] == JOB_STATE_ERROR and "error" in doc["misc"]


class TaskErrors(logging.Handler):
    """Keeps the message of each failed Spark task, which SparkTrials only logs, by trial id."""

    PATTERN = re.compile(r"trial task (\d+) failed, exception is (.*)", re.S)

    def __init__(self):
        super().__init__(logging.ERROR)
        self.by_tid: dict[int, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        found = self.PATTERN.match(record.getMessage())
        if found:
            text = found.group(2).strip()
            if text.endswith("\n None"):  # SparkTrials appends the Python traceback, if any
                text = text[:-len("\n None")].rstrip(".")
            self.by_tid[int(found.group(1))] = text


def _as_done(doc: dict[str, Any], message: str | None = None) -> dict[str, Any]:
    """A finished trial document as results.pkl keeps it (an executor error as a failure)."""
    doc = copy.deepcopy(doc)
    if doc["state"] == JOB_STATE_ERROR:
        kind, text = doc["misc"].pop("error")
        text = text or message or kind
        lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
        doc["result"] = {"status": STATUS_FAIL, "traceback": str(text),
                         "error": f"Spark task failed: {lines[-1] if lines else kind}"}
        doc["state"] = JOB_STATE_DONE
    return doc


class SparkSearch:
    """Runs ``fmin`` with SparkTrials in a thread; this thread saves each trial as it ends."""

    def __init__(self, settings: SearchSettings, space_file: SpaceFile, store: TrialStore,
                 restored: Restored, records: dict[int, TrialRecord],
                 best: TrialRecord | None, suggest: Callable, budget: dict[str, Any],
                 say: Callable[[str], None]):
        from hyperopt import SparkTrials
        self.settings, self.space_file, self.suggest, self.budget = (settings, space_file,
                                                                     suggest, budget)
        self.say = say
        self.book = Bookkeeper(settings, space_file, store, restored, records, best, say,
                               draw=self._draw, suggest=suggest)
        self.session, self.owns_session = spark_session(settings.spark_master,
                                                        settings.parallelism)
        self._register_space_module()
        self.trials = SparkTrials(parallelism=settings.parallelism,
                                  spark_session=self.session, timeout=settings.timeout_s)
        self.saved_docs = [_as_done(d) for d in restored.trials.trials]
        if self.saved_docs:  # the restored trials condition TPE, as in a local run
            self.trials.insert_trial_docs(copy.deepcopy(self.saved_docs))
            self.trials._ids.update(d["tid"] for d in self.saved_docs)
            self.trials.refresh()
        self.saved_tids = {d["tid"] for d in self.saved_docs}
        self.errors = TaskErrors()
        self.fmin_error: BaseException | None = None

    def _register_space_module(self) -> None:
        """Ship the space file's own functions by value: executors cannot import it by name."""
        module = sys.modules.get(self.space_file.module_name)
        if module is not None:
            from pyspark import cloudpickle
            cloudpickle.register_pickle_by_value(module)

    def _draw(self, params: dict[str, Any], path: Path) -> None:
        import reports
        reports.plot_model_graph(params, self.space_file.model, self.space_file.dataset, path)

    def objective(self) -> ExecutorObjective:
        s = self.settings
        return ExecutorObjective(self.space_file.dataset, self.space_file.model,
                                 tuple(sorted(self.budget.items())), s.seed,
                                 str(s.data_dir) if s.data_dir else None,
                                 Protocol(s.executions_per_trial, s.cv_folds, s.seed),
                                 s.trial_timeout_s)

    def _run_fmin(self) -> None:
        max_evals = self.settings.max_evals or UNLIMITED_EVALS
        warnings.filterwarnings("ignore", message="Spark session is not provided")
        try:
            fmin(self.objective(), self.space_file.space, algo=self.suggest,
                 max_evals=max_evals, trials=self.trials,
                 rstate=np.random.default_rng(derive_seed(self.settings.seed,
                                                          self.book.next_number)),
                 show_progressbar=False, verbose=False, return_argmin=False)
        except AllTrialsFailed:
            pass
        except BaseException as e:  # raised again in the saving thread
            self.fmin_error = e

    def _save_finished(self) -> None:
        for doc in list(self.trials._dynamic_trials):  # all states: .trials hides errors
            if doc["tid"] in self.saved_tids or not _finished(doc):
                continue
            done = _as_done(doc, self.errors.by_tid.get(doc["tid"]))
            result = done["result"]
            record = make_record(
                done, self.book.next_number, self.space_file, self.budget, self.settings,
                self.book.versions, trial_seed=int(result.get("trial_seed", 0)),
                data_sizes=result.get("data_sizes", {}),
                accelerator=result.get("accelerator", {}))
            self.saved_tids.add(doc["tid"])
            self.saved_docs.append(done)
            plain = Trials()
            plain.insert_trial_docs(copy.deepcopy(self.saved_docs))
            plain.refresh()
            self.book.save(record, plain)

    def _cancel(self, reason: str) -> None:
        self.trials._fmin_cancelled = True  # SparkTrials' own flag: fmin and its dispatcher stop
        self.trials._fmin_cancelled_reason = reason
        self.session.sparkContext.cancelAllJobs()

    def _running(self) -> int:
        return sum(d["state"] not in (JOB_STATE_DONE, JOB_STATE_ERROR, JOB_STATE_CANCEL)
                   for d in self.trials._dynamic_trials)

    def run(self) -> SearchSummary:
        spark_log = logging.getLogger("hyperopt-spark")
        spark_log.addHandler(self.errors)
        propagate, level = spark_log.propagate, spark_log.level
        spark_log.propagate = False  # each failure is in its record and on the progress line
        spark_log.setLevel(logging.ERROR)
        try:
            return self._run()
        finally:
            spark_log.removeHandler(self.errors)
            spark_log.propagate, spark_log.level = propagate, level

    def _run(self) -> SearchSummary:
        thread = threading.Thread(target=self._run_fmin, name="fmin", daemon=True)
        self.book.started = time.monotonic()  # SparkTrials' --timeout starts with fmin
        thread.start()
        try:
            while thread.is_alive():
                self._save_finished()
                thread.join(POLL_S)
            self._save_finished()
        except KeyboardInterrupt:
            running = self._running()
            self._cancel("interrupted")
            thread.join()
            return self.book.interrupted(f"{running} running trials were" if running else None)
        except BaseException:
            self._cancel("the search stopped")
            thread.join()
            raise
        if self.fmin_error is not None:
            raise FatalError(f"the Spark search failed: {self.fmin_error}") from self.fmin_error
        if self.trials._fmin_cancelled and self.settings.timeout_s is not None:
            self.say(f"--timeout {self.settings.timeout_s:g} s reached after "
                     f"{self.book.completed} trials; the trials still running were cancelled.")
        return self.book.summary()

    def close(self) -> None:
        if self.owns_session:
            self.session.stop()


def run_spark_search(settings: SearchSettings, space_file: SpaceFile, store: TrialStore,
                     restored: Restored, records: dict[int, TrialRecord],
                     best: TrialRecord | None, suggest: Callable, budget: dict[str, Any],
                     say: Callable[[str], None]) -> SearchSummary:
    check_spark()
    # Save at once so that results.pkl matches the space it now describes.
    store.save_trials(restored.trials, space_file.fingerprint, restored.numbers,
                      restored.set_aside)
    search = SparkSearch(settings, space_file, store, restored, records, best, suggest, budget,
                         say)
    try:
        return search.run()
    finally:
        search.close()
