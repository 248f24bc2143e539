import shutil
from pathlib import Path

import pytest
from conftest import write_fashion_mnist, write_space

from hyperopt_nas import kept_models, retrain, runtime
from hyperopt_nas.engine import SearchSettings, run_search
from hyperopt_nas.trial_store import TrialStore


@pytest.fixture(scope="module")
def searched_once(tmp_path_factory):
    """One real search (3 trials; no pictures nor logs, which retrain never reads), run once
    for the tests below."""
    folder = tmp_path_factory.mktemp("searched")
    results = folder / "results"
    run_search(SearchSettings(space_path=write_space(folder / "tiny_space.py"),
                              results_dir=results, data_dir=write_fashion_mnist(folder / "data"),
                              max_evals=3, isolation="none", seed=2, plot_best=False,
                              plot_search=False, tensorboard=False), say=lambda line: None)
    return results


@pytest.fixture
def searched(searched_once, tmp_path):
    """A copy of that search's folder for each test, which may retrain into it or delete."""
    return Path(shutil.copytree(searched_once, tmp_path / "results"))


def test_best_trial_and_config(searched):
    records = TrialStore(searched).load_records()
    best = min(records, key=lambda r: r.loss)
    assert retrain.best_trial(searched).number == best.number
    assert retrain.best_config(searched) == best.params


def test_retrain_trains_on_train_plus_validation_and_saves(searched, fashion_dir):
    import keras
    best = retrain.best_trial(searched)
    result = retrain.retrain(searched, data_dir=fashion_dir)
    assert result.number == best.number and result.path.exists()
    assert result.train_samples == best.budget["train_samples"] + best.budget["validation_samples"]
    assert result.epochs == best.extra["best_epoch"]
    assert 0.0 <= result.test_accuracy <= 1.0
    model = retrain.load_model(searched)
    assert isinstance(model, keras.Model)
    assert model.count_params() > 0


def test_retrain_a_named_trial_and_refuse_unknown_ones(searched, fashion_dir):
    assert retrain.retrain(searched, number=1, data_dir=fashion_dir).path.name == "trial-0001.keras"
    with pytest.raises(retrain.RetrainError, match="trial 99 is not a completed trial"):
        retrain.retrain(searched, number=99, data_dir=fashion_dir)
    assert retrain.load_model(searched, number=2) is not None  # kept as the search trained it
    kept_models.path(searched, 2).unlink()  # as when it dropped out of the best
    with pytest.raises(retrain.RetrainError,
                       match=f"no saved model.*retrain --results-dir {searched} --trial 2"):
        retrain.load_model(searched, number=2)


def test_empty_results_say_what_to_do(tmp_path):
    with pytest.raises(retrain.RetrainError, match="no completed trial.*run a search first"):
        retrain.best_trial(tmp_path)


def test_tensorflow_is_set_up_before_the_data_is_loaded(searched, fashion_dir, monkeypatch):
    from hyperopt_nas import data_loaders
    order = []
    configure, load = retrain.configure_like, data_loaders.load_dataset
    monkeypatch.setattr(retrain, "configure_like",
                        lambda record: order.append("configure") or configure(record))
    monkeypatch.setattr(data_loaders, "load_dataset",
                        lambda *a, **k: order.append("load") or load(*a, **k))
    retrain.retrain(searched, data_dir=fashion_dir)
    assert order == ["configure", "load"]


@pytest.mark.slow
def test_a_deterministic_trial_is_recorded_so_and_its_retrain_repeats_itself(tmp_path):
    from conftest import run_cli, write_fashion_mnist, write_space
    write_fashion_mnist(tmp_path / "data")
    write_space(tmp_path / "tiny.py", epochs=2)
    common = ["--results-dir", "res"]
    done = run_cli(["--space", "tiny.py", "--data-dir", "data", "--max-evals", "1",
                    "--deterministic", "--no-plot", "--no-tensorboard", *common], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (record,) = TrialStore(tmp_path / "res").load_records()
    assert record.accelerator["deterministic"] is True
    assert record.accelerator["op_determinism"] is True  # read from TensorFlow, in the worker
    lines = []
    for _ in range(2):
        again = run_cli(["retrain", "--data-dir", "data", *common], cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "(deterministic kernels, as the trial)" in again.stdout
        lines.append(again.stdout.split("Saved to")[0])
    assert lines[0] == lines[1]  # the same test accuracy, to the last digit printed


def test_retrain_goes_through_the_trials_training_function(searched, fashion_dir, monkeypatch):
    """One place defines training: retrain calls it without a validation split."""
    from hyperopt_nas import training
    calls = []
    real = training.train_and_evaluate

    def spy(builder, params, info, train, validation, test, budget, seed, accel, **kw):
        calls.append((len(train), validation, budget.epochs, seed))
        steps.append(accel.steps_per_execution)
        return real(builder, params, info, train, validation, test, budget, seed, accel, **kw)

    steps = []
    monkeypatch.setattr(training, "train_and_evaluate", spy)
    # The runner's set-up (issue 45): the backend's steps per execution, as a trial's.
    monkeypatch.setattr(runtime.current(), "steps_per_execution", lambda accel: 2)
    best = retrain.best_trial(searched)
    result = retrain.retrain(searched, data_dir=fashion_dir)
    assert calls == [(result.train_samples, None, best.extra["best_epoch"], best.trial_seed)]
    assert steps == [2]
    assert result.path.exists() and 0.0 <= result.test_accuracy <= 1.0
    assert not list(result.path.parent.glob(".*.tmp.keras"))  # saved whole, then moved


def test_the_best_network_within_a_budget_is_the_one_loaded(tmp_path, monkeypatch):
    from helpers import make_record

    from hyperopt_nas.trial_store import TrialStatus
    store = TrialStore(tmp_path)
    for record in (make_record(0, 0.10, extra={"model_params": 90_000}),
                   make_record(1, 0.15, extra={"model_params": 40_000, "latency_ms": 2.0}),
                   make_record(2, 0.20, extra={"model_params": 10_000, "latency_ms": 0.5}),
                   make_record(3, None, TrialStatus.OVER_BUDGET, extra={"model_params": 5})):
        store.save_record(record, new=True)
    assert retrain.best_within(tmp_path, max_params=50_000).number == 1
    assert retrain.best_within(tmp_path, max_params=50_000, max_latency_ms=1.0).number == 2
    assert retrain.best_within(tmp_path).number == 0
    with pytest.raises(retrain.RetrainError, match="within 5,000 parameters .*the smallest "
                                                   "network has 10,000 parameters"):
        retrain.best_within(tmp_path, max_params=5_000)
    loaded = []
    monkeypatch.setattr(retrain, "trial", lambda folder, number: loaded.append(number) or
                        (_ for _ in ()).throw(retrain.RetrainError("stop here")))
    with pytest.raises(retrain.RetrainError, match="stop here"):
        retrain.load_model(tmp_path, max_params=50_000)
    assert loaded == [1]
    with pytest.raises(ValueError, match="a trial number or a budget"):
        retrain.load_model(tmp_path, 0, max_params=50_000)


@pytest.mark.slow
def test_retrain_for_more_epochs_on_every_training_image(tmp_path, tiny_space, fashion_dir):
    """A search on a subset (--max-train-samples) retrained on all 300 training images, for
    epochs of the user's choosing; the command line says the same."""
    from conftest import run_cli
    results = tmp_path / "results"
    run_search(SearchSettings(space_path=tiny_space, results_dir=results, data_dir=fashion_dir,
                              max_evals=1, max_train_samples=100, isolation="none",
                              plot_best=False, plot_search=False, tensorboard=False),
               say=lambda line: None)
    subset = retrain.retrain(results, data_dir=fashion_dir)
    best = retrain.best_trial(results)  # 100 training images and its validation split
    assert subset.train_samples == 100 + best.budget["validation_samples"] < 300
    full = retrain.retrain(results, data_dir=fashion_dir, epochs=3, full_data=True)
    assert full.train_samples == 300 and full.epochs == 3
    out = run_cli(["retrain", "--results-dir", str(results), "--data-dir", str(fashion_dir),
                   "--epochs", "2", "--full-data"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "retrained on 300 images for 2 epochs" in out.stdout
    with pytest.raises(retrain.RetrainError, match="epochs must be a whole number"):
        retrain.retrain(results, data_dir=fashion_dir, epochs=0)


@pytest.mark.slow
def test_retrain_of_a_search_given_validation_data_trains_on_both_and_needs_no_test(tmp_path):
    """Issue 45: retrain re-split the training data by the validation fraction, so a search
    given validation data apart was retrained on x alone; without test data it saved the model
    and crashed (StopIteration, exit 1). Now: every training and validation image, one line
    that says how many and that nothing was evaluated, exit 0."""
    import keras
    from conftest import run_cli
    from hyperopt import hp
    from helpers import arrays

    import hyperopt_nas

    (x, y), (x_val, y_val) = arrays(90, 1), arrays(40, 2)

    def build(p):
        return keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                                 keras.layers.Dense(8, activation="relu"),
                                 keras.layers.Dense(10, activation="softmax")])
    hyperopt_nas.search({"lr": hp.uniform("lr", 0.001, 0.01)}, tmp_path / "r",
                        say=lambda line: None, build_model=build, x=x, y=y,
                        validation_data=(x_val, y_val), max_evals=1, epochs=1,
                        isolation="none", plot_best=False, plot_search=False, tensorboard=False)
    (record,) = TrialStore(tmp_path / "r").load_records()
    assert record.budget["train_samples"] == 90 and record.budget["validation_samples"] == 40
    done = run_cli(["retrain", "--results-dir", str(tmp_path / "r")], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "retrained on 130 images" in done.stdout
    assert "no test data, so nothing was evaluated" in done.stdout
    assert "Traceback" not in done.stderr and retrain.model_path(tmp_path / "r", 0).exists()
