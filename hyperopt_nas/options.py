"""The search's options, each declared once: its name, how a value is read, its default, its
choices, its help, the mode it acts in, and where it appears (a command-line flag, a
``search()`` keyword, a key of a space file's ``DEFAULTS``).

The command line's parser (``add_to_parser``), ``search()``'s keywords (``read_keywords``), a
space file's ``DEFAULTS`` (``read_default``) and ``SearchSettings``' defaults are made from this
table, so the three ways in read a value the same way and say the same about a bad one. A new
option is one entry here (and its field in ``settings.SearchSettings``).

This module is light (no numpy, hyperopt or Keras): the command line builds its parser from it
before loading anything else, so ``--help`` and an argument error answer at once.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hyperopt_nas import option_values
from hyperopt_nas.choices import (ACCELERATOR_MODES, ALGORITHMS, EXECUTORS, ISOLATIONS,
                                  KERAS_BACKENDS, PRECISION_MODES, PROGRESS_MODES, PRUNE_RULES,
                                  SCHEDULES)
from hyperopt_nas.objectives import DIRECTIONS


# Readers: a value as a person writes it (text on the command line, a Python value in
# search() or DEFAULTS) -> the setting. Each raises ValueError("must be ..., got ...") and
# reads its own output unchanged, so a value read once may be read again.

def whole(minimum: int) -> Callable[[Any], int]:
    def read(value: Any) -> int:
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number, got {value!r}")
        if value < minimum:
            wanted = {0: "0 or more", 1: "a positive whole number"}.get(
                minimum, f"a whole number of at least {minimum}")
            raise ValueError(f"must be {wanted}, got {value}")
        return value
    read.__name__ = "whole_number"
    return read


def number(low: float, high: float = math.inf, low_included: bool = True,
           example: str = "0.01") -> Callable[[Any], float]:
    def read(value: Any) -> float:
        try:
            x = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            x = math.nan
        if not ((low <= x if low_included else low < x) and x < high):
            span = (f"between {low:g} and {high:g}" if high < math.inf
                    else f"{'at least' if low_included else 'above'} {low:g}")
            raise ValueError(f"must be a number {span} (e.g. {example}), got {value!r}")
        return x
    read.__name__ = "number"
    return read


def one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def read(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return value
    read.__name__ = "choice"
    return read


def switch(value: Any) -> bool:
    """True or False (a command-line flag without a value gives it)."""
    if not isinstance(value, bool):
        raise ValueError(f"must be True or False, got {value!r}")
    return value


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a name in quotes, got {value!r}")
    return value


def folder(value: Any) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"must be a folder's path, got {value!r}")
    return Path(value)


def gpu_ids(value: Any) -> str | list[str]:
    """``all``, or GPU numbers: ``0,1`` or a list such as ``[0, 1]``."""
    if isinstance(value, str) and value.strip().lower() == "all":
        return "all"
    ids = value.split(",") if isinstance(value, str) else value
    if isinstance(ids, (list, tuple)) and ids and all(
            not isinstance(i, bool) and str(i).strip().isdigit() for i in ids):
        return [str(i).strip() for i in ids]
    raise ValueError(f"must be GPU numbers separated by commas (e.g. 0,1) or 'all', got {value!r}")


def prune_rule(value: Any):
    """A rule's name, or a ``PruneRule`` (the Python API) taken as it is."""
    if type(value).__name__ == "PruneRule":
        return value
    return one_of(PRUNE_RULES)(value)


def function(value: Any) -> Callable:
    if not callable(value):
        raise ValueError(f"must be a function, got {value!r}")
    return value


@dataclass(frozen=True)
class Option:
    name: str  # the search() keyword, and the command line's flag with dashes
    read: Callable[[Any], Any]
    default: Any = None
    help: str = ""  # "(default: ...)" is added from ``default``, or ``default_text`` where given
    field: str | None = None  # SearchSettings' field (None: ``name``; "" none: composed)
    flag: str | None = ""  # "" : --name with dashes; None: Python API only
    old_flags: tuple[str, ...] = ()  # earlier names the command line still takes
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    default_text: str | None = None  # the default in words, where the value does not say it
    # The mode it acts in: (option, values it must have) pairs; given outside it, it would
    # silently do nothing, so it is refused.
    needs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    in_defaults: bool = False  # also a key of a space file's DEFAULTS
    example: str = ""  # a value as written on the command line (the table's own test uses it)
    none_is_a_value: bool = False  # None means something of its own, not "the default"

    @property
    def setting(self) -> str:
        return self.name if self.field is None else self.field

    @property
    def cli(self) -> str | None:
        return None if self.flag is None else (self.flag or "--" + self.name.replace("_", "-"))

    @property
    def is_switch(self) -> bool:
        return self.read is switch

    @property
    def keywords(self) -> tuple[str, ...]:
        """The search() keywords that set it: its name and, where it differs, its field's."""
        return (self.name,) + ((self.field,) if self.field and self.field != self.name else ())

    def mode_text(self, api: bool = False) -> str:
        parts = []
        for name, values in self.needs:
            if api:
                parts.append(f"{name}={values[0]!r}" if len(values) == 1 else
                             f"{name} one of {', '.join(map(repr, values))}")
            else:
                parts.append(f"{OPTION[name].cli} {' or '.join(values)}")
        return " and ".join(parts)


WORKERS = (("isolation", ("process",)), ("executor", ("local",)))
# Defaults the help of another option names too.
PRUNE_PERCENTILE = 25.0  # --prune percentile: keep the trials above the lowest quarter
MEMORY_GROWTH_MB = 2048.0  # a worker is replaced once its memory grew by this

OPTIONS: tuple[Option, ...] = (
    Option("data_dir", folder, metavar="DIR", example="data",
           default_text="Keras' cache ~/.keras/datasets, else a download",
           help="folder holding the dataset's official files, read from there only"),
    Option("max_evals", whole(1), example="7",
           default_text="until Ctrl-C",
           help="total number of trials in the results folder, earlier runs included; a "
                "relaunch continues up to it; with --max-params or --max-latency-ms, networks "
                "trained within that budget"),
    Option("algo", one_of(ALGORITHMS), "tpe", choices=ALGORITHMS, example="rand",
           help="hyperopt's search algorithm; grid tries every combination of a fully discrete "
                "space once, in seeded random order"),
    Option("epochs", whole(1), in_defaults=True, example="3", default_text="the space file's",
           help="maximum epochs per trial"),
    Option("max_train_samples", whole(1), in_defaults=True, example="500",
           default_text="the space file's, usually all",
           help="train on a stratified subset of this many images"),
    Option("max_params", option_values.parameter_count, in_defaults=True, metavar="N",
           example="50k", default_text="the space file's, usually none",
           help="the size budget: a network with more parameters (50000, 50k, 1.5M) is built, "
                "measured and recorded as over budget, not trained; the search learns to "
                "propose within it"),
    Option("max_latency_ms", option_values.milliseconds, in_defaults=True, metavar="T",
           example="2.5", default_text="none",
           help="the latency budget: a network slower than T ms to predict one image (batch 1, "
                "median of 20 warm calls on the trial's device) is not trained"),
    Option("objective", text, metavar="NAME", example="val_loss",
           default_text="val_accuracy of the primary head",
           help="what trials are selected on: a metric the model logs on the validation data, "
                "as Keras names it (val_loss, val_auc, val_<your metric>)"),
    Option("direction", one_of(DIRECTIONS), choices=DIRECTIONS, example="min",
           default_text="inferred from --objective's name: losses and errors lower, accuracies "
                        "and AUC higher",
           help="whether a higher or lower --objective is better"),
    Option("size_weight", number(0), in_defaults=True, metavar="W", example="0.01",
           default_text="none",
           help="the soft form of a size budget: every network trains, and the search is told "
                "validation loss + W x ln(parameters), so it trades accuracy for size (W 0.01: "
                "a network 2.7 times smaller is worth a point of accuracy)"),
    Option("seed", whole(0), 0, example="3",
           help="seed of the validation split and of every trial"),
    Option("max_consecutive_failures", whole(1), 3, example="5",
           help="stop after this many failed trials in a row"),
    Option("executions_per_trial", whole(1), 1, example="2",
           help="train each sampled configuration this many times with different seeds; the "
                "objective is the mean, the spread is recorded"),
    Option("cv", whole(2), field="cv_folds", metavar="K", example="5", default_text="none",
           help="K-fold cross-validation on the training data (for small datasets); the "
                "objective is the mean over the folds"),
    Option("timeout", option_values.duration, field="timeout_s", metavar="DURATION",
           example="2m", default_text="none",
           help="stop the whole search after this long: 90s, 30m, 2h or seconds (the running "
                "trial stops at its next epoch end and counts)"),
    Option("trial_timeout", option_values.duration, field="trial_timeout_s",
           metavar="DURATION", example="90s", default_text="none",
           help="stop a trial at the first epoch end past this long; it counts with what it "
                "reached"),
    Option("isolation", one_of(ISOLATIONS), "process", choices=ISOLATIONS, example="none",
           help="train trials in worker processes that load TensorFlow and the data once and "
                "are replaced only when they die or their memory grows (process), or in this "
                "process (none: no worker start-up, but TensorFlow's memory grows with every "
                "trial)"),
    Option("progress", one_of(PROGRESS_MODES), "auto", choices=PROGRESS_MODES, example="lines",
           help="the running trials on the console: live lines redrawn in place (epoch, batch, "
                "images/s), plain lines at epoch ends every 30 s or more (for logs), or nothing; "
                "auto: live on a terminal, lines otherwise"),
    Option("workers", whole(1), needs=WORKERS, example="2",
           default_text="one per GPU of --gpus, else 1",
           help="worker processes training trials side by side; with GPUs each worker takes one "
                "in turn"),
    Option("gpus", gpu_ids, metavar="IDS", needs=WORKERS, example="0,1",
           default_text="workers are not pinned",
           help="GPUs for the workers, e.g. 0,1,2,3, or 'all' for every visible one; each worker "
                "sees only its own (CUDA_VISIBLE_DEVICES) and the GPU is in each trial's record"),
    Option("trials_per_gpu", whole(1), metavar="N", needs=WORKERS, example="2",
           default_text="1: one per GPU",
           help="N workers on each GPU of --gpus, training side by side, each held to its share "
                "of the GPU's memory; a small network leaves most of a large GPU idle"),
    Option("trials_per_worker", whole(1), example="4",
           default_text=f"only when it dies or its memory grew by {MEMORY_GROWTH_MB / 1024:g} GiB",
           help="also replace a worker after this many trials"),
    Option("compile_cache", switch, True, flag="--no-compile-cache",
           help="compile every trial afresh: by default compiled networks are kept in "
                "<results-dir>/compile_cache/ for later trials and relaunches"),
    Option("steps_per_execution", whole(1), metavar="N", example="4",
           default_text="32 under JAX on a GPU, where it measured 1.2x faster, else 1",
           help="training steps per call from Keras' loop, callbacks between; each record says "
                "what its model used"),
    Option("data_on_gpu", switch, False,
           help="under JAX, keep the training, validation and test images on the GPU and gather "
                "each batch there (for data sets of up to 2 GiB; not the default: not yet "
                "measured faster than host batches)"),
    Option("mixed_precision", one_of(PRECISION_MODES), "auto", choices=PRECISION_MODES,
           example="off",
           help="train in mixed precision: auto uses bfloat16 (compute capability 8.0 and above, "
                "else float16) only where a measurement of that GPU says it is faster at the "
                "space's batch sizes, else float32, and the first line says which and why; on "
                "(float16, with loss scaling) and bfloat16 also run on a CPU (slowly); each "
                "record says the dtype policy its model used"),
    Option("xla", one_of(ACCELERATOR_MODES), "auto", choices=ACCELERATOR_MODES, example="off",
           help="compile training with XLA: auto is on with a GPU and off without"),
    Option("keras_backend", one_of(KERAS_BACKENDS), choices=KERAS_BACKENDS,
           example="tensorflow", default_text="$KERAS_BACKEND, else tensorflow",
           help="the Keras backend trials train on: tensorflow, jax or torch; a relaunch with "
                "another continues the same search"),
    Option("deterministic", switch, False,
           help="deterministic kernels (TensorFlow's op determinism, PyTorch's deterministic "
                "algorithms, JAX's XLA flag): the same trial trained again gives the same "
                "scores, on a GPU too, at some cost in speed; recorded, and retrain repeats it"),
    Option("keep_models", whole(0), 3, metavar="K", example="1",
           help="keep the trained networks of the K best trials in <results-dir>/best_models/, "
                "replaced as better ones end (0: none); load them with hyperopt_nas.load_model"),
    Option("plot", switch, True, field="", flag="--no-plot",
           help="do not redraw best_model.png and the search plots during the search"),
    Option("startup_trials", whole(1), example="5",
           default_text="a quarter of --max-evals, or of the trials --timeout allows, between 3 "
                        "and 20; 20 without a budget",
           help="tpe: random trials before TPE models the results"),
    Option("schedule", one_of(SCHEDULES), "none", choices=SCHEDULES, example="asha",
           help="asha: asynchronous successive halving, a configuration promoted to more epochs "
                "as soon as it is in the top 1/eta of its rung, TPE modelling one rung's "
                "scores; hyperband: brackets of successive halving, a rung promoted when it is "
                "complete; promotions continue from their saved model, and --max-evals counts "
                "every run (docs/usage.md)"),
    Option("eta", whole(2), 3, needs=(("schedule", ("hyperband", "asha")),), example="2",
           help="asha, hyperband: a rung keeps the best 1/eta of its runs, and the next rung "
                "trains eta times the epochs"),
    Option("min_epochs", whole(1), 1, needs=(("schedule", ("asha",)),), example="2",
           help="asha: the epochs of the first rung"),
    Option("prune", prune_rule, "none", choices=PRUNE_RULES, example="median",
           help="stop a trial whose best validation score so far is below the median (or "
                "--prune-percentile) of earlier trials at the same epoch; it is recorded as "
                "pruned with the score it reached"),
    Option("prune_percentile", number(0, 100, low_included=False, example="25"), field="",
           needs=(("prune", ("percentile",)),), example="10",
           default_text=f"{PRUNE_PERCENTILE:g}, keeping the top three quarters",
           help="the percentile of earlier trials a trial must reach to go on"),
    Option("prune_warmup", whole(1), 2, field="", needs=(("prune", ("median", "percentile")),),
           example="1", help="epochs every trial runs before it can be pruned"),
    Option("prune_min_trials", whole(1), 3, field="",
           needs=(("prune", ("median", "percentile")),), example="5",
           help="earlier trials that must have reached an epoch before pruning judges at it"),
    Option("executor", one_of(EXECUTORS), "local", field="backend", old_flags=("--backend",),
           choices=EXECUTORS, example="spark",
           help="run trials on this machine (local), or in parallel on Apache Spark through "
                "hyperopt's SparkTrials (--backend is its old name)"),
    Option("parallelism", whole(1), 2, needs=(("executor", ("spark",)),), example="3",
           help="spark: trials run at the same time"),
    Option("spark_master", text, needs=(("executor", ("spark",)),), example="local[2]",
           default_text="local[PARALLELISM], or spark-submit's master",
           help="spark: the cluster's master URL, e.g. spark://host:7077"),
    Option("tensorboard", switch, True, flag="--no-tensorboard",
           help="do not write TensorBoard logs (<results-dir>/tensorboard)"),
    Option("reuse_trials", switch, False,
           help="feed the folder's trials to the search even if they were made on other data, "
                "another validation split (--seed) or another budget (--epochs, "
                "--max-train-samples); refused without this"),
    Option("start_points", switch, True, flag="--no-start-points",
           help="do not try the space file's START_POINTS first"),
    Option("test_every_trial", switch, False,
           help="evaluate every trial on the test split (default: only a trial that beats all "
                "earlier ones by its objective, the model the search would select; under --cv "
                "or --executions-per-trial every trial is)"),
    # The Python API's own: what a script sets and a command line has no use for.
    Option("plot_best", switch, True, flag=None,
           help="redraw <results-dir>/best_model.png after each new best"),
    Option("plot_search", switch, True, flag=None,
           help="refresh the search plots after each trial"),
    Option("on_trial_end", function, flag=None,
           help="called with each trial's record once it is saved (Optuna's callbacks=, Keras "
                "Tuner's on_trial_end); an error in it is reported and the search goes on"),
    Option("memory_growth_mb", number(0, low_included=False, example="2048"), MEMORY_GROWTH_MB,
           flag=None, help="replace a worker whose memory grew by more than this"),
    Option("snapshot_every_s", number(0, example="60"), 60.0, flag=None,
           help="write results.pkl at most this often (0: after each trial)"),
    Option("tpe_history", whole(1), 1000, flag=None, none_is_a_value=True,
           help="finished trials a proposer reads (None: all)"),
    Option("ask_ahead", switch, True, flag=None,
           help="with several workers, propose the next point while all are busy"),
    Option("head_start", switch, True, flag=None,
           help="with one worker and no GPU, train the first trials in this process (whose "
                "Keras is imported already) while the worker starts, instead of waiting for it; "
                "the worker takes every trial once it is ready"),
    Option("warm_workers", switch, True, flag=None,
           help="keep the idle workers when the search ends, for the next search of this "
                "process with the same backend and workers (a notebook's next search starts "
                "without importing the backend again); they end with the process"),
)

OPTION: dict[str, Option] = {o.name: o for o in OPTIONS}
BY_KEYWORD: dict[str, Option] = {k: o for o in OPTIONS for k in o.keywords}
DEFAULTS_KEYS = tuple(o.name for o in OPTIONS if o.in_defaults)


def default(name: str) -> Any:
    """An option's default, for ``SearchSettings``' field."""
    return OPTION[name].default


def help_text(option: Option) -> str:
    if option.is_switch:
        return option.help
    shown = option.default_text if option.default_text is not None else option.default
    return f"{option.help} (default: {shown})" if shown is not None else option.help


def add_to_parser(parser: argparse.ArgumentParser) -> None:
    """Every option with a flag, as ``parser``'s arguments; each reads to None unless given, so
    that ``given(args)`` knows what the user wrote."""
    for option in OPTIONS:
        if option.cli is None:
            continue
        flags = (option.cli, *option.old_flags)
        if option.is_switch:
            parser.add_argument(*flags, dest=option.name, action="store_const",
                                const=not option.default, default=None, help=help_text(option))
            continue
        parser.add_argument(*flags, dest=option.name, type=argparse_type(option.read),
                            choices=option.choices, metavar=option.metavar, default=None,
                            help=help_text(option))


def argparse_type(read: Callable[[Any], Any]) -> Callable[[str], Any]:
    """A reader as an argparse type: its ValueError as argparse's one line."""
    def convert(text: str) -> Any:
        try:
            return read(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    convert.__name__ = read.__name__
    return convert


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The options the command line gave (read already), by name."""
    return {o.name: getattr(args, o.name) for o in OPTIONS
            if o.cli is not None and getattr(args, o.name, None) is not None}


def read_keywords(keywords: dict[str, Any], who: str = "search()") -> dict[str, Any]:
    """``search()``'s keywords, by either name (``timeout`` or ``timeout_s``), read as the
    command line reads them: TypeError for an unknown keyword, ValueError for a bad value.
    None stands for the default, as an option not given."""
    values: dict[str, Any] = {}
    for keyword, value in keywords.items():
        option = BY_KEYWORD.get(keyword)
        if option is None:
            raise TypeError(f"{who} got unknown options {sorted(set(keywords) - set(BY_KEYWORD))}"
                            f"; it takes: {', '.join(sorted(BY_KEYWORD))}.")
        if option.name in values:
            raise TypeError(f"{who} got both {' and '.join(f'{k}=' for k in option.keywords)}; "
                            "give one.")
        if value is None and not option.none_is_a_value:
            continue
        try:
            values[option.name] = None if value is None else option.read(value)
        except ValueError as e:
            raise ValueError(f"{who}: {keyword} {e}.") from None
    return values


def outside_their_mode(values: dict[str, Any], api: bool = False) -> list[str]:
    """The given options whose mode is not: each would silently do nothing."""
    def value(name: str) -> Any:
        v = values.get(name, OPTION[name].default)
        return getattr(v, "kind", v)  # a PruneRule by its rule's name

    return [f"{name if api else OPTION[name].cli} applies only with "
            f"{OPTION[name].mode_text(api)}"
            for name in values if OPTION[name].needs
            and not all(value(other) in allowed for other, allowed in OPTION[name].needs)]


def read_default(key: str, value: Any) -> Any:
    """A value of a space file's ``DEFAULTS`` for an option (``epochs``, ``max_params``, ...),
    read as the command line reads it; ValueError saying what it must be."""
    return OPTION[key].read(value)
