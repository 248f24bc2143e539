"""The grid proposer: every combination of a discrete space once, in a seeded order."""

import pytest
from conftest import write_space
from helpers import make_settings, search

from hyperopt_nas.engine import FatalError
from hyperopt_nas.trial_store import TrialStore


GRID_SPACE = """
from hyperopt import hp
from hyperopt.pyll import scope
DATASET, MODEL = "fashion_mnist", "mlp"
DEFAULTS = {"epochs": 1, "validation_fraction": 0.2, "patience": 1}
SPACE = {"hidden_layers": [{"units": scope.int(hp.quniform("units", 8, 16, 8))}],
         "activation": hp.choice("activation", ["relu", "tanh"]), "batch_size": 64,
         "learning_rate": 0.01}
"""


@pytest.mark.slow
def test_grid_tries_every_combination_once_then_stops(tmp_path, fashion_dir):
    space = write_space(tmp_path / "grid.py", text=GRID_SPACE)
    summary, out = search(make_settings(tmp_path, space, fashion_dir, algo="grid",
                                        max_evals=None))
    records = TrialStore(tmp_path / "results").load_records()
    combos = {(r.params["hidden_layers"][0]["units"], r.params["activation"]) for r in records}
    assert combos == {(8, "relu"), (8, "tanh"), (16, "relu"), (16, "tanh")}
    assert summary.total == 4 and "Every combination of the space has been tried (4)" in out
    # A relaunch finds nothing left to try and adds nothing.
    summary, out = search(make_settings(tmp_path, space, fashion_dir, algo="grid",
                                        max_evals=None))
    assert summary.completed == 0 and "has been tried" in out


def test_grid_order_is_seeded(tmp_path, fashion_dir):
    space = write_space(tmp_path / "grid.py", text=GRID_SPACE)
    orders = []
    for seed in (1, 1, 2):
        from hyperopt_nas.proposers import GridSuggest
        from hyperopt_nas.space_files import load_space_file
        orders.append([tuple(sorted(p.items())) for p in
                       GridSuggest(load_space_file(space), seed).points])
    assert orders[0] == orders[1] and sorted(orders[0]) == sorted(orders[2])


def test_grid_refuses_a_continuous_space(tmp_path, tiny_space, fashion_dir):
    with pytest.raises(FatalError, match="grid needs a space of choices.*learning_rate "
                                         r"\(loguniform\)"):
        search(make_settings(tmp_path, tiny_space, fashion_dir, algo="grid"))
