import itertools
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, learnable_images

import neural_net
from hyperopt_nas.data_loaders import DATASETS, DatasetInfo, Split
from neural_net import CNNConfig, TrainBudget, TrialFailed, build_cnn, train_and_evaluate

CPU = neural_net.Accelerator(gpus=0, mixed_precision=False, xla=False)
CIFAR100 = DATASETS["cifar100"]


def cnn_point(pooling="max", residual=True, first_conv=True, second_fc=True, n_stages=2, **kw):
    """A small member of the CIFAR family (few filters, few units) for fast tests."""
    point = {
        "lr_rate_mult": 1.0, "l2_weight_reg_mult": 1.0, "batch_size": 8, "optimizer": "Adam",
        "coarse_loss_weight": 0.3, "conv_dropout": 0.1, "fc_dropout": 0.2,
        "use_batch_norm": True,
        "first_conv": {"kernel_size": 3} if first_conv else None,
        "residual": {"units": 1, "first_stage": 1, "kernel_size": 2} if residual else None,
        "filter_mult": 0.1, "n_stages": n_stages, "pooling": pooling, "conv_kernel_size": 3,
        "fc_units_mult": 0.016, "second_fc": {"units_mult": 0.016} if second_fc else None,
        "activation": "relu"}
    point.update(kw)
    return point


def tiny_cifar100(n, seed=0):
    rng = np.random.default_rng(seed)
    fine = rng.integers(0, 100, n)
    return Split(learnable_images(fine, 32, 3, seed), {"fine": fine, "coarse": fine // 5})


CORNERS = list(itertools.product(neural_net.POOLINGS, [False, True], [False, True],
                                 [False, True], [2, 3]))


@pytest.mark.parametrize("pooling, residual, first_conv, second_fc, n_stages", CORNERS)
def test_every_corner_builds_has_both_heads_and_trains_a_step(pooling, residual, first_conv,
                                                              second_fc, n_stages):
    import keras
    point = cnn_point(pooling, residual, first_conv, second_fc, n_stages)
    model, batch_size = build_cnn(point, CIFAR100, CPU)
    try:
        data = tiny_cifar100(batch_size)
        model.run_eagerly = True  # one step: tracing a graph would cost more than the step
        shapes = dict(zip(model.output_names, (tuple(o.shape) for o in model.outputs)))
        assert shapes == {"fine": (None, 100), "coarse": (None, 20)}
        logs = model.train_on_batch(data.x.astype("float32"), data.y, return_dict=True)
        assert np.isfinite(logs["loss"]) and "fine_accuracy" in logs and "coarse_accuracy" in logs
        # Residual units: one 1x1 projection (Add layer) per unit from their first stage on.
        adds = sum(isinstance(layer, keras.layers.Add) for layer in model.layers)
        assert adds == (n_stages - 1 if residual else 0)
        dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        assert len(dense) == (2 if second_fc else 1) + 2
    finally:
        keras.backend.clear_session()


def test_config_casts_and_derives_sizes_once():
    point = cnn_point(n_stages=3, filter_mult=1.0, batch_size=200.0, fc_units_mult=1.0)
    point["second_fc"] = {"units_mult": 2.0}
    c = CNNConfig.from_params(point)
    assert c.filters == (40, 80, 160)
    assert c.batch_size == 200 and isinstance(c.batch_size, int)
    assert (c.fc_units, c.fc2_units) == (1000, 1500)
    assert c.learning_rate == pytest.approx(0.001) and c.l2 == pytest.approx(0.0007)


def test_bad_config_says_what_is_allowed():
    with pytest.raises(ValueError, match="pooling must be one of"):
        CNNConfig.from_params(cnn_point(pooling="median"))


def test_flip_is_on_in_training_only():
    import keras
    model, _ = build_cnn(cnn_point(), CIFAR100, CPU)
    try:
        flips = [layer for layer in model.layers if isinstance(layer, keras.layers.RandomFlip)]
        assert len(flips) == 1
        x = np.random.default_rng(0).uniform(0, 1, (16, 32, 32, 3)).astype("float32")
        np.testing.assert_array_equal(flips[0](x, training=False), x)
        out = np.asarray(flips[0](x, training=True))  # each image flipped or not, at random
        mirrored = [np.allclose(out[i], x[i, :, ::-1]) for i in range(len(x))]
        kept = [np.allclose(out[i], x[i]) for i in range(len(x))]
        assert all(m or k for m, k in zip(mirrored, kept)) and any(mirrored)
    finally:
        keras.backend.clear_session()


def test_no_flip_for_digits():
    import keras
    model, _ = neural_net.build_mlp({"hidden_layers": [{"units": 4}]}, DATASETS["mnist"], CPU)
    assert not any(isinstance(layer, keras.layers.RandomFlip) for layer in model.layers)
    keras.backend.clear_session()


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
    real = neural_net.make_dataset

    def spy(split, batch_size, **kwargs):
        evaluated.append(split is test)
        return real(split, batch_size, **kwargs)

    monkeypatch.setattr(neural_net, "make_dataset", spy)
    point = {"hidden_layers": [{"units": 16}], "learning_rate": 0.01, "batch_size": 16}
    train, val, test = _tiny_mnist(100, 0), _tiny_mnist(40, 1), _tiny_mnist(40, 2)
    result = train_and_evaluate(neural_net.build_mlp, point, DATASETS["mnist"], train, val, test,
                                TrainBudget(epochs=2, patience=2, test_if_loss_below=threshold),
                                seed=3, accel=CPU)
    metrics = result.metrics["label"]
    assert any(evaluated) == tested
    assert ("test_accuracy" in metrics and "test_loss" in metrics) == tested
    assert metrics["best_val_accuracy"] == result.objective  # validation is always there


def test_two_heads_report_each_head():
    data = tiny_cifar100(32)
    result = train_and_evaluate(build_cnn, cnn_point(), CIFAR100, data, data, data,
                                TrainBudget(epochs=1, patience=1), seed=0, accel=CPU)
    assert set(result.metrics) == {"fine", "coarse"}
    assert result.objective == result.metrics["fine"]["best_val_accuracy"]


def test_nan_loss_fails_the_trial():
    point = {"hidden_layers": [{"units": 32}], "learning_rate": 1e12, "optimizer": "SGD",
             "batch_size": 16}
    data = _tiny_mnist(64, 0)
    with pytest.raises(TrialFailed, match="loss became (nan|inf)"):
        train_and_evaluate(neural_net.build_mlp, point, DATASETS["mnist"], data, data, data,
                           TrainBudget(epochs=3, patience=3), seed=0, accel=CPU)


def test_progress_is_reported_during_and_at_the_end_of_each_epoch(monkeypatch):
    monkeypatch.setattr(neural_net, "PROGRESS_EVERY_S", 0.05)
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


def test_layers_can_be_nested_and_repeated():
    from neural_net import MLPConfig
    c = MLPConfig.from_params({"hidden_layers": [{"units": 5}, [{"units": 6}, None],
                                                 {"repeat": 3, "units": 7}]})
    assert [layer.units for layer in c.layers] == [5, 6, 7, 7, 7]


def test_importing_neural_net_loads_neither_tensorflow_nor_data():
    code = ("import sys; sys.path.insert(0, %r); import neural_net, hyperopt_nas.engine; "
            "print('tensorflow' in sys.modules)" % str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cpu_keeps_mixed_precision_and_xla_off_unless_turned_on():
    assert neural_net.configure_accelerator() == neural_net.Accelerator(
        gpus=0, mixed_precision=False, xla=False)
    on = neural_net.configure_accelerator(mixed_precision="on", xla="on")
    assert (on.mixed_precision, on.xla, on.dtype_policy) == (True, True, "mixed_float16")
    assert not neural_net.configure_accelerator(mixed_precision=False).mixed_precision
    with pytest.raises(ValueError, match="xla must be one of auto, on, off, got 'yes'"):
        neural_net.configure_accelerator(xla="yes")


def mlp_data(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    return Split(learnable_images(labels, 28, 1, seed), {"label": labels})


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


SHIPPED_SPACES = sorted(p for p in (ROOT / "search_spaces").glob("*.py")
                        if p.name != "__init__.py")


@pytest.mark.parametrize("path", SHIPPED_SPACES, ids=lambda p: p.name)
def test_every_shipped_space_builds_and_trains_a_step(path):
    """Three seeded draws and the demo point of each space, on tiny data of its dataset's shape."""
    import keras
    from hyperopt.pyll.stochastic import sample

    from hyperopt_nas.space_files import load_space_file
    space = load_space_file(path)
    # A space file's own data: images of the shape its template expects.
    info = DATASETS.get(space.dataset) or DatasetInfo(space.dataset, (28, 28, 1), {"label": 4})
    rng = np.random.default_rng(0)
    points = [sample(space.space, rng=rng) for _ in range(3)]
    points += [space.demo_point] if space.demo_point is not None else []
    for point in points:
        model, _ = space.builder()(point, info, CPU)
        try:
            model.run_eagerly = True
            labels = {head: rng.integers(0, n, 4) for head, n in info.heads.items()}
            x = rng.uniform(0, 255, (4, *info.input_shape)).astype("float32")
            logs = model.train_on_batch(x, labels, return_dict=True)
            assert np.isfinite(logs["loss"])
        finally:
            keras.backend.clear_session()
