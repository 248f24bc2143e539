"""Issue 36: the Python API over arrays in memory, as a notebook calls it: a dict space, the
user's build function (its compile respected), callbacks, validation and test data."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_cli, write_space
from helpers import arrays

from hyperopt_nas import notebook
import hyperopt_nas
from hyperopt_nas.trial_store import TrialStatus, TrialStore


# Keras Tuner's tutorial model: a logits output and a from_logits loss, compiled by the user.
# Fed on standard input, as a notebook cell runs: the build function and the callback class
# live in __main__, which no worker can import.
NOTEBOOK_CELL = """
import sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
import keras
import numpy as np
from hyperopt import hp
import hyperopt_nas
from helpers import arrays

(x, y), (x_val, y_val), (x_test, y_test) = arrays(400, 1), arrays(200, 2), arrays(200, 3)

def build_model(hp):
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(hp["units"], activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(hp["learning_rate"]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model

class Epochs(keras.callbacks.Callback):  # proves that it ran where the trials train
    def on_epoch_end(self, epoch, logs=None):
        with open({log!r}, "a") as f:
            f.write(f"{{epoch}} {{logs['val_accuracy']:.3f}}\\n")

space = {{"units": hp.choice("units", [16, 32]),
          "learning_rate": hp.loguniform("learning_rate", np.log(1e-3), np.log(1e-2))}}
summary = hyperopt_nas.search(space, {results!r}, build_model=build_model, x=x, y=y,
                              validation_data=(x_val, y_val), test_data=(x_test, y_test),
                              callbacks=[Epochs()], max_evals={trials}, epochs=2,
                              tensorboard=False)
print("best", summary.best.number, summary.best.score)
"""


def run_cell(tmp_path, trials: int, results=None):
    code = NOTEBOOK_CELL.format(root=str(ROOT), tests=str(ROOT / "tests"),
                                log=str(tmp_path / "epochs.log"),
                                results=str(results or tmp_path / "results"), trials=trials)
    return subprocess.run([sys.executable, "-"], input=code, capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)


@pytest.mark.slow
def test_a_notebook_cell_on_stdin_searches_arrays_with_its_own_compile_and_callback(tmp_path):
    out = run_cell(tmp_path, trials=2)
    assert out.returncode == 0, out.stdout + out.stderr
    results = tmp_path / "results"
    records = TrialStore(results).load_records()
    assert len(records) == 2 and all(r.status == TrialStatus.OK for r in records)
    best = max(records, key=lambda r: r.score)
    # The logits model under its from_logits loss learns (at chance it would be about 0.1).
    assert best.score > 0.5, [r.score for r in records]
    assert "trains at chance" not in out.stdout
    sizes = best.budget
    assert (sizes["train_samples"], sizes["validation_samples"], sizes["test_samples"]) == \
        (400, 200, 200)  # the validation data given, not carved out of x
    assert best.metrics["label"]["test_accuracy"] > 0.5
    # The callback ran in the training process: once per epoch of each trial.
    logged = (tmp_path / "epochs.log").read_text().splitlines()
    assert len(logged) == sum(r.epochs_run for r in records)
    # The folder is a results folder like the command line's: rank and load_model work on it.
    rank = run_cli(["rank", "--results-dir", str(results)], cwd=tmp_path)
    assert rank.returncode == 0 and f"{best.score:.4f}" in rank.stdout, rank.stderr
    model = hyperopt_nas.load_model(results)
    x_test, y_test = arrays(200, 3)
    assert (np.asarray(model.predict(x_test, verbose=0)).argmax(-1) == y_test).mean() > 0.5
    # Relaunched with the same arrays, the search goes on; with others it is refused.
    again = run_cell(tmp_path, trials=3)
    assert again.returncode == 0, again.stderr
    assert len(TrialStore(results).load_records()) == 3
    assert "Loaded 2 trials" in again.stdout and "2 inform the search" in again.stdout


def test_other_arrays_in_the_same_folder_are_refused_and_nothing_is_lost(tmp_path):
    from hyperopt import hp
    from helpers import make_record
    x, y = arrays(50, 1)
    space = {"units": hp.choice("units", [4, 8])}
    notebook.write_space_file(tmp_path, space, lambda p: None, x, y)
    TrialStore(tmp_path).save_record(make_record(0, 0.5), new=True)  # a trial over these arrays
    before = {p.name: p.read_bytes() for p in (tmp_path / "notebook").iterdir()}
    with pytest.raises(ValueError, match="holds a search over other arrays; pass the same"):
        notebook.write_space_file(tmp_path, space, lambda p: None, x[:-1], y[:-1])
    assert {p.name: p.read_bytes() for p in (tmp_path / "notebook").iterdir()} == before
    # The same arrays again: accepted, the arrays not written twice.
    path = notebook.write_space_file(tmp_path, {"units": hp.choice("units", [4, 16])},
                                     lambda p: None, x.copy(), y.copy())
    assert path.name == notebook.SPACE_FILE
    layout = json.loads((tmp_path / "notebook" / notebook.FINGERPRINT).read_text())["layout"]
    assert set(layout) == {"train", "test"}  # no validation data: split off x as usual


def test_a_folder_without_trials_takes_other_arrays(tmp_path):
    """Issue 44: after a run refused or ended with no trial, the folder refused the corrected
    arrays until the user deleted it. With no trial recorded, the new arrays replace the old
    (the old ones' files go; files the tool did not write stay)."""
    from hyperopt import hp
    x, y = arrays(50, 1)
    space = {"units": hp.choice("units", [4, 8])}
    notebook.write_space_file(tmp_path, space, lambda p: None, x, {"a": y, "b": y})
    (tmp_path / "notebook" / "mine.txt").write_text("the user's")
    notebook.write_space_file(tmp_path, space, lambda p: None, x[:-1], y[:-1],
                              validation_data=(x[:5], y[:5]))
    folder = tmp_path / "notebook"
    layout = json.loads((folder / notebook.FINGERPRINT).read_text())["layout"]
    assert set(layout) == {"train", "val", "test"}
    assert not list(folder.glob("train_y.a.npy")) and (folder / "train_y.npy").is_file()
    assert len(np.load(folder / "train_x.npy")) == 49
    assert (folder / "mine.txt").read_text() == "the user's"


@pytest.mark.parametrize("call, message", [
    (dict(space="s.py", build_model=None, y=None, x=[1]), r"got x= with a space file \(s.py\)"),
    (dict(space={}), "non-empty dict of hyperopt expressions"),
    (dict(build_model=None), "build_model must be a function"),
    (dict(x=None), "give the training data as x= and y="),
    (dict(validation_split=0.2, validation_data=([[1]], [0])), "validation_data or "
     "validation_split, not both"),
    (dict(validation_split=1.5), "validation_split must be a number between 0 and 1"),
    (dict(y=[0, 1]), "x has 4 rows but y has 2 labels"),
    (dict(x=np.array(["a"] * 4)), "x must be a numeric array"),
    (dict(callbacks=["stop"]), "callbacks must be a list of Keras callbacks"),
    (dict(validation_data=[1, 2, 3]), "validation_data must be a pair"),
    # Issue 44: bad data, refused in the caller's process before any worker starts.
    (dict(x=np.where(np.eye(4, 3) > 0, np.nan, 0.0)), r"x, y: x holds NaN or infinite values "
     r"in 3 of its 4 rows \(the first: row 0\)"),
    (dict(x=np.full((4, 3), np.inf)), "NaN or infinite values in 4 of its 4 rows"),
    (dict(y=[0, 1, -1, 1]), r"x, y: y holds the label -1; class labels are 0, 1, 2"),
    (dict(validation_data=(np.zeros((2, 4)), [0, 1])), r"validation_data's examples have the "
     r"shape \(4,\), x's \(3,\)"),
    (dict(test_data=(np.zeros((2, 3, 1)), [0, 1])), "test_data's examples have the shape"),
])
def test_bad_arguments_are_one_clear_error_before_anything_runs(tmp_path, call, message):
    from hyperopt import hp
    given = dict(space={"units": hp.choice("units", [4, 8])}, build_model=lambda p: None,
                 x=np.zeros((4, 3)), y=[0, 1, 0, 1])
    given.update(call)
    with pytest.raises((TypeError, ValueError), match=message):
        hyperopt_nas.search(given.pop("space"), tmp_path / "r", **given)
    assert not (tmp_path / "r" / "results.pkl").exists()


def test_a_results_dir_that_is_a_file_is_one_clear_error(tmp_path):
    from hyperopt import hp
    (tmp_path / "r").write_text("mine")
    with pytest.raises(ValueError, match=r"results_dir .*r is a file, not a folder"):
        hyperopt_nas.search({"u": hp.choice("u", [1, 2])}, tmp_path / "r",
                            build_model=lambda p: None, x=np.zeros((4, 3)), y=[0, 1, 0, 1])
    assert (tmp_path / "r").read_text() == "mine"


def test_the_build_function_may_take_the_point_alone_or_with_shape_and_classes(tmp_path):
    from hyperopt import hp
    x, y = arrays(30, 1)
    seen = []
    for build in (lambda p: ("one", p), lambda p, shape, classes: ("three", shape, classes)):
        folder = tmp_path / str(len(seen))
        path = notebook.write_space_file(folder, {"u": hp.choice("u", [1, 2])}, build, x, y)
        seen.append(notebook.Given(path).build_model({"u": 1}, (28, 28), 10))
    assert seen == [("one", {"u": 1}), ("three", (28, 28), 10)]


def test_delete_results_removes_what_the_notebook_api_wrote_and_nothing_else(tmp_path):
    from hyperopt import hp
    x, y = arrays(30, 1)
    notebook.write_space_file(tmp_path, {"u": hp.choice("u", [1, 2])}, lambda p: None, x, y,
                              validation_data=arrays(10, 2), test_data=arrays(10, 3))
    (tmp_path / "notebook" / "my_notes.txt").write_text("mine")
    (tmp_path / ".hyperopt-nas").write_text("")
    done = subprocess.run([str(ROOT / "delete_results.sh"), str(tmp_path)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "notebook").iterdir()] == ["my_notes.txt"]


USER_COMPILE = """
import keras

def model(logits, compiled):
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3,
                          activation=None if logits else "softmax")])
    if compiled:
        m.compile(optimizer=keras.optimizers.SGD(0.5),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=logits),
                  metrics=[keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")])
    return m
"""


def test_a_compiled_model_keeps_its_loss_metrics_and_optimizer_and_logits_are_warned_of():
    """Issue 36: the search recompiled a user's model with its own probability loss, so Keras
    Tuner's tutorial model (logits, from_logits=True) trained at chance, silently."""
    import keras

    import neural_net
    from hyperopt_nas.data_loaders import DatasetInfo
    from hyperopt_nas.runtime import Accelerator
    namespace: dict = {}
    exec(USER_COMPILE, namespace)
    info = DatasetInfo("own:t", (6,), {"label": 3})
    accel = Accelerator(gpus=0, mixed_precision=False, xla=False)
    point = {"learning_rate": 0.01, "optimizer": "Adam"}

    def built(logits, compiled):
        build = neural_net.custom_builder(lambda p, shape, classes: namespace["model"](
            logits, compiled))
        return build(point, info, accel)[0]
    kept = built(logits=True, compiled=True)
    loss = kept.loss["label"]
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
    assert loss.get_config()["from_logits"] is True
    assert isinstance(kept.optimizer, keras.optimizers.SGD)
    assert float(kept.optimizer.learning_rate) == pytest.approx(0.5)  # not the point's 0.01
    x = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
    logs = kept.evaluate(x, {"label": np.arange(8) % 3}, verbose=0, return_dict=True)
    assert {"top2", "accuracy"} <= {k.split("_", 1)[-1] if k.startswith("label_") else k
                                    for k in logs}
    assert kept.build_notes == []
    # Uncompiled: compiled as before, with the point's optimizer, and logits are warned of.
    plain = built(logits=True, compiled=False)
    assert plain.loss == {"label": "sparse_categorical_crossentropy"}
    assert isinstance(plain.optimizer, keras.optimizers.Adam)
    assert len(plain.build_notes) == 1 and "trains at chance" in plain.build_notes[0]
    assert "from_logits=True" in plain.build_notes[0]
    assert built(logits=False, compiled=False).build_notes == []  # a softmax output


WARNED_SPACE = """
import keras
import numpy as np
from hyperopt import hp

SPACE = {"units": hp.choice("units", [4, 8])}
DEFAULTS = {"epochs": 1, "validation_fraction": 0.25}
CALLBACKS = lambda: [keras.callbacks.CSVLogger(__file__ + ".csv", append=True)]

def load_data():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(80, 5)).astype("float32"), np.arange(80) % 3
    return (x[:40], y[:40]), (x[40:60], y[40:60]), (x[60:], y[60:])

def build_model(params, input_shape, classes):
    return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(params["units"]),
                             keras.layers.Dense(classes, activation=OUTPUT)])
"""


@pytest.mark.slow
def test_a_space_file_s_callbacks_and_validation_data_and_the_logits_warning_said_once(
        tmp_path):
    def run(output):
        space = write_space(tmp_path / f"{output}.py",
                            text=f"OUTPUT = {output!r}\n" + textwrap.dedent(WARNED_SPACE))
        lines = []
        try:
            summary = hyperopt_nas.search(space, tmp_path / output, say=lines.append,
                                          max_evals=3, isolation="none", plot_best=False,
                                          plot_search=False, tensorboard=False, algo="rand",
                                          max_consecutive_failures=5)
        except hyperopt_nas.FatalError:  # every trial failed (the loss exploded): it raises
            summary = None
        return summary, [line for line in lines if "trains at chance" in line], space
    summary, warned, space = run("softmax")
    assert summary.total == 3 and summary.best is not None and not warned
    # load_data's three parts: its middle one is the validation data, none carved out of x.
    assert summary.best.budget["validation_samples"] == 20
    assert summary.best.budget["train_samples"] == 40
    logged = Path(f"{space}.csv").read_text().splitlines()  # CALLBACKS: a row per epoch
    assert len([line for line in logged if not line.startswith("epoch")]) == 3
    # A logits output under the default probability loss: said once, whether its trials fail
    # (the loss explodes) or train at chance.
    summary, warned, _ = run("linear")
    assert len(TrialStore(tmp_path / "linear").load_records()) == 3
    assert len(warned) == 1 and warned[0].startswith("warning: build_model's model ends in")


@pytest.mark.parametrize("callbacks", ["'early'", "[1, 2]"])
def test_bad_callbacks_in_a_space_file_are_refused_at_load(tmp_path, callbacks):
    from hyperopt_nas.errors import SpaceFileError
    from hyperopt_nas.space_files import load_space_file
    space = write_space(tmp_path / "s.py", text=textwrap.dedent(f"""
        from hyperopt import hp
        DATASET, MODEL = "fashion_mnist", "mlp"
        SPACE = {{"hidden_layers": [{{"units": hp.choice("units", [8, 16])}}]}}
        CALLBACKS = {callbacks}
        """))
    with pytest.raises(SpaceFileError, match="CALLBACKS must be a list of Keras callbacks"):
        load_space_file(space)


@pytest.mark.slow
def test_a_second_search_in_the_same_process_uses_the_new_build_function(tmp_path):
    """A notebook that searches with isolation="none", edits build_model and searches again
    into the same folder must train the new network, not the one its process loaded first."""
    import keras
    from hyperopt import hp
    x, y = arrays(60, 1)

    def build(width):
        return lambda p: keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                                           keras.layers.Dense(width),
                                           keras.layers.Dense(10, activation="softmax")])
    sizes = []
    for evals, width in ((1, 4), (2, 32)):
        hyperopt_nas.search({"lr": hp.uniform("lr", 0.001, 0.01)}, tmp_path / "r",
                            say=lambda line: None, build_model=build(width), x=x, y=y,
                            max_evals=evals, epochs=1, isolation="none", plot_best=False,
                            plot_search=False, tensorboard=False)
        records = sorted(TrialStore(tmp_path / "r").load_records(), key=lambda r: r.number)
        sizes.append(records[-1].model_params)
    assert sizes == [28 * 28 * 4 + 4 + 4 * 10 + 10, 28 * 28 * 32 + 32 + 32 * 10 + 10]


@pytest.mark.slow
def test_a_network_too_small_for_the_labels_stops_at_the_first_and_frees_the_folder(tmp_path):
    """Issue 44: labels up to 9 under a 3-unit softmax failed every trial with TensorFlow's
    graph trace; the search now stops at its first network with a ValueError (as the other bad
    data), in one line, sent whole from the worker that built it, and the same folder takes the
    corrected model."""
    import keras
    from hyperopt import hp

    def build(units):
        return lambda params: keras.Sequential([keras.layers.Flatten(),
                                                keras.layers.Dense(units, activation="softmax")])
    (x, y), quiet = arrays(60, 1), dict(plot_best=False, plot_search=False, tensorboard=False,
                                        epochs=1)
    space = {"lr": hp.loguniform("lr", -6, -3)}
    with pytest.raises(ValueError) as refused:  # built in a worker process, sent from there
        hyperopt_nas.search(space, tmp_path / "r", say=lambda line: None, build_model=build(3),
                            x=x, y=y, max_evals=2, warm_workers=False, head_start=False,
                            **quiet)
    assert str(refused.value).startswith("the labels go up to 9, but the network's output has 3 "
                                         "units") and "\n" not in str(refused.value)
    assert TrialStore(tmp_path / "r").load_records() == []
    summary = hyperopt_nas.search(space, tmp_path / "r", say=lambda line: None,
                                  build_model=build(10), x=x, y=y, max_evals=1, isolation="none",
                                  **quiet)
    assert summary.total == 1 and summary.best is not None


def test_the_report_names_the_build_function_the_caller_wrote(tmp_path):
    import keras

    import hyperopt_nas.keras_tuner as kt

    def build_model(params):
        return keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(10)])

    class MyHyperModel(kt.HyperModel):
        def build(self, hp):
            return build_model({})
    x, y = arrays(20, 1)
    for folder, build, name in (("plain", build_model, "build_model"),
                                ("hypermodel", kt.BuildWithValues(MyHyperModel().build),
                                 "MyHyperModel"),
                                ("function", kt.BuildWithValues(build_model), "build_model")):
        path = notebook.write_space_file(tmp_path / folder, {"u": hp_choice()}, build, x, y)
        assert notebook.searched_name(path, tmp_path / folder) == f"{name} over arrays in memory"


def hp_choice():
    from hyperopt import hp
    return hp.choice("u", [1, 2])
