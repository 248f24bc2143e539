"""The trial store: one JSON record per trial and hyperopt's Trials, written so nothing is lost.

- ``TrialRecord`` is the one shape of a trial's result; ``to_json``/``from_json`` is the only path
  between it and disk, and ``from_json`` checks what it reads.
- Every file is written atomically (temporary file, fsync, ``os.replace``): a kill at any instant
  leaves the old file or the new one, never a torn one.
- JSON file names sort by score, best first: ``0.123400_trial-0007.json`` holds a trial whose
  objective's loss (1 - best validation accuracy, by default) is 0.1234; failed trials sort last
  (``failed_trial-0003.json``), and so do networks refused by a size or latency budget before
  they trained (``over_budget_trial-0004.json``).
- A lock (``flock`` on the folder itself, released by the kernel when its process dies, even by
  kill -9) keeps a second search out of a results folder that is in use; removing a file from the
  folder cannot undo it.
- A marker file (``.hyperopt-nas``) says the folder is a results folder; ``delete_results.sh``
  deletes nothing in a folder without it.
- A record that cannot be read is never overwritten or deleted: its number is not given again.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import gzip
import json
import logging
import math
import os
import pickle
import re
import shutil
import tempfile
import time
import zlib
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from hyperopt_nas.data_loaders import DATASETS
from hyperopt_nas.objectives import Objective

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
PICKLE_NAME = "results.pkl"
TAKEN_UP = "taken_up_from"  # extra key of a record made from plain hyperopt's results.pkl
ATTACHMENT = "hyperopt_nas"  # results.pkl's Trials.attachments key: what ties it to the records
LOCK_NAME = ".search.lock"
RECORD_GLOB = "*trial-*.json"
MARKER_NAME = ".hyperopt-nas"
SPACE_COPY = "search_space.py"  # the space file of the folder's latest run, as it was
TENSORFLOW_LOG = "tensorflow.log"  # TensorFlow's own messages, kept off the console
GRAPHS = "graphs"  # graphs/trial-0007.dot.gz: a trial's network as Graphviz dot text (gzip)
SPARK_LOG = "spark.log"  # Spark's (its JVM's and its local executors') messages, likewise
MARKER_TEXT = ("This folder holds the results of a hyperopt-keras-nas search. delete_results.sh "
               "removes only what the tool wrote, and only in a folder with this file.\n")
RECORD_NUMBER = re.compile(r"trial-(\d+)")


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for a decoded point (numpy scalars, tuples...)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


OBJECT_FIELDS = ("params", "hyperopt_vals", "choice_options", "metrics", "history", "budget",
                 "versions", "accelerator", "extra")


class TrialStatus(str, enum.Enum):
    OK = "ok"
    FAILED = "failed"
    PRUNED = "pruned"  # stopped early on purpose; its partial score counts
    OVER_BUDGET = "over_budget"  # built, measured over --max-params/--max-latency-ms, not trained


UNSCORED = (TrialStatus.FAILED, TrialStatus.OVER_BUDGET)  # no validation score: never ranked
# What the proposer is told of a network over the size or latency budget: the loss of a network
# that gets nothing right (1 - accuracy 0), worse than any trained one, so that TPE learns where
# the budget's boundary lies in the space and proposes within it.
OVER_BUDGET_LOSS = 1.0
SIZE_KEYS = {"params": "model_params", "latency": "latency_ms"}  # what a size budget limits


class StoreError(RuntimeError):
    """The results folder cannot be used as asked; the message says why and what to do."""


class SearchLocked(StoreError):
    pass


@dataclass
class TrialRecord:
    """Everything about one trial, as written to ``<results-dir>/<score>_trial-<number>.json``."""

    number: int
    status: TrialStatus
    params: dict[str, Any]  # decoded hyperparameters: actual values, never choice indexes
    hyperopt_vals: dict[str, Any]  # what hyperopt drew, {label: value or option index}
    choice_options: dict[str, str]  # {choice label: signature of the option taken}
    loss: float | None  # what hyperopt minimises: the objective's loss (1 - validation accuracy)
    metrics: dict[str, Any]  # per head: best/final validation, test of the restored model
    history: dict[str, list[float]]  # per-epoch Keras logs
    epochs_run: int
    wall_time_s: float
    space_file: str
    space_fingerprint: str
    dataset: str
    model: str
    seed: int  # the search's seed
    trial_seed: int  # the seed this trial's training used
    budget: dict[str, Any]
    versions: dict[str, str]
    accelerator: dict[str, Any]
    started_at: str
    error: str | None = None
    traceback: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @property
    def score(self) -> float | None:
        """The objective's best validation value: accuracy of the primary head unless the
        search chose another (``objective``)."""
        return None if self.loss is None else self.objective.value_of(self.loss)

    @property
    def objective(self) -> Objective:
        return Objective.of(self.budget)

    @property
    def primary_head(self) -> str | None:
        """The head the objective is measured on, whose validation and test accuracy are the
        trial's: as the trial recorded it; in a record from before, a built-in dataset's first
        head, else the record's first (the JSON's order is alphabetical: CIFAR-100's coarse
        head comes before its fine one)."""
        head = self.budget.get("primary_head")
        if head is None and self.dataset in DATASETS:
            head = DATASETS[self.dataset].primary_head
        metrics = self.metrics or {}
        return head if head in metrics else next(iter(metrics), None)

    @property
    def primary_metrics(self) -> dict[str, Any]:
        """The primary head's metrics: best and final validation, the test of the restored
        model (where it was evaluated); every reader of "the trial's accuracy" asks here."""
        head = self.primary_head
        return dict(self.metrics.get(head) or {}) if head is not None else {}

    @property
    def test_accuracy(self) -> float | None:
        """The primary head's test accuracy (reported only, never selected on); None where the
        test split was not evaluated."""
        return self.primary_metrics.get("test_accuracy")

    @property
    def model_params(self) -> int | None:
        """The network's parameter count (records from before it was measured: None)."""
        return self.extra.get("model_params")

    @property
    def measured(self) -> dict[str, float | None]:
        """The network's size as built: what a size budget limits (``SizeBudget.limits``)."""
        return {"model_params": self.model_params, "latency_ms": self.latency_ms}

    @property
    def latency_ms(self) -> float | None:
        """The network's batch-1 inference time in ms, where a latency budget measured it."""
        return self.extra.get("latency_ms")

    def size(self, measure: str = "params") -> float | None:
        """``params`` or ``latency`` (``SIZE_KEYS``): what a budget or the front compares."""
        return self.extra.get(SIZE_KEYS[measure])

    @property
    def error_line(self) -> str | None:
        """What went wrong, in one line (``error_line``); the whole message is ``error``."""
        return None if self.error is None else error_line(self.error)

    @property
    def keras_backend(self) -> str:
        """The Keras backend it trained on (records from before the choice: TensorFlow)."""
        return (self.accelerator or {}).get("keras_backend", "tensorflow")

    def file_name(self) -> str:
        if self.status == TrialStatus.OVER_BUDGET:
            return f"over_budget_trial-{self.number:04d}.json"
        if self.status == TrialStatus.FAILED or self.loss is None:
            return f"failed_trial-{self.number:04d}.json"
        suffix = "_pruned" if self.status == TrialStatus.PRUNED else ""
        return f"{self.loss:.6f}_trial-{self.number:04d}{suffix}.json"

    def to_json(self) -> str:
        data = asdict(self)
        data["status"] = self.status.value
        return json.dumps(data, indent=2, sort_keys=True, allow_nan=False, default=_json_default)

    @classmethod
    def from_json(cls, text: str, where: str = "record") -> "TrialRecord":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where} is not valid JSON ({e}).") from e
        if not isinstance(data, dict):
            raise ValueError(f"{where} is not a JSON object.")
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls)
                    if f.default is MISSING and f.default_factory is MISSING}
        missing = required - data.keys()
        if missing:
            raise ValueError(f"{where} lacks {sorted(missing)}.")
        if data.get("schema_version", 0) > SCHEMA_VERSION:
            raise ValueError(f"{where} was written by a newer version (schema "
                             f"{data['schema_version']}); upgrade to read it.")
        kwargs = {k: v for k, v in data.items() if k in names}
        try:
            kwargs["status"] = TrialStatus(data["status"])
        except ValueError as e:
            raise ValueError(f"{where} has unknown status {data['status']!r}.") from e
        record = cls(**kwargs)
        if not isinstance(record.number, int) or record.number < 0:
            raise ValueError(f"{where} has a bad trial number {record.number!r}.")
        if record.status not in UNSCORED and not _is_number(record.loss):
            raise ValueError(f"{where} has status {record.status.value} but no numeric loss.")
        for name in OBJECT_FIELDS:
            value = getattr(record, name)
            if not isinstance(value, dict):
                raise ValueError(f"{where}: {name} must be a JSON object, got "
                                 f"{json.dumps(value)[:40]}.")
        if not all(isinstance(v, list) for v in record.history.values()):
            raise ValueError(f"{where}: every history entry must be a list of numbers.")
        return record


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


STAGING = re.compile(r"\..+\.tmp(\.keras)?")  # an atomic write's or a TensorBoard run's staging


def cannot_write(folder: Path, error: OSError) -> str:
    """Why a results folder cannot be written, and the fix: space on a full disk, else another
    folder."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"cannot write in the results folder {folder}: {error.strerror}. Free some space "
                "and run the command again; nothing in the folder was lost.")
    return (f"cannot write in the results folder {folder} ({error.strerror}): choose a folder "
            "you can write to with --results-dir.")


def is_leftover(name: str) -> bool:
    """Whether ``name`` is the staging file (or folder) of a write of this tool's that a kill
    interrupted: ``.<what it wrote>.<random>.tmp``."""
    return bool(STAGING.fullmatch(name) and (
        name[1:].startswith(("trial-", PICKLE_NAME, "report", MARKER_NAME, LOCK_NAME))
        or re.match(r"\.[0-9.]+_trial-", name)
        or re.match(r"\.(failed|over_budget)_trial-", name)))


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is always either the old or the new content."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # as an ordinary open() would (mkstemp makes 0600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class TrialStore:
    """The results folder: JSON records (the truth about every trial) and ``results.pkl``."""

    def __init__(self, results_dir: str | Path):
        self.dir = Path(results_dir)
        self.unreadable: dict[Path, str] = {}  # record files that could not be read, and why

    @property
    def pickle_path(self) -> Path:
        return self.dir / PICKLE_NAME

    def create(self) -> None:
        if self.dir.exists() and not self.dir.is_dir():
            raise StoreError(f"{self.dir} is a file, not a folder: pass a folder as "
                             "--results-dir.")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            marker = self.dir / MARKER_NAME
            if not marker.exists():
                atomic_write(marker, MARKER_TEXT.encode())
        except OSError as e:
            raise StoreError(cannot_write(self.dir, e)) from e

    def _remove_leftovers(self) -> None:
        """Staging files of writes a kill interrupted (the finished writes are whole): only
        while this process holds the folder, so no write of another search is cut short."""
        for entry in self.dir.iterdir():
            if not is_leftover(entry.name) or entry.is_symlink():
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()

    def is_results_folder(self) -> bool:
        return (self.dir / MARKER_NAME).is_file()

    def in_use(self) -> bool:
        """Whether a search holds the folder now."""
        try:
            fd = os.open(self.dir, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for this process; the kernel frees it if the process dies."""
        self.create()
        # The folder itself is locked: a file in it can be removed, the folder in use cannot.
        folder = os.open(self.dir, os.O_RDONLY)
        try:
            try:
                fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                try:
                    owner = (self.dir / LOCK_NAME).read_text().strip() or "unknown"
                except OSError:
                    owner = "unknown"
                raise SearchLocked(
                    f"another search (pid {owner}) is already using {self.dir}. Wait for it to "
                    "finish, stop it, or pass a different --results-dir.") from None
            self._remove_leftovers()
            try:  # who holds it, for that message
                atomic_write(self.dir / LOCK_NAME, str(os.getpid()).encode())
            except OSError as e:
                raise StoreError(cannot_write(self.dir, e)) from e
            yield
        finally:
            os.close(folder)

    # -- JSON records ---------------------------------------------------------------------------

    def record_paths(self) -> list[Path]:
        return sorted(self.dir.glob(RECORD_GLOB)) if self.dir.is_dir() else []

    def save_record(self, record: TrialRecord, new: bool = False) -> Path:
        """Write a trial's record; ``new``: its number has no record yet (a search's new trial),
        so the folder need not be searched for an earlier one to replace."""
        self.create()
        path = self.dir / record.file_name()
        atomic_write(path, record.to_json().encode())
        for old in [] if new else self.dir.glob(f"*trial-{record.number:04d}*.json"):
            if old == path:
                continue
            try:  # the trial was re-scored (a resumed run): keep one file per trial, but
                # never remove a file that is not a readable record of this very trial
                same = TrialRecord.from_json(old.read_text()).number == record.number
            except (OSError, ValueError, TypeError):
                same = False
            if same:
                old.unlink()
        return path

    def load_records(self) -> list[TrialRecord]:
        """Every readable record, ordered by trial number; unreadable files are reported, kept."""
        records: dict[int, TrialRecord] = {}
        for path in self.record_paths():
            try:
                record = TrialRecord.from_json(path.read_text(), where=str(path))
            except (OSError, ValueError, TypeError) as e:
                logger.warning("skipping %s: %s The file is left as it is, and its trial number "
                               "is not given to a new trial.", path.name, e)
                self.unreadable[path] = str(e)
                continue
            if record.number in records:
                logger.warning("two records for trial %d; keeping %s", record.number, path.name)
            records[record.number] = record
        return [records[n] for n in sorted(records)]

    def graph_path(self, number: int) -> Path:
        return self.dir / GRAPHS / f"trial-{number:04d}.dot.gz"

    def save_graph(self, number: int, dot: str) -> None:
        """Keep the drawing of a trial's network that its worker sent back (``TrialOutcome.graph``):
        best_model.png is then drawn from it, without Keras."""
        path = self.graph_path(number)
        path.parent.mkdir(exist_ok=True)
        atomic_write(path, gzip.compress(dot.encode(), mtime=0))

    def load_graph(self, number: int) -> str | None:
        """A trial's network as dot text; None if the folder keeps none (a trial of an earlier
        version, a simulated one, a network Keras could not draw) or the file is damaged."""
        try:
            return gzip.decompress(self.graph_path(number).read_bytes()).decode()
        except (OSError, EOFError, ValueError, zlib.error):
            return None

    def keep_space_copy(self, space_path: Path) -> None:
        """Keep the space file of this run in the folder: a relaunch, plot, report and retrain
        without --space use it when the original has moved or gone."""
        space_path = Path(space_path)
        if space_path.resolve() == (self.dir / SPACE_COPY).resolve():
            return
        atomic_write(self.dir / SPACE_COPY, space_path.read_bytes())

    def space_path(self, records: list[TrialRecord]) -> Path | None:
        """The space file of the folder's newest trial: the file it names if it is still
        there, else the copy kept in the folder; None without either."""
        if records:
            named = Path(max(records, key=lambda r: r.number).space_file)
            if named.is_file():
                return named
        copy = self.dir / SPACE_COPY
        return copy if copy.is_file() else None

    def reserved_numbers(self) -> set[int]:
        """Numbers a new trial must not take: those of record files that could not be read
        (call after ``load_records``)."""
        found = (RECORD_NUMBER.search(path.name) for path in self.unreadable)
        return {int(m.group(1)) for m in found if m}

    # -- hyperopt Trials ------------------------------------------------------------------------

    def save_trials(self, trials: Any, space_fingerprint: str, numbers: list[int],
                    set_aside: dict[int, str], size_budget: dict[str, Any] | None = None
                    ) -> None:
        """Pickle hyperopt's Trials itself, as plain hyperopt does (``pickle.load`` gives an
        object with ``best_trial`` and ``losses()``, and ``hyperopt.fmin(..., trials=it)``
        continues it), with what ties it to the records in its ``attachments[ATTACHMENT]``.

        ``numbers`` gives the record number of each trial in ``trials``, in order; ``set_aside``
        the records that do not fit the space (and why), so a relaunch can tell that the pickle
        accounts for every record; ``size_budget`` the budget its losses were told under.
        """
        trials.attachments[ATTACHMENT] = {
            "schema_version": SCHEMA_VERSION, "space_fingerprint": space_fingerprint,
            "numbers": list(numbers), "set_aside": dict(set_aside),
            "size_budget": size_budget or SizeBudget().as_dict()}
        atomic_write(self.pickle_path, pickle.dumps(trials, protocol=pickle.HIGHEST_PROTOCOL))

    def load_trials(self) -> dict[str, Any] | None:
        """What results.pkl holds, None if absent: ``{"trials": Trials, "numbers": ...}``;
        ``{"trials": Trials, "foreign": True}`` for hyperopt's Trials written by plain hyperopt
        (the original CIFAR-100 script's, which a search takes up); a folder's older results.pkl
        (a dict) as it is. Raises StoreError if it cannot be read."""
        if not self.pickle_path.exists():
            return None
        try:
            with open(self.pickle_path, "rb") as f:
                payload = pickle.load(f)
            if isinstance(payload, dict) and "trials" in payload:  # before it was Trials itself
                return payload
            if not (hasattr(payload, "trials") and isinstance(
                    getattr(payload, "attachments", None), dict)):
                raise ValueError("neither hyperopt's Trials nor a results.pkl of this tool")
            meta = payload.attachments.get(ATTACHMENT)
            if not isinstance(meta, dict):
                return {"trials": payload, "foreign": True}
            return {**meta, "trials": payload}
        except Exception as e:  # unpickling damaged data raises many types
            raise StoreError(f"{self.pickle_path} is unreadable ({type(e).__name__}: {e})") from e

    def set_aside_pickle(self) -> Path:
        """Move an unreadable results.pkl out of the way, never deleting it."""
        target = self.dir / f"{PICKLE_NAME}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}"
        os.replace(self.pickle_path, target)
        return target


def ranked(records: Iterable[TrialRecord]) -> list[TrialRecord]:
    """Scored trials (completed and pruned), best objective first, the earlier trial
    first on a tie: the one definition of "the best trial"."""
    scored = [r for r in records if r.status not in UNSCORED and r.loss is not None
              and not r.extra.get(TAKEN_UP)]  # informs the search; its loss is another's
    return sorted(scored, key=lambda r: (r.loss, r.number))


def error_line(error: str) -> str:
    """An error message in one line: its first line, or where that is only a heading (a
    TensorFlow graph error's ``Graph execution error:`` and the trace of where the failing node
    was defined; Keras' ``Exception encountered when calling ...``), the line that says what
    went wrong. The exception's name is kept in front."""
    kind, _, message = error.partition(": ")
    if not message or not kind.isidentifier():
        kind, message = "", error
    blocks = [[line.strip() for line in block.splitlines() if line.strip()]
              for block in re.split(r"\n\s*\n", message.strip())]
    blocks = [b for b in blocks if b]
    if not blocks:
        return error.strip()
    said = blocks[0][0]
    if "Detected at node" in message:  # the block after the trace, its [[node]] lines left out
        after = [b for b in blocks if not b[0].startswith(("Detected at node", "Graph execution"))]
        found = [line for b in after for line in b if not line.startswith(("[[", "File "))]
        said = found[0] if found else said
    elif said.startswith("Exception encountered when calling") and len(blocks) > 1:
        said = blocks[1][0]
    return (f"{kind}: " if kind else "") + said


@dataclass(frozen=True)
class SizeBudget:
    """The largest network a search trains: parameters and/or batch-1 inference time (ms).
    ``None``: no limit. ``size_weight`` (W) is the soft form: the proposer is told a trained
    network's loss plus W * ln(parameters), so that it trades accuracy for size (see
    ``proposer_loss``); it is not a limit: every network trains."""

    max_params: int | None = None
    max_latency_ms: float | None = None
    size_weight: float | None = None

    @classmethod
    def of(cls, budget: dict[str, Any]) -> "SizeBudget":
        """The size budget a search's budget (a record's ``budget``) holds."""
        return cls(budget.get("max_params"), budget.get("max_latency_ms"),
                   budget.get("size_weight"))

    def __bool__(self) -> bool:
        """Whether there is a limit (the soft ``size_weight`` is none)."""
        return self.max_params is not None or self.max_latency_ms is not None

    def over(self, model_params: float | None, latency_ms: float | None) -> str | None:
        """Why a network of that size is over the budget (None: within it, or not measured)."""
        if self.max_params is not None and model_params is not None \
                and model_params > self.max_params:
            return f"{int(model_params):,} parameters > --max-params {self.max_params:,}"
        if self.max_latency_ms is not None and latency_ms is not None \
                and latency_ms > self.max_latency_ms:
            return f"{latency_ms:.3g} ms a prediction > --max-latency-ms {self.max_latency_ms:g}"
        return None

    def limits(self) -> dict[str, float]:
        """What is limited, by the record's name for it: ``{"model_params": 50_000}``."""
        return {key: limit for key, limit in (("model_params", self.max_params),
                                              ("latency_ms", self.max_latency_ms))
                if limit is not None}

    def counts(self, record: "TrialRecord") -> bool:
        """Whether ``record`` counts toward ``--max-evals``: under a limit, a network over it
        does not (built and measured, never trained; or trained by a run without this limit)."""
        return not (self and (record.status == TrialStatus.OVER_BUDGET
                              or self.over(record.model_params, record.latency_ms) is not None))

    def as_dict(self) -> dict[str, Any]:
        return {"max_params": self.max_params, "max_latency_ms": self.max_latency_ms,
                "size_weight": self.size_weight}

    def same_as(self, saved: dict[str, Any] | None) -> bool:
        """Whether a results.pkl's losses were told under this budget (one saved before a key
        existed had that key unset)."""
        return {**SizeBudget().as_dict(), **(saved or {})} == self.as_dict()

    def text(self) -> str:
        """The budget in words: ``50,000 parameters and 2.5 ms a prediction``."""
        return " and ".join(
            ([f"{self.max_params:,} parameters"] if self.max_params is not None else [])
            + ([f"{self.max_latency_ms:g} ms a prediction"]
               if self.max_latency_ms is not None else []))


def proposer_loss(record: TrialRecord, budget: SizeBudget = SizeBudget()) -> float | None:
    """What the proposer is told of a record under this run's size budget: its loss; the
    ``OVER_BUDGET_LOSS`` if its network is over the budget (measured now or when it ran); None
    (a failure, which TPE skips) if it failed, or if it was refused by an earlier, tighter
    budget and never trained, so that nothing is known of it. Under a ``size_weight`` W, either
    loss plus W * ln(parameters): with W = 0.01 a network 2.7 times smaller is worth one point
    of accuracy less (a record without a parameter count is told its loss alone)."""
    if record.status == TrialStatus.FAILED:
        return None
    penalty = (budget.size_weight * math.log(record.model_params)
               if budget.size_weight and record.model_params else 0.0)
    if budget.over(record.model_params, record.latency_ms) is not None:
        return OVER_BUDGET_LOSS + penalty
    if record.status == TrialStatus.OVER_BUDGET:
        return None
    return None if record.loss is None else record.loss + penalty
