"""Keras Tuner's API on this project's engine: a Keras Tuner script runs with one line changed,

    import hyperopt_nas.keras_tuner as kt      # was: import keras_tuner as kt

    def build_model(hp):
        model = keras.Sequential([keras.layers.Flatten()])
        for i in range(hp.Int("num_layers", 1, 3)):
            model.add(keras.layers.Dense(hp.Int(f"units_{i}", 32, 512, step=32),
                                         activation="relu"))
        model.add(keras.layers.Dense(10, activation="softmax"))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    tuner = kt.RandomSearch(build_model, objective="val_accuracy", max_trials=5,
                            directory="my_dir", project_name="helloworld")
    tuner.search(x, y, epochs=5, validation_data=(x_val, y_val))
    best_model = tuner.get_best_models(1)[0]

``HyperParameters``, ``HyperModel`` and ``Objective`` are Keras Tuner's own (its
``conditional_scope``, ``parent_name``/``parent_values``, ``get`` and ``values`` as they are).
The build function is define-by-run: before the search it is called with the defaults, then with
the largest and with random values of what it asked for, until it asks for nothing new, so that
a loop's later hyperparameters (``units_3`` when ``num_layers`` reaches 4) are part of the space;
each becomes the hyperopt expression that draws the same values (``hyperopt_nas.hp``), and every
trial calls the function as written with a ``HyperParameters`` that holds the trial's values.

The tuners: ``RandomSearch`` (random proposals), ``BayesianOptimization`` (TPE, where Keras Tuner
has a Gaussian process), ``Hyperband`` (this project's Hyperband, TPE proposing each bracket's
new configurations) and ``GridSearch``. ``directory/project_name`` is an ordinary results folder:
a relaunch continues it (``overwrite=False``, as Keras Tuner reloads), every command of the
command line works on it (``rank``, ``report``, ``retrain``), and ``overwrite=True`` starts
afresh, removing only what the tool wrote there.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable

import keras
import keras_tuner
from keras_tuner import HyperModel, Objective  # noqa: F401  (the API)

import hyperopt_nas
from hyperopt_nas import hp as hyperopt_hp
from hyperopt_nas import reset
from hyperopt_nas.objectives import Objective as ObjectiveOf
from hyperopt_nas.retrain import RetrainError, best_models_of, not_kept_why
from hyperopt_nas.schedulers.hyperband import brackets
from hyperopt_nas.trial_store import TrialStore, ranked
from hyperopt_nas.training import CLEAR_SESSION_COLLECTS


class HyperParameters(keras_tuner.HyperParameters):
    """Keras Tuner's ``HyperParameters``, which also answers Optuna's ``trial.suggest_*``, so
    that the model-building half of an Optuna objective moves over as it is."""

    def suggest_int(self, name: str, low: int, high: int, step: int = 1,
                    log: bool = False) -> int:
        if log:  # Optuna's log: every whole number, drawn log-uniformly (Keras Tuner's log step
            return self.Int(name, low, high, sampling="log")  # is a factor)
        return self.Int(name, low, high, step=step)

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        return self.Float(name, low, high, step=step, sampling="log" if log else "linear")

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self.Choice(name, list(choices))

    def copy(self) -> "HyperParameters":
        copied = HyperParameters()
        copied.merge(self.space)
        copied.values = dict(self.values)
        return copied


# Calls of the build function that look for its hyperparameters, at most, and how many in a
# row that ask for nothing new end the search for them.
DISCOVERY_CALLS = 24
DISCOVERY_QUIET = 4
DEFAULT_PROJECT = "untitled_project"


def _build_function(hypermodel: Any) -> Callable[[HyperParameters], Any]:
    if isinstance(hypermodel, HyperModel):
        return hypermodel.build
    if callable(hypermodel):
        return hypermodel
    raise ValueError(f"hypermodel must be a function build_model(hp) or a kt.HyperModel, got "
                     f"{type(hypermodel).__name__}.")


def _largest(p: Any) -> Any:
    """A hyperparameter's largest value: what makes a loop over it run longest."""
    config = p.get_config()
    if "max_value" in config:
        return config["max_value"]
    if "values" in config:
        return config["values"][-1]
    return True if type(p).__name__ == "Boolean" else config.get("value")


def _forget_models() -> None:
    """Drop the networks a discovery call built, without the full garbage collection that
    Keras' clear_session() runs by default: it costs 0.2 s in a process that has TensorFlow
    imported, about five times in a discovery; the first trial's clear_session() collects."""
    if CLEAR_SESSION_COLLECTS:
        keras.backend.clear_session(free_memory=False)
    else:
        keras.backend.clear_session()


def discover(build: Callable, seed: int = 0) -> HyperParameters:
    """Every hyperparameter ``build`` asks for (define-by-run): called with the defaults, then,
    in turn, with every known one at its largest and at random values, until
    ``DISCOVERY_QUIET`` calls in a row ask for nothing new."""
    found = HyperParameters()
    try:
        build(found)
    except Exception as e:
        raise ValueError(f"build_model(hp) failed with the hyperparameters' defaults: "
                         f"{type(e).__name__}: {e}") from e
    finally:
        _forget_models()
    rng, quiet = random.Random(seed), 0
    for call in range(1, DISCOVERY_CALLS):
        if quiet >= DISCOVERY_QUIET:
            break
        trial = HyperParameters()
        trial.values = {p.name: _largest(p) if call == 1 else p.random_sample(rng.randrange(2**31))
                        for p in found.space}
        known = {p.name for p in found.space}
        try:
            build(trial)
        except Exception:  # a combination the function refuses: the trials will say so
            quiet += 1
            continue
        finally:
            _forget_models()
        new = [p for p in trial.space if p.name not in known]
        found.merge(new)
        quiet = 0 if new else quiet + 1
    return found


def hyperopt_space(hps: HyperParameters) -> dict[str, Any]:
    """Each hyperparameter as the hyperopt expression that draws the same values."""
    space: dict[str, Any] = {}
    for p in hps.space:
        c, kind = p.get_config(), type(p).__name__
        if kind == "Int" and _sampling(c) == "log" and (c.get("step") or 1) > 1:
            # Keras Tuner's log step is a factor: min, min * step, min * step^2, ...
            values, v = [], c["min_value"]
            while v <= c["max_value"]:
                values.append(v)
                v *= c["step"]
            space[p.name] = hyperopt_hp.Choice(p.name, values)
        elif kind == "Int":
            space[p.name] = hyperopt_hp.Int(p.name, c["min_value"], c["max_value"],
                                            c.get("step") or 1, _sampling(c))
        elif kind == "Float":
            space[p.name] = hyperopt_hp.Float(p.name, c["min_value"], c["max_value"],
                                              c.get("step"), _sampling(c))
        elif kind == "Choice":
            space[p.name] = hyperopt_hp.Choice(p.name, c["values"])
        elif kind == "Boolean":
            space[p.name] = hyperopt_hp.Boolean(p.name)
        elif kind == "Fixed":
            space[p.name] = c["value"]
        else:
            raise ValueError(f"hyperparameter {p.name!r}: {kind} is not supported.")
    return space


def _sampling(config: dict[str, Any]) -> str:
    return "log" if config.get("sampling") == "log" else "linear"


class BuildWithValues:
    """A trial's network: the user's build function, called as written with a
    ``HyperParameters`` that holds the trial's values (pickled to the trial workers)."""

    def __init__(self, build: Callable):
        self.build = build
        self.wraps = getattr(build, "__self__", None) or build  # named in the report

    def __call__(self, params: dict[str, Any]):
        hp = HyperParameters()
        hp.values = dict(params)
        return self.build(hp)


class Tuner:
    """What every tuner shares; the subclasses say which proposer (and schedule) searches."""

    algo = "tpe"

    def __init__(self, hypermodel: Any = None, objective: Any = None, max_trials: int = 10,
                 executions_per_trial: int = 1, seed: int | None = None,
                 directory: str | Path | None = None, project_name: str | None = None,
                 overwrite: bool = False, **options: Any):
        self.build = _build_function(hypermodel)
        self.objective = _objective(objective)
        self.max_trials, self.executions_per_trial = max_trials, executions_per_trial
        self.seed = 0 if seed is None else int(seed)
        self.results_dir = Path(directory or ".") / (project_name or DEFAULT_PROJECT)
        self.options = options  # this project's own options (workers=, gpus=, timeout=...)
        self.hyperparameters: HyperParameters | None = None
        if overwrite and self.results_dir.is_dir() and reset.is_results_folder(self.results_dir):
            reset.reset(self.results_dir, models=True)  # what the tool wrote, nothing else

    def _search_options(self) -> dict[str, Any]:
        return {"algo": self.algo, "max_evals": self.max_trials}

    def search(self, x: Any = None, y: Any = None, epochs: int | None = None,
               batch_size: int | None = None, validation_data: Any = None,
               validation_split: float | None = None, callbacks: list | None = None,
               verbose: int = 1, **fit_options: Any):
        """Keras Tuner's ``search``: a trial per point, ``fit`` as Keras does it with early
        stopping on the validation data (patience 3); returns this project's summary."""
        if fit_options:
            raise TypeError(f"search() got {', '.join(sorted(fit_options))}, which it does not "
                            "pass on to fit(); it takes x, y, epochs, batch_size, "
                            "validation_data, validation_split, callbacks and verbose.")
        if self.hyperparameters is None:
            self.hyperparameters = discover(self.build, self.seed)
        space = hyperopt_space(self.hyperparameters)
        if batch_size is not None:
            space.setdefault("batch_size", int(batch_size))
        options = {"seed": self.seed, "executions_per_trial": self.executions_per_trial,
                   **self._search_options(), **self.options}
        if epochs is not None:
            options.setdefault("epochs", int(epochs))
        if self.objective is not None:
            options.setdefault("objective", self.objective[0])
            options.setdefault("direction", self.objective[1])
        return hyperopt_nas.search(
            space, self.results_dir, say=print if verbose else _silent,
            build_model=BuildWithValues(self.build), x=x, y=y,
            validation_data=validation_data, validation_split=validation_split,
            callbacks=callbacks, **options)

    def _ranked(self, n: int | None) -> list:
        return ranked(TrialStore(self.results_dir).load_records())[:n]

    def get_best_hyperparameters(self, num_trials: int = 1) -> list[HyperParameters]:
        """The best trials' values, best first, as ``HyperParameters`` (``.values``, ``.get``)."""
        best = []
        for record in self._ranked(num_trials):
            hp = self.hyperparameters.copy() if self.hyperparameters else HyperParameters()
            hp.values = dict(record.params)
            best.append(hp)
        return best

    def get_best_models(self, num_models: int = 1) -> list:
        """The best trials' trained networks, best first (the search keeps the best 3, more
        with ``keep_models=`` given to the tuner; with ``executions_per_trial`` above 1, each
        kept trial's first execution)."""
        models = [model for _, model in best_models_of(self.results_dir, num_models)]
        if not models and self._ranked(1):
            raise RetrainError(
                f"no trained network is kept in {self.results_dir} "
                f"({not_kept_why(self._ranked(1)[0])}); build the best with "
                "get_best_hyperparameters() and your build_model, or run `python "
                f"hyperopt_optimize.py retrain --results-dir {self.results_dir}`.")
        return models

    def results_summary(self, num_trials: int = 10) -> None:
        """The best trials, as Keras Tuner prints them."""
        objective = ObjectiveOf.parse(*(self.objective or (None, None)))
        print("Results summary")
        print(f"Results in {self.results_dir}")
        print(f"Showing {num_trials} best trials")
        print(f"Objective(name=\"{objective.name}\", direction=\"{objective.direction}\")")
        for record in self._ranked(num_trials):
            print(f"\nTrial {record.number:02d} summary\nHyperparameters:")
            for key, value in record.params.items():
                print(f"{key}: {value}")
            print(f"Score: {record.score}")

    def search_space_summary(self) -> None:
        """The hyperparameters the build function asks for, as Keras Tuner prints them."""
        if self.hyperparameters is None:
            self.hyperparameters = discover(self.build, self.seed)
        print("Search space summary")
        print(f"Default search space size: {len(self.hyperparameters.space)}")
        for p in self.hyperparameters.space:
            config = {k: v for k, v in p.get_config().items() if k != "name"}
            print(f"{p.name} ({type(p).__name__})\n{config}")


class RandomSearch(Tuner):
    algo = "rand"


class BayesianOptimization(Tuner):
    """TPE (where Keras Tuner fits a Gaussian process): the tool's default proposer."""

    algo = "tpe"


class GridSearch(Tuner):
    algo = "grid"


class Hyperband(Tuner):
    """This project's Hyperband: brackets of successive halving up to ``max_epochs``, each
    bracket's new configurations proposed by TPE; ``hyperband_iterations`` whole iterations."""

    def __init__(self, hypermodel: Any = None, objective: Any = None, max_epochs: int = 100,
                 factor: int = 3, hyperband_iterations: int = 1, **kwargs: Any):
        super().__init__(hypermodel, objective, **kwargs)
        self.max_epochs, self.factor = int(max_epochs), int(factor)
        self.iterations = int(hyperband_iterations)

    def _search_options(self) -> dict[str, Any]:
        runs = sum(rung.size for bracket in brackets(self.max_epochs, self.factor)
                   for rung in bracket)
        return {"algo": "tpe", "schedule": "hyperband", "eta": self.factor,
                "epochs": self.max_epochs, "max_evals": runs * self.iterations}


def _objective(objective: Any) -> tuple[str, str | None] | None:
    """Keras Tuner's objective as this project's: a name, or ``Objective(name, direction)``."""
    if objective is None:
        return None
    if isinstance(objective, str):
        return objective, None
    if isinstance(objective, Objective):
        return objective.name, objective.direction
    raise ValueError(f"objective must be a metric's name or kt.Objective(name, direction); "
                     f"several objectives are not supported, got {objective!r}.")


def _silent(line: str) -> None:
    pass
