"""What a trial process does before its first trial: TensorFlow first, then the data."""


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
