"""Issue 44: Keras Tuner's tutorials, with only the import changed (hyperopt_nas/keras_tuner.py)."""

import gc

import numpy as np
import pytest
from helpers import arrays

from hyperopt_nas.trial_store import TrialStore

# Keras Tuner's "Getting started" itself, in a kernel and from standard input, is
# tests/integration/test_examples.py's (examples/keras_tuner_getting_started.ipynb).


def build_model(hp):
    """A small define-by-run model, one hyperparameter (two networks)."""
    import keras
    return keras.Sequential([keras.layers.Flatten(),
                             keras.layers.Dense(hp.Choice("units", [4, 8])),
                             keras.layers.Dense(10, activation="softmax")])


@pytest.mark.slow
def test_overwrite_starts_afresh_and_keeps_what_the_tool_did_not_write(tmp_path):
    import hyperopt_nas.keras_tuner as kt

    def tuner(overwrite, trials):
        return kt.RandomSearch(build_model, objective="val_accuracy", max_trials=trials,
                               overwrite=overwrite, directory=tmp_path / "my_dir",
                               project_name="helloworld", isolation="none", plot_best=False,
                               plot_search=False, tensorboard=False)
    folder = tmp_path / "my_dir" / "helloworld"
    data = dict(epochs=1, validation_data=arrays(30, 2), verbose=0)
    tuner(False, 2).search(*arrays(60, 1), **data)
    assert len(TrialStore(folder).load_records()) == 2
    (folder / "my_notes.txt").write_text("mine")
    again = tuner(True, 1)  # the constructor starts afresh, as Keras Tuner's does
    assert TrialStore(folder).load_records() == []
    again.search(*arrays(60, 1), **data)
    assert len(TrialStore(folder).load_records()) == 1
    assert (folder / "my_notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_a_loops_later_hyperparameters_are_searched(tmp_path):
    """units_1 and units_2 exist only when num_layers reaches 2 and 3: they are found before
    the search and take more than one value across its trials."""
    import keras

    import hyperopt_nas.keras_tuner as kt

    def build_model(hp):
        model = keras.Sequential([keras.layers.Flatten()])
        for i in range(hp.Int("num_layers", 1, 3)):
            model.add(keras.layers.Dense(hp.Int(f"units_{i}", 4, 16, step=4)))
        model.add(keras.layers.Dense(10, activation="softmax"))
        return model

    collections = []
    with pytest.MonkeyPatch.context() as patch:  # Keras' clear_session() collects through gc
        patch.setattr(gc, "collect", lambda *a: collections.append(a) or 0)
        found = kt.discover(build_model)
    assert [p.name for p in found.space] == ["num_layers", "units_0", "units_1", "units_2"]
    assert collections == []  # no full collection per discovery call (0.2 s each)
    (x, y), (x_val, y_val) = arrays(60, 1), arrays(30, 2)
    tuner = kt.BayesianOptimization(build_model, objective=kt.Objective("val_loss", "min"),
                                    max_trials=6, directory=tmp_path, project_name="p", seed=3,
                                    isolation="none", plot_best=False, plot_search=False,
                                    tensorboard=False)
    tuner.search(x, y, epochs=1, validation_data=(x_val, y_val), verbose=0)
    records = TrialStore(tmp_path / "p").load_records()
    assert len(records) == 6 and records[0].objective.name == "val_loss"
    assert len({r.params["units_2"] for r in records}) > 1
    layers = {r.params["num_layers"] for r in records}
    assert len(layers) > 1
    best = tuner.get_best_hyperparameters(2)
    assert len(best) == 2 and best[0].get("num_layers") in layers
    assert best[0].values == min(records, key=lambda r: r.loss).params


@pytest.mark.slow
def test_hyperband_and_grid_search_run_as_their_names_say(tmp_path):
    import hyperopt_nas.keras_tuner as kt

    (x, y), (x_val, y_val) = arrays(60, 1), arrays(30, 2)
    quiet = dict(isolation="none", plot_best=False, plot_search=False, tensorboard=False)
    grid = kt.GridSearch(build_model, objective="val_accuracy", max_trials=10,
                         directory=tmp_path, project_name="grid", **quiet)
    grid.search(x, y, epochs=1, validation_data=(x_val, y_val), verbose=0)
    assert sorted(r.params["units"] for r in TrialStore(tmp_path / "grid").load_records()) \
        == [4, 8]  # every point once, then done
    band = kt.Hyperband(build_model, objective="val_accuracy", max_epochs=3, factor=3,
                        directory=tmp_path, project_name="band", **quiet)
    band.search(x, y, validation_data=(x_val, y_val), verbose=0)
    records = TrialStore(tmp_path / "band").load_records()
    assert len(records) == 3 + 1 + 2 and {r.extra["hyperband"]["epochs"] for r in records} \
        == {1, 3}  # brackets of 3 epochs, factor 3: 3 runs of 1 epoch, 1 promoted; 2 of 3


@pytest.mark.parametrize("objective, message", [
    (["val_accuracy", "val_loss"], "several objectives are not supported"),
])
def test_what_it_cannot_do_is_one_clear_error(tmp_path, objective, message):
    import hyperopt_nas.keras_tuner as kt
    with pytest.raises(ValueError, match=message):
        kt.RandomSearch(lambda hp: None, objective=objective, directory=tmp_path)
    with pytest.raises(ValueError, match="hypermodel must be a function build_model"):
        kt.RandomSearch(hypermodel=3, directory=tmp_path)


def test_one_hot_rows_that_are_not_one_hot_are_refused(tmp_path):
    import hyperopt_nas
    from hyperopt import hp
    y = np.eye(10)[[1, 2, 3, 4]]
    y[2] = 0.5
    with pytest.raises(ValueError, match=r"x, y: y has rows that are not one-hot \(1 of 4; "
                       r"row 2 is \[0.5, 0.5"):
        hyperopt_nas.search({"u": hp.choice("u", [1, 2])}, tmp_path / "r",
                            build_model=lambda p: None, x=np.zeros((4, 3)), y=y)
    assert not (tmp_path / "r" / "notebook" / "train_x.npy").exists()


@pytest.mark.slow
def test_the_model_half_of_an_optuna_objective_moves_over_as_it_is(tmp_path):
    """Optuna's trial.suggest_int / suggest_float(log=True) / suggest_categorical, answered by
    the same define-by-run HyperParameters."""
    import keras

    import hyperopt_nas.keras_tuner as kt

    def build_model(trial):  # as written inside an Optuna objective
        model = keras.Sequential([keras.layers.Flatten()])
        for i in range(trial.suggest_int("n_layers", 1, 2)):
            model.add(keras.layers.Dense(trial.suggest_int(f"n_units_l{i}", 4, 16, log=True),
                                         activation=trial.suggest_categorical("act",
                                                                              ["relu", "tanh"])))
        model.add(keras.layers.Dense(10, activation="softmax"))
        model.compile(keras.optimizers.Adam(trial.suggest_float("lr", 1e-4, 1e-1, log=True)),
                      "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    (x, y), (x_val, y_val) = arrays(60, 1), arrays(30, 2)
    tuner = kt.BayesianOptimization(build_model, objective="val_accuracy", max_trials=3,
                                    directory=tmp_path, project_name="optuna", seed=1,
                                    isolation="none", plot_best=False, plot_search=False,
                                    tensorboard=False)
    tuner.search(x, y, epochs=1, validation_data=(x_val, y_val), verbose=0)
    names = [p.name for p in tuner.hyperparameters.space]
    assert names == ["n_layers", "n_units_l0", "act", "lr", "n_units_l1"]
    records = TrialStore(tmp_path / "optuna").load_records()
    assert len(records) == 3 and all(1e-4 <= r.params["lr"] <= 1e-1 for r in records)
    assert all(4 <= r.params["n_units_l0"] <= 16 for r in records)


def test_each_hyperparameter_draws_what_keras_tuner_draws():
    from hyperopt.pyll import stochastic

    import hyperopt_nas.keras_tuner as kt
    hp = kt.HyperParameters()
    hp.Int("factor", 4, 64, step=2, sampling="log")  # Keras Tuner: a log step is a factor
    hp.Int("odd", 1, 7, step=2)
    hp.Choice("act", ["relu", "tanh"])
    hp.Boolean("bn")
    hp.Fixed("fixed", 3)
    hp.Float("lr", 1e-4, 1e-2, sampling="log")
    space = kt.hyperopt_space(hp)
    rng = np.random.default_rng(0)
    draws = [stochastic.sample(space, rng) for _ in range(300)]
    assert {d["factor"] for d in draws} == {4, 8, 16, 32, 64}
    assert {d["odd"] for d in draws} == {1, 3, 5, 7}
    assert {d["act"] for d in draws} == {"relu", "tanh"} and {d["bn"] for d in draws} == {0, 1}
    assert {d["fixed"] for d in draws} == {3}
    assert all(1e-4 <= d["lr"] <= 1e-2 for d in draws)
