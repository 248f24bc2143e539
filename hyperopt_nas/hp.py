"""Keras Tuner's hyperparameter names as hyperopt expressions, for a space written the way a
Keras Tuner user writes one:

    from hyperopt_nas import hp

    space = {"units": hp.Int("units", 32, 512, step=32),
             "learning_rate": hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"),
             "activation": hp.Choice("activation", ["relu", "tanh"]),
             "batch_norm": hp.Boolean("batch_norm")}

Each returns the hyperopt expression that draws the same values (``hp.Int`` an ``int``), so
the space is a plain hyperopt space: ``build_model(params)`` reads ``params["units"]`` where
Keras Tuner's reads ``hp.get("units")`` (or defines it inline). docs/usage.md has the table.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from hyperopt import hp as _hp
from hyperopt.pyll import scope

SAMPLINGS = ("linear", "log")


def _check(name: str, low: float, high: float, sampling: str) -> None:
    if sampling not in SAMPLINGS:
        raise ValueError(f"hp {name!r}: sampling must be 'linear' or 'log', got {sampling!r}.")
    if not low < high:
        raise ValueError(f"hp {name!r}: min_value ({low}) must be below max_value ({high}).")
    if sampling == "log" and low <= 0:
        raise ValueError(f"hp {name!r}: sampling='log' needs min_value above 0, got {low}.")


def Int(name: str, min_value: int, max_value: int, step: int | None = None,
        sampling: str = "linear") -> Any:
    """A whole number from ``min_value`` to ``max_value`` (both included), on the ``step``
    grid that starts at ``min_value``; ``sampling="log"`` draws it log-uniformly."""
    _check(name, min_value, max_value, sampling)
    step = step or 1
    if (max_value - min_value) % step:
        raise ValueError(f"hp {name!r}: max_value - min_value ({max_value - min_value}) is not "
                         f"a multiple of step {step}.")
    if min_value % step:  # a grid hyperopt's q-distributions cannot draw: list its values
        return _hp.choice(name, list(range(min_value, max_value + 1, step)))
    if sampling == "log":
        return scope.int(_hp.qloguniform(name, math.log(min_value), math.log(max_value), step))
    return scope.int(_hp.quniform(name, *_every_step_alike(min_value, max_value, step), step))


# hyperopt's quniform(low, high, q) rounds a uniform draw from low to high to the q grid: the two
# ends get half a step of the range each, so half the chance of the values between them
# (Int(1, 3): 2 half the time). Keras Tuner draws every value of the grid alike; so does the
# range widened by just under half a step at both ends.
HALF_STEP = 0.4999


def _every_step_alike(low: float, high: float, step: float) -> tuple[float, float]:
    return low - HALF_STEP * step, high + HALF_STEP * step


def Float(name: str, min_value: float, max_value: float, step: float | None = None,
          sampling: str = "linear") -> Any:
    """A number from ``min_value`` to ``max_value``; on the ``step`` grid if given;
    ``sampling="log"`` draws it log-uniformly (learning rates)."""
    _check(name, min_value, max_value, sampling)
    if sampling == "log":
        if step:
            return _hp.qloguniform(name, math.log(min_value), math.log(max_value), step)
        return _hp.loguniform(name, math.log(min_value), math.log(max_value))
    if step:
        values = round((max_value - min_value) / step)
        if not math.isclose(min_value + values * step, max_value, abs_tol=1e-9 * step):
            raise ValueError(f"hp {name!r}: max_value - min_value ({max_value - min_value:g}) "
                             f"is not a multiple of step {step:g}.")
        if not math.isclose(min_value / step, round(min_value / step), abs_tol=1e-9):
            # a grid hyperopt's q-distributions cannot draw (it rounds to multiples of step)
            return _hp.choice(name, [min_value + i * step for i in range(values + 1)])
        # + 0.0: a draw just under 0 rounds to -0.0, which would be written as such.
        return _hp.quniform(name, *_every_step_alike(min_value, max_value, step), step) + 0.0
    return _hp.uniform(name, min_value, max_value)


def Choice(name: str, values: Sequence[Any]) -> Any:
    """One of ``values``."""
    values = list(values)
    if not values:
        raise ValueError(f"hp {name!r}: Choice needs at least one value.")
    return _hp.choice(name, values)


def Boolean(name: str) -> Any:
    """False or True."""
    return _hp.choice(name, [False, True])


def Fixed(name: str, value: Any) -> Any:
    """Always ``value`` (a constant: hyperopt draws nothing for it)."""
    return value
