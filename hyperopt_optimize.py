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
    from hyperopt_nas import options
    from hyperopt_nas.choices import KERAS_BACKENDS
    from hyperopt_nas.errors import FatalError
except KeyboardInterrupt:
    print(INTERRUPTED_STARTING, file=sys.stderr)
    sys.exit(EXIT_INTERRUPTED)


def load_commands() -> None:
    """What the commands need, loaded once the command line is read (hyperopt and scipy among
    it: a second or more on a loaded machine, which --help and an argument error never pay).
    None of these imports TensorFlow: `rank`, `describe` and a search's own process never load
    it (a search trains in worker processes, unless --isolation none); `plot`, `report` and
    `retrain` load it in main()."""
    global data_loaders, engine, kept_models, retrain, runtime, html_report, plots
    global reports, tensorboard_missing, SpaceFileError, describe_space, settings
    global load_space_file, TENSORFLOW_LOG, StoreError, TrialStore
    from hyperopt_nas import data_loaders, engine, kept_models, retrain, runtime  # noqa: F811
    from hyperopt_nas import settings  # noqa: F811
    from hyperopt_nas.outputs import html_report, plots, reports  # noqa: F811
    from hyperopt_nas.outputs.refresher import tensorboard_missing  # noqa: F811
    from hyperopt_nas.space_files import (SpaceFileError, describe_space,  # noqa: F811
                                          load_space_file)
    from hyperopt_nas.trial_store import TENSORFLOW_LOG, StoreError, TrialStore  # noqa: F811


HERE = Path(__file__).resolve().parent
DEFAULT_SPACE = HERE / "search_spaces" / "cifar100.py"
COMMANDS = ("search", "rank", "plot", "report", "describe", "retrain")

logger = logging.getLogger("hyperopt_optimize")


positive_int = options.argparse_type(options.whole(1))


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
    options.add_to_parser(search)

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


def settings_from_args(args) -> "engine.SearchSettings":
    """The search's settings from the command line's arguments, as ``search()`` makes them from
    its keywords (both from ``options.OPTIONS``). Raises ValueError for an option outside its
    mode or GPUs that are not there."""
    return settings.settings_from(_search_space(args), args.results_dir, options.given(args))


def command_search(args) -> int:
    try:
        asked = settings_from_args(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FATAL
    summary = engine.run_search(asked)
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
        _say_tie(asked.results_dir)
        print(_next_commands(asked.results_dir))
    if summary.interrupted:
        return EXIT_INTERRUPTED
    if summary.completed and not summary.any_ok:
        print(f"error: none of the {summary.completed} trials of this run succeeded; each "
              f"failed_trial-*.json in {asked.results_dir} holds its error and traceback.",
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
        _load_backend_unless_kept(args, best[0])
        path = reports.draw_trial(best[0], args.results_dir, out / reports.BEST_MODEL_PNG)
        print(f"best trial {best[0].number}'s model: {path}")
    else:
        print(f"no completed trial in {args.results_dir} yet: only the demo model is drawn")
    if space_file.demo_point is not None:
        _load_backend(args)
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
        _load_backend_unless_kept(args, best[0])
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


def _load_backend(args) -> None:
    """Choose and import the Keras backend a command builds networks with, its start-up lines
    to tensorflow.log in the output folder: only when a network is built (retrain, a demo
    network, a trial whose graph was not kept), since importing TensorFlow takes seconds."""
    runtime.choose(_drawing_backend(args))
    runtime.current().import_quietly(args.out / TENSORFLOW_LOG)


def _load_backend_unless_kept(args, record) -> None:
    """Before drawing ``record``'s network: the Keras backend, only if its worker kept no graph
    of it (a folder of an earlier version: the network is built again)."""
    if TrialStore(args.results_dir).load_graph(record.number) is None:
        _load_backend(args)


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
            if args.command == "retrain":  # plot and report draw from the trials' graphs
                _load_backend(args)
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
