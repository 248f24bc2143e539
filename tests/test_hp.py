"""Keras Tuner's hyperparameter names as hyperopt expressions (hyperopt_nas/hp.py)."""

import math

import numpy as np
import pytest

import hyperopt_nas


def test_keras_tuner_s_hyperparameter_names_draw_what_keras_tuner_draws():
    from hyperopt.pyll import stochastic

    from hyperopt_nas import hp as kt
    space = {"units": kt.Int("units", 32, 512, step=32),
             "odd": kt.Int("odd", 10, 90, step=20),
             "lr": kt.Float("lr", 1e-4, 1e-2, sampling="log"),
             "drop": kt.Float("drop", 0.0, 0.5, step=0.1),
             "act": kt.Choice("act", ["relu", "tanh"]), "bn": kt.Boolean("bn"),
             "fixed": kt.Fixed("fixed", 7)}
    rng = np.random.default_rng(0)
    draws = [stochastic.sample(space, rng=rng) for _ in range(300)]
    units = {d["units"] for d in draws}
    assert all(isinstance(u, int) and u % 32 == 0 and 32 <= u <= 512 for u in units)
    assert len(units) > 10
    assert {d["odd"] for d in draws} == {10, 30, 50, 70, 90}  # the grid starts at min_value
    assert all(1e-4 <= d["lr"] <= 1e-2 for d in draws)
    assert np.median([np.log10(d["lr"]) for d in draws]) == pytest.approx(-3, abs=0.3)
    assert {d["act"] for d in draws} == {"relu", "tanh"} and {d["bn"] for d in draws} == \
        {False, True}
    assert all(d["fixed"] == 7 for d in draws)
    # A space written with them is a space the tool reads: `describe` lists each by its label.
    from hyperopt_nas.space_files import catalog
    assert set(catalog(space)) == {"units", "odd", "lr", "drop", "act", "bn"}
    assert hyperopt_nas.hp.Int is kt.Int  # importable as an attribute of the package


def test_every_value_of_a_grid_is_drawn_alike_as_keras_tuner_draws_it():
    """hyperopt's quniform(1, 3, 1) draws 2 half the time (the ends get half a step each):
    Int("num_layers", 1, 3) is uniform in Keras Tuner, and so here; a Float grid that does not
    start on a multiple of its step keeps its own values."""
    from collections import Counter

    from hyperopt.pyll import stochastic

    from hyperopt_nas import hp as kt
    from hyperopt_nas.space_files import catalog
    space = {"layers": kt.Int("layers", 1, 3), "units": kt.Int("units", 32, 128, step=32),
             "drop": kt.Float("drop", 0.0, 0.5, step=0.25),
             "odd": kt.Float("odd", 0.1, 0.5, step=0.2)}
    rng = np.random.default_rng(1)
    draws = [stochastic.sample(space, rng=rng) for _ in range(3000)]
    for name, values in (("layers", [1, 2, 3]), ("units", [32, 64, 96, 128]),
                         ("drop", [0.0, 0.25, 0.5]), ("odd", [0.1, 0.3, 0.5])):
        counts = Counter(round(d[name], 9) for d in draws)
        assert sorted(counts) == values, (name, counts)
        share = [counts[v] / len(draws) for v in values]
        assert max(share) - min(share) < 0.05, (name, share)
    assert not any(math.copysign(1, d["drop"]) < 0 for d in draws)  # no -0.0
    # What `describe` shows and counts is the grid the user wrote.
    found = catalog(space)
    assert found["layers"].describe() == "quniform(1, 3, 1)" and found["layers"].n_values() == 3
    assert found["drop"].values() == [0.0, 0.25, 0.5]


@pytest.mark.parametrize("call, message", [
    (lambda kt: kt.Int("u", 32, 500, step=32), "is not a multiple of step 32"),
    (lambda kt: kt.Float("lr", 0.0, 1.0, sampling="log"), "needs min_value above 0"),
    (lambda kt: kt.Float("lr", 1.0, 0.1), r"min_value \(1.0\) must be below max_value"),
    (lambda kt: kt.Int("u", 1, 9, sampling="logarithmic"), "must be 'linear' or 'log'"),
    (lambda kt: kt.Choice("act", []), "needs at least one value"),
])
def test_a_bad_keras_tuner_style_hyperparameter_is_one_clear_error(call, message):
    from hyperopt_nas import hp as kt
    with pytest.raises(ValueError, match=message):
        call(kt)
