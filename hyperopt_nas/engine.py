"""The search: one ask/tell loop over hyperopt's ``Trials``, with up to P trials in flight.

For each free slot the loop asks its scheduler what the next run is (a new configuration for so
many epochs, a promotion of one already trained, or nothing yet; ``schedulers/``), asks its
proposer for the new configuration's point (``proposers/``), makes a ``TrialSpec`` and submits
it to an executor (in this process, a pool of worker processes, Spark; ``executors/``). It knows
none of them by name. When a trial ends it tells: the record and ``results.pkl`` are written
atomically before anything else happens, so a killed search loses only the trials that were
running and a relaunch resumes exactly there; then the proposer and the scheduler hear of it.
Trial ``n`` of a search with seed ``s`` always draws its suggestion and its training seed from
``(s, n)``, so a resumed search is the same search. Pictures, TensorBoard logs and the report
are refreshed from the saved records in the background (``outputs/refresher.py``) and never
delay the next trial.
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
from hyperopt import STATUS_OK, Trials
from hyperopt.base import JOB_STATE_DONE, JOB_STATE_RUNNING, Domain

from hyperopt_nas import data_loaders, gpus, kept_models, runtime
from hyperopt_nas import precision as precisions
from hyperopt_nas.console import TrialsProgress, duration_text
from hyperopt_nas.errors import FatalError
from hyperopt_nas.executors import Executor
from hyperopt_nas.executors import head_start
from hyperopt_nas.executors.in_process import InProcessExecutor
from hyperopt_nas.executors.pool import WorkerPool
from hyperopt_nas.interrupts import STOP
from hyperopt_nas.outputs.html_report import REPORT_HTML
from hyperopt_nas.outputs.refresher import Outputs
from hyperopt_nas.precision import Precision
from hyperopt_nas.proposers import (Pace, Proposer, done_doc, drawn_vals,
                                    hyperopt_result, insert_done, make_proposer)
from hyperopt_nas.resume import Restored, restore, take_up_hyperopt
from hyperopt_nas.schedulers import make_scheduler
from hyperopt_nas.schedulers.base import Pending, Run, Scheduler, Situation
from hyperopt_nas.space_files import SpaceFile, load_space_file
from hyperopt_nas.trial import (DataSetup, Protocol, TrainBudget, TrialOutcome, TrialSpec,
                                derive_seed)
from hyperopt_nas.options import default
from hyperopt_nas.search_lines import (banner, counted, progress_line, say_restored,
                                       warn_small_validation)
from hyperopt_nas.settings import SearchSettings, check_settings, objective_of
from hyperopt_nas.trial_store import (SPARK_LOG, TAKEN_UP, TENSORFLOW_LOG, SizeBudget,
                                      TrialRecord, TrialStatus, TrialStore, proposer_loss,
                                      ranked, to_jsonable)

logger = logging.getLogger(__name__)

DEFAULT_MAX_CONSECUTIVE_FAILURES = default("max_consecutive_failures")
# results.pkl is a snapshot of the search, rewritten at most this often (and at every exit): its
# cost grows with the search, while the JSON records, the journal, cost the same for every trial.
DEFAULT_SNAPSHOT_S = default("snapshot_every_s")
# The finished trials a proposer learns from, at most: the best quarter of them and the most
# recent others. TPE's cost grows with what it reads (about 90 ms at 1,000 trials, 2 cores),
# and it already weighs older trials less (hyperopt's linear forgetting).
DEFAULT_TPE_HISTORY = default("tpe_history")
OVER_BUDGET_STREAK = 25  # points over the size budget in a row before the console says so
# Points over the size budget in a row after which a search stops: by then the proposals, steered
# by what was measured (proposers/budget_screen.py), have found nothing within it.
OVER_BUDGET_CAP = 100


@dataclass
class SearchSummary:
    completed: int  # trials this run added
    total: int  # records in the results folder
    best: TrialRecord | None
    interrupted: bool = False
    any_ok: bool = True  # whether a trial of this run succeeded (or none ran)
    # The best trial trained to the full epochs (a schedule's lower rungs train for fewer).
    best_full: TrialRecord | None = None
    over_budget: int = 0  # points this run measured over the size budget (not trained)


def library_versions() -> dict[str, str]:
    """Versions as installed, read without importing TensorFlow into this process."""
    versions = {"python": platform.python_version()}
    for name in ("tensorflow", "jax", "torch", "keras", "hyperopt", "numpy"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            if name in ("tensorflow", "keras", "hyperopt", "numpy"):
                versions[name] = "unknown"
    return versions


def resolve_budget(space_file: SpaceFile, settings: SearchSettings) -> dict[str, Any]:
    budget = {"epochs": 10, "patience": 3, "validation_fraction": 0.1, "max_train_samples": None}
    budget.update(space_file.defaults)
    if settings.epochs is not None:
        budget["epochs"] = settings.epochs
    if settings.max_train_samples is not None:
        budget["max_train_samples"] = settings.max_train_samples
    for key in ("max_params", "max_latency_ms", "size_weight"):
        if getattr(settings, key) is not None:
            budget[key] = getattr(settings, key)
        budget.setdefault(key, None)
    if budget["epochs"] < 1:
        raise FatalError(f"epochs must be at least 1, got {budget['epochs']}.")
    objective = objective_of(settings)
    budget["objective"], budget["direction"] = objective.name, objective.direction
    return budget


COMPILE_CACHE = "compile_cache"  # <results>/compile_cache/<backend>/: compiled programs


def precision_of(settings: SearchSettings, space_file: SpaceFile) -> Precision:
    """``--mixed-precision`` decided here, for every worker: ``auto`` from the measurements of
    the GPU the first worker trains on, at the space's batch sizes (``precision.choose``).
    Spark decides where each trial runs (its executors' GPUs are not this machine's)."""
    if settings.mixed_precision != "auto":
        return precisions.choose(settings.mixed_precision, None, "", [])
    if settings.backend == "spark":
        return Precision("auto", None)
    gpu = gpus.details_of(settings.gpus[0] if settings.gpus else None)
    return precisions.choose("auto", gpu, runtime.requested(settings.keras_backend),
                             precisions.batch_sizes(space_file.space) if gpu else [])


def data_setup(space_file: SpaceFile, budget: dict[str, Any], settings: SearchSettings,
               results_dir: Path | None = None, precision: Precision | None = None
               ) -> DataSetup:
    own = space_file.runs_own_code
    backend = runtime.requested(settings.keras_backend)
    return DataSetup(space_file.dataset, space_file.model, budget["validation_fraction"],
                     budget["max_train_samples"], settings.seed,
                     str(settings.data_dir) if settings.data_dir else None,
                     space_path=str(space_file.path) if own else None,
                     space_source=space_file.path.read_text() if own else None,
                     mixed_precision=precision.mode if precision else settings.mixed_precision,
                     xla=settings.xla,
                     deterministic=settings.deterministic, keras_backend=backend,
                     steps_per_execution=settings.steps_per_execution,
                     data_on_gpu=settings.data_on_gpu,
                     compile_cache=(str(Path(results_dir).resolve() / COMPILE_CACHE / backend)
                                    if results_dir is not None and settings.compile_cache
                                    else None))


# What makes two trials' validation accuracies comparable, as the user would name it.
COMPARED = {"dataset": "DATASET", "seed": "--seed (the validation split)",
            "validation_fraction": "validation_fraction", "max_train_samples":
            "--max-train-samples", "epochs": "--epochs", "objective": "--objective"}


def comparable_key(record: TrialRecord) -> dict[str, Any]:
    return {"dataset": record.dataset, "seed": record.seed,
            **{k: record.budget.get(k)
               for k in ("validation_fraction", "max_train_samples", "epochs")},
            "objective": record.objective.name}


def check_comparable(records: list[TrialRecord], key: dict[str, Any], results_dir: Path) -> None:
    """Refuse to feed the search trials that were made on other data, another validation split
    or another budget: their scores cannot be ranked with this run's."""
    differing = [r for r in records if comparable_key(r) != key]
    if not differing:
        return
    old = comparable_key(max(differing, key=lambda r: r.number))
    changes = [f"{COMPARED[k]} {old[k]!r} (this run: {key[k]!r})" for k in COMPARED
               if old[k] != key[k]]
    raise FatalError(
        f"{len(differing)} of the {len(records)} trials in {results_dir} were made with "
        f"{', '.join(changes)}: their validation scores cannot be ranked with this run's. "
        "Pass another --results-dir for this search, or --reuse-trials to feed them to the "
        "search anyway.")


def best_record(records: list[TrialRecord], size_budget: SizeBudget = SizeBudget()
                ) -> TrialRecord | None:
    """The best scored trial whose network is within ``size_budget`` (a relaunch may tighten
    it: an earlier, larger network is then no longer the one to pick)."""
    best = [r for r in ranked(records) if size_budget.over(r.model_params, r.latency_ms) is None]
    return best[0] if best else None


def make_record(outcome: TrialOutcome, params: dict[str, Any], vals: dict[str, Any],
                trial_seed: int, space_file: SpaceFile, budget: dict[str, Any],
                settings: SearchSettings, versions: dict[str, str]) -> TrialRecord:
    """The record of one ended trial: ``params``, its decoded point (as JSON), ``vals``, what
    hyperopt drew."""
    status = (TrialStatus.OVER_BUDGET if outcome.over_budget else
              TrialStatus.FAILED if not outcome.ok else
              TrialStatus.PRUNED if outcome.pruned else TrialStatus.OK)
    return TrialRecord(
        number=outcome.number, status=status, params=params, hyperopt_vals=vals,
        choice_options=space_file.choice_options(vals),
        loss=None if not outcome.ok else float(outcome.loss),
        metrics=outcome.metrics, history=outcome.history, epochs_run=int(outcome.epochs_run),
        wall_time_s=float(outcome.wall_time_s),
        space_file=str(space_file.path), space_fingerprint=space_file.fingerprint,
        dataset=space_file.dataset, model=space_file.model, seed=settings.seed,
        trial_seed=trial_seed, budget={**budget, **outcome.data_sizes},
        versions=versions, accelerator=outcome.accelerator, started_at=outcome.started_at,
        error=outcome.error, traceback=outcome.traceback, extra=dict(outcome.extra))


class Proposal(NamedTuple):
    """A point the proposer made, ready to train."""

    doc: dict[str, Any]  # its hyperopt document
    vals: dict[str, Any]  # the drawn values, as JSON
    params: dict[str, Any]  # the decoded point
    tags: dict[str, Any]  # what the proposer says of it


EXHAUSTED = Proposal({}, {}, {}, {})  # asked ahead: the proposer has nothing left


def history(docs: list[dict[str, Any]], cap: int) -> list[dict[str, Any]]:
    """At most ``cap`` finished documents for a proposer to read, in their order: the best
    quarter (TPE's good points are among them) and the most recent others. Failed ones, which TPE
    does not read, are left out."""
    ok = [d for d in docs if d["result"].get("status") == STATUS_OK]
    best = set(sorted(range(len(ok)), key=lambda i: ok[i]["result"]["loss"])[:cap // 4])
    others = [i for i in range(len(ok)) if i not in best]
    keep = best | set(others[max(0, len(others) - (cap - len(best))):])
    return [d for i, d in enumerate(ok) if i in keep]


@dataclass
class InFlight:
    """A submitted trial: its spec, and what hyperopt and the scheduler know of it."""

    spec: TrialSpec
    vals: dict[str, Any]  # hyperopt's drawn values
    doc: dict[str, Any] | None  # its hyperopt document; None for a promotion
    run: Run
    tags: dict[str, Any] = field(default_factory=dict)  # what proposed it


class Search:
    """The ask/tell loop of one run of a search."""

    def __init__(self, settings: SearchSettings, space_file: SpaceFile, store: TrialStore,
                 restored: Restored, records: dict[int, TrialRecord], executor: Executor,
                 proposer: Proposer, budget: dict[str, Any], say: Callable[[str], None],
                 outputs: Any = None, progress: TrialsProgress | None = None,
                 scheduler: Scheduler | None = None):
        self.settings, self.space_file, self.store = settings, space_file, store
        self.trials: Trials = restored.trials
        self.numbers, self.set_aside = restored.numbers, restored.set_aside
        self.executor, self.proposer, self.budget = executor, proposer, budget
        self.size_budget = SizeBudget.of(budget)
        self.records = records
        # What --max-evals counts: every record, except under a size budget the networks over
        # it (measured, not trained).
        self.counted = self.counted_before = sum(self.size_budget.counts(r)
                                                 for r in records.values())
        self.best = best_record(list(records.values()), self.size_budget)
        for r in sorted(records.values(), key=lambda r: r.number):
            if r.hyperopt_vals:
                proposer.observe(r.hyperopt_vals, r.measured)
        self.say, self.outputs = say, outputs
        self.progress = progress or TrialsProgress("off", say)
        self.scheduler = scheduler or Scheduler(int(budget["epochs"]), store.dir)
        # The clock of --timeout and the console: a simulated executor brings its own.
        self.clock: Callable[[], float] = getattr(executor, "clock", time.monotonic)
        self.domain = Domain(lambda point: None, space_file.space)
        self.protocol = Protocol(settings.executions_per_trial, settings.cv_folds, settings.seed)
        self.versions = library_versions()
        self.in_flight: dict[int, InFlight] = {}
        # Past every number in use, unreadable records' too: a number is never given twice.
        self.next_number = max([*records, *store.reserved_numbers()], default=-1) + 1
        self.completed = self.succeeded = self.failures_in_a_row = 0
        self.over_budget = self.over_budget_in_a_row = 0
        self.notes_said: set[str] = set()
        self.exhausted = self.stopped_asking = False
        self.started = self.clock()  # the clock of --timeout
        self.last_snapshot = -float("inf")  # time.monotonic() of the last results.pkl
        self.snapshot_numbers = -1  # the trials it held
        # Every point tried, finished or running (for proposers that never repeat one).
        self.tried = [drawn_vals(d) for d in self.trials.trials]
        self.ahead: Proposal | None = None  # the next point, proposed while every slot was busy
        self.start_up_s = 0.0  # before the first trial trained (TensorFlow's import, the data)

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> SearchSummary:
        # Save at once so that results.pkl matches the space it now describes.
        self.store.save_trials(self.trials, self.space_file.fingerprint, self.numbers,
                               self.set_aside, self.size_budget.as_dict())
        self.last_snapshot, self.snapshot_numbers = time.monotonic(), len(self.numbers)
        try:
            while True:
                self._fill()
                if not self.in_flight:
                    break
                if len(self.in_flight) == self.executor.slots:
                    self._ask_ahead()
                self._tell(self.executor.collect())
                STOP.check()  # a Ctrl-C that Python dropped (interrupts.py)
        except KeyboardInterrupt:
            return self._interrupted()
        finally:
            self._save_trials(final=True)
        if self.exhausted:
            self.say(f"Every combination of the space has been tried ({len(self.trials.trials)}).")
        return SearchSummary(self.completed, len(self.records), self.best,
                             any_ok=self.succeeded > 0 or self.completed == self.over_budget,
                             best_full=self._best_full(), over_budget=self.over_budget)

    def _best_full(self) -> TrialRecord | None:
        return best_record([r for r in self.records.values()
                            if self.scheduler.full_budget(r)], self.size_budget)

    def _fill(self) -> None:
        """Submit trials until every slot is busy or the budget is spent."""
        s = self.settings
        while len(self.in_flight) < self.executor.slots and not self.stopped_asking:
            if s.max_evals is not None and self.counted + len(self.in_flight) >= s.max_evals:
                self.stopped_asking = True
            elif self.over_budget_in_a_row >= OVER_BUDGET_CAP:
                self.stopped_asking = True
                self._give_up_on_budget()
            elif s.timeout_s is not None and self._time_left() <= 0:
                self.stopped_asking = True
                running = "; the running trials end at their next epoch end" if self.in_flight \
                    else ""
                self.say(f"--timeout {duration_text(s.timeout_s)} reached after "
                         f"{counted(self.completed, 'trial')}{running}.")
            else:
                spec = self._ask()
                if spec is None:  # nothing more to propose, or the scheduler waits
                    return
                self.executor.submit(spec)
                self.progress.started(spec.number)

    def outlook(self) -> tuple[float | None, int | None]:
        """What is left: seconds at this run's pace (None: not known yet) and trials toward
        ``--max-evals`` not yet ended, those running included (None: no count)."""
        s = self.settings
        trials = None if s.max_evals is None else max(0, s.max_evals - self.counted)
        return self._eta(self.clock() - self.started), trials

    def _time_left(self) -> float:
        return self.settings.timeout_s - (self.clock() - self.started)

    def _save_trials(self, final: bool = False) -> None:
        """Refresh the snapshot, results.pkl, if it is due (or ``final``: at every exit). The
        records are the journal: a snapshot that fails loses nothing, and the next one (or the
        next launch, from the records) catches up."""
        if len(self.numbers) == self.snapshot_numbers or (
                not final
                and time.monotonic() - self.last_snapshot < self.settings.snapshot_every_s):
            return
        try:
            self.store.save_trials(self.trials, self.space_file.fingerprint, self.numbers,
                                   self.set_aside, self.size_budget.as_dict())
        except OSError as e:
            self.say(f"warning: results.pkl could not be updated in {self.store.dir} "
                     f"({e.strerror or e}); every trial is saved in its JSON record, and the "
                     "next launch catches results.pkl up from them.")
            self.last_snapshot = time.monotonic()  # the next try when the next is due
        else:
            self.last_snapshot, self.snapshot_numbers = time.monotonic(), len(self.numbers)

    # -- ask ------------------------------------------------------------------------------------

    def _view(self, running: list[dict[str, Any]]) -> Trials:
        """What the proposer learns from: the finished runs the scheduler chose as evidence (all
        of them, by default; at most ``tpe_history``), and the running points, which TPE (as
        under hyperopt's SparkTrials) counts as not good yet."""
        evidence = self.scheduler.evidence(list(self.records.values()),
                                           self.proposer.min_observations)
        cap = self.settings.tpe_history
        finished = len(self.trials.trials) if evidence is None else len(evidence)
        if evidence is None and not running and (cap is None or finished <= cap):
            return self.trials
        view = Trials()
        if evidence is None:
            docs = list(self.trials.trials)
        else:  # negative ids: never one of the search's own
            docs = [done_doc(view, -1 - i, r.hyperopt_vals, r.loss, self.space_file.params)
                    for i, r in enumerate(evidence)]
        if cap is not None and len(docs) > cap:
            docs = history(docs, cap)
        view.insert_trial_docs(docs + running)
        view.refresh()
        return view

    def _propose(self, number: int) -> Proposal | None:
        """The proposer's next point, for trial ``number``; None when it has nothing left."""
        (tid,) = self.trials.new_trial_ids(1)
        # As fmin did: the algorithm's seed is the first draw of the trial's own generator.
        algo_seed = int(np.random.default_rng(derive_seed(self.settings.seed, number)).integers(
            2**31 - 1))
        running = [f.doc for f in self.in_flight.values() if f.doc is not None]
        tried = self.tried + [drawn_vals(d) for d in running]
        doc = self.proposer.propose(tid, self.domain, self._view(running), algo_seed, tried)
        if doc is None:
            return None
        doc["state"] = JOB_STATE_RUNNING
        vals = to_jsonable(drawn_vals(doc))
        try:
            params = self.space_file.decode(drawn_vals(doc))
        except Exception as e:
            raise FatalError(f"{self.space_file.name} cannot build the point {vals}: "
                             f"{type(e).__name__}: {e}") from e
        return Proposal(doc, vals, params, self.proposer.tags(tid))

    def _ask_ahead(self) -> None:
        """Every slot is busy: propose the next point now, from what is known now, so that the
        slot that frees next has its work at once (a proposal's cost grows with the search).
        Not with one worker: there the next point can wait for the running trial's result."""
        s = self.settings
        if (s.ask_ahead and self.executor.slots > 1 and self.ahead is None
                and not self.stopped_asking and (s.max_evals is None or self.counted
                                                 + len(self.in_flight) < s.max_evals)):
            self.ahead = self._propose(self.next_number) or EXHAUSTED

    def _ask(self) -> TrialSpec | None:
        s, number = self.settings, self.next_number
        seed = derive_seed(s.seed, number)
        run = self.scheduler.next_run(Situation(
            number, list(self.records.values()), self._pending(),
            None if s.timeout_s is None else self._time_left(), int(self.budget["epochs"])))
        if run is None:
            return None
        tags: dict[str, Any] = {}
        if run.parent is not None:  # train a configuration on
            doc, vals, params = None, dict(run.parent.hyperopt_vals), run.parent.params
        else:
            proposal, self.ahead = self.ahead or self._propose(number), None
            if proposal is None or proposal is EXHAUSTED:
                self.exhausted = self.stopped_asking = True
                return None
            doc, vals, params, tags = proposal
        self.next_number += 1
        options = dict(run.options)
        if self._keeps_models() and options.get("save_to") is None:  # kept if among the best
            (self.store.dir / kept_models.FOLDER).mkdir(exist_ok=True)
            options["save_to"] = str(kept_models.staging(self.store.dir, number))
            if s.executions_per_trial > 1:  # the network kept is the first execution's
                tags["saved_execution"] = 1
        budget = TrainBudget(
            epochs=run.epochs, patience=int(self.budget["patience"]),
            time_limit_s=self._time_limit(),
            # The test split is only reported: evaluate it for the trial the search would select.
            test_if_loss_below=(None if s.test_every_trial or self.best is None
                                else self.best.loss),
            max_params=self.size_budget.max_params, max_latency_ms=self.size_budget.max_latency_ms,
            objective=self.budget["objective"], direction=self.budget["direction"], **options)
        spec = TrialSpec(number=number, params=params, seed=seed, budget=budget,
                         protocol=self.protocol)
        self.in_flight[number] = InFlight(spec, vals, doc, run, tags)
        return spec

    def _pending(self) -> list[Pending]:
        return [Pending(number, f.run) for number, f in self.in_flight.items()]

    def _keeps_models(self) -> bool:
        """Whether trials save their networks for best_models/: in this machine's processes (a
        Spark executor's disk is not this folder), the first execution's with
        --executions-per-trial (its record says so); not with --cv (each fold trains on other
        data)."""
        s = self.settings
        return s.keep_models > 0 and s.backend == "local" and not s.cv_folds

    def _time_limit(self) -> float | None:
        limits = [self.settings.trial_timeout_s]
        if self.settings.timeout_s is not None:
            limits.append(max(0.0, self._time_left()))
        return min((x for x in limits if x is not None), default=None)

    # -- tell -----------------------------------------------------------------------------------

    def _tell(self, outcome: TrialOutcome) -> None:
        """Save an ended trial (its record, then results.pkl) before anything else happens."""
        flight = self.in_flight.pop(outcome.number)
        self.progress.ended(outcome.number)
        record = make_record(outcome, to_jsonable(flight.spec.params), flight.vals,
                             flight.spec.seed, self.space_file, self.budget, self.settings,
                             self.versions)
        record.extra.update(flight.tags)
        record.extra.update(flight.run.extra)
        loss = proposer_loss(record, self.size_budget)  # over the budget: a bad result
        parent = flight.run.parent
        if parent is not None and record.status != TrialStatus.FAILED:
            record.history = {k: list(parent.history.get(k, [])) + list(v)  # from epoch 1
                              for k, v in record.history.items()}
        try:  # the journal: durable before anything else happens
            self.store.save_record(record, new=True)
        except OSError as e:
            raise FatalError(f"could not save trial {record.number} in {self.store.dir} "
                             f"({e.strerror or e}). Earlier trials are intact; free some space "
                             "and relaunch.") from e
        if outcome.graph is not None:
            try:  # only the drawing of its network: without it, it is built again to be drawn
                self.store.save_graph(record.number, outcome.graph)
            except OSError:
                logger.debug("the graph of trial %s was not kept", record.number, exc_info=True)
        if flight.doc is not None:
            flight.doc["state"] = JOB_STATE_DONE
            flight.doc["result"] = hyperopt_result(loss)
            self.trials.insert_trial_docs([flight.doc])
            self.trials.refresh()
        else:  # a promotion: one more finished run of its point, as TPE reads it
            insert_done(self.trials, flight.vals, loss, self.space_file.params)
        self.tried.append(dict(flight.vals))
        self.numbers.append(record.number)
        self.records[record.number] = record
        self.counted += self.size_budget.counts(record)
        self.proposer.observe(flight.vals, record.measured)
        self._save_trials()
        self.completed += 1
        if self._keeps_models():
            try:
                kept_models.keep_best(self.store.dir, list(self.records.values()),
                                      self.settings.keep_models, record,
                                      flight.spec.budget.save_to)
            except OSError as e:  # the trial is saved; only its network may be missing
                self.say(f"warning: the network of trial {record.number} could not be kept in "
                         f"{kept_models.FOLDER}/ ({e.strerror or e}); the search goes on.")
        self._after_save(record)

    def _after_save(self, record: TrialRecord) -> None:
        s = self.settings
        self.proposer.after_trial(Pace(len(self.records) - self.completed, self.completed,
                                       self.clock() - self.started))
        if record.loss is not None and (self.best is None or record.loss < self.best.loss):
            self.best = record  # trained: within the size budget
        elapsed = self.clock() - self.started
        if self.completed == 1:  # what came before the first trial trained: workers starting
            self.start_up_s = max(0.0, elapsed - record.wall_time_s)
        self.say(progress_line(record, self.best, self.counted, s.max_evals, elapsed,
                               self._eta(elapsed), self.scheduler.describe(record),
                               len(self.records) - self.counted))
        if self.completed == 1:
            warn_small_validation(record, self.say)
        for note in record.extra.get("notes", []):  # the model builder's warnings, once each
            if note not in self.notes_said:
                self.notes_said.add(note)
                self.say(note)
        if s.on_trial_end is not None:
            try:
                s.on_trial_end(record)
            except Exception as e:  # the trial is saved: the user's code cannot lose it
                logger.debug("on_trial_end failed", exc_info=True)
                self.say(f"warning: on_trial_end raised {type(e).__name__}: {e} (trial "
                         f"{record.number} is saved; the search goes on).")
        if self.outputs is not None:
            self.outputs.notify()
        self.scheduler.after_save(list(self.records.values()), self._pending())
        if record.status == TrialStatus.OVER_BUDGET:  # neither a failure nor a trained network
            self._over_budget()
            return
        self.over_budget_in_a_row = 0
        if record.status != TrialStatus.FAILED:
            self.failures_in_a_row = 0
            self.succeeded += 1
            return
        self.failures_in_a_row += 1
        if self.failures_in_a_row >= s.max_consecutive_failures:
            raise FatalError(
                f"{self.failures_in_a_row} trials failed in a row; stopping. The last error: "
                f"{record.error_line}. Each failed_trial-*.json in {self.store.dir} holds its "
                "traceback; fix the cause (or raise --max-consecutive-failures) and relaunch.")

    def _over_budget(self) -> None:
        self.over_budget += 1
        self.over_budget_in_a_row += 1
        if self.over_budget_in_a_row == OVER_BUDGET_STREAK:
            self.say(f"note: the last {OVER_BUDGET_STREAK} points were all over the size "
                     f"budget ({self.size_budget.text()}); the search learns the boundary from "
                     "them, but if most of the space is larger, narrow it (fewer filters, "
                     "units or layers) or raise the budget.")

    def _give_up_on_budget(self) -> None:
        """``OVER_BUDGET_CAP`` points in a row over the budget: stop, saying what was seen.
        With no network within the budget anywhere in the folder that is an error."""
        measured = [r.measured for r in self.records.values()]
        smallest = "; ".join(
            f"the smallest {what} {min(values):,.{digits}f}{unit}"
            for key, what, unit, digits in (("model_params", "had", " parameters", 0),
                                            ("latency_ms", "took", " ms a prediction", 3))
            if key in self.size_budget.limits()
            for values in [[m[key] for m in measured if m[key] is not None]] if values)
        line = (f"the last {OVER_BUDGET_CAP} points built were all over the size budget "
                f"({self.size_budget.text()}); {len(self.records)} built in all in "
                f"{self.store.dir}, {smallest or 'none measured'}. Raise the budget or narrow "
                "the space (fewer filters, units or layers), then relaunch.")
        if self.best is None:
            raise FatalError(f"no network within the budget: {line}")
        self.say(f"Stopping: {line}")

    def _eta(self, elapsed: float) -> float | None:
        """Seconds until the search ends, at this run's pace: None without a budget."""
        s = self.settings
        left = [] if s.timeout_s is None else [max(0.0, s.timeout_s - elapsed)]
        counted_now = self.counted - self.counted_before  # this run's, toward --max-evals
        if s.max_evals is not None and counted_now:
            remaining = max(0, s.max_evals - self.counted)
            # The pace of the trials, without the workers' start before the first one.
            left.append(remaining * max(0.0, elapsed - self.start_up_s) / counted_now)
        return min(left) if left else None

    def _interrupted(self) -> SearchSummary:
        running = sorted(self.in_flight)
        lost = ""
        if running:
            lost = (f"trial {running[0]} was discarded; " if len(running) == 1 else
                    f"trials {', '.join(map(str, running))} were discarded; ")
        done = self.settings.max_evals is not None and self.counted >= self.settings.max_evals
        self.say(f"Interrupted: {lost}{len(self.records)} trials are saved in {self.store.dir}."
                 + ("" if done else " Relaunch the same command to continue."))
        return SearchSummary(self.completed, len(self.records), self.best, interrupted=True,
                             best_full=self._best_full())


# -- wiring -------------------------------------------------------------------------------------


def make_executor(settings: SearchSettings, setup: DataSetup, space_file: SpaceFile,
                  store: TrialStore) -> Executor:
    if settings.backend == "spark":
        from hyperopt_nas.executors.spark import SparkExecutor  # pyspark: only when asked for
        return SparkExecutor(setup, settings.spark_master, settings.parallelism,
                             space_file.module_name, log_path=store.dir / SPARK_LOG)
    if settings.isolation == "none":
        return InProcessExecutor(setup, store.dir / TENSORFLOW_LOG)
    make = WorkerPool.warm if settings.warm_workers else WorkerPool
    pool = make(setup, settings.workers, settings.gpus, settings.trials_per_worker,
                settings.memory_growth_mb, store.dir / TENSORFLOW_LOG)
    if settings.head_start and head_start.applies(pool):
        return head_start.HeadStart(pool, InProcessExecutor(setup, store.dir / TENSORFLOW_LOG))
    return pool


def make_outputs(settings: SearchSettings, space_file: SpaceFile, store: TrialStore):
    if not (settings.plot_search or settings.plot_best or settings.tensorboard):
        return None
    return Outputs(store.dir, space_file.path, plots=settings.plot_search,
                   tensorboard=settings.tensorboard, best_model=settings.plot_best,
                   log_path=store.dir / TENSORFLOW_LOG)


def run_search(settings: SearchSettings, say: Callable[[str], None] = print,
               executor: Executor | None = None) -> SearchSummary:
    """Run (or resume) the search described by ``settings`` until ``max_evals``, ``timeout_s``
    or Ctrl-C; returns how many trials it added and the best. ``executor``: run the trials
    there instead of where ``settings`` say (e.g. ``executors.simulated``)."""
    check_settings(settings)
    # Every process this search starts (workers, the drawing process, Spark's local Python
    # workers) inherits the backend; a trial's runner also sets it where it runs.
    runtime.choose(settings.keras_backend, this_process=settings.isolation == "none"
                   and executor is None and settings.backend != "spark")
    space_file = load_space_file(settings.space_path)
    budget = resolve_budget(space_file, settings)
    proposer = make_proposer(settings.algo, space_file, settings.seed, settings.start_points,
                             settings.startup_trials, settings.max_evals, settings.timeout_s,
                             SizeBudget.of(budget).limits())
    scheduler = make_scheduler(settings, int(budget["epochs"]), Path(settings.results_dir))
    scheduler.check(settings)
    if space_file.dataset in data_loaders.DATASETS:  # own data: checked where it is loaded
        info = data_loaders.DATASETS[space_file.dataset]
        try:
            data_loaders.check_budget(budget["max_train_samples"], info.heads[info.primary_head],
                                      budget["validation_fraction"])
        except data_loaders.DataError as e:
            raise FatalError(str(e)) from e
    store = TrialStore(settings.results_dir)
    for name in ("hyperopt.tpe", "hyperopt.rand", "hyperopt.anneal"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # failures are reported here
    with store.lock():
        records = {r.number: r for r in store.load_records()}
        taken, moved = take_up_hyperopt(
            store, space_file, max([*records, *store.reserved_numbers()], default=-1) + 1,
            {"space_file": str(space_file.path), "dataset": space_file.dataset,
             "model": space_file.model, "seed": settings.seed, "budget": dict(budget)})
        if moved is not None:
            records.update((r.number, r) for r in taken)
            fit = sum(TAKEN_UP in r.extra and "misfit" not in r.extra for r in taken)
            say(f"Took up the {len(taken)} finished trials of a results.pkl that hyperopt wrote "
                f"(moved to {moved.name}): {fit} fit {space_file.name} and inform the search; "
                "they are not ranked (their losses are another program's).")
        if not settings.reuse_trials:
            check_comparable(list(records.values()), {
                "dataset": space_file.dataset, "seed": settings.seed,
                **{k: budget[k] for k in ("validation_fraction", "max_train_samples", "epochs")},
                "objective": budget["objective"]}, store.dir)
        store.keep_space_copy(space_file.path)
        counted_records = [r for r in records.values() if SizeBudget.of(budget).counts(r)]
        if settings.max_evals is not None and len(counted_records) >= settings.max_evals:
            say(f"{len(counted_records)} trials already in {store.dir}"
                + (" within the size budget" if SizeBudget.of(budget) else "")
                + f"; --max-evals {settings.max_evals} is reached. Raise it to search further.")
            return SearchSummary(0, len(records), best_record(list(records.values())))
        precision = precision_of(settings, space_file)
        if executor is None:
            executor = make_executor(settings, data_setup(space_file, budget, settings,
                                                          store.dir, precision),
                                     space_file, store)
        outputs, ended = None, False
        try:
            kept_models.clear_staging(store.dir)  # no trial runs yet: a killed one's leftovers
            executor.start()  # workers load TensorFlow and the data while this process goes on
            restored = restore(store, space_file, list(records.values()),
                               SizeBudget.of(budget))
            say(banner(settings, space_file, budget, store, precision,
                       isinstance(executor, head_start.HeadStart)))
            earlier = sorted({r.keras_backend for r in records.values()}
                             - {runtime.requested(settings.keras_backend)})
            if earlier:
                say(f"The earlier trials trained on {' and '.join(earlier)}: they keep informing "
                    "the search, and `rank` shows each trial's backend.")
            say_restored(say, restored,
                         best_record(list(records.values()), SizeBudget.of(budget)), store,
                         len(records) - len(counted_records))
            outputs = make_outputs(settings, space_file, store)
            if settings.plot_search:
                say(f"Live report: {store.dir / REPORT_HTML} follows the search from its first "
                    "trial (open it in a browser; it reloads itself).")
            with TrialsProgress(settings.progress, say) as progress:
                executor.on_progress = progress.update if progress.mode != "off" else None
                search = Search(settings, space_file, store, restored, records, executor,
                                proposer, budget, say, outputs, progress, scheduler)
                if isinstance(executor, head_start.HeadStart):
                    executor.outlook = search.outlook
                summary = search.run()
                ended = not summary.interrupted
                return summary
        finally:
            if ended and settings.warm_workers:
                executor.park()  # for this process's next search (search(): a notebook's)
            else:
                executor.close()
            if outputs is not None:
                say(f"Finishing the pictures and the report in {store.dir}...")
                outputs.close()
