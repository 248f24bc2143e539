"""Proposals steered into a size or latency budget (``--max-params``, ``--max-latency-ms``).

Every point a budgeted search tries is built and measured, trained or not, so the search knows
the size (and batch-1 latency) of each point it tried. ``SizeModel`` learns from those the
log-size of a point from its drawn values (a ridge regression over the choices, one-hot, and
the numbers and their logarithms, with their pairwise products: a network's size is a sum of
products of widths, depths and kernel sizes). ``BudgetScreen`` asks its proposer (TPE, random
search, ...) for several candidates, each under its own seed, and keeps the first one the model
puts within the budget; while nothing within the budget has been measured, or when no candidate
is predicted to fit, it offers the space's smallest sensible network instead: the random draw
with the smallest predicted size. Like optuna's ``TPESampler(constraints_func=...)`` this keeps
feasibility apart from the objective: TPE still learns accuracy, and is told an over-budget
point as a bad result.

The model is rebuilt from the records (``observe``), so a relaunch screens as the first run did.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hyperopt import rand

from hyperopt_nas.proposers.base import Pace, Proposer, drawn_vals, new_doc
from hyperopt_nas.space_files import Hyperparameter

# Candidates asked of the proposer for one proposal, at most: each is one more call of TPE.
CANDIDATES = 6
# Random draws among which the smallest predicted network is picked, when no candidate fits.
SMALLEST_OF = 200
# Points measured before the model is trusted: fewer, and the proposer is asked as it is.
MIN_MEASURED = 3
RIDGE = 1e-2  # the regression's penalty on standardised features
CATEGORICAL = ("choice", "pchoice")


class SizeModel:
    """log(size) of a point from its drawn values, fitted on the points measured so far: two
    ridge regressions, on the values alone and with their pairwise products, and the one with
    the smaller leave-one-out error predicts (the products win once there are enough points)."""

    def __init__(self, params: dict[str, Hyperparameter]):
        self.params = params
        self.rows: list[np.ndarray] = []
        self.targets: list[float] = []
        self.fit: tuple | None = None
        self.known: dict[str, float] = {}  # a point measured: its log-size as measured

    def features(self, vals: dict[str, Any]) -> np.ndarray:
        """One row: per choice a one-hot of its index; per number whether it is drawn, its
        value and, when positive, its log."""
        row: list[float] = []
        for label in sorted(self.params):
            h, value = self.params[label], vals.get(label)
            if h.distribution in CATEGORICAL:
                n = int(h.args[0]) if h.args else 0
                row += [float(value == i) if value is not None else 0.0 for i in range(n)]
                continue
            x = 0.0 if value is None else float(value)
            row += [float(value is not None), x, math.log(x) if x > 0 else 0.0]
        return np.asarray(row)

    def add(self, vals: dict[str, Any], size: float | None) -> None:
        if size is None or not size > 0:
            return
        self.rows.append(self.features(vals))
        self.targets.append(math.log(size))
        self.known[_key(vals)] = math.log(size)
        self.fit = None

    def __len__(self) -> int:
        return len(self.rows)

    def _fit(self) -> tuple:
        y = np.asarray(self.targets)
        best = None
        for pairs in (False, True):
            x = np.asarray([_expand(r, pairs) for r in self.rows])
            mean, scale = x.mean(axis=0), x.std(axis=0)
            scale[scale == 0] = 1.0
            z = (x - mean) / scale
            # Ridge in its dual form (cheap with many features and few points); the hat
            # matrix gives every leave-one-out residual at once.
            gram = z @ z.T
            inverse = np.linalg.inv(gram + RIDGE * len(z) * np.eye(len(z)))
            dual = inverse @ (y - y.mean())
            hat = gram @ inverse
            loo = np.mean(((y - y.mean() - hat @ (y - y.mean()))
                           / np.maximum(1e-9, 1 - np.diag(hat))) ** 2)
            if best is None or loo < best[0]:
                best = (loo, pairs, mean, scale, z.T @ dual, y.mean())
        return best[1:]

    def predict(self, vals: dict[str, Any]) -> float:
        """The log-size of a point: as measured, if it was; else as predicted."""
        if _key(vals) in self.known:
            return self.known[_key(vals)]
        if self.fit is None:
            self.fit = self._fit()
        pairs, mean, scale, coef, offset = self.fit
        return float(offset + ((_expand(self.features(vals), pairs) - mean) / scale) @ coef)


def _key(vals: dict[str, Any]) -> str:
    return repr(sorted((k, float(v)) for k, v in vals.items()))


def _expand(row: np.ndarray, pairs: bool) -> np.ndarray:
    """A row with, if ``pairs``, the products of every two of its features after it."""
    if not pairs:
        return row
    return np.concatenate([row, np.outer(row, row)[np.triu_indices(len(row), 1)]])


class BudgetScreen(Proposer):
    """``then``'s proposals, screened by predicted size against ``limits``: ``{"model_params":
    50_000, "latency_ms": 2.0}`` (either may be absent)."""

    def __init__(self, then: Proposer, params: dict[str, Hyperparameter],
                 limits: dict[str, float]):
        self.then, self.limits, self.labels = then, limits, list(params)
        self.models = {key: SizeModel(params) for key in limits}
        self.fitted = 0  # points measured within every limit
        self.screened: dict[int, str] = {}  # trial id -> how its point was chosen

    @property
    def min_observations(self) -> int:
        return self.then.min_observations

    def observe(self, vals: dict[str, Any], measured: dict[str, float | None]) -> None:
        """A point was built and measured (trained or not)."""
        for key, model in self.models.items():
            model.add(vals, measured.get(key))
        if all(measured.get(k) is not None and measured[k] <= limit
               for k, limit in self.limits.items()):
            self.fitted += 1
        self.then.observe(vals, measured)

    def excess(self, vals: dict[str, Any]) -> float:
        """How far over the budget a point is predicted to be, in log units (<= 0: within)."""
        return max(model.predict(vals) - math.log(self.limits[key])
                   for key, model in self.models.items())

    def propose(self, new_id, domain, trials, seed, tried):
        if min(len(m) for m in self.models.values()) < MIN_MEASURED:
            return self.then.propose(new_id, domain, trials, seed, tried)
        if self.fitted:  # the proposer's own candidates: the first predicted to fit
            for i in range(CANDIDATES):
                doc = self.then.propose(new_id, domain, trials, seed + i, tried)
                if doc is None:
                    return None
                if self.excess(drawn_vals(doc)) <= 0:
                    self.screened[new_id] = f"candidate {i + 1} of the proposer's"
                    return doc
        ids = list(range(new_id + 1, new_id + 1 + SMALLEST_OF))  # ids only for the drawing
        draws = [drawn_vals(d) for d in rand.suggest(ids, domain, trials, seed)]
        excess = [self.excess(vals) for vals in draws]
        within = [vals for vals, e in zip(draws, excess) if e <= 0]
        if self.fitted and within:  # none fits: a random draw predicted to fit, as the prior
            self.screened[new_id] = "random, predicted within the budget"  # would draw it
            chosen = within[0]
        else:  # nothing measured within the budget yet: the smallest network predicted
            self.screened[new_id] = "smallest predicted"
            chosen = draws[int(np.argmin(excess))]
        return new_doc(trials, new_id, chosen, self.labels, domain)

    def tags(self, new_id: int) -> dict[str, Any]:
        tags = self.then.tags(new_id)
        if new_id in self.screened:
            tags["budget_screen"] = self.screened.pop(new_id)
        return tags

    def after_trial(self, pace: Pace) -> None:
        self.then.after_trial(pace)
