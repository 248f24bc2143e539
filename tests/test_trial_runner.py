"""Running trials in one process (trial_runner.py): the data prepared once, TensorFlow set up
before it is loaded."""

import numpy as np
import pytest

from hyperopt_nas import training, trial_runner
from hyperopt_nas.executors import start_runner
from hyperopt_nas.trial import DataSetup, TrainBudget, TrialSpec


OWN_TF_DATA = '''
import numpy as np
import tensorflow as tf
from hyperopt import hp

MODEL = "mlp"
CLASS_NAMES = [str(i) for i in range(4)]
DEFAULTS = {"epochs": 1}
SPACE = {"hidden_layers": [{"units": hp.choice("units", [4, 8])}], "batch_size": 8}


def load_data():
    rng = np.random.default_rng(0)
    def part(n):
        return tf.data.Dataset.from_tensor_slices(
            (rng.integers(0, 255, (n, 6, 6, 1)).astype("uint8"), rng.integers(0, 4, n)))
    return part(40), part(12)
'''


@pytest.mark.slow
def test_a_space_with_its_own_tf_data_is_loaded_after_tensorflow_is_set_up(tmp_path,
                                                                           monkeypatch):
    """A tf.data dataset made before set_memory_growth would have initialised the GPU first."""
    space = tmp_path / "own_tf_data.py"
    space.write_text(OWN_TF_DATA)
    setup = DataSetup("custom:own_tf_data", "mlp", 0.25, None, 0, space_path=str(space),
                      space_source=space.read_text())
    order = []
    configure, prepare = training.configure_accelerator, trial_runner.prepare_data
    monkeypatch.setattr(training, "configure_accelerator",
                        lambda *a, **k: order.append("configure") or configure(*a, **k))
    monkeypatch.setattr(trial_runner, "prepare_data",
                        lambda *a: order.append("load data") or prepare(*a))
    runner = start_runner(setup)
    assert order == ["configure", "load data"]
    outcome = runner.run(TrialSpec(0, {"hidden_layers": [{"units": 4}], "batch_size": 8}, 1,
                                   TrainBudget(epochs=1, patience=1)))
    assert outcome.ok, outcome.error
    assert outcome.accelerator["dtype_policy"] == "float32"  # auto, on a CPU


def test_the_data_is_prepared_once_with_a_split_that_follows_the_seed_only(fashion_dir):
    setup = DataSetup("fashion_mnist", "mlp", 0.2, None, 3, str(fashion_dir))
    data = trial_runner.prepare_data(setup)
    sizes = data.sizes()
    assert (sizes["train_samples"], sizes["validation_samples"], sizes["test_samples"]) == (
        240, 60, 100)
    assert sizes["input_shape"] == [28, 28, 1] and sizes["primary_head"] == "label"
    again = trial_runner.prepare_data(setup)
    assert np.array_equal(again.validation.x, data.validation.x)
    other = trial_runner.prepare_data(DataSetup("fashion_mnist", "mlp", 0.2, None, 4,
                                                str(fashion_dir)))
    assert not np.array_equal(other.validation.x, data.validation.x)
    folds = list(trial_runner._fold_splits(data, 3, seed=3))
    held_out = np.concatenate([validation.x for _, validation in folds])
    assert len(folds) == 3 and len(held_out) == 300  # every image held out once
    assert all(len(train) + len(validation) == 300 for train, validation in folds)
