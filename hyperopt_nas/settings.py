"""A search's settings: ``SearchSettings``, made from the option table (``options.py``) by the
command line and ``search()`` alike (``settings_from``), and checked as a whole before anything
is written (``check_settings``: what one option cannot say alone, such as a backend that is not
installed or two options that contradict each other)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

from hyperopt_nas import gpus as machine
from hyperopt_nas import runtime
from hyperopt_nas.errors import FatalError
from hyperopt_nas.objectives import Objective
from hyperopt_nas.options import OPTION, OPTIONS, default, outside_their_mode
from hyperopt_nas.schedulers.pruning import PruneRule
from hyperopt_nas.trial_store import TrialRecord


@dataclass
class SearchSettings:
    """What one search is asked to do; each field's meaning and default are its option's
    (``options.OPTIONS``), ``space_path`` and ``results_dir`` apart."""
    space_path: Path
    results_dir: Path = Path("results")
    max_evals: int | None = default("max_evals")
    algo: str = default("algo")
    epochs: int | None = default("epochs")
    max_train_samples: int | None = default("max_train_samples")
    seed: int = default("seed")
    data_dir: Path | None = default("data_dir")
    max_consecutive_failures: int = default("max_consecutive_failures")
    isolation: str = default("isolation")
    workers: int = 1  # --workers: one per GPU of --gpus, else 1 (settings_from)
    gpus: list[str] | None = default("gpus")  # one per worker, in turn (ids resolved)
    trials_per_gpu: int | None = default("trials_per_gpu")
    trials_per_worker: int | None = default("trials_per_worker")
    memory_growth_mb: float = default("memory_growth_mb")
    executions_per_trial: int = default("executions_per_trial")
    cv_folds: int | None = default("cv")
    timeout_s: float | None = default("timeout")
    trial_timeout_s: float | None = default("trial_timeout")
    plot_best: bool = default("plot_best")
    plot_search: bool = default("plot_search")
    tensorboard: bool = default("tensorboard")
    prune: PruneRule = PruneRule()  # --prune and its three options, as one rule
    startup_trials: int | None = default("startup_trials")
    schedule: str = default("schedule")
    eta: int = default("eta")
    min_epochs: int = default("min_epochs")
    backend: str = default("executor")  # the executor: local or spark
    keras_backend: str | None = default("keras_backend")
    parallelism: int = default("parallelism")
    spark_master: str | None = default("spark_master")
    test_every_trial: bool = default("test_every_trial")
    start_points: bool = default("start_points")
    reuse_trials: bool = default("reuse_trials")
    progress: str = default("progress")
    mixed_precision: str = default("mixed_precision")
    xla: str = default("xla")
    deterministic: bool = default("deterministic")
    compile_cache: bool = default("compile_cache")
    steps_per_execution: int | None = default("steps_per_execution")
    data_on_gpu: bool = default("data_on_gpu")
    on_trial_end: Callable[[TrialRecord], Any] | None = default("on_trial_end")
    keep_models: int = default("keep_models")
    snapshot_every_s: float = default("snapshot_every_s")
    tpe_history: int | None = default("tpe_history")
    ask_ahead: bool = default("ask_ahead")
    head_start: bool = default("head_start")
    warm_workers: bool = default("warm_workers")
    max_params: int | None = default("max_params")
    max_latency_ms: float | None = default("max_latency_ms")
    size_weight: float | None = default("size_weight")
    objective: str | None = default("objective")
    direction: str | None = default("direction")

    @property
    def slots(self) -> int:
        if self.backend == "spark":
            return self.parallelism
        return self.workers if self.isolation == "process" else 1


def settings_from(space_path: str | Path, results_dir: str | Path, values: dict[str, Any],
                  api: bool = False) -> SearchSettings:
    """The settings from options already read (``options.given`` from a command line,
    ``options.read_keywords`` from ``search()``), by option name. Raises ValueError for an
    option outside its mode or GPUs that are not there, in the words of the way in."""
    unused = outside_their_mode(values, api)
    if unused:
        raise ValueError(f"{'; '.join(unused)}. Add that, or leave the option out.")
    values = dict(values)
    prune = values.pop("prune", default("prune"))
    composed = {"prune_percentile": None, "prune_warmup": default("prune_warmup"),
                "prune_min_trials": default("prune_min_trials"), "plot": None}
    for name in composed:
        composed[name] = values.pop(name, composed[name])
    if isinstance(prune, str):
        prune = PruneRule(prune, composed["prune_percentile"], composed["prune_warmup"],
                          composed["prune_min_trials"])
    kwargs = {OPTION[name].setting: value for name, value in values.items()}
    if composed["plot"] is not None:
        for name in ("plot_best", "plot_search"):
            kwargs.setdefault(name, composed["plot"])
    gpus = resolve_gpus(kwargs.get("gpus"))
    if gpus is not None:
        kwargs["gpus"] = gpus
        kwargs.setdefault("workers", len(gpus) * (kwargs.get("trials_per_gpu") or 1))
    return SearchSettings(space_path=Path(space_path), results_dir=Path(results_dir),
                          prune=prune, **kwargs)


def resolve_gpus(wanted: str | list[str] | None) -> list[str] | None:
    """``--gpus`` as the ids each worker is given: None (not pinned), ``all`` (every visible
    GPU) or numbers (under a ``CUDA_VISIBLE_DEVICES`` already set, its entries)."""
    if wanted is None:
        return None
    if wanted == "all":
        found = machine.visible_gpus()
        if not found:
            raise ValueError("--gpus all: this machine shows no GPU (nvidia-smi lists none, or "
                             "CUDA_VISIBLE_DEVICES hides them); leave out --gpus.")
        return found
    return machine.resolve_gpu_ids(list(wanted))


def objective_of(settings: SearchSettings) -> Objective:
    try:
        return Objective.parse(settings.objective, settings.direction)
    except ValueError as e:
        raise FatalError(f"--objective: {e}") from None


SETTING_OPTIONS = {o.setting: o for o in OPTIONS if o.setting}


def check_settings(settings: SearchSettings) -> None:
    """Refuse settings that cannot work, before anything is written: each field as its option
    reads it (settings made directly, not through ``settings_from``, are read here), then what
    the fields say together."""
    s = settings
    for f in fields(s):
        option = SETTING_OPTIONS.get(f.name)
        value = getattr(s, f.name)
        if option is None or value is None or f.name == "gpus":
            continue
        try:
            option.read(value)
        except ValueError as e:
            raise FatalError(f"{option.cli or option.name} {e}.") from None
    if s.data_dir is not None and not Path(s.data_dir).is_dir():
        raise FatalError(f"--data-dir {s.data_dir} is not a folder: give the folder that holds "
                         "the dataset's official files, or leave it out to use Keras' cache.")
    backend = runtime.requested(s.keras_backend)  # a FatalError naming the choices
    if s.data_on_gpu and backend != "jax":
        raise FatalError(f"--data-on-gpu keeps the data on the GPU under JAX only (under {backend} "
                         "the data comes from the host as before): add --keras-backend jax, or "
                         "leave --data-on-gpu out.")
    if backend != runtime.DEFAULT or s.keras_backend is not None:
        why = runtime.missing(backend)
        if why is not None:
            raise FatalError(f"{why}.")
    pack_gpus(s)
    if s.workers > 1 and s.isolation == "none":
        raise FatalError("--isolation none trains in this process, one trial at a time; "
                         "leave out --workers or --isolation none.")
    objective_of(s)  # one clear line for a bad --objective or --direction
    if s.prune.active and s.schedule != "none":
        raise FatalError(f"--schedule {s.schedule} cannot be combined with --prune (it already "
                         "stops the weaker runs early): a rung continues one saved model.")


def pack_gpus(settings: SearchSettings) -> None:
    """``trials_per_gpu``: that many workers on each GPU of ``gpus`` (``workers`` set to match);
    refused without GPUs, or beside a ``workers`` that says otherwise."""
    s = settings
    n = s.trials_per_gpu
    if n is None:
        return
    if not s.gpus:
        raise FatalError("--trials-per-gpu needs the GPUs to pack the trials on: add --gpus "
                         "all (or --gpus 0,1, ...).")
    if s.backend == "spark" or s.isolation == "none":
        raise FatalError("--trials-per-gpu places worker processes: it cannot be combined with "
                         "--executor spark or --isolation none.")
    wanted = n * len(s.gpus)
    if s.workers not in (1, wanted):
        raise FatalError(f"--trials-per-gpu {n} on {len(s.gpus)} GPU"
                         f"{'s' if len(s.gpus) > 1 else ''} runs {wanted} workers, but --workers "
                         f"says {s.workers}: give one of the two.")
    s.workers = wanted
