import ast
import itertools
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from helpers import CIFAR100, CPU, cnn_point, tiny_cifar100

from hyperopt_nas.data_loaders import DATASETS, DatasetInfo
from neural_net import CNNConfig, build_cnn
import neural_net


# Every combination of the family's options; the fast tier builds those of two stages, the full
# run all of them.
CORNERS = [pytest.param(*corner, marks=[pytest.mark.slow] if corner[-1] == 3 else [])
           for corner in itertools.product(neural_net.POOLINGS, [False, True], [False, True],
                                           [False, True], [2, 3])]


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


def test_layers_can_be_nested_and_repeated():
    from neural_net import MLPConfig
    c = MLPConfig.from_params({"hidden_layers": [{"units": 5}, [{"units": 6}, None],
                                                 {"repeat": 3, "units": 7}]})
    assert [layer.units for layer in c.layers] == [5, 6, 7, 7, 7]


@pytest.mark.slow
def test_the_search_process_checks_spaces_without_keras_and_neural_net_loads_no_data():
    """The search's own process (the CLI, the engine, the executors, ranking, retrain's and the
    report's modules) loads every shipped space against the Keras-free catalogue and imports no
    Keras backend; neural_net imports Keras but reads no data."""
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import hyperopt_optimize, hyperopt_nas.engine, hyperopt_nas.retrain\n"
            "from hyperopt_nas.executors import pool, in_process, spark\n"
            "from hyperopt_nas.outputs import reports, html_report\n"
            "from hyperopt_nas.space_files import load_space_file\n"
            "for p in %r: load_space_file(p)\n"
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch', 'neural_net') "
            "if m in sys.modules))\n"
            "from hyperopt_nas import data_loaders\n"
            "def refuse(*a, **k): raise AssertionError('data loaded at import')\n"
            "for name in [n for n in vars(data_loaders) if n.startswith('load_')]:\n"
            "    setattr(data_loaders, name, refuse)\n"
            "import neural_net\n"
            "print('keras' in sys.modules)"
            % (str(ROOT), [str(p) for p in SHIPPED_SPACES]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["[]", "True"]


@pytest.mark.parametrize("module", ["neural_net.py", "hyperopt_nas/training.py"])
def test_the_families_and_the_training_function_import_keras_once_at_the_top(module):
    """No function-local imports of Keras left in the modules that only run where a model is
    built: the catalogue the search process needs is hyperopt_nas/families.py."""
    tree = ast.parse((ROOT / module).read_text())
    inner = [node.lineno for function in ast.walk(tree)
             if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
             for node in ast.walk(function) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert inner == []
    assert any(isinstance(node, ast.Import) and node.names[0].name == "keras"
               for node in tree.body)


SHIPPED_SPACES = sorted(p for p in (ROOT / "search_spaces").glob("*.py")
                        if p.name != "__init__.py")


@pytest.mark.slow
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
        model, _ = neural_net.builder_for(space)(point, info, CPU)
        try:
            model.run_eagerly = True
            labels = {head: rng.integers(0, n, 4) for head, n in info.heads.items()}
            x = rng.uniform(0, 255, (4, *info.input_shape)).astype("float32")
            logs = model.train_on_batch(x, labels, return_dict=True)
            assert np.isfinite(logs["loss"])
        finally:
            keras.backend.clear_session()
