#!/usr/bin/env python3
"""Neural architecture search with hyperopt on Keras.

    python hyperopt_optimize.py                      # search the default CIFAR-100 space (TPE)
    python hyperopt_optimize.py --space search_spaces/fashion_mnist_cnn.py --max-evals 20
    python hyperopt_optimize.py rank [--top K] [--json]
    python hyperopt_optimize.py plot                 # PNGs and TensorBoard logs in results/
    python hyperopt_optimize.py report               # results/report.html

Every trial is saved as it ends (``results/results.pkl`` and one JSON per trial); relaunching the
same command resumes the search.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import math
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from hyperopt_nas import interrupts  # a few milliseconds: signal and time
from hyperopt_nas.interrupts import STOP

EXIT_FATAL = 2
EXIT_INTERRUPTED = 130
INTERRUPTED_STARTING = "Interrupted while starting: nothing was done."

if __name__ == "__main__":  # from here on a Ctrl-C is never lost, not even one Python drops
    STOP.listen(raise_now=False)

try:  # the `hyperopt-nas` entry point imports this file: its Ctrl-C is one line here too
    # The options' choices and readers only: --help and an argument error answer at once.
    from hyperopt_nas import option_values
    from hyperopt_nas.choices import (ACCELERATOR_MODES, ALGORITHMS, EXECUTORS, ISOLATIONS,
                                      KERAS_BACKENDS, PRECISION_MODES, PROGRESS_MODES,
                                      PRUNE_RULES, SCHEDULES)
    from hyperopt_nas.errors import FatalError
    from hyperopt_nas.objectives import DIRECTIONS
except KeyboardInterrupt:
    print(INTERRUPTED_STARTING, file=sys.stderr)
    sys.exit(EXIT_INTERRUPTED)


def load_commands() -> None:
    """What the commands need, loaded once the command line is read (hyperopt and scipy among
    it: a second or more on a loaded machine, which --help and an argument error never pay).
    None of these imports TensorFlow: `rank`, `describe` and a search's own process never load
    it (a search trains in worker processes, unless --isolation none); `plot`, `report` and
    `retrain` load it in main()."""
    global data_loaders, engine, kept_models, retrain, machine, runtime, html_report, plots
    global reports, tensorboard_missing, PruneRule, SpaceFileError, describe_space
    global load_space_file, TENSORFLOW_LOG, StoreError, TrialStore
    from hyperopt_nas import data_loaders, engine, kept_models, retrain, runtime  # noqa: F811
    from hyperopt_nas import gpus as machine  # noqa: F811
    from hyperopt_nas.outputs import html_report, plots, reports  # noqa: F811
    from hyperopt_nas.outputs.refresher import tensorboard_missing  # noqa: F811
    from hyperopt_nas.schedulers.pruning import PruneRule  # noqa: F811
    from hyperopt_nas.space_files import (SpaceFileError, describe_space,  # noqa: F811
                                          load_space_file)
    from hyperopt_nas.trial_store import TENSORFLOW_LOG, StoreError, TrialStore  # noqa: F811


HERE = Path(__file__).resolve().parent
DEFAULT_SPACE = HERE / "search_spaces" / "cifar100.py"
COMMANDS = ("search", "rank", "plot", "report", "describe", "retrain")

logger = logging.getLogger("hyperopt_optimize")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def _argument(parse):
    """An option_values parser as an argparse type: its ValueError as argparse's one line."""
    def read(text: str):
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    read.__name__ = parse.__name__
    return read


parameter_count = _argument(option_values.parameter_count)
positive_ms = _argument(option_values.milliseconds)
positive_seconds = _argument(option_values.duration)


def size_weight(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a number of at least 0 (e.g. 0.01), got {text}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


class Parser(argparse.ArgumentParser):
    """argparse with one error line (what was wrong, and where help is) instead of the usage
    block, no abbreviated options (``--max-eval`` is not ``--max-evals``), and a suggestion for
    a misspelt one."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        if message.startswith("unrecognized arguments: "):
            known = [o for action in self._actions for o in action.option_strings]
            for word in message.split(": ", 1)[1].split():
                if not word.startswith("-") or word.split("=")[0] in known:
                    continue
                names = {o.lstrip("-"): o for o in known if o.startswith("--")}
                stem = word.split("=")[0].lstrip("-")
                close = ([n for n in names if n.startswith(stem)] or
                         difflib.get_close_matches(stem, names, n=1, cutoff=0.75))
                if len(close) == 1:
                    message = f"unrecognized option {word} (did you mean {names[close[0]]}?)"
                    break
        self.exit(EXIT_FATAL, f"error: {message}. See {self.prog} --help.\n")


def _common(parser: argparse.ArgumentParser, results: bool = True) -> None:
    if results:
        parser.add_argument("--results-dir", type=Path, default=Path("results"),
                            help="where trials are saved and read (default: results/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log diagnostics")


def _space_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--space", type=Path, default=None, help=f"search-space file ({default})")


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding the dataset's official files, read from there "
                             "only (default: Keras' cache ~/.keras/datasets, else a download)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=Path(sys.argv[0]).name or "hyperopt_optimize.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Each command has its own options: hyperopt_optimize.py COMMAND --help. Without "
               "a command, the options are search's.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    parser.commands = commands.choices  # each command's own parser, by name
    search = commands.add_parser(
        "search", help="run or resume a search (the default command)",
        description="Run or resume a search: every trial is saved as it ends; relaunching the "
                    "same command continues it.")
    _common(search)
    _space_option(search, "default: the one the trials already in the results folder used, "
                          "else search_spaces/cifar100.py")
    _data_dir_option(search)
    search.add_argument("--max-evals", type=positive_int, default=None,
                        help="total number of trials in the results folder, earlier runs "
                             "included; a relaunch continues up to it (default: until Ctrl-C); "
                             "with --max-params or --max-latency-ms, networks trained within "
                             "that budget")
    search.add_argument("--algo", default="tpe",
                        choices=ALGORITHMS,
                        help="hyperopt's search algorithm (default: tpe); grid tries every "
                             "combination of a fully discrete space once, in seeded random order")
    search.add_argument("--epochs", type=positive_int, default=None,
                        help="maximum epochs per trial (default: the space file's)")
    search.add_argument("--max-train-samples", type=positive_int, default=None,
                        help="train on a stratified subset of this many images "
                             "(default: the space file's, usually all)")
    search.add_argument("--max-params", type=parameter_count, default=None, metavar="N",
                        help="the size budget: a network with more parameters (50000, 50k, "
                             "1.5M) is built, measured and recorded as over budget, not trained; "
                             "the search learns to propose within it (default: the space "
                             "file's, usually none)")
    search.add_argument("--max-latency-ms", type=positive_ms, default=None, metavar="T",
                        help="the latency budget: a network slower than T ms to predict one "
                             "image (batch 1, median of 20 warm calls on the trial's device) is "
                             "not trained (default: none)")
    search.add_argument("--objective", default=None, metavar="NAME",
                        help="what trials are selected on: a metric the model logs on the "
                             "validation data, as Keras names it (val_loss, val_auc, "
                             "val_<your metric>; default: val_accuracy of the primary head)")
    search.add_argument("--direction", choices=DIRECTIONS, default=None,
                        help="whether a higher or lower --objective is better (default: "
                             "inferred from its name: losses and errors lower, accuracies and "
                             "AUC higher)")
    search.add_argument("--size-weight", type=size_weight, default=None, metavar="W",
                        help="the soft form of a size budget: every network trains, and the "
                             "search is told validation loss + W x ln(parameters), so it trades "
                             "accuracy for size (W 0.01: a network 2.7 times smaller is worth "
                             "a point of accuracy; default: none)")
    search.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the validation split and of every trial (default: 0)")
    search.add_argument("--max-consecutive-failures", type=positive_int, default=3,
                        help="stop after this many failed trials in a row (default: 3)")
    search.add_argument("--executions-per-trial", type=positive_int, default=1,
                        help="train each sampled configuration this many times with different "
                             "seeds; the objective is the mean, the spread is recorded")
    search.add_argument("--cv", type=int, default=None, metavar="K",
                        help="K-fold cross-validation on the training data (for small "
                             "datasets); the objective is the mean validation accuracy")
    search.add_argument("--timeout", type=positive_seconds, default=None, metavar="DURATION",
                        help="stop the whole search after this long: 90s, 30m, 2h or seconds "
                             "(the running trial stops at its next epoch end and counts)")
    search.add_argument("--trial-timeout", type=positive_seconds, default=None,
                        metavar="DURATION",
                        help="stop a trial at the first epoch end past this long; it counts "
                             "with what it reached")
    search.add_argument("--isolation", default="process", choices=ISOLATIONS,
                        help="train trials in worker processes that load TensorFlow and the data "
                             "once and are replaced only when they die or their memory grows "
                             "(default), or in this process (none: no worker start-up, but "
                             "TensorFlow's memory grows with every trial)")
    search.add_argument("--progress", default="auto", choices=PROGRESS_MODES,
                        help="the running trials on the console: live lines redrawn in place "
                             "(epoch, batch, images/s), plain lines at epoch ends every 30 s or "
                             "more (for logs), or nothing; auto (default): live on a terminal, "
                             "lines otherwise")
    search.add_argument("--workers", type=positive_int, default=None,
                        help="worker processes training trials side by side (default: one per "
                             "GPU of --gpus, else 1); with GPUs each worker takes one in turn")
    search.add_argument("--gpus", default=None, metavar="IDS",
                        help="GPUs for the workers, e.g. 0,1,2,3, or 'all' for every visible "
                             "one; each worker sees only its own (CUDA_VISIBLE_DEVICES) and the "
                             "GPU is in each trial's record (default: workers are not pinned)")
    search.add_argument("--no-compile-cache", action="store_true",
                        help="compile every trial afresh: by default compiled networks are kept "
                             "in <results-dir>/compile_cache/ for later trials and relaunches")
    search.add_argument("--steps-per-execution", type=positive_int, default=None, metavar="N",
                        help="training steps per call from Keras' loop, callbacks between "
                             "(default: 32 under JAX on a GPU, where it measured 1.2x faster, "
                             "else 1); each record says what its model used")
    search.add_argument("--data-on-gpu", action="store_true",
                        help="under JAX, keep the training, validation and test images on the "
                             "GPU and gather each batch there (for data sets of up to 2 GiB; "
                             "not the default: not yet measured faster than host batches)")
    search.add_argument("--trials-per-gpu", type=positive_int, default=None, metavar="N",
                        help="N workers on each GPU of --gpus, training side by side, each held "
                             "to its share of the GPU's memory (default 1: one per GPU); a "
                             "small network leaves most of a large GPU idle")
    search.add_argument("--mixed-precision", default="auto", choices=PRECISION_MODES,
                        help="train in mixed precision: auto (default) uses bfloat16 (compute "
                             "capability 8.0 and above, else float16) only where a measurement "
                             "of that GPU says it is faster at the space's batch sizes, else "
                             "float32, and the first line says which and why; on (float16, "
                             "with loss scaling) and bfloat16 also run on a CPU (slowly); each "
                             "record says the dtype policy its model used")
    search.add_argument("--xla", default="auto", choices=ACCELERATOR_MODES,
                        help="compile training with XLA: auto (default) is on with a GPU and off "
                             "without")
    search.add_argument("--keras-backend", choices=KERAS_BACKENDS, default=None,
                        help="the Keras backend trials train on: tensorflow, jax or torch "
                             "(default: $KERAS_BACKEND, else tensorflow); a relaunch with "
                             "another continues the same search")
    search.add_argument("--deterministic", action="store_true",
                        help="deterministic kernels (TensorFlow's op determinism, PyTorch's "
                             "deterministic algorithms, JAX's XLA flag): the same "
                             "trial trained again gives the same scores, on a GPU too, at some "
                             "cost in speed; recorded, and retrain repeats it")
    search.add_argument("--keep-models", type=non_negative_int, default=3, metavar="K",
                        help="keep the trained networks of the K best trials in "
                             "<results-dir>/best_models/, replaced as better ones end "
                             "(default: 3; 0: none); load them with hyperopt_nas.load_model")
    search.add_argument("--trials-per-worker", type=positive_int, default=None,
                        help="also replace a worker after this many trials (default: only when "
                             "it dies or its memory grew by 2 GiB)")
    search.add_argument("--no-plot", action="store_true",
                        help="do not redraw best_model.png and the search plots during the search")
    search.add_argument("--startup-trials", type=positive_int, default=None,
                        help="tpe: random trials before TPE models the results (default: a "
                             "quarter of --max-evals, or of the trials --timeout allows, "
                             "between 3 and 20; 20 without a budget)")
    search.add_argument("--schedule", choices=SCHEDULES, default="none",
                        help="asha: asynchronous successive halving, a configuration promoted "
                             "to more epochs as soon as it is in the top 1/eta of its rung, TPE "
                             "modelling one rung's scores; hyperband: brackets of successive "
                             "halving, a rung promoted when it is complete; promotions continue "
                             "from their saved model, and --max-evals counts every run "
                             "(docs/usage.md; default: none)")
    search.add_argument("--eta", type=positive_int, default=None,
                        help="asha, hyperband: a rung keeps the best 1/eta of its runs, and the "
                             "next rung trains eta times the epochs (default: 3)")
    search.add_argument("--min-epochs", type=positive_int, default=None,
                        help="asha: the epochs of the first rung (default: 1)")
    search.add_argument("--prune", choices=PRUNE_RULES, default="none",
                        help="stop a trial whose best validation accuracy so far is below the "
                             "median (or --prune-percentile) of earlier trials at the same epoch; "
                             "it is recorded as pruned with the score it reached (default: none)")
    search.add_argument("--prune-percentile", type=float, default=None,
                        help="percentile: the percentile of earlier trials a trial must reach "
                             "to go on (default: 25, keeping the top three quarters)")
    search.add_argument("--prune-warmup", type=positive_int, default=None,
                        help="epochs every trial runs before it can be pruned (default: 2)")
    search.add_argument("--prune-min-trials", type=positive_int, default=None,
                        help="earlier trials that must have reached an epoch before pruning "
                             "judges at it (default: 3)")
    search.add_argument("--executor", "--backend", dest="backend", choices=EXECUTORS,
                        default="local",
                        help="run trials on this machine (default), or in parallel on Apache "
                             "Spark through hyperopt's SparkTrials (--backend is its old name)")
    search.add_argument("--parallelism", type=positive_int, default=None,
                        help="spark: trials run at the same time (default: 2)")
    search.add_argument("--spark-master", default=None,
                        help="spark: the cluster's master URL, e.g. spark://host:7077 "
                             "(default: local[PARALLELISM], or spark-submit's master)")
    search.add_argument("--no-tensorboard", action="store_true",
                        help="do not write TensorBoard logs (<results-dir>/tensorboard)")
    search.add_argument("--reuse-trials", action="store_true",
                        help="feed the folder's trials to the search even if they were made on "
                             "other data, another validation split (--seed) or another budget "
                             "(--epochs, --max-train-samples); refused without this")
    search.add_argument("--no-start-points", action="store_true",
                        help="do not try the space file's START_POINTS first")
    search.add_argument("--test-every-trial", action="store_true",
                        help="evaluate every trial on the test split (default: only a trial "
                             "that beats all earlier ones by validation accuracy, the model the "
                             "search would select; under --cv or --executions-per-trial "
                             "every trial is)")

    rank = commands.add_parser("rank", help="the best trials, as a table (or JSON, CSV)",
                               description="The trials of a results folder, best first.")
    _common(rank)
    rank.add_argument("--top", type=positive_int, default=10, help="rows to show (default: 10)")
    rank.add_argument("--json", action="store_true", help="full records as JSON, for scripts")
    rank.add_argument("--csv", action="store_true",
                      help="every trial as one CSV row (scores, time, each hyperparameter), "
                           "best first, for a spreadsheet or pandas")
    rank.add_argument("--front", nargs="?", const="params", choices=("params", "latency"),
                      default=None,
                      help="only the accuracy-size front: the trials no other trial beats on "
                           "both validation accuracy and parameters (or latency), smallest first")
    rank.add_argument("--wide", action="store_true",
                      help="do not cut the hyperparameter column to the terminal's width")

    for name, text in (("plot", "the search plots, model graphs and TensorBoard logs"),
                       ("report", "results/report.html: one page on the search")):
        command = commands.add_parser(name, help=text, description=text[0].upper() + text[1:])
        _common(command)
        _space_option(command, "default: the one the folder's trials used")
        _out_option(command, "the pictures" + (" and the page" if name == "report" else ""))

    describe = commands.add_parser("describe", help="every hyperparameter of a space, and how "
                                                    "many combinations it has")
    _common(describe, results=False)
    _space_option(describe, "default: search_spaces/cifar100.py")

    retrain = commands.add_parser(
        "retrain", help="the best (or --trial N) configuration on training plus validation "
                        "data, saved")
    _common(retrain)
    _data_dir_option(retrain)
    retrain.add_argument("--trial", type=int, default=None,
                         help="the trial to retrain (default: the best)")
    _out_option(retrain, "the model (in models/)")
    retrain.add_argument("--keras-backend", choices=KERAS_BACKENDS, default=None,
                         help="the Keras backend to train on (default: the trial's own)")
    retrain.add_argument("--epochs", type=positive_int, default=None,
                         help="epochs to train (default: the epoch early stopping chose for "
                              "the trial)")
    retrain.add_argument("--full-data", action="store_true",
                         help="train on every training image, even where the search trained on "
                              "a subset (--max-train-samples)")
    return parser


def _out_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help=f"where to write {what} (default: the results folder; a new "
                             "temporary folder, named, when that is read-only)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; without a command (or with options only) it is ``search``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["search", *argv]
    parser = build_parser()
    if argv[0] not in COMMANDS:
        return parser.parse_args(argv)  # --help: it exits
    # The command's own parser reads its options, so that an error names its options only.
    args = parser.commands[argv[0]].parse_args(argv[1:])
    args.command = argv[0]
    if any(a == "--backend" or a.startswith("--backend=") for a in argv[1:]):
        print("note: --backend is now --executor (where trials run; --keras-backend chooses "
              "what trains them); the old name still works.", file=sys.stderr)
    load_commands()  # only now: --help and an argument error have exited above
    return args


# Options that only act in a mode: given without it they would silently do nothing.
NEEDS_MODE = {
    "prune_percentile": ("--prune-percentile", "--prune percentile",
                         lambda a: a.prune == "percentile"),
    "prune_warmup": ("--prune-warmup", "--prune median or percentile",
                     lambda a: a.prune != "none"),
    "prune_min_trials": ("--prune-min-trials", "--prune median or percentile",
                         lambda a: a.prune != "none"),
    "eta": ("--eta", "--schedule asha or hyperband", lambda a: a.schedule != "none"),
    "min_epochs": ("--min-epochs", "--schedule asha", lambda a: a.schedule == "asha"),
    "parallelism": ("--parallelism", "--executor spark (local trials run one at a time)",
                    lambda a: a.backend == "spark"),
    "spark_master": ("--spark-master", "--executor spark", lambda a: a.backend == "spark"),
    "workers": ("--workers", "worker processes (not with --isolation none or --executor spark, "
                "which has --parallelism)", lambda a: a.isolation == "process"
                and a.backend == "local"),
    "gpus": ("--gpus", "worker processes (not with --isolation none or --executor spark)",
             lambda a: a.isolation == "process" and a.backend == "local"),
    "trials_per_gpu": ("--trials-per-gpu", "worker processes (not with --isolation none or "
                       "--executor spark)",
                       lambda a: a.isolation == "process" and a.backend == "local"),
}


def _unused_options(args) -> list[str]:
    return [f"{option} applies only with {mode}"
            for key, (option, mode, active) in NEEDS_MODE.items()
            if getattr(args, key) is not None and not active(args)]


def parse_gpus(text: str | None) -> list[str] | None:
    """``--gpus``: None (not pinned), ``all`` (every visible GPU) or a list of ids."""
    if text is None:
        return None
    if text.strip().lower() == "all":
        gpus = machine.visible_gpus()
        if not gpus:
            raise ValueError("--gpus all: this machine shows no GPU (nvidia-smi lists none, or "
                             "CUDA_VISIBLE_DEVICES hides them); leave out --gpus.")
        return gpus
    gpus = [g.strip() for g in text.split(",")]
    if not all(g.isdigit() for g in gpus):
        raise ValueError(f"--gpus takes GPU numbers separated by commas (e.g. 0,1) or 'all', "
                         f"got {text!r}.")
    return machine.resolve_gpu_ids(gpus)


def settings_from_args(args) -> "engine.SearchSettings":
    """The search's settings from the command line's arguments (``search()`` makes the same
    from its keywords: ``hyperopt_nas.settings_of``). Raises ValueError for a bad value."""
    prune = PruneRule(args.prune, args.prune_percentile if args.prune == "percentile" else None,
                      args.prune_warmup or PruneRule.warmup_epochs,
                      args.prune_min_trials or PruneRule.min_trials)
    gpus = parse_gpus(args.gpus)
    workers = args.workers or (len(gpus) * (args.trials_per_gpu or 1) if gpus else 1)
    return engine.SearchSettings(
        space_path=_search_space(args), results_dir=args.results_dir,
        max_evals=args.max_evals, algo=args.algo, epochs=args.epochs,
        max_train_samples=args.max_train_samples, seed=args.seed, data_dir=args.data_dir,
        max_consecutive_failures=args.max_consecutive_failures, isolation=args.isolation,
        workers=workers, gpus=gpus, trials_per_gpu=args.trials_per_gpu,
        trials_per_worker=args.trials_per_worker,
        executions_per_trial=args.executions_per_trial,
        cv_folds=args.cv, timeout_s=args.timeout, trial_timeout_s=args.trial_timeout,
        plot_best=not args.no_plot, plot_search=not args.no_plot,
        tensorboard=not args.no_tensorboard, test_every_trial=args.test_every_trial, prune=prune,
        start_points=not args.no_start_points, reuse_trials=args.reuse_trials,
        startup_trials=args.startup_trials, schedule=args.schedule,
        eta=args.eta or engine.SearchSettings.eta,
        min_epochs=args.min_epochs or engine.SearchSettings.min_epochs,
        backend=args.backend, keras_backend=args.keras_backend,
        parallelism=args.parallelism or engine.SearchSettings.parallelism,
        spark_master=args.spark_master, progress=args.progress,
        mixed_precision=args.mixed_precision, xla=args.xla, deterministic=args.deterministic,
        compile_cache=not args.no_compile_cache, steps_per_execution=args.steps_per_execution,
        data_on_gpu=args.data_on_gpu,
        keep_models=args.keep_models, max_params=args.max_params,
        max_latency_ms=args.max_latency_ms, size_weight=args.size_weight,
        objective=args.objective, direction=args.direction)


def command_search(args) -> int:
    unused = _unused_options(args)
    if unused:
        print(f"error: {'; '.join(unused)}. Add that, or leave the option out.", file=sys.stderr)
        return EXIT_FATAL
    try:
        settings = settings_from_args(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FATAL
    summary = engine.run_search(settings)
    if summary.over_budget:
        print(f"{summary.over_budget} of this run's {summary.completed} points were over the size "
              "budget: built and measured, not trained (over_budget_trial-*.json); `rank "
              "--front` lists the networks no other beats on both accuracy and size.")
    if summary.best is not None:
        size = summary.best.model_params
        print(f"Best: trial {summary.best.number}, {summary.best.objective.words} "
              f"{summary.best.score:.4f}" + (f", {size:,} parameters." if size else "."))
        full = summary.best_full
        if full is not None and full.number != summary.best.number:
            print(f"Best trained to the full {full.budget.get('epochs')} epochs: trial "
                  f"{full.number}, {full.objective.words} {full.score:.4f}.")
        _say_tie(settings.results_dir)
        print(_next_commands(settings.results_dir))
    if summary.interrupted:
        return EXIT_INTERRUPTED
    if summary.completed and not summary.any_ok:
        print(f"error: none of the {summary.completed} trials of this run succeeded; each "
              f"failed_trial-*.json in {settings.results_dir} holds its error and traceback.",
              file=sys.stderr)
        return EXIT_FATAL
    return 0


def _next_commands(results_dir: Path) -> str:
    """What to run next, for the results folder this search used."""
    me = shlex.quote(sys.argv[0]) if sys.argv and sys.argv[0] else "hyperopt_optimize.py"
    if me.endswith(".py"):
        me = f"python {me}"
    folder = ("" if results_dir == Path("results")
              else f" --results-dir {shlex.quote(str(results_dir))}")
    return (f"Next: {me} rank{folder}  (the best trials) | {me} report{folder}  (one page) | "
            f"{me} retrain{folder}  (the best model, saved)")


def _results_folder(args) -> Path:
    """The results folder a command reads; it must exist (a search makes it)."""
    folder = args.results_dir
    if not folder.is_dir():
        what = "is a file, not a results folder" if folder.exists() else "does not exist"
        raise StoreError(f"{folder} {what}: run a search first, or pass the --results-dir "
                         "it used.")
    return folder


def _say_tie(results_dir: Path) -> None:
    """Say how many trials the validation split cannot tell from the best, when there are."""
    tie = reports.tied_with_best(TrialStore(results_dir).load_records())
    if tie:
        print(f"{reports.tie_sentence(tie)}.")


def command_rank(args) -> int:
    records = TrialStore(_results_folder(args)).load_records()
    if not records:
        print(f"error: no trial in {args.results_dir} yet: run a search first.", file=sys.stderr)
        return EXIT_FATAL
    if args.csv:
        sys.stdout.write(reports.rank_csv(records, args.front))
    elif args.json:
        print(reports.rank_json(records, args.top, args.front))
    else:
        width = (shutil.get_terminal_size().columns if sys.stdout.isatty() and not args.wide
                 else None)
        print(reports.rank_table(records, args.top, width, args.front))
        print(_kept_models_line(args.results_dir))
    return 0


def _kept_models_line(results_dir: Path) -> str:
    """Which trials' trained networks the folder keeps, and how to load them."""
    kept = kept_models.kept_numbers(results_dir)
    if not kept:
        return ("No trained network is kept (--keep-models 0, or an older search): "
                "`retrain` trains one.")
    return (f"Trained networks kept for trial{'s' if len(kept) > 1 else ''} "
            f"{', '.join(map(str, kept))} in {results_dir / kept_models.FOLDER}: "
            f"hyperopt_nas.load_model({str(results_dir)!r}, number) loads one.")


def command_plot(args) -> int:
    records = TrialStore(_results_folder(args)).load_records()
    if not records and args.space is None:
        print(f"error: no trial in {args.results_dir} yet: run a search first, or pass --space "
              "to draw a space's demo network there.", file=sys.stderr)
        return EXIT_FATAL
    out = args.out
    if records:
        for path in plots.plot_all(records, out):
            print(f"wrote {path}")
        _write_tensorboard(records, args)
    best = reports.ranked(records)[:1]
    space_file = load_space_file(_space_of_folder(args, records))
    if best:
        path = reports.draw_trial(best[0], args.results_dir, out / reports.BEST_MODEL_PNG)
        print(f"best trial {best[0].number}'s model: {path}")
    else:
        print(f"no completed trial in {args.results_dir} yet: only the demo model is drawn")
    if space_file.demo_point is not None:
        path = reports.plot_model_graph(space_file.demo_point, space_file,
                                        _data_info(space_file, records),
                                        out / reports.DEMO_MODEL_PNG,
                                        title=f"demo model of {space_file.name}")
        print(f"demo model of {space_file.name}: {path}")
    return 0


def _data_info(space_file, records):
    """The data's shape and classes: as the trials recorded them, as the built-in dataset
    says, or (the space file's own data, before any trial) by loading it."""
    same = [r for r in records if r.dataset == space_file.dataset]
    if same:
        return data_loaders.record_info(max(same, key=lambda r: r.number))
    if space_file.dataset in data_loaders.DATASETS:
        return data_loaders.DATASETS[space_file.dataset]
    return space_file.load().info


def _search_space(args) -> Path:
    """--space, else the space of the trials already in the results folder, else CIFAR-100's."""
    if args.space is not None:
        return args.space
    store = TrialStore(args.results_dir)
    records = store.load_records() if args.results_dir.is_dir() else []
    path = store.space_path(records) if records else None
    if path is None:
        return DEFAULT_SPACE
    print(f"Continuing with the space of the trials in {args.results_dir}: {path} "
          "(pass --space to choose another).")
    return path


def _space_of_folder(args, records) -> Path:
    """The space a command about a results folder uses: --space, else the folder's own."""
    if args.space is not None:
        return args.space
    if not records:
        return DEFAULT_SPACE
    path = TrialStore(args.results_dir).space_path(records)
    if path is None:
        named = max(records, key=lambda r: r.number).space_file
        raise SpaceFileError(f"the space file of the trials in {args.results_dir} ({named}) is "
                             "gone and the folder keeps no copy of it: pass it with --space.")
    return path


def _write_tensorboard(records, args) -> None:
    """Bring the TensorBoard logs up to date, declared with the space the newest trial used.

    Without tensorboard (a broken install) this says so in one line and the command goes on:
    the plots and the records do not need it, as the search's own refresher does not."""
    try:
        # Here, not at the top: at the top a missing tensorboard would stop every command at
        # import, before the search, where the refresher treats it as a warning.
        from hyperopt_nas.outputs import tensorboard_logs
    except ImportError as e:
        print(f"warning: {tensorboard_missing(e)}.", file=sys.stderr)
        return
    space_file = load_space_file(_space_of_folder(args, records))
    newest = max(records, key=lambda r: r.number)
    written = tensorboard_logs.sync(args.out, records, space_file,
                                    list(data_loaders.record_info(newest).heads))
    print(f"TensorBoard logs in {args.out / tensorboard_logs.LOG_DIR} ({written} new "
          f"runs): tensorboard --logdir {args.out / tensorboard_logs.LOG_DIR}")


def command_report(args) -> int:
    records = TrialStore(_results_folder(args)).load_records()
    if not records:
        print(f"error: no trial in {args.results_dir} yet: run a search first.", file=sys.stderr)
        return EXIT_FATAL
    plots.plot_all(records, args.out)
    best = reports.ranked(records)[:1]
    best_png = args.out / reports.BEST_MODEL_PNG
    if best and not best_png.exists():
        try:
            reports.draw_trial(best[0], args.results_dir, best_png)
        except reports.GraphvizMissing as e:
            print(f"the report has no model graph: {e}")
    path = html_report.write_report(records, args.results_dir, out_dir=args.out)
    print(f"wrote {path} ({len(records)} trials): open it in a browser")
    return 0


def command_describe(args) -> int:
    print(describe_space(load_space_file(args.space or DEFAULT_SPACE)))
    return 0


def command_retrain(args) -> int:
    result = retrain.retrain(args.results_dir, number=args.trial, data_dir=args.data_dir,
                             out_dir=args.out, keras_backend=args.keras_backend,
                             epochs=args.epochs, full_data=args.full_data)
    tested = (f"test accuracy {result.test_accuracy:.4f}" if result.test_accuracy is not None
              else "no test data, so nothing was evaluated")
    print(f"trial {result.number} retrained on {result.train_samples:,} images for "
          f"{result.epochs} epochs on Keras' {runtime.active()} backend: {tested}"
          f"{' (deterministic kernels, as the trial)' if result.deterministic else ''}. "
          f"Saved to {result.path}")
    record = retrain.trial(args.results_dir, result.number)
    scored = record.test_accuracy
    if scored is not None and result.test_accuracy is not None:
        print(f"The search's own network of trial {result.number} scored {scored:.4f} on the "
              "test split; this one trained on training + validation data, from a new start, "
              "so its score may differ either way.")
    return 0


def _writable(folder: Path) -> bool:
    """Whether this process can create files in ``folder`` (tried: a read-only mount, a
    network share or a sandbox can say yes to a permission check and no to a write)."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def _output_folder(args) -> Path:
    """Where plot, report and retrain write: --out, else the results folder, else (one shared
    read-only, say) a new temporary folder, named in one line."""
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        return args.out
    if _writable(args.results_dir):
        return args.results_dir
    out = Path(tempfile.mkdtemp(prefix=f"hyperopt-nas-{args.results_dir.name}-"))
    print(f"{args.results_dir} is read-only: writing to {out} instead (--out DIR chooses "
          "where).")
    return out


def _drawing_backend(args) -> str | None:
    """The Keras backend plot, report and retrain load: --keras-backend; for retrain the
    trial's own; else the one asked for ($KERAS_BACKEND, TensorFlow) if installed, else one
    that is (drawing a network needs any)."""
    if getattr(args, "keras_backend", None):
        return args.keras_backend
    if args.command == "retrain":
        try:
            return retrain.trial(args.results_dir, args.trial).keras_backend
        except retrain.RetrainError:
            return None  # retrain itself says so
    wanted = runtime.requested()
    if runtime.missing(wanted) is None:
        return wanted
    return next((name for name in KERAS_BACKENDS if runtime.missing(name) is None), wanted)


def main(argv: list[str] | None = None) -> int:
    """Ctrl-C and SIGTERM stop any command in one line and exit 130 (``interrupts.STOP``); a
    search stops at once and keeps every trial that ended. Run as a script, it listens from the
    file's first lines; called (the `hyperopt-nas` entry point, tests), from here."""
    with interrupts.listening(interrupts.SIGNALS, raise_now=False):
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    try:
        args = parse_args(argv)
        STOP.start_raising()  # a request made while starting stops here
    except KeyboardInterrupt:
        print(INTERRUPTED_STARTING, file=sys.stderr)
        return EXIT_INTERRUPTED
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
    handlers = {"search": command_search, "rank": command_rank, "plot": command_plot,
                "report": command_report,
                "describe": command_describe, "retrain": command_retrain}
    try:
        if (args.command in ("plot", "report", "retrain") and args.results_dir.is_dir()
                and TrialStore(args.results_dir).is_results_folder()):  # write nowhere else
            args.out = _output_folder(args)
            runtime.choose(_drawing_backend(args))
            runtime.current().import_quietly(args.out / TENSORFLOW_LOG)
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader stopped early (rank --json | head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (FatalError, SpaceFileError, StoreError, reports.GraphvizMissing,
            retrain.RetrainError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FATAL
    except OSError as e:  # a folder not writable, a full disk: one line, not a traceback
        where = f" ({e.filename})" if e.filename else ""
        print(f"error: {e.strerror or e}{where}. Nothing was lost; fix that and run the command "
              "again.", file=sys.stderr)
        return EXIT_FATAL


if __name__ == "__main__":
    sys.exit(main())
