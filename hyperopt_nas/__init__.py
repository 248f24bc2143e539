"""Neural architecture search with hyperopt on Keras: the Python API.

    import hyperopt_nas

    summary = hyperopt_nas.search("search_spaces/fashion_mnist_cnn.py", max_evals=20,
                                  epochs=3, results_dir="results")
    print(summary.best.number, summary.best.score)
    table = hyperopt_nas.results_table("results")  # a pandas DataFrame with pandas installed
    model = hyperopt_nas.load_model("results")     # the best trial's network, as trained
    models = hyperopt_nas.best_models("results")   # [(record, model)], best first
    hyperopt_nas.retrain.retrain("results")        # best trial on train + validation, saved

It runs from a script (without a ``__main__`` guard: the trial workers never import it), a
notebook, or code fed on standard input.

``search`` takes the command line's options as keyword arguments (``SearchSettings`` lists them:
``max_evals``, ``epochs``, ``max_train_samples``, ``seed``, ``workers``, ``gpus``, ``timeout_s``,
``prune``, ``schedule``, ``backend``, ``max_params``...), also by the command line's names and
spellings (``timeout="2m"``, ``cv=5``, ``prune="median"``, ``max_params="50k"``). Importing this
package loads no TensorFlow.

The package's own names import their modules when first used (``__getattr__`` and the imports
inside ``search`` and ``results_table``): every process of a search (workers, the drawing
process) imports this package, and it stays a few milliseconds to import.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

from hyperopt_nas.child_processes import watch_parent_if_helper
from hyperopt_nas.errors import FatalError

# A helper process of a search (a trial worker, the drawing process) imports this package first
# of all it loads: from here on it ends if the search is killed, even while still importing.
watch_parent_if_helper()

__all__ = ["search", "results_table", "best_config", "load_model", "best_models",
           "SearchSettings", "SearchSummary", "FatalError"]
_LAZY = {"SearchSettings": ("hyperopt_nas.engine", "SearchSettings"),
         "SearchSummary": ("hyperopt_nas.engine", "SearchSummary"),
         "best_config": ("hyperopt_nas.retrain", "best_config"),
         "load_model": ("hyperopt_nas.retrain", "load_model"),
         "best_models": ("hyperopt_nas.retrain", "best_models_of")}


# Modules the docs use as attributes of the package (``hyperopt_nas.retrain.retrain(...)``),
# imported when first used like the names above.
_SUBMODULES = ("retrain", "hp")


def __getattr__(name: str) -> Any:  # the heavier names, imported when first used
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    if name in _SUBMODULES:
        return importlib.import_module(f"hyperopt_nas.{name}")
    raise AttributeError(f"module 'hyperopt_nas' has no attribute {name!r}")


def search(space: str | Path | dict, results_dir: str | Path = "results",
           say: Callable[[str], None] = print, *, build_model: Callable | None = None,
           x: Any = None, y: Any = None, validation_data: Any = None,
           validation_split: float | None = None, test_data: Any = None,
           callbacks: list | None = None, **options: Any):
    """Run (or resume) a search into ``results_dir``; returns a ``SearchSummary``
    (``completed``, ``total``, ``best``: the best trial's record).

    ``space`` is a space file's path, or a dict of hyperopt expressions searched with
    ``build_model(params)`` (a function of the point that returns a Keras model, compiled or
    not; ``build_model(params, input_shape, classes)`` works too) over arrays in memory:
    ``x``, ``y`` (labels, or a dict of label arrays per output), ``validation_data=(x_val,
    y_val)`` or ``validation_split`` (default 0.1 of ``x``), ``test_data=(x_test, y_test)``
    (reported, never used to choose), and ``callbacks`` (Keras callbacks every trial's ``fit``
    runs too). Options are the command line's, by either name (``timeout="2m"`` or
    ``timeout_s=120``, ``cv=5``, ``prune="median"``, ``max_params="50k"``).

    Bad arguments or data raise ``ValueError`` (``TypeError`` for an unknown option) before
    anything is written or trained. A Ctrl-C raises ``KeyboardInterrupt`` once what finished is
    saved (a notebook's kernel stays usable; the same call continues the search); a run whose
    trials all failed raises ``FatalError``, its records kept."""
    from hyperopt_nas.engine import run_search
    if Path(results_dir).exists() and not Path(results_dir).is_dir():
        raise ValueError(f"search(): results_dir {results_dir} is a file, not a folder: give "
                         "a folder for the search's results (it is made if missing).")
    given = {"build_model": build_model, "x": x, "y": y, "validation_data": validation_data,
             "validation_split": validation_split, "test_data": test_data,
             "callbacks": callbacks}
    if isinstance(space, (str, Path)):
        named = [name for name, value in given.items() if value is not None]
        if named:
            raise TypeError(f"search() got {', '.join(f'{n}=' for n in named)} with a space "
                            f"file ({space}); a space file names its own data, model and "
                            "callbacks (load_data, build_model, CALLBACKS). Give the space as a "
                            "dict of hyperopt expressions to search arrays in memory.")
    else:
        from hyperopt_nas import notebook
        space = notebook.write_space_file(results_dir, space, **given)
    from hyperopt_nas.interrupts import listening
    with listening():  # a Ctrl-C that Python drops still stops the search
        summary = run_search(settings_of(space, results_dir, options), say=say)
    if summary.interrupted:  # what finished is saved: stop the caller, as any Ctrl-C does
        raise KeyboardInterrupt
    if summary.completed and not summary.any_ok:
        raise FatalError(f"none of the {summary.completed} trials of this run succeeded; each "
                         f"failed_trial-*.json in {results_dir} holds its error and traceback.")
    return summary


def settings_of(space: str | Path, results_dir: str | Path, options: dict[str, Any]):
    """``search()``'s options as ``SearchSettings``, read by the option table the command line
    is made from (``options.OPTIONS``): its names and spellings accepted, each value checked
    with one clear error (``TypeError`` for an unknown option, ``ValueError`` for a bad value
    or an option outside its mode)."""
    from hyperopt_nas.options import read_keywords
    from hyperopt_nas.settings import settings_from
    try:
        return settings_from(space, results_dir, read_keywords(options), api=True)
    except ValueError as e:
        message = str(e)
        raise ValueError(message if message.startswith("search()") else
                         f"search(): {message}") from None


def results_table(results_dir: str | Path = "results", front: bool | str = False):
    """The trials of a results folder, one row each, best first: a pandas DataFrame when pandas
    is installed, else a list of dicts (the same columns as ``rank --csv``). ``front=True``
    (or ``"latency"``): only the accuracy-size front, smallest first (``rank --front``)."""
    from hyperopt_nas.outputs.reports import FRONT_MEASURES, table_rows
    from hyperopt_nas.trial_store import StoreError, TrialStore
    measure = "params" if front is True else (front or None)
    if measure is not None and measure not in FRONT_MEASURES:
        raise ValueError(f"front must be True, False or one of {FRONT_MEASURES}, got {front!r}.")
    if not Path(results_dir).is_dir():
        raise StoreError(f"{results_dir} is not a results folder: run a search first.")
    rows = table_rows(TrialStore(results_dir).load_records(), measure)
    try:
        import pandas
    except ImportError:
        return rows
    return pandas.DataFrame(rows)
