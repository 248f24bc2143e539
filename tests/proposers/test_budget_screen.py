"""The proposals steered into a size budget (proposers/budget_screen.py), without Keras: each
point's size is a known function of its values, as a network's parameter count is."""

import math

import numpy as np
import pytest
from conftest import write_space
from hyperopt import Trials
from hyperopt.base import Domain

from hyperopt_nas.proposers import BudgetTPE, make_proposer
from hyperopt_nas.proposers.base import done_doc, drawn_vals
from hyperopt_nas.proposers.budget_screen import MIN_MEASURED, BudgetScreen, SizeModel
from hyperopt_nas.space_files import load_space_file
from hyperopt_nas.trial_store import OVER_BUDGET_LOSS

# Widths, an optional second layer, a kernel: sizes from about 500 to 700,000, most of the space
# over a budget of 20,000 (about a tenth of random draws fit).
SIZED_SPACE = """
from hyperopt import hp
from hyperopt.pyll import scope
DATASET = "fashion_mnist"


def build_model(params, input_shape, classes):  # never called here: sizes come from size_of
    raise NotImplementedError


SPACE = {
    "width": scope.int(hp.quniform("width", 8, 256, 8)),
    "kernel": hp.choice("kernel", [1, 3, 5]),
    "second": hp.choice("second", [None, {"width2": scope.int(hp.quniform("width2", 8, 256, 8))}]),
    "learning_rate": hp.loguniform("learning_rate", -7, -2),
}
"""
LIMIT = 20_000


def size_of(vals):
    """A network's parameters: a convolution, then a dense layer or two."""
    kernel = [1, 3, 5][vals["kernel"]]
    size = vals["width"] * kernel * kernel * 8 + vals["width"] * 10
    if vals["second"] == 1:
        size += vals["width"] * vals["width2"] + vals["width2"] * 10
    return size


def quality(vals):
    """Wider is better: the proposer is drawn toward the networks over the budget."""
    return math.log(size_of(vals)) - 3 * abs(math.log(vals["learning_rate"] / 0.01))


@pytest.fixture
def space_file(tmp_path):
    return load_space_file(write_space(tmp_path / "sized.py", text=SIZED_SPACE))


def run_proposals(space_file, proposer, n, seed=0):
    """``n`` proposals, each measured and told as a search tells them; the sizes in order."""
    domain = Domain(lambda point: None, space_file.space)
    trials, sizes = Trials(), []
    for tid in range(n):
        doc = proposer.propose(tid, domain, trials, seed * 1000 + tid, [])
        vals = drawn_vals(doc)
        size = size_of(vals)
        sizes.append(size)
        loss = OVER_BUDGET_LOSS if size > LIMIT else 1 - quality(vals) / 20
        trials.insert_trial_docs([done_doc(trials, tid, vals, loss, space_file.params)])
        trials.refresh()
        proposer.observe(vals, {"model_params": size, "latency_ms": None})
    return sizes


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_after_the_first_points_most_proposals_fit_the_budget(space_file, seed):
    screened = run_proposals(space_file, BudgetScreen(BudgetTPE(5, 40, None), space_file.params,
                                                      {"model_params": LIMIT}), 40, seed)
    plain = run_proposals(space_file, BudgetTPE(5, 40, None), 40, seed)
    fit = sum(s <= LIMIT for s in screened[10:]) / 30
    assert fit >= 0.8, screened
    assert sum(s <= LIMIT for s in plain[10:]) / 30 < fit  # the screen is what steers them
    # Nothing within the budget is measured yet: the next point is the smallest predicted, so
    # the first network that fits comes within a few points of the model's start.
    assert min(i for i, s in enumerate(screened) if s <= LIMIT) <= MIN_MEASURED + 3


def test_the_size_model_learns_sizes_from_the_measured_points(space_file):
    rng = np.random.default_rng(0)
    model = SizeModel(space_file.params)

    def draw():
        vals = {"width": int(rng.integers(1, 33)) * 8, "kernel": int(rng.integers(3)),
                "second": int(rng.integers(2)), "learning_rate": float(rng.uniform(1e-3, 0.1))}
        if vals["second"]:
            vals["width2"] = int(rng.integers(1, 33)) * 8
        return vals

    for _ in range(60):
        vals = draw()
        model.add(vals, size_of(vals))
    errors = [abs(model.predict(v) - math.log(size_of(v))) for v in (draw() for _ in range(200))]
    assert np.median(errors) < 0.15  # within about 15 % of the size, in the median
    model.add({"width": 8, "kernel": 0, "second": 0, "learning_rate": 0.01}, None)  # unmeasured
    assert len(model) == 60


def test_a_grid_is_not_screened_and_the_screen_is_only_made_under_a_limit(space_file):
    assert isinstance(make_proposer("tpe", space_file, 0, limits={"model_params": 5}),
                      BudgetScreen)
    assert not isinstance(make_proposer("tpe", space_file, 0, limits={}), BudgetScreen)
    screen = make_proposer("rand", space_file, 0, limits={"latency_ms": 2.0})
    assert isinstance(screen, BudgetScreen) and set(screen.models) == {"latency_ms"}
