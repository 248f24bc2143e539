"""``--algo grid``: every combination of a discrete space, once each."""

from __future__ import annotations

from typing import Any

import numpy as np

from hyperopt_nas.errors import FatalError
from hyperopt_nas.proposers.base import Proposer, new_doc
from hyperopt_nas.space_files import SpaceFile, TooManyCombinations, discrete_points

MAX_GRID_POINTS = 1_000_000


class GridSuggest(Proposer):
    """Tries every combination of a discrete space once.

    The combinations are shuffled once with the search seed, so the order is random but the same
    on every relaunch; each call proposes the first one not tried yet, and none when all are.
    """

    def __init__(self, space_file: SpaceFile, seed: int):
        try:
            points = discrete_points(space_file.params, MAX_GRID_POINTS)
        except TooManyCombinations as e:
            raise FatalError(f"--algo grid: {space_file.name} has {e}; use tpe or rand.") from e
        except ValueError as e:
            raise FatalError(f"--algo grid needs a space of choices and quantised ranges only; "
                             f"{space_file.name} is {e}.") from e
        order = np.random.default_rng(seed).permutation(len(points))
        self.points = [points[i] for i in order]
        self.labels = list(space_file.params)

    def _key(self, vals: dict[str, Any]) -> tuple:
        return tuple((k, float(vals[k])) for k in self.labels if k in vals)

    def propose(self, new_id, domain, trials, seed, tried):
        done = {self._key(vals) for vals in tried}
        point = next((p for p in self.points if self._key(p) not in done), None)
        return None if point is None else new_doc(trials, new_id, point, self.labels, domain)
