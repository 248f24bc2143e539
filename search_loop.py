"""The search: hyperopt's ``fmin`` one trial at a time, each trial saved before the next starts.

Running ``fmin`` for one new trial at a time (on the same ``Trials``) lets every completed trial be
written to disk at once, lets a relaunch resume exactly where the last one stopped, and lets the
loop stop after too many consecutive failures. Trial ``n`` of a search with seed ``s`` always
draws its suggestion and its training seed from ``(s, n)``, so a resumed search is the same search.
"""

from __future__ import annotations

import importlib.metadata
import dataclasses
import logging
import platform
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from hyperopt import STATUS_FAIL, STATUS_OK, Trials, anneal, fmin, rand, tpe
from hyperopt.base import JOB_STATE_DONE
from hyperopt.exceptions import AllTrialsFailed

import data_loaders
import neural_net
import hyperband
from pruning import PruneRule
from reports import MORE_VALIDATION
from space_files import (SpaceFile, TooManyCombinations, discrete_points, load_space_file,
                         same_point, to_jsonable)
from trial_store import StoreError, TrialRecord, TrialStatus, TrialStore
from trial_worker import TrialWorker, WorkerFatal, WorkerSpec

logger = logging.getLogger(__name__)

ALGORITHMS = ("tpe", "rand", "anneal", "atpe", "grid")
MAX_GRID_POINTS = 1_000_000
DEFAULT_MAX_CONSECUTIVE_FAILURES = 3
DEFAULT_TRIALS_PER_WORKER = 10
ISOLATIONS = ("process", "none")


BACKENDS = ("local", "spark")


class FatalError(RuntimeError):
    """The search cannot go on (bad data, full disk, too many failures); earlier results stay."""


@dataclass
class SearchSettings:
    space_path: Path
    results_dir: Path = Path("results")
    max_evals: int | None = None  # total trials in the results folder, earlier runs included
    algo: str = "tpe"
    epochs: int | None = None
    max_train_samples: int | None = None
    seed: int = 0
    data_dir: Path | None = None
    max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES
    isolation: str = "process"  # "process": trials train in a worker process; "none": here
    trials_per_worker: int = DEFAULT_TRIALS_PER_WORKER
    executions_per_trial: int = 1
    cv_folds: int | None = None
    timeout_s: float | None = None  # for the whole search
    trial_timeout_s: float | None = None  # per trial: stops at the next epoch end
    plot_best: bool = True  # redraw <results-dir>/best_model.png after each new best
    plot_search: bool = True  # refresh the search plots (plots.py) after each trial
    tensorboard: bool = True  # add each trial to <results-dir>/tensorboard (HParams dashboard)
    prune: PruneRule = PruneRule()  # stop trials clearly behind earlier ones (pruning.py)
    startup_trials: int | None = None  # TPE's random start-up; None: follows the budget
    schedule: str = "none"  # "hyperband": successive halving over epochs (hyperband.py)
    backend: str = "local"  # "local": trials one after another here; "spark": SparkTrials
    parallelism: int = 2  # spark: trials at a time
    spark_master: str | None = None  # spark: default local[parallelism] (or spark-submit's)
    test_every_trial: bool = False  # else the test split only for a trial that beats all before
    start_points: bool = True  # try the space file's START_POINTS first


@dataclass
class SearchSummary:
    completed: int  # trials this run added
    total: int  # records in the results folder
    best: TrialRecord | None
    interrupted: bool = False


@dataclass
class Restored:
    """A search as found on disk, ready for ``fmin`` to continue."""

    trials: Trials
    numbers: list[int]  # the record number of each trial in ``trials``, in order
    set_aside: dict[int, str] = field(default_factory=dict)  # record number -> why
    total_records: int = 0
    source: str = "new"


HYPEROPT_STARTUP_TRIALS = 20  # hyperopt's own n_startup_jobs


def default_startup_trials(budget: float | None) -> int:
    """TPE's random start-up trials for a search of about ``budget`` trials: a quarter of the
    budget, at least 3 and at most hyperopt's 20 (``benchmarks/startup_trials.py``)."""
    if budget is None:
        return HYPEROPT_STARTUP_TRIALS
    return int(max(3, min(HYPEROPT_STARTUP_TRIALS, round(budget / 4))))


class BudgetTPE:
    """``tpe.suggest`` with start-up trials that follow the budget: ``--startup-trials`` if
    given, else ``default_startup_trials`` of ``--max-evals``, or of the trials ``--timeout``
    allows at the pace of the trials so far; hyperopt's 20 without a budget."""

    def __init__(self, startup_trials: int | None, max_evals: int | None,
                 timeout_s: float | None):
        self.explicit = startup_trials is not None
        self.timeout_s = None if self.explicit or max_evals else timeout_s
        self.startup = (startup_trials if self.explicit else
                        default_startup_trials(max_evals) if max_evals else
                        HYPEROPT_STARTUP_TRIALS)
        self.proposed_with: dict[int, int] = {}  # trial id -> start-up trials at its proposal

    def update(self, earlier_trials: int, done_this_run: int, elapsed_s: float) -> None:
        """Re-estimate the budget of a ``--timeout`` search from its pace."""
        if self.timeout_s is None or done_this_run == 0 or elapsed_s <= 0:
            return
        pace = elapsed_s / done_this_run
        expected = earlier_trials + done_this_run + max(0.0, self.timeout_s - elapsed_s) / pace
        self.startup = default_startup_trials(expected)

    def __call__(self, new_ids, domain, trials, seed):
        self.proposed_with.update((new_id, self.startup) for new_id in new_ids)
        return tpe.suggest(new_ids, domain, trials, seed, n_startup_jobs=self.startup)


def suggest_function(algo: str, settings: SearchSettings | None = None) -> Callable:
    if algo == "tpe":
        if settings is None:
            return tpe.suggest
        return BudgetTPE(settings.startup_trials, settings.max_evals, settings.timeout_s)
    if algo == "rand":
        return rand.suggest
    if algo == "anneal":
        return anneal.suggest
    if algo == "atpe":
        try:
            import lightgbm  # noqa: F401
            import sklearn  # noqa: F401
        except ImportError as e:
            raise FatalError("--algo atpe needs lightgbm and scikit-learn: "
                             "pip install 'lightgbm' 'scikit-learn'") from e
        from hyperopt import atpe
        return atpe.suggest
    raise FatalError(f"--algo must be one of {', '.join(ALGORITHMS)}, got {algo!r}.")


class StartPoints:
    """A hyperopt algorithm: the space file's START_POINTS that no trial has tried yet, in their
    order, then ``algo``'s proposals. Restored trials count as tried, so a relaunch never
    repeats one."""

    def __init__(self, algo: Callable, space_file: SpaceFile):
        self.algo, self.space_file, self.start_vals = algo, space_file, space_file.start_vals
        self.proposed: dict[int, int] = {}  # trial id -> index in START_POINTS

    def untried(self, trials: Trials) -> list[int]:
        tried = [to_jsonable(drawn_vals(t)) for t in trials.trials]
        return [i for i, vals in enumerate(self.start_vals)
                if not any(same_point(vals, t) for t in tried)]

    def __call__(self, new_ids, domain, trials, seed):
        untried = self.untried(trials)
        if not untried:
            return self.algo(new_ids, domain, trials, seed)
        docs = []
        for new_id, index in zip(new_ids, untried):  # fewer docs than ids is allowed
            misc = _trial_misc(new_id, self.start_vals[index], self.space_file.params,
                               domain.cmd, domain.workdir)
            docs.extend(trials.new_trial_docs([new_id], [None], [domain.new_result()], [misc]))
            self.proposed[new_id] = index
        return docs


class GridSuggest:
    """A hyperopt algorithm that tries every combination of a discrete space once.

    The combinations are shuffled once with the search seed, so the order is random but the same
    on every relaunch; each call proposes the first one not tried yet, and none when all are.
    """

    def __init__(self, space_file: SpaceFile, seed: int):
        try:
            points = discrete_points(space_file.params, MAX_GRID_POINTS)
        except TooManyCombinations as e:
            raise FatalError(f"--algo grid: {space_file.name} has {e}; use tpe or rand.") from e
        except ValueError as e:
            raise FatalError(f"--algo grid needs a space of choices and quantised ranges only; "
                             f"{space_file.name} is {e}.") from e
        order = np.random.default_rng(seed).permutation(len(points))
        self.points = [points[i] for i in order]
        self.labels = list(space_file.params)

    def _key(self, vals: dict[str, Any]) -> tuple:
        return tuple((k, float(vals[k])) for k in self.labels if k in vals)

    def __call__(self, new_ids, domain, trials, seed):
        tried = {self._key(drawn_vals(t)) for t in trials.trials}
        docs = []
        for new_id in new_ids:
            point = next((p for p in self.points if self._key(p) not in tried), None)
            if point is None:
                break
            tried.add(self._key(point))
            misc = _trial_misc(new_id, point, self.labels, domain.cmd, domain.workdir)
            docs.extend(trials.new_trial_docs([new_id], [None], [domain.new_result()], [misc]))
        return docs


def derive_seed(seed: int, number: int) -> int:
    """A 31-bit seed for trial ``number`` of the search seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0] >> 1)


# ---------------------------------------------------------------------------------------------
# Resuming
# ---------------------------------------------------------------------------------------------


def drawn_vals(doc: dict[str, Any]) -> dict[str, Any]:
    """A hyperopt trial document's values: ``{label: value}`` for the labels it drew."""
    return {k: v[0] for k, v in doc["misc"]["vals"].items() if v}


def _trial_misc(tid: int, vals: dict[str, Any], labels: Iterable[str],
                cmd: Any = ("domain_attachment", "FMinIter_Domain"), workdir: Any = None
                ) -> dict[str, Any]:
    """hyperopt's ``misc`` of a trial that draws ``vals``: every label, empty where inactive."""
    all_vals = {label: ([vals[label]] if label in vals else []) for label in labels}
    return {"tid": tid, "cmd": cmd, "workdir": workdir,
            "idxs": {k: ([tid] if v else []) for k, v in all_vals.items()}, "vals": all_vals}


def _insert_done(trials: Trials, vals: dict[str, Any], record: TrialRecord,
                 space_file: SpaceFile) -> None:
    (tid,) = trials.new_trial_ids(1)
    misc = _trial_misc(tid, vals, space_file.params)
    ok = record.status != TrialStatus.FAILED
    result = {"status": STATUS_OK, "loss": record.loss} if ok else {"status": STATUS_FAIL}
    (doc,) = trials.new_trial_docs([tid], [None], [result], [misc])
    doc["state"] = JOB_STATE_DONE
    trials.insert_trial_docs([doc])


def rebuild_trials(records: list[TrialRecord], space_file: SpaceFile) -> Restored:
    """hyperopt Trials from the JSON records, keeping the trials that fit the current space."""
    restored = Restored(Trials(), [], total_records=len(records), source="records")
    for record in records:
        if record.space_fingerprint == space_file.fingerprint:
            vals, why = record.hyperopt_vals, ""
        else:
            vals, why = space_file.encode(record.hyperopt_vals, record.choice_options,
                                          record.params)
        if vals is None:
            restored.set_aside[record.number] = why
            continue
        _insert_done(restored.trials, vals, record, space_file)
        restored.numbers.append(record.number)
    restored.trials.refresh()
    return restored


def restore(store: TrialStore, space_file: SpaceFile) -> Restored:
    """Load the search in the results folder; never start from zero over existing results."""
    records = store.load_records()
    try:
        payload = store.load_trials()
    except StoreError as e:
        kept = store.set_aside_pickle()
        logger.warning("%s; it was moved to %s. Rebuilding the search from the %d JSON records.",
                       e, kept.name, len(records))
        payload, unreadable = None, True
    else:
        unreadable = False
    numbers_on_disk = {r.number for r in records}
    if payload is not None:
        same_space = payload.get("space_fingerprint") == space_file.fingerprint
        accounted = set(payload.get("numbers", [])) | set(payload.get("set_aside", {}))
        if same_space and accounted == numbers_on_disk:
            return Restored(payload["trials"], list(payload["numbers"]),
                            {int(k): v for k, v in payload.get("set_aside", {}).items()},
                            total_records=len(records), source="results.pkl")
        if not same_space:
            logger.info("the space file changed since results.pkl was written; checking every "
                        "recorded trial against the edited space")
        else:
            logger.warning("results.pkl and the JSON records disagree (a run was killed between "
                           "writing them); rebuilding the search from the JSON records")
    elif records and not unreadable:
        logger.warning("no results.pkl, but %d JSON records: rebuilding the search from them",
                       len(records))
    if not records:
        return Restored(Trials(), [])
    return rebuild_trials(records, space_file)


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


def library_versions() -> dict[str, str]:
    """Versions as installed, read without importing TensorFlow into this process."""
    versions = {"python": platform.python_version()}
    for name in ("tensorflow", "keras", "hyperopt", "numpy"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


@dataclass
class PreparedData:
    info: data_loaders.DatasetInfo
    train: data_loaders.Split
    validation: data_loaders.Split
    test: data_loaders.Split

    def sizes(self) -> dict[str, int]:
        return {"train_samples": len(self.train), "validation_samples": len(self.validation),
                "test_samples": len(self.test)}


def prepare_data(space_file: SpaceFile, budget: dict[str, Any], seed: int,
                 data_dir: Path | None) -> PreparedData:
    """Load the dataset and carve the validation split; the split depends on the seed only."""
    return prepare_dataset(space_file.dataset, budget, seed, data_dir)


def prepare_dataset(dataset_name: str, budget: dict[str, Any], seed: int,
                    data_dir: Path | None) -> PreparedData:
    try:
        dataset = data_loaders.load_dataset(dataset_name, data_dir)
    except data_loaders.DataError as e:
        raise FatalError(str(e)) from e
    train, validation = data_loaders.train_validation_split(
        dataset.train, budget["validation_fraction"], seed, dataset.info.primary_head,
        budget["max_train_samples"])
    return PreparedData(dataset.info, train, validation, dataset.test)


@dataclass(frozen=True)
class Protocol:
    """How one point is evaluated: repeated with other seeds, and/or by K-fold cross-validation."""

    executions: int = 1
    cv_folds: int | None = None
    split_seed: int = 0  # the search seed: folds are the same for every trial


def _fold_splits(data: PreparedData, k: int, seed: int):
    pool = data_loaders.Split.concatenate([data.train, data.validation])
    folds = data_loaders.k_fold_indices(pool.y[data.info.primary_head], k, seed)
    for i, held_out in enumerate(folds):
        rest = np.concatenate([f for j, f in enumerate(folds) if j != i])
        yield pool.take(rest), pool.take(held_out)


def train_point(builder: neural_net.ModelBuilder, params: dict[str, Any], data: PreparedData,
                budget: neural_net.TrainBudget, trial_seed: int, accel: neural_net.Accelerator,
                protocol: Protocol = Protocol()) -> neural_net.TrainResult:
    """Evaluate one point as the protocol says; several runs are averaged, their spread kept."""
    if protocol.cv_folds:
        splits = list(_fold_splits(data, protocol.cv_folds, protocol.split_seed))
    else:
        splits = [(data.train, data.validation)]
    deadline = (time.monotonic() + budget.time_limit_s) if budget.time_limit_s is not None \
        else None
    if len(splits) * protocol.executions > 1:  # the runs' test metrics are averaged: all of them
        budget = dataclasses.replace(budget, test_if_loss_below=None)
    runs: list[neural_net.TrainResult] = []
    for fold, (train, validation) in enumerate(splits):
        for execution in range(protocol.executions):
            index = fold * protocol.executions + execution
            seed = trial_seed if index == 0 else derive_seed(trial_seed, index)
            if deadline is not None:  # the trial's time limit covers all its runs
                budget = dataclasses.replace(budget,
                                             time_limit_s=max(0.0, deadline - time.monotonic()))
            runs.append(neural_net.train_and_evaluate(builder, params, data.info, train,
                                                      validation, data.test, budget, seed,
                                                      accel))
    if len(runs) == 1:
        return runs[0]
    objectives = [r.objective for r in runs]
    metrics = {head: {key: float(np.mean([r.metrics[head][key] for r in runs]))
                      for key in runs[0].metrics[head]} for head in runs[0].metrics}
    return neural_net.TrainResult(
        metrics=metrics, history=runs[0].history,
        epochs_run=max(r.epochs_run for r in runs),
        best_epoch=int(round(float(np.median([r.best_epoch for r in runs])))),
        stopped_by_time=any(r.stopped_by_time for r in runs),
        objective=float(np.mean(objectives)),
        runs=[{"fold": i // protocol.executions if protocol.cv_folds else None,
               "execution": i % protocol.executions, "objective": r.objective,
               "best_epoch": r.best_epoch, "epochs_run": r.epochs_run}
              for i, r in enumerate(runs)])


def resolve_budget(space_file: SpaceFile, settings: SearchSettings) -> dict[str, Any]:
    budget = {"epochs": 10, "patience": 3, "validation_fraction": 0.1, "max_train_samples": None}
    budget.update(space_file.defaults)
    if settings.epochs is not None:
        budget["epochs"] = settings.epochs
    if settings.max_train_samples is not None:
        budget["max_train_samples"] = settings.max_train_samples
    if budget["epochs"] < 1:
        raise FatalError(f"epochs must be at least 1, got {budget['epochs']}.")
    return budget


class TrialRunner:
    """The objective handed to ``fmin``: trains one point and returns hyperopt's result dict.

    With a worker, training happens in its process; without, here (``--isolation none``).
    """

    def __init__(self, space_file: SpaceFile, data: PreparedData | None, budget: dict[str, Any],
                 worker: TrialWorker | None, protocol: Protocol = Protocol()):
        self.space_file = space_file
        self.data = data  # None with a worker: the worker loads its own
        self.budget = budget
        self.worker = worker
        self.protocol = protocol
        self.time_limit_s: float | None = None  # for the next trial
        self.prune: PruneRule | None = None  # for the next trial, with earlier trials' curves
        self.run: dict[str, Any] | None = None  # TrainBudget changes for the next trial:
        # epochs, initial_epoch, resume_from, save_to (Hyperband's rungs)
        self.test_if_loss_below: float | None = None  # for the next trial: the best loss so far
        self._accel = None if worker is not None else neural_net.configure_accelerator()
        self.builder = neural_net.model_builder(space_file.model)
        self.number = 0
        self.trial_seed = 0

    @property
    def data_sizes(self) -> dict[str, int]:
        if self.worker is not None:
            return dict(self.worker.data_sizes or {})
        return self.data.sizes()

    @property
    def accelerator(self) -> dict[str, Any]:
        accel = self.worker.accelerator if self.worker is not None else self._accel
        return accel.as_dict() if accel is not None else {}

    def draw(self, params: dict[str, Any], path: Path) -> None:
        """Draw a network, in the worker when there is one."""
        if self.worker is not None:
            self.worker.plot(params, path)
        else:
            import reports
            reports.plot_model_graph(params, self.space_file.model, self.space_file.dataset,
                                     path)

    def _train(self, params: dict[str, Any]) -> neural_net.TrainResult:
        run = {**(self.run or {}), "test_if_loss_below": self.test_if_loss_below}
        if self.worker is not None:
            try:
                return self.worker.run(params, self.trial_seed, self.time_limit_s, self.prune,
                                       run)
            except WorkerFatal as e:
                raise FatalError(str(e)) from e
        budget = dataclasses.replace(
            neural_net.TrainBudget(self.budget["epochs"], self.budget["patience"],
                                   self.time_limit_s, self.prune), **run)
        return train_point(self.builder, params, self.data, budget, self.trial_seed,
                           self._accel, self.protocol)

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        return evaluate(lambda: self._train(params), params, self.number)


def evaluate(train: Callable[[], neural_net.TrainResult], params: dict[str, Any],
             number: int | None = None) -> dict[str, Any]:
    """hyperopt's result dict for one point: ``train()``'s metrics, or the error it raised."""
    started = time.monotonic()
    base = {"params": to_jsonable(params), "started_at": _now()}
    try:
        result = train()
    except (KeyboardInterrupt, FatalError):
        raise
    except Exception as e:  # any error of one trial is recorded and the search goes on
        logger.debug("trial %s failed", number, exc_info=True)
        remote = getattr(e, "remote_traceback", None)
        error = str(e) if remote is not None else f"{type(e).__name__}: {e}"
        return {**base, "status": STATUS_FAIL, "error": error,
                "traceback": remote or traceback.format_exc(),
                "wall_time_s": time.monotonic() - started}
    return {**base, "status": STATUS_OK, "loss": 1.0 - result.objective,
            "metrics": result.metrics, "history": result.history,
            "epochs_run": result.epochs_run, "pruned": result.pruned_at is not None,
            "extra": _extra(result),
            "wall_time_s": time.monotonic() - started}


def _extra(result: neural_net.TrainResult) -> dict[str, Any]:
    extra: dict[str, Any] = {"best_epoch": result.best_epoch,
                             "stopped_by_time": result.stopped_by_time}
    if result.pruned_at is not None:
        extra["pruned_at_epoch"] = result.pruned_at
    if result.runs:
        extra["runs"] = result.runs
        extra["objective_std"] = float(np.std([r["objective"] for r in result.runs]))
    return extra


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def make_record(doc: dict[str, Any], number: int, space_file: SpaceFile, budget: dict[str, Any],
                settings: SearchSettings, versions: dict[str, str], *, trial_seed: int,
                data_sizes: dict[str, int], accelerator: dict[str, Any]) -> TrialRecord:
    """The record of one finished hyperopt trial document."""
    result = doc["result"]
    vals = to_jsonable(drawn_vals(doc))
    failed = result["status"] != STATUS_OK
    status = (TrialStatus.FAILED if failed else
              TrialStatus.PRUNED if result.get("pruned") else TrialStatus.OK)
    return TrialRecord(
        number=number, status=status,
        params=result.get("params") or _decoded(space_file, vals), hyperopt_vals=vals,
        choice_options=space_file.choice_options(vals),
        loss=None if failed else float(result["loss"]),
        metrics=result.get("metrics", {}), history=result.get("history", {}),
        epochs_run=int(result.get("epochs_run", 0)),
        wall_time_s=float(result.get("wall_time_s", 0.0)),
        space_file=str(space_file.path), space_fingerprint=space_file.fingerprint,
        dataset=space_file.dataset, model=space_file.model, seed=settings.seed,
        trial_seed=trial_seed, budget={**budget, **data_sizes},
        versions=versions, accelerator=accelerator,
        started_at=result.get("started_at") or _now(),
        error=result.get("error"), traceback=result.get("traceback"),
        extra=result.get("extra", {}))


def reference_curves(records: list[TrialRecord], space_file: SpaceFile,
                     budget: dict[str, Any]) -> list[list[float]]:
    """Earlier trials' per-epoch validation accuracy of the primary head, as pruning compares.

    A completed trial that early stopping ended before the last epoch keeps its best value for
    the epochs it did not run (it had stopped improving); a pruned trial counts only where it ran.
    """
    info = data_loaders.DATASETS[space_file.dataset]
    key = "val_" + neural_net.metric_key(info, info.primary_head, "accuracy")
    curves = []
    for r in records:
        curve = list(r.history.get(key, []))
        if not curve or r.status == TrialStatus.FAILED:
            continue
        running = list(np.maximum.accumulate(curve))
        if r.status == TrialStatus.OK:
            running += [running[-1]] * max(0, int(budget["epochs"]) - len(running))
        curves.append(running)
    return curves


def _decoded(space_file: SpaceFile, vals: dict[str, Any]) -> dict[str, Any]:
    """The point of a trial that died before saying it (an executor error)."""
    try:
        return space_file.decode(vals)
    except Exception:  # a record is still written, with hyperopt's vals
        return {}


def best_record(records: list[TrialRecord]) -> TrialRecord | None:
    scored = [r for r in records if r.loss is not None and r.status != TrialStatus.FAILED]
    return min(scored, key=lambda r: (r.loss, r.number)) if scored else None


def run_search(settings: SearchSettings, say: Callable[[str], None] = print) -> SearchSummary:
    """Run (or resume) the search described by ``settings`` until ``max_evals`` or Ctrl-C."""
    space_file = load_space_file(settings.space_path)
    if settings.startup_trials is not None and settings.startup_trials < 1:
        raise FatalError(f"--startup-trials must be at least 1, got {settings.startup_trials}.")
    suggest = (GridSuggest(space_file, settings.seed) if settings.algo == "grid"
               else suggest_function(settings.algo, settings))
    if space_file.start_vals and settings.start_points:
        suggest = StartPoints(suggest, space_file)
    if settings.executions_per_trial < 1:
        raise FatalError("--executions-per-trial must be at least 1.")
    if settings.cv_folds is not None and settings.cv_folds < 2:
        raise FatalError(f"--cv needs at least 2 folds, got {settings.cv_folds}.")
    if settings.backend not in BACKENDS:
        raise FatalError(f"--backend must be one of {', '.join(BACKENDS)}, "
                         f"got {settings.backend!r}.")
    if settings.parallelism < 1:
        raise FatalError(f"--parallelism must be at least 1, got {settings.parallelism}.")
    if settings.prune.active and (settings.executions_per_trial > 1 or settings.cv_folds):
        raise FatalError("--prune judges one training run per trial; it cannot be combined with "
                         "--executions-per-trial or --cv.")
    if settings.prune.active and settings.backend == "spark":
        raise FatalError("--prune is not available with --backend spark yet: trials there "
                         "cannot see each other's curves while they run.")
    if settings.schedule not in ("none", "hyperband"):
        raise FatalError(f"--schedule must be none or hyperband, got {settings.schedule!r}.")
    if settings.schedule == "hyperband":
        clash = ("--prune" if settings.prune.active else
                 "--backend spark" if settings.backend == "spark" else
                 "--cv" if settings.cv_folds else
                 "--executions-per-trial" if settings.executions_per_trial > 1 else
                 "--algo grid" if settings.algo == "grid" else None)
        if clash:
            raise FatalError(f"--schedule hyperband cannot be combined with {clash}.")
    if settings.max_consecutive_failures < 1:
        raise FatalError("--max-consecutive-failures must be at least 1.")
    if settings.isolation not in ISOLATIONS:
        raise FatalError(f"--isolation must be one of {', '.join(ISOLATIONS)}, "
                         f"got {settings.isolation!r}.")
    budget = resolve_budget(space_file, settings)
    store = TrialStore(settings.results_dir)
    for name in ("hyperopt.tpe", "hyperopt.fmin", "hyperopt.rand", "hyperopt.anneal"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # failures are reported here

    with store.lock():
        restored = restore(store, space_file)
        records = {r.number: r for r in store.load_records()}
        best = best_record(list(records.values()))
        _say_restored(say, restored, best, store)
        if settings.max_evals is not None and len(records) >= settings.max_evals:
            say(f"{len(records)} trials already in {store.dir}; --max-evals {settings.max_evals} "
                "is reached. Raise it to search further.")
            return SearchSummary(0, len(records), best)

        if settings.backend == "spark":
            import spark_backend
            return spark_backend.run_spark_search(settings, space_file, store, restored,
                                                  records, best, suggest, budget, say)
        protocol = Protocol(settings.executions_per_trial, settings.cv_folds, settings.seed)
        data, worker = None, None
        if settings.isolation == "none":
            data = prepare_data(space_file, budget, settings.seed, settings.data_dir)
        else:
            spec = WorkerSpec(str(space_file.path), budget, settings.seed,
                              str(settings.data_dir) if settings.data_dir else None, protocol)
            worker = TrialWorker(spec, settings.trials_per_worker)
        try:
            runner = TrialRunner(space_file, data, budget, worker, protocol)
            return _trial_loop(settings, space_file, store, restored, records, best, runner,
                               suggest, say)
        finally:
            if worker is not None:
                worker.close()


SMALL_VALIDATION = 200  # images: below this, validation accuracy ranks trials mostly by chance


def _warn_small_validation(record: TrialRecord, say: Callable[[str], None]) -> None:
    """Say so when the validation split is too small to rank trials (the Bookkeeper asks after
    the first trial of a run)."""
    n = record.budget.get("validation_samples")
    if n is not None and 0 < n < SMALL_VALIDATION:
        say(f"note: the validation split holds only {n} images: its accuracy moves in steps of "
            f"{100 / n:.2g} points, so trials are ranked largely by chance: {MORE_VALIDATION}.")


class Bookkeeper:
    """What happens after each trial, in every backend: save the record and results.pkl, say
    the progress line, redraw the pictures, count failures in a row."""

    def __init__(self, settings: SearchSettings, space_file: SpaceFile, store: TrialStore,
                 restored: Restored, records: dict[int, TrialRecord],
                 best: TrialRecord | None, say: Callable[[str], None],
                 draw: Callable[[dict[str, Any], Path], None] | None = None,
                 suggest: Callable | None = None):
        self.settings, self.space_file, self.store, self.say = settings, space_file, store, say
        self.start = suggest if isinstance(suggest, StartPoints) else None
        algo = self.start.algo if self.start is not None else suggest
        self.budget_tpe = algo if isinstance(algo, BudgetTPE) else None
        self.started = time.monotonic()  # the clock of --timeout's pace
        self.numbers, self.set_aside = restored.numbers, restored.set_aside
        self.records, self.best, self.draw = records, best, draw
        self.versions = library_versions()
        self.next_number = max(records, default=-1) + 1
        self.completed = self.failures_in_a_row = 0

    def save(self, record: TrialRecord, trials: Trials) -> None:
        """Save one finished trial (``trials`` ends with it); raises FatalError to stop."""
        store, settings = self.store, self.settings
        self._tag_proposal(record, trials.trials[-1]["tid"] if trials.trials else None)
        try:
            store.save_record(record)
            self.numbers.append(record.number)
            store.save_trials(trials, self.space_file.fingerprint, self.numbers, self.set_aside)
        except OSError as e:
            raise FatalError(f"could not save trial {record.number} in {store.dir} ({e}). "
                             "Earlier trials are intact; free some space and relaunch.") from e
        self.records[record.number] = record
        self.completed += 1
        if self.budget_tpe is not None:  # a --timeout search's start-up follows its pace
            self.budget_tpe.update(len(self.records) - self.completed, self.completed,
                                   time.monotonic() - self.started)
        self.next_number = max(self.next_number, record.number + 1)
        new_best = record.loss is not None and (self.best is None or record.loss < self.best.loss)
        if new_best:
            self.best = record
        self.say(_progress_line(record, self.best, len(self.records), settings.max_evals))
        if self.completed == 1:
            _warn_small_validation(record, self.say)
        if new_best and settings.plot_best and self.draw is not None:
            settings.plot_best = _draw_best(self.draw, record, store)
        records = list(self.records.values())
        if settings.plot_search:
            _refresh_plots(records, store)
        if settings.tensorboard:
            settings.tensorboard = _log_tensorboard(records, store, self.space_file)
        if record.status != TrialStatus.FAILED:
            self.failures_in_a_row = 0
            return
        self.failures_in_a_row += 1
        if self.failures_in_a_row >= settings.max_consecutive_failures:
            raise FatalError(
                f"{self.failures_in_a_row} trials failed in a row; stopping. The last error: "
                f"{record.error}. Each failed_trial-*.json in {store.dir} holds its "
                "traceback; fix the cause (or raise --max-consecutive-failures) and relaunch.")

    def _tag_proposal(self, record: TrialRecord, tid: int | None) -> None:
        """What proposed the trial: a start point's index, TPE's start-up trials."""
        if self.budget_tpe is not None:
            record.extra["tpe_startup_trials"] = self.budget_tpe.proposed_with.get(
                tid, self.budget_tpe.startup)
        if self.start is not None and tid in self.start.proposed:
            record.extra["start_point"] = self.start.proposed[tid]

    def interrupted(self, running: str | None = None) -> SearchSummary:
        lost = f"{running} discarded; " if running else ""
        self.say(f"Interrupted: {lost}{len(self.records)} trials are saved in "
                 f"{self.store.dir}. Relaunch the same command to continue.")
        return SearchSummary(self.completed, len(self.records), self.best, interrupted=True)

    def summary(self) -> SearchSummary:
        return SearchSummary(self.completed, len(self.records), self.best)


def _trial_loop(settings: SearchSettings, space_file: SpaceFile, store: TrialStore,
                restored: Restored, records: dict[int, TrialRecord], best: TrialRecord | None,
                runner: TrialRunner, suggest: Callable, say: Callable[[str], None]
                ) -> SearchSummary:
    """Run trials until ``max_evals``; each is saved before the next starts."""
    trials = restored.trials
    # Save at once so that results.pkl matches the space it now describes.
    store.save_trials(trials, space_file.fingerprint, restored.numbers, restored.set_aside)
    book = Bookkeeper(settings, space_file, store, restored, records, best, say, runner.draw,
                      suggest)
    running = None  # the number of the trial under way, until it is saved
    try:
        while settings.max_evals is None or len(records) < settings.max_evals:
            limits = [settings.trial_timeout_s]
            if settings.timeout_s is not None:
                left = settings.timeout_s - (time.monotonic() - book.started)
                if left <= 0:
                    say(f"--timeout {settings.timeout_s:g} s reached after {book.completed} "
                        "trials.")
                    break
                limits.append(left)
            runner.time_limit_s = min((x for x in limits if x is not None), default=None)
            if settings.prune.active:
                runner.prune = settings.prune.with_reference(
                    reference_curves(list(records.values()), space_file, runner.budget))
            # The test split is only reported: evaluate it for the trial the search would select.
            runner.test_if_loss_below = (None if settings.test_every_trial or book.best is None
                                         else book.best.loss)
            running = runner.number = book.next_number
            runner.trial_seed = derive_seed(settings.seed, running)
            job = _hyperband_job(settings, records, runner, store, running)
            if job is not None and job.parent is not None:  # train a promoted configuration on
                record = _promote(job, runner, space_file, trials, settings, book.versions)
            else:
                n_before = len(trials.trials)
                try:
                    fmin(runner, space_file.space, algo=suggest,
                         max_evals=len(trials.trials) + 1, trials=trials,
                         rstate=np.random.default_rng(runner.trial_seed),
                         show_progressbar=False, verbose=False, return_argmin=False)
                except AllTrialsFailed:
                    pass  # fmin's closing look-up of the best point; the records say what failed
                if len(trials.trials) == n_before:  # the algorithm proposed nothing more
                    running = None
                    say(f"Every combination of the space has been tried ({len(trials.trials)}).")
                    break
                record = make_record(trials.trials[-1], running, space_file, runner.budget,
                                     settings, book.versions, trial_seed=runner.trial_seed,
                                     data_sizes=runner.data_sizes,
                                     accelerator=runner.accelerator)
            if job is not None:
                record.extra[hyperband.KEY] = job.tag(running)
            running = None
            book.save(record, trials)
            if job is not None:
                _drop_unneeded_checkpoints(store, list(records.values()), runner.budget)
    except KeyboardInterrupt:
        return book.interrupted(None if running is None else f"trial {running} was")
    return book.summary()


CHECKPOINTS = "checkpoints"


def _checkpoint(store: TrialStore, number: int) -> Path:
    return store.dir / CHECKPOINTS / f"trial-{number:04d}.keras"


def _hyperband_job(settings: SearchSettings, records: dict[int, TrialRecord],
                   runner: TrialRunner, store: TrialStore, number: int) -> hyperband.Job | None:
    """The next Hyperband run, with the runner set to train it; None without a schedule."""
    if settings.schedule != "hyperband":
        return None
    job = hyperband.next_job(records.values(), int(runner.budget["epochs"]))
    (store.dir / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
    runner.run = {"epochs": job.rung.epochs, "initial_epoch": job.initial_epoch,
                  "resume_from": (str(_checkpoint(store, job.parent.number))
                                  if job.parent is not None else None),
                  "save_to": str(_checkpoint(store, number))}
    return job


def _promote(job: hyperband.Job, runner: TrialRunner, space_file: SpaceFile, trials: Trials,
             settings: SearchSettings, versions: dict[str, str]) -> TrialRecord:
    """Train ``job.parent``'s configuration on to the job's rung; it joins the Trials that TPE
    reads as one more finished run of that point."""
    parent = job.parent
    result = runner(parent.params)
    doc = {"result": result, "misc": {"vals": {k: [v] for k, v in parent.hyperopt_vals.items()}}}
    record = make_record(doc, runner.number, space_file, runner.budget, settings, versions,
                         trial_seed=runner.trial_seed, data_sizes=runner.data_sizes,
                         accelerator=runner.accelerator)
    if record.status != TrialStatus.FAILED:  # the whole learning curve, from epoch 1
        record.history = {k: list(parent.history.get(k, [])) + list(v)
                          for k, v in record.history.items()}
    _insert_done(trials, parent.hyperopt_vals, record, space_file)
    trials.refresh()
    return record


def _drop_unneeded_checkpoints(store: TrialStore, records: list[TrialRecord],
                               budget: dict[str, Any]) -> None:
    """Keep only the saved models that a later rung may still continue."""
    keep = hyperband.promotable(records, int(budget["epochs"]))
    for path in (store.dir / CHECKPOINTS).glob("trial-*.keras"):
        try:
            number = int(path.stem.split("-")[1])
        except (IndexError, ValueError):
            continue
        if number not in keep:
            path.unlink(missing_ok=True)


def _refresh_plots(records: list[TrialRecord], store: TrialStore) -> None:
    import plots
    try:
        plots.plot_all(records, store.dir)
    except Exception as e:  # a plotting problem never stops the search
        logger.warning("the search plots were not refreshed (%s)", e)


def _log_tensorboard(records: list[TrialRecord], store: TrialStore, space_file: SpaceFile) -> bool:
    """Add the new trials' runs to the TensorBoard logs; returns whether to keep logging."""
    try:
        import tensorboard_logs
        tensorboard_logs.sync(store.dir, records, space_file, dataset_heads(space_file.dataset))
    except ImportError as e:
        logger.warning("TensorBoard logs are not written: %s. Install tensorboard (it is in "
                       "setup.cfg's requirements); the search goes on.", e)
        return False
    except Exception as e:  # a logging problem never stops the search
        logger.warning("the TensorBoard logs were not updated (%s)", e)
    return True


def dataset_heads(dataset: str) -> list[str]:
    return list(data_loaders.DATASETS[dataset].heads)


def _draw_best(draw: Callable[[dict[str, Any], Path], None], record: TrialRecord,
               store: TrialStore) -> bool:
    """Redraw best_model.png; returns whether to keep drawing (not without Graphviz)."""
    import reports
    try:
        reports.check_graphviz()
        draw(record.params, store.dir / reports.BEST_MODEL_PNG)
    except reports.GraphvizMissing as e:
        logger.warning("best_model.png is not drawn: %s. The search goes on.", e)
        return False
    except Exception as e:  # a drawing problem never stops the search
        logger.warning("best_model.png is not drawn (%s). The search goes on.", e)
    return True


def _say_restored(say: Callable[[str], None], restored: Restored, best: TrialRecord | None,
                  store: TrialStore) -> None:
    if restored.total_records == 0:
        say(f"Starting a new search in {store.dir}.")
        return
    kept = len(restored.numbers)
    line = (f"Loaded {restored.total_records} trials from {store.dir} "
            f"(from {restored.source}); {kept} inform the search")
    if best is not None:
        line += f"; best so far: trial {best.number}, validation accuracy {best.score:.4f}"
    say(line + ".")
    if restored.set_aside:
        say(f"{len(restored.set_aside)} trials do not fit the current space and are set aside "
            "(kept on disk, not fed to the search):")
        for number, why in sorted(restored.set_aside.items()):
            say(f"  trial {number}: {why}")


def _progress_line(record: TrialRecord, best: TrialRecord | None, total: int,
                   max_evals: int | None) -> str:
    count = f"{total}/{max_evals}" if max_evals else f"{total}"
    if record.status == TrialStatus.FAILED:
        score = f"FAILED ({record.error})"
    elif record.status == TrialStatus.PRUNED:
        score = (f"val acc {record.score:.4f} (pruned at epoch "
                 f"{record.extra.get('pruned_at_epoch', '?')})")
    else:
        score = f"val acc {record.score:.4f}"
    rung = record.extra.get(hyperband.KEY)
    if rung is not None and record.status != TrialStatus.FAILED:
        score += (f" (hyperband rung {rung['rung']}, {rung['epochs']} epochs"
                  f"{', config of trial ' + str(rung['config']) if rung['rung'] else ''})")
    best_part = f"best {best.score:.4f} (trial {best.number})" if best else "best -"
    return (f"trial {record.number:4d} [{count}] | {score} | {best_part} | "
            f"{record.wall_time_s:.1f} s")
