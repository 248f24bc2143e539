"""A space file with its own load_data() and build_model() (what workload.py resolves):
searched, resumed, ranked, drawn and retrained like a built-in one; its functions' mistakes
refused with named messages."""

import shutil

import numpy as np
import pytest
from conftest import ROOT, learnable_images, write_space

from hyperopt_nas import data_loaders, retrain
from hyperopt_nas.engine import SearchSettings, run_search
from hyperopt_nas.errors import FatalError
from hyperopt_nas.executors.in_process import InProcessExecutor
from hyperopt_nas.outputs import reports
from hyperopt_nas.space_files import load_space_file
from hyperopt_nas.trial import DataSetup, TrainBudget, TrialSpec
from hyperopt_nas.trial_store import TrialStatus, TrialStore

EXAMPLE = ROOT / "search_spaces" / "own_data_and_model.py"


def write_npz(path, n_train=240, n_test=60, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y_train, y_test = rng.integers(0, classes, n_train), rng.integers(0, classes, n_test)
    np.savez(path, x_train=learnable_images(y_train, 28, 1, seed),
             y_train=y_train, x_test=learnable_images(y_test, 28, 1, seed + 1), y_test=y_test)
    return path


@pytest.fixture
def own_space(tmp_path, monkeypatch):
    monkeypatch.setenv("OWN_DATA_NPZ", str(write_npz(tmp_path / "images.npz")))
    space = tmp_path / "own.py"
    shutil.copy(EXAMPLE, space)
    space.write_text(space.read_text().replace('"epochs": 5', '"epochs": 2'))
    return space


@pytest.mark.slow
def test_own_data_and_model_are_searched_resumed_ranked_drawn_and_retrained(
        tmp_path, own_space):
    results = tmp_path / "results"
    # The first two trials here, in this process, without pictures; the third in the default
    # worker process, as a relaunch.
    first = SearchSettings(space_path=own_space, results_dir=results, max_evals=2, seed=3,
                           isolation="none", plot_best=False, plot_search=False,
                           tensorboard=False)
    run_search(first, say=lambda line: None)
    settings = SearchSettings(space_path=own_space, results_dir=results, max_evals=3, seed=3)
    lines = []
    summary = run_search(settings, say=lines.append)
    assert lines[0].startswith("Searching own.py (custom:own, custom) with tpe: 2 epochs")
    assert "Loaded 2 trials" in lines[1] and summary.total == 3
    records = TrialStore(results).load_records()
    assert [r.status for r in records] == [TrialStatus.OK] * 3
    assert {r.dataset for r in records} == {"custom:own"} and records[0].model == "custom"
    assert records[0].budget["input_shape"] == [28, 28, 1]
    assert records[0].budget["heads"] == {"label": 4}
    assert records[0].budget["train_samples"] == 216  # 240 less a 10 % validation split
    assert "test_accuracy" in summary.best.metrics["label"]
    assert reports.ranked(records)[0].number == summary.best.number
    assert "filters" in reports.rank_table(records)  # its own hyperparameters are ranked
    assert (results / "best_model.png").stat().st_size > 1000
    again = retrain.retrain(results)
    assert again.number == summary.best.number and 0 <= again.test_accuracy <= 1
    assert again.path.exists()


def test_a_worker_without_the_space_files_path_loads_it_from_its_text(tmp_path, own_space):
    """What a Spark executor on another machine does: the path is not there, the text is."""
    text = own_space.read_text()
    setup = DataSetup("custom:own", "custom", 0.1, None, 0,
                      space_path=str(tmp_path / "elsewhere" / "own.py"), space_source=text)
    executor = InProcessExecutor(setup)
    executor.submit(TrialSpec(0, {"conv_blocks": 1, "filters": 8, "dropout": 0.1, "units": 32,
                                  "learning_rate": 0.003, "optimizer": "Adam",
                                  "batch_size": 32}, seed=1,
                              budget=TrainBudget(epochs=1, patience=1)))
    outcome = executor.collect()
    assert outcome.ok and outcome.data_sizes["heads"] == {"label": 4}


BAD_DATA = {
    "(x_train, y_train)":
        ("return (x, y)", "its train part is ndarray, not a pair (x, y)"),
    "y of another length":
        ("return (x, y[:-1]), (x, y)", "x_train has 40 rows but y_train has 39 labels"),
    "test images of another shape":
        ("return (x, y), (x[:, :10], y)", "training examples have shape (20, 20, 1) but test "
                                          "examples (10, 20, 1)"),
    "validation data of another shape":
        ("return (x, y), (x[:, :10], y), (x, y)", "training examples have shape (20, 20, 1) but "
                                                  "validation examples (10, 20, 1)"),
    "float labels":
        ("return (x, y / 2), (x, y)", "y_train must be whole-number class labels"),
    "labels as a dict for one part only":
        ('return (x, {"a": y}), (x, y)', "the training labels have heads ['a'] but the test "
                                         "labels ['label']"),
    "an infinite tf.data dataset":
        ("import tensorflow as tf\n"
         "            return tf.data.Dataset.from_tensor_slices((x, y)).repeat(), (x, y)",
         "the train dataset is infinite"),
    "a tf.data dataset of images alone":
        ("import tensorflow as tf\n"
         "            return (x, y), tf.data.Dataset.from_tensor_slices(x)",
         "the test dataset must yield (x, y) pairs"),
}


@pytest.mark.parametrize("body, message", BAD_DATA.values(), ids=BAD_DATA.keys())
def test_load_data_returning_the_wrong_thing_is_refused_by_name(tmp_path, body, message):
    space = write_space(tmp_path / "s.py", text=f"""
        import numpy as np
        from hyperopt import hp
        MODEL = "mlp"
        SPACE = {{"hidden_layers": [{{"units": 8}}], "learning_rate": hp.uniform("lr", 0, 1)}}
        def load_data():
            x = np.zeros((40, 20, 20, 1), np.uint8)
            y = np.arange(40) % 4
            {body}
    """)
    with pytest.raises(data_loaders.DataError, match=r"load_data\(\).*" + _escaped(message)):
        load_space_file(space).load()


def test_load_data_may_return_tf_data_datasets(tmp_path):
    """Batched or not, labels as arrays or per head, read into arrays, then searched like
    arrays."""
    space = write_space(tmp_path / "tfdata.py", text="""
        import numpy as np
        from hyperopt import hp
        MODEL = "mlp"
        DEFAULTS = {"epochs": 1}
        SPACE = {"hidden_layers": [{"units": 8}], "learning_rate": hp.uniform("lr", 1e-3, 1e-2)}
        def load_data():
            import tensorflow as tf
            rng = np.random.default_rng(0)
            x = rng.integers(0, 255, (50, 6, 6, 1)).astype(np.uint8)
            y = np.arange(50) % 5
            train = tf.data.Dataset.from_tensor_slices((x, {"fine": y, "coarse": y // 3}))
            test = tf.data.Dataset.from_tensor_slices((x[:20], {"fine": y[:20],
                                                                "coarse": y[:20] // 3}))
            return train.batch(16), test  # batched and not
    """)
    dataset = load_space_file(space).load()
    assert dataset.train.x.shape == (50, 6, 6, 1) and dataset.test.x.shape == (20, 6, 6, 1)
    assert set(dataset.train.y) == {"fine", "coarse"}
    assert dataset.info.heads["fine"] == 5 and dataset.info.heads["coarse"] == 2
    np.testing.assert_array_equal(dataset.train.y["fine"], np.arange(50) % 5)

    summary = run_search(SearchSettings(space_path=space, results_dir=tmp_path / "results",
                                        max_evals=1, isolation="none", plot_best=False,
                                        plot_search=False, tensorboard=False),
                         say=lambda line: None)
    assert summary.best is not None and summary.best.budget["train_samples"] == 45


def test_image_dataset_from_directory_is_read(tmp_path):
    import tensorflow as tf
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 4)):
        for name in ("cat", "dog"):
            folder = tmp_path / "images" / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                image = rng.integers(0, 255, (8, 8, 3)).astype(np.uint8)
                (folder / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    space = write_space(tmp_path / "folders.py", text=f"""
        from hyperopt import hp
        MODEL = "mlp"
        SPACE = {{"hidden_layers": [{{"units": 8}}], "learning_rate": hp.uniform("lr", 0, 1)}}
        def load_data():
            import keras
            kw = dict(image_size=(8, 8), batch_size=5, shuffle=False)
            return (keras.utils.image_dataset_from_directory("{tmp_path}/images/train", **kw),
                    keras.utils.image_dataset_from_directory("{tmp_path}/images/test", **kw))
    """)
    dataset = load_space_file(space).load()
    assert dataset.train.x.shape == (24, 8, 8, 3) and len(dataset.test) == 8
    assert dataset.info.heads == {"label": 2}
    assert sorted(np.bincount(dataset.train.y["label"])) == [12, 12]


BAD_MODELS = {
    "not a model": ("return 42", "build_model must return a keras.Model, got int"),
    "two outputs": ("return keras.Model(inputs, [out, out])",
                    "build_model's model has 2 outputs but the data has 1 label sets"),
    "another input shape": ("return keras.Model(other, keras.layers.Dense(4)("
                            "keras.layers.Flatten()(other)))",
                            "build_model's model takes inputs of shape (5, 5, 1), but the "
                            "data's examples have shape (28, 28, 1)"),
}


@pytest.mark.parametrize("body, message", BAD_MODELS.values(), ids=BAD_MODELS.keys())
def test_build_model_returning_the_wrong_thing_fails_the_trial_with_its_name(
        tmp_path, body, message):
    space = write_space(tmp_path / "s.py", text=f"""
        from hyperopt import hp
        DATASET = "fashion_mnist"
        SPACE = {{"units": hp.choice("units", [4, 8])}}
        def build_model(params, input_shape, classes):
            import keras
            inputs, other = keras.Input(shape=input_shape), keras.Input(shape=(5, 5, 1))
            out = keras.layers.Dense(classes, activation="softmax")(
                keras.layers.Flatten()(inputs))
            {body}
    """)
    sf = load_space_file(space)
    info = data_loaders.DATASETS["fashion_mnist"]
    import neural_net
    with pytest.raises(TypeError, match=_escaped(message)):
        neural_net.builder_for(sf)({"units": 4}, info, neural_net.Accelerator(0, False, False))


def test_both_dataset_and_load_data_is_refused(tmp_path):
    space = write_space(tmp_path / "s.py", text="""
        from hyperopt import hp
        DATASET, MODEL = "mnist", "mlp"
        SPACE = {"learning_rate": hp.uniform("lr", 0, 1)}
        def load_data():
            return None
    """)
    from hyperopt_nas.space_files import SpaceFileError
    with pytest.raises(SpaceFileError, match=r"defines both DATASET and load_data\(\)"):
        load_space_file(space)


def test_load_data_that_fails_stops_the_search_with_its_error(tmp_path, monkeypatch):
    monkeypatch.setenv("OWN_DATA_NPZ", str(tmp_path / "missing.npz"))
    settings = SearchSettings(space_path=EXAMPLE, results_dir=tmp_path / "r", max_evals=1,
                              isolation="none")
    with pytest.raises(FatalError, match=r"load_data\(\) of the space file failed: "
                                         r"FileNotFoundError"):
        run_search(settings, say=lambda line: None)


def _escaped(text):
    import re
    return re.escape(text)


GREY_WITHOUT_CHANNELS = '''
import numpy as np
from hyperopt import hp

MODEL = "{model}"
CLASS_NAMES = [str(i) for i in range(4)]
SPACE = {space}


def load_data():
    rng = np.random.default_rng(0)
    def part(n):
        return rng.integers(0, 255, (n, 12, 12)).astype("uint8"), rng.integers(0, 4, n)
    return part(80), part(20)
{extra}'''
OWN_CNN = '''

def build_model(params, input_shape, classes):
    import keras
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))
'''


def test_images_without_a_channel_axis_are_refused_by_name_for_a_built_in_cnn(tmp_path):
    path = tmp_path / "grey.py"
    path.write_text(GREY_WITHOUT_CHANNELS.format(
        model="simple_cnn", extra="",
        space='{"conv_blocks": [{"filters": 4}], "dense_units": hp.choice("d", [8, 16]), '
              '"batch_size": 16}'))
    with pytest.raises(data_loaders.DataError,
                       match=r"x_train has shape \(80, 12, 12\), but the model takes images of "
                             r"shape \(n, height, width, channels\)\. For grey images add the "
                             r"channel axis: x\[\.\.\., None\]"):
        load_space_file(path).load()


def test_an_own_cnn_on_images_without_channels_fails_with_the_fix_named(tmp_path):
    import neural_net
    from hyperopt_nas.data_loaders import DatasetInfo
    path = tmp_path / "grey_own.py"
    text = GREY_WITHOUT_CHANNELS.format(model="", extra=OWN_CNN,
                                        space='{"batch_size": hp.choice("b", [8, 16])}')
    path.write_text(text.replace('MODEL = ""\n', ""))
    builder = neural_net.builder_for(load_space_file(path))
    cpu = neural_net.Accelerator(gpus=0, mixed_precision=False, xla=False)
    with pytest.raises(TypeError, match=r"build_model failed for examples of shape \(12, 12\).*"
                                        r"add a channel axis \(x\[\.\.\., None\]\)"):
        builder({"batch_size": 16}, DatasetInfo("custom:grey_own", (12, 12), {"label": 4}), cpu)
