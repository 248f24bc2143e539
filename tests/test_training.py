"""Training one network (``hyperopt_nas/training.py``): selection on the validation split, the
test split for reporting, divergence, progress, time limits, continued runs."""

import numpy as np
import pytest
from conftest import learnable_images
from helpers import CIFAR100, CPU, cnn_point, tiny_cifar100

from hyperopt_nas import training
from hyperopt_nas.data_loaders import DATASETS, DatasetInfo, Split
from hyperopt_nas.training import TrainBudget, TrialFailed, train_and_evaluate
from neural_net import build_cnn
import neural_net


def _tiny_mnist(n, seed):
    labels = np.random.default_rng(seed).integers(0, 10, n)
    return Split(learnable_images(labels, 28, 1, seed), {"label": labels})


def test_training_selects_on_validation_and_reports_test():
    point = {"hidden_layers": [{"units": 32}], "learning_rate": 0.01, "batch_size": 16}
    train, val, test = _tiny_mnist(200, 0), _tiny_mnist(60, 1), _tiny_mnist(60, 2)
    result = train_and_evaluate(neural_net.build_mlp, point, DATASETS["mnist"], train, val,
                                test, TrainBudget(epochs=6, patience=2), seed=3, accel=CPU)
    metrics = result.metrics["label"]
    val_acc = result.history["val_accuracy"]
    assert result.objective == max(val_acc) == metrics["best_val_accuracy"]
    assert result.best_epoch == int(np.argmax(val_acc)) + 1
    assert metrics["final_val_accuracy"] == val_acc[-1]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["test_accuracy"] > 0.3


@pytest.mark.parametrize("threshold, tested", [(None, True), (2.0, True), (0.0, False)])
def test_test_split_is_evaluated_only_for_a_run_below_the_threshold(threshold, tested,
                                                                    monkeypatch):
    evaluated = []
    real = training.make_dataset

    def spy(split, batch_size, **kwargs):
        evaluated.append(split is test)
        return real(split, batch_size, **kwargs)

    monkeypatch.setattr(training, "make_dataset", spy)
    point = {"hidden_layers": [{"units": 16}], "learning_rate": 0.01, "batch_size": 16}
    train, val, test = _tiny_mnist(100, 0), _tiny_mnist(40, 1), _tiny_mnist(40, 2)
    result = train_and_evaluate(neural_net.build_mlp, point, DATASETS["mnist"], train, val, test,
                                TrainBudget(epochs=2, patience=2, test_if_loss_below=threshold),
                                seed=3, accel=CPU)
    metrics = result.metrics["label"]
    assert any(evaluated) == tested
    assert ("test_accuracy" in metrics and "test_loss" in metrics) == tested
    assert metrics["best_val_accuracy"] == result.objective  # validation is always there


@pytest.mark.slow
def test_two_heads_report_each_head():
    data = tiny_cifar100(32)
    result = train_and_evaluate(build_cnn, cnn_point(), CIFAR100, data, data, data,
                                TrainBudget(epochs=1, patience=1), seed=0, accel=CPU)
    assert set(result.metrics) == {"fine", "coarse"}
    assert result.objective == result.metrics["fine"]["best_val_accuracy"]


@pytest.mark.slow
def test_nan_loss_fails_the_trial():
    point = {"hidden_layers": [{"units": 32}], "learning_rate": 1e12, "optimizer": "SGD",
             "batch_size": 16}
    data = _tiny_mnist(64, 0)
    with pytest.raises(TrialFailed, match="loss became (nan|inf)"):
        train_and_evaluate(neural_net.build_mlp, point, DATASETS["mnist"], data, data, data,
                           TrainBudget(epochs=3, patience=3), seed=0, accel=CPU)


@pytest.mark.slow
def test_progress_is_reported_during_and_at_the_end_of_each_epoch(monkeypatch):
    monkeypatch.setattr(training, "PROGRESS_EVERY_S", 0.05)
    point = {"hidden_layers": [{"units": 256}] * 2, "batch_size": 8}
    data = _tiny_mnist(2000, 0)
    heard = []
    train_and_evaluate(neural_net.build_mlp, point, DATASETS["mnist"], data, data, data,
                       TrainBudget(epochs=2, patience=2), seed=0, accel=CPU,
                       on_progress=heard.append)
    ends = [p for p in heard if p.get("epoch_done")]
    assert [p["epoch"] for p in ends] == [1, 2] and {p["steps"] for p in ends} == {250}
    assert all(0 <= p["val_accuracy"] <= 1 and p["images_per_s"] > 0 for p in ends)
    during = [p for p in heard if not p.get("epoch_done")]
    assert during and all(0 <= p["step"] <= 250 for p in during)  # the batch it is at


@pytest.mark.slow
def test_a_failed_run_leaves_no_progress_watcher_behind():
    import threading
    point = {"hidden_layers": [{"units": 32}], "learning_rate": 1e12, "optimizer": "SGD",
             "batch_size": 16}
    data = _tiny_mnist(64, 0)
    with pytest.raises(TrialFailed):
        train_and_evaluate(neural_net.build_mlp, point, DATASETS["mnist"], data, data, data,
                           TrainBudget(epochs=3, patience=3), seed=0, accel=CPU,
                           on_progress=lambda where: None)
    assert not [t for t in threading.enumerate() if t.name == "progress"]


def test_time_limit_stops_at_an_epoch_end():
    point = {"hidden_layers": [{"units": 8}], "batch_size": 16}
    data = _tiny_mnist(64, 0)
    result = train_and_evaluate(neural_net.build_mlp, point, DATASETS["mnist"], data, data, data,
                                TrainBudget(epochs=50, patience=50, time_limit_s=0.0), seed=0,
                                accel=CPU)
    assert result.epochs_run == 1 and result.stopped_by_time


def test_cpu_keeps_mixed_precision_and_xla_off_unless_turned_on():
    assert training.configure_accelerator() == neural_net.Accelerator(
        gpus=0, mixed_precision=False, xla=False)
    on = training.configure_accelerator(mixed_precision="on", xla="on")
    assert (on.mixed_precision, on.xla, on.dtype_policy) == (True, True, "mixed_float16")
    assert not training.configure_accelerator(mixed_precision=False).mixed_precision
    with pytest.raises(ValueError, match="xla must be one of auto, on, off, got 'yes'"):
        training.configure_accelerator(xla="yes")


def mlp_data(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    return Split(learnable_images(labels, 28, 1, seed), {"label": labels})


@pytest.mark.slow
def test_a_continued_run_keeps_mixed_precision_and_its_optimizer_state(tmp_path):
    """A Hyperband promotion: the saved model is continued in the policy it was saved in, with
    every optimizer variable restored (no 'Skipping variable loading')."""
    import warnings
    accel = neural_net.Accelerator(gpus=0, mixed_precision=True, xla=False)
    info = DatasetInfo("digits", (28, 28, 1), {"label": 10})
    point = {"hidden_layers": [{"units": 16}], "batch_size": 16}
    train, val = mlp_data(64, 0), mlp_data(32, 1)
    saved = str(tmp_path / "rung0.keras")
    first = train_and_evaluate(neural_net.build_mlp, point, info, train, val, val,
                               TrainBudget(epochs=1, patience=1, save_to=saved), 0, accel)
    seen = {}

    def on_model(model):
        seen.update(steps=int(model.optimizer.iterations.numpy()),
                    optimizer=type(model.optimizer).__name__)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        second = train_and_evaluate(
            neural_net.build_mlp, point, info, train, val, val,
            TrainBudget(epochs=2, patience=2, initial_epoch=1, resume_from=saved), 0, accel,
            on_model=on_model)
    assert first.trained_as["dtype_policy"] == second.trained_as["dtype_policy"] == \
        "mixed_float16"
    assert seen == {"steps": 4, "optimizer": "LossScaleOptimizer"}  # 64 images / 16 a batch
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    assert second.epochs_run == 2


MNIST = DATASETS["mnist"]
TWO_HEADS = DatasetInfo("two", (28, 28, 1), {"fine": 100, "coarse": 20})


@pytest.mark.parametrize("logs, regularization, info, why", [
    ({"loss": float("nan")}, 0.0, MNIST, "the training loss became nan"),
    ({"loss": float("inf")}, 0.0, MNIST, "the training loss became inf"),
    # JAX's 1e12 learning rate: a finite 14.2, a softmax at its clipped extremes.
    ({"loss": 14.17}, 0.0, MNIST, "exploded to 14.17, over 3x the 2.3 of guessing"),
    ({"loss": 1.0e27}, 0.0, MNIST, "exploded to 1e+27"),  # TensorFlow's
    ({"loss": 2.9}, 0.0, MNIST, None),  # worse than guessing early on, not diverged
    ({"loss": 9.0}, 4.0, MNIST, None),  # mostly the weights' penalty: 5.0 of data loss
    ({"loss": 9.0, "fine_loss": 4.5, "coarse_loss": 3.5}, 0.0, TWO_HEADS, None),
    ({"loss": 9.0, "fine_loss": 4.5, "coarse_loss": 9.5}, 0.0, TWO_HEADS,
     "the training loss of coarse exploded to 9.5"),
])
def test_divergence_is_told_from_the_loss_on_any_backend(logs, regularization, info, why):
    said = training.diverged(logs, regularization, info)
    assert (said is None) if why is None else (why in said), said


@pytest.mark.slow
def test_a_run_that_explodes_with_a_finite_loss_fails():
    """Under TensorFlow a learning rate of 1e12 gives losses near 1e27, finite: recorded as ok
    before."""
    point = {"hidden_layers": [{"units": 16}], "learning_rate": 1e12, "batch_size": 16}
    with pytest.raises(TrialFailed, match="exploded|became"):
        train_and_evaluate(neural_net.build_mlp, point, MNIST, _tiny_mnist(200, 0),
                           _tiny_mnist(40, 1), _tiny_mnist(40, 2), TrainBudget(3, 3), 0, CPU)


class _NoFit:
    """A builder whose networks refuse to train: a budget check must stop them first."""

    def __init__(self):
        self.built = 0

    def __call__(self, params, info, accel):
        model, batch = neural_net.build_mlp(params, info, accel)
        self.built += 1

        def fit(*args, **kwargs):
            raise AssertionError("an over-budget network was trained")
        model.fit = fit
        return model, batch


@pytest.mark.parametrize("budget, why, measured", [
    (dict(max_params=1000), r"25,450 parameters > --max-params 1,000", {"model_params"}),
    (dict(max_latency_ms=1e-6), r"ms a prediction > --max-latency-ms 1e-06",
     {"model_params", "latency_ms"}),
])
def test_a_network_over_the_size_budget_is_measured_and_never_trained(budget, why, measured):
    point = {"hidden_layers": [{"units": 32}], "learning_rate": 0.01, "batch_size": 16}
    data = _tiny_mnist(32, 0)
    builder = _NoFit()
    with pytest.raises(training.OverBudget, match=why) as caught:
        train_and_evaluate(builder, point, DATASETS["mnist"], data, data, data,
                           TrainBudget(epochs=3, patience=3, **budget), seed=0, accel=CPU)
    assert builder.built == 1 and measured <= set(caught.value.measured)
    # 784 inputs x 32 units + 32 biases, then 32 x 10 + 10: the network's own count.
    assert caught.value.measured["model_params"] == 784 * 32 + 32 + 32 * 10 + 10
    assert caught.value.measured["model_bytes"] == 4 * caught.value.measured["model_params"]
    if "latency_ms" in measured:
        assert 0 < caught.value.measured["latency_ms"] < 1000


def test_a_network_within_the_budget_trains_with_its_size_recorded(tmp_path):
    point = {"hidden_layers": [{"units": 8}], "learning_rate": 0.01, "batch_size": 16}
    data = _tiny_mnist(48, 0)
    saved = tmp_path / "m.keras"
    result = train_and_evaluate(neural_net.build_mlp, point, DATASETS["mnist"], data, data, data,
                                TrainBudget(epochs=1, patience=1, max_params=10_000,
                                            max_latency_ms=10_000.0, save_to=str(saved)),
                                seed=0, accel=CPU)
    assert result.size["model_params"] == 784 * 8 + 8 + 8 * 10 + 10
    assert 0 < result.size["latency_ms"] < 10_000
    assert result.size["model_file_bytes"] == saved.stat().st_size


def test_a_run_ends_with_one_garbage_collection(monkeypatch):
    """Keras' clear_session() collects where it can; a second full collection would cost a third
    of a second per trial in a large process (a notebook's, the test suite's)."""
    import gc
    calls = []
    real = gc.collect
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append(1) or real(*a))
    point = {"hidden_layers": [{"units": 8}], "batch_size": 16}
    data = _tiny_mnist(64, 0)
    train_and_evaluate(neural_net.build_mlp, point, DATASETS["mnist"], data, data, data,
                       TrainBudget(epochs=1, patience=1), seed=0, accel=CPU)
    assert len(calls) == 1


def test_the_graph_a_trial_sends_back_names_each_head_of_a_two_head_network():
    """best_model.png is drawn from this text: the CIFAR-100 network's two softmax layers were
    both "Dense", the fine and the coarse head told apart by nothing."""
    import keras
    model, _ = build_cnn(cnn_point(), CIFAR100, CPU)
    try:
        text = training.graph_text(model)
    finally:
        keras.backend.clear_session()
    assert text.startswith("digraph") and text.count("<b>InputLayer</b>") == 1
    assert "<b>Dense (fine)</b>" in text and "<b>Dense (coarse)</b>" in text


def test_labels_beyond_the_networks_output_stop_the_search_at_its_first_network():
    """Issue 44: a label 12 under a 10-unit softmax failed every trial with about 55 lines of
    TensorFlow's graph trace."""
    import keras

    from hyperopt_nas.errors import FatalError

    def network(units, heads=("label",)):
        inputs = keras.Input((4,))
        return keras.Model(inputs, {h: keras.layers.Dense(units, name=h)(inputs) for h in heads}
                           if len(heads) > 1 else keras.layers.Dense(units)(inputs))

    with pytest.raises(FatalError, match=r"^the labels go up to 12, but the network's output "
                                         r"has 10 units \(classes 0 to 9\): give its last layer "
                                         r"13 units"):
        training.check_outputs(network(10), DatasetInfo("custom:x", (4,), {"label": 13}))
    two = DatasetInfo("custom:x", (4,), {"fine": 100, "coarse": 20})
    with pytest.raises(FatalError, match="the labels of head 'fine' go up to 99"):
        training.check_outputs(network(20, ("fine", "coarse")), two)
    training.check_outputs(network(10), DatasetInfo("custom:x", (4,), {"label": 10}))
    training.check_outputs(network(1), DatasetInfo("custom:x", (4,), {"label": 2}))  # sigmoid
    with pytest.raises(FatalError, match="output has 1 unit "):
        training.check_outputs(network(1), DatasetInfo("custom:x", (4,), {"label": 3}))


def test_normalisation_activation_and_dropout_are_drawn_in_the_box_they_follow():
    """Issue 44: the CIFAR-100 demo network's drawing was 16,571 px tall (a box per
    BatchNormalization and Activation); folded, 6,851 px."""
    import keras
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    skip = keras.layers.Conv2D(4, 1)(x)
    x = keras.layers.Add()([x, skip])  # x feeds two layers: nothing is folded into it
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dropout(0.1)(keras.layers.Dense(2)(x)))
    dot = training.model_dot(model)
    titles = sorted(training._TITLE.search(n.get_label()).group(1) for n in dot.get_nodes()
                    if n.get_label())
    assert titles == ["Add + Activation (relu)", "Conv2D", "Conv2D + BatchNormalization + "
                      "Activation", "Dense + Dropout", "Flatten", "InputLayer"]
    conv = next(n.get_label() for n in dot.get_nodes()
                if "Conv2D + BatchNormalization" in (n.get_label() or ""))
    assert "Activation: <b>relu</b>" in conv and "Output shape: <b>(None, 6, 6, 4)</b>" in conv
    assert len(dot.get_edges()) == 6  # every connection kept, through the folded boxes
