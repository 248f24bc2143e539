"""Trials train on any Keras backend: JAX and PyTorch besides TensorFlow, also with no TensorFlow
importable; a relaunch on another backend continues the search.

JAX's CPU wheel is in the test set-up, so CI runs every test under JAX; PyTorch's CPU build is
not on PyPI (its wheel there brings some 5 GB of CUDA libraries), so its tests run where torch is
importable and are skipped elsewhere. Each backend runs in processes of its own (Keras reads
KERAS_BACKEND once per process), so these tests drive the command line."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT, run_cli, start_cli, write_space

from hyperopt_nas import runtime
from hyperopt_nas.trial_store import TrialStatus, TrialStore

OTHER_BACKENDS = [pytest.param(name, marks=pytest.mark.skipif(
    runtime.missing(name) is not None, reason=f"{name} is not installed here"))
    for name in ("jax", "torch")]


@pytest.fixture(params=OTHER_BACKENDS)
def backend(request):
    """A Keras backend other than TensorFlow, installed here."""
    return request.param


def _search(space, results, data_dir, max_evals, *extra):
    return ["--space", str(space), "--results-dir", str(results), "--data-dir", str(data_dir),
            "--max-evals", str(max_evals), "--seed", "3", "--no-plot", *extra]


@pytest.mark.slow
def test_a_search_trains_on_another_backend_and_a_relaunch_on_tensorflow_continues_it(
        tmp_path, tiny_space, fashion_dir, backend):
    results = tmp_path / "results"
    out = run_cli(_search(tiny_space, results, fashion_dir, 2, "--keras-backend", backend),
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"on Keras' {backend} backend" in out.stdout
    records = TrialStore(results).load_records()
    assert [r.keras_backend for r in records] == [backend, backend]
    assert all(r.status == TrialStatus.OK for r in records)
    used = records[0].accelerator
    # JAX keeps jit on a CPU (off, it runs op by op); PyTorch leaves torch.compile off.
    assert used["jit_compile"] is (backend == "jax")
    assert used["backend_version"] and records[0].versions[backend]

    again = run_cli(_search(tiny_space, results, fashion_dir, 3, "--keras-backend",
                            "tensorflow"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (f"The earlier trials trained on {backend}: they keep informing the search"
            in again.stdout)
    assert "Loaded 2 trials" in again.stdout
    records = TrialStore(results).load_records()
    assert [r.keras_backend for r in records] == [backend, backend, "tensorflow"]

    table = run_cli(["rank", "--results-dir", str(results)], cwd=tmp_path)
    assert "backend" in table.stdout.splitlines()[0]
    assert table.stdout.count(f" {backend} ") == 2 and table.stdout.count(" tensorflow ") == 1
    retrained = run_cli(["retrain", "--results-dir", str(results), "--data-dir",
                         str(fashion_dir), "--trial", "0"], cwd=tmp_path)
    assert retrained.returncode == 0, retrained.stderr
    assert f"on Keras' {backend} backend" in retrained.stdout  # the trial's own


DIVERGING_SPACE = """
from hyperopt import hp
DATASET = "fashion_mnist"
MODEL = "mlp"
DEFAULTS = {"epochs": 3, "validation_fraction": 0.2, "patience": 3, "max_train_samples": None}
SPACE = {"hidden_layers": [{"units": 16, "dropout": 0.0}], "activation": "relu",
         "optimizer": "Adam", "learning_rate": hp.choice("learning_rate", [1e12]),
         "batch_size": 32}
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", *OTHER_BACKENDS])
def test_a_diverging_trial_fails_on_every_backend(tmp_path, fashion_dir, backend):
    """Under JAX a learning rate of 1e12 keeps the loss finite (a softmax clipped at its
    extremes), under TensorFlow it reaches 1e27: the NaN check alone recorded both as ok."""
    space = write_space(tmp_path / "diverging.py", text=DIVERGING_SPACE)
    out = run_cli(_search(space, tmp_path / "r", fashion_dir, 1, "--keras-backend", backend,
                          "--isolation", "none", "--no-tensorboard"), cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    [record] = TrialStore(tmp_path / "r").load_records()
    assert record.status == TrialStatus.FAILED
    assert "exploded" in record.error or "became" in record.error, record.error
    assert "try a smaller learning rate" in record.error


PROGRESS_SCRIPT = """
import os, sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
import numpy as np
import neural_net
from hyperopt_nas import training
from conftest import learnable_images
from hyperopt_nas.data_loaders import DATASETS, Split

training.PROGRESS_EVERY_S = 0.05
info = DATASETS["fashion_mnist"]
labels = np.arange(6000) % 10
split = Split(learnable_images(labels, 28, 1, 0)[..., 0][..., None], {{"label": labels}})
heard = []
accel = training.configure_accelerator()
point = {{"hidden_layers": [{{"units": 256, "dropout": 0.0}}], "activation": "relu",
          "optimizer": "Adam", "learning_rate": 0.001, "batch_size": 8}}
training.train_and_evaluate(neural_net.model_builder("mlp"), point, info, split, split, split,
                              training.TrainBudget(epochs=2, patience=2), 0, accel,
                              on_progress=heard.append)
import keras
print("BACKEND", keras.backend.backend())
mid = [h for h in heard if not h.get("epoch_done")]
print("MID", [(h["epoch"], h["step"], h["steps"]) for h in mid])
print("ENDS", [h["epoch"] for h in heard if h.get("epoch_done")])
"""


@pytest.mark.slow
def test_the_live_progress_counts_batches_mid_epoch(tmp_path, backend):
    """JAX writes the optimizer's step counter back at an epoch's end only: the progress
    thread read 0, then failed, and the live line stopped."""
    script = tmp_path / "progress.py"
    script.write_text(PROGRESS_SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests")))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "KERAS_BACKEND": backend})
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert lines["BACKEND"] == backend
    mid = eval(lines["MID"])
    assert mid and all(0 <= step <= steps for _, step, steps in mid)
    assert any(0 < step < steps for _, step, steps in mid), mid  # during an epoch
    assert eval(lines["ENDS"]) == [1, 2]


HIDE_TENSORFLOW = "raise ImportError(\"No module named 'tensorflow' (hidden by the test)\")\n"


@pytest.mark.slow
def test_without_tensorflow_a_search_is_killed_resumed_retrained_and_ranked(
        tmp_path, fashion_dir, monkeypatch, backend):
    hidden = tmp_path / "hide"
    (hidden / "tensorflow").mkdir(parents=True)
    (hidden / "tensorflow" / "__init__.py").write_text(HIDE_TENSORFLOW)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(hidden), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("KERAS_BACKEND", backend)
    check = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True)
    assert check.returncode != 0  # nothing can import TensorFlow in these processes
    space = write_space(tmp_path / "slow.py", epochs=60)
    results = tmp_path / "results"
    search = start_cli(_search(space, results, fashion_dir, 2), cwd=tmp_path)
    seen = []
    for line in search.stdout:
        seen.append(line)
        if line.startswith("trial    0 [1/2]"):
            search.send_signal(signal.SIGKILL)
            break
    search.wait()
    assert search.returncode == -signal.SIGKILL, "".join(seen)
    assert [r.number for r in TrialStore(results).load_records()] == [0]

    again = run_cli(_search(space, results, fashion_dir, 2), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    records = TrialStore(results).load_records()
    assert [(r.number, r.keras_backend) for r in records] == [(0, backend), (1, backend)]
    assert all(r.status == TrialStatus.OK for r in records)
    table = run_cli(["rank", "--results-dir", str(results), "--json"], cwd=tmp_path)
    assert table.returncode == 0 and len(json.loads(table.stdout)) == 2
    retrained = run_cli(["retrain", "--results-dir", str(results), "--data-dir",
                         str(fashion_dir)], cwd=tmp_path)
    assert retrained.returncode == 0, retrained.stderr
    assert f"on Keras' {backend} backend" in retrained.stdout
    # TensorBoard's logs need only the tensorboard package.
    assert sorted(p.name for p in (results / "tensorboard").iterdir() if p.is_dir()) == [
        "trial-0000", "trial-0001"]


def test_a_backend_that_is_not_installed_is_one_line(tmp_path, tiny_space):
    """Checked before anything is written: here PyTorch is made to look absent."""
    script = textwrap.dedent(f"""
        import sys, importlib.util
        real = importlib.util.find_spec
        importlib.util.find_spec = lambda name, *a: None if name == "torch" else real(name, *a)
        sys.argv = ["hyperopt_optimize.py", "--space", {str(tiny_space)!r}, "--results-dir",
                    {str(tmp_path / 'r')!r}, "--keras-backend", "torch"]
        sys.path.insert(0, {str(ROOT)!r})
        import hyperopt_optimize
        sys.exit(hyperopt_optimize.main())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.strip().splitlines() == [
        "error: the Keras backend torch is not installed: pip install "
        "'hyperopt-keras-nas[torch]' (or HYPEROPT_NAS_BACKEND=torch ./setup.sh)."]
    assert not (tmp_path / "r").exists()


KEPT_MODEL_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
import hyperopt_nas
from hyperopt_nas.trial import DataSetup
from hyperopt_nas.trial_store import TrialStore, ranked
best = ranked(TrialStore({results!r}).load_records())[0]
model = hyperopt_nas.load_model({results!r})
import keras  # loaded by load_model, on the trial's backend
from hyperopt_nas.trial_runner import prepare_data  # Keras: after load_model chose its backend
data = prepare_data(DataSetup("fashion_mnist", "mlp", best.budget["validation_fraction"], None, 3,
                              {data!r}))
predicted = model.predict(data.validation.x, verbose=0).argmax(axis=1)
print(keras.backend.backend(), float(np.mean(predicted == data.validation.y["label"])),
      best.score)
"""


@pytest.mark.slow
def test_asha_continues_saved_models_keeps_the_best_and_plots(tmp_path, fashion_dir, backend):
    """ASHA's promotions continue a saved model with its optimizer state; under JAX as under
    TensorFlow (test_asha.py)."""
    space = write_space(tmp_path / "s.py", epochs=3)  # rungs: 1 and 3 epochs
    results = tmp_path / "results"
    out = run_cli(["--space", str(space), "--results-dir", str(results), "--data-dir",
                   str(fashion_dir), "--max-evals", "4", "--seed", "3", "--schedule", "asha",
                   "--keep-models", "1", "--keras-backend", backend], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    records = sorted(TrialStore(results).load_records(), key=lambda r: r.number)
    assert [r.extra["asha"]["rung"] for r in records] == [0, 0, 0, 1]
    assert {r.keras_backend for r in records} == {backend}
    promoted = records[3]
    config = records[promoted.extra["asha"]["config"]]
    assert promoted.epochs_run == 3 and len(promoted.history["val_accuracy"]) == 3
    # The promotion's first epoch is its config's, carried over: it continued that model.
    assert promoted.history["val_accuracy"][0] == config.history["val_accuracy"][0]
    assert (results / "best_model.png").is_file() and (results / "report.html").is_file()

    plot = run_cli(["plot", "--results-dir", str(results)], cwd=tmp_path)
    assert plot.returncode == 0, plot.stderr
    assert "wrote " in plot.stdout and (results / "search_progress.png").is_file()

    script = tmp_path / "kept.py"
    script.write_text(KEPT_MODEL_SCRIPT.format(root=str(ROOT), results=str(results),
                                               data=str(fashion_dir)))
    kept = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)  # no KERAS_BACKEND: the trial's own
    assert kept.returncode == 0, kept.stderr
    loaded_on, accuracy, score = kept.stdout.split()[-3:]
    assert loaded_on == backend and float(accuracy) == pytest.approx(float(score), abs=1e-6)


@pytest.mark.slow
def test_the_size_and_latency_budget_is_checked_before_training_on_another_backend(
        tmp_path, fashion_dir, backend):
    """The budget is measured on the trial's own backend: parameters and a batch-1 latency."""
    space = write_space(tmp_path / "sized.py", text="""
        from hyperopt import hp
        DATASET, MODEL = "fashion_mnist", "mlp"
        DEFAULTS = {"epochs": 1, "validation_fraction": 0.2, "patience": 1}
        SPACE = {"hidden_layers": [{"units": hp.choice("units", [8, 256])}],
                 "learning_rate": 0.01, "batch_size": 32}
        """)
    results = tmp_path / "results"
    out = run_cli(_search(space, results, fashion_dir, 6, "--keras-backend", backend, "--algo",
                          "rand", "--max-params", "20k", "--max-latency-ms", "10000"),
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    records = TrialStore(results).load_records()
    assert {r.status for r in records} == {TrialStatus.OK, TrialStatus.OVER_BUDGET}
    for r in records:
        small = r.params["hidden_layers"][0]["units"] == 8
        assert r.status == (TrialStatus.OK if small else TrialStatus.OVER_BUDGET)
        assert r.model_params == (784 * 8 + 8 + 8 * 10 + 10 if small else 784 * 256 + 256 + 2570)
        assert (r.latency_ms is not None) == small and (r.epochs_run == 1) == small


SAME_NETWORK_SPACE = """
from hyperopt import hp
DATASET = "fashion_mnist"
MODEL = "mlp"
DEFAULTS = {"epochs": 3, "validation_fraction": 0.2, "patience": 3, "max_train_samples": None}
SPACE = {"hidden_layers": [{"units": 32, "dropout": 0.1}], "activation": "relu",
         "optimizer": "Adam", "learning_rate": hp.loguniform("learning_rate", -6, -3),
         "batch_size": 32}
"""


@pytest.mark.slow
@pytest.mark.skipif(runtime.missing("jax") is not None, reason="jax is not installed here")
def test_a_network_compiled_once_is_not_compiled_again_by_later_trials_or_a_relaunch(
        tmp_path, fashion_dir):
    """Under JAX every trial compiles its steps; the persistent compilation cache in the results
    folder serves later trials of the same network shape, in the same worker and after a
    relaunch, and each record says how long compiling took."""
    space = write_space(tmp_path / "same_network.py", text=SAME_NETWORK_SPACE)
    results = tmp_path / "results"
    out = run_cli(_search(space, results, fashion_dir, 3, "--keras-backend", "jax",
                          "--no-tensorboard"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    again = run_cli(_search(space, results, fashion_dir, 4, "--keras-backend", "jax",
                            "--no-tensorboard"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    records = sorted(TrialStore(results).load_records(), key=lambda r: r.number)
    compile_s = [r.extra["compile_s"] for r in records]
    assert all(len(r.extra["epoch_s"]) == 3 for r in records)
    first, later = compile_s[0], compile_s[1:]
    # The first trial compiled (about 1 s on a 2-core CPU); the others loaded it (about 0.2 s).
    assert first > 0.3 and max(later) < 0.5 * first, compile_s
    cache = results / "compile_cache" / "jax"
    assert cache.is_dir() and len(list(cache.iterdir())) > 5
    reset = subprocess.run([sys.executable, "-m", "hyperopt_nas.reset", str(results)],
                           cwd=ROOT, capture_output=True, text=True)
    assert reset.returncode == 0, reset.stderr
    assert not results.exists()  # the cache was the tool's: removed with the rest


@pytest.mark.slow
@pytest.mark.skipif(runtime.missing("jax") is not None, reason="jax is not installed here")
def test_several_steps_per_execution_train_and_are_recorded(tmp_path, tiny_space, fashion_dir):
    from hyperopt_nas.runtime import Accelerator
    from hyperopt_nas.runtime import jax as jax_runtime
    # The default: 32 on a GPU under JAX (measured faster on an H200), one on a CPU.
    assert jax_runtime.steps_per_execution(Accelerator(1, False, True, keras_backend="jax")) == 32
    assert jax_runtime.steps_per_execution(Accelerator(0, False, True, keras_backend="jax")) == 1
    results = tmp_path / "results"
    out = run_cli(_search(tiny_space, results, fashion_dir, 1, "--keras-backend", "jax",
                          "--steps-per-execution", "3", "--no-tensorboard"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (record,) = TrialStore(results).load_records()
    assert record.status == TrialStatus.OK and record.accelerator["steps_per_execution"] == 3
    assert len(record.history["val_accuracy"]) == 2  # both epochs, validated


@pytest.mark.slow
@pytest.mark.skipif(runtime.missing("jax") is not None, reason="jax is not installed here")
def test_the_data_kept_on_the_device_trains_and_other_backends_refuse_it(
        tmp_path, tiny_space, fashion_dir):
    results = tmp_path / "results"
    out = run_cli(_search(tiny_space, results, fashion_dir, 1, "--keras-backend", "jax",
                          "--data-on-gpu", "--no-tensorboard"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (record,) = TrialStore(results).load_records()
    assert record.status == TrialStatus.OK and record.accelerator["data_on_device"] is True
    assert record.metrics["label"]["test_accuracy"] is not None
    refused = run_cli(_search(tiny_space, tmp_path / "other", fashion_dir, 1, "--keras-backend",
                              "tensorflow", "--data-on-gpu"), cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "error: --data-on-gpu keeps the data on the GPU under JAX only (under tensorflow the "
        "data comes from the host as before): add --keras-backend jax, or leave --data-on-gpu "
        "out."]


WORKER_IMPORTS = """
import sys
sys.path.insert(0, {root!r})
from hyperopt_nas.executors import start_runner
from hyperopt_nas.trial import DataSetup
start_runner(DataSetup("fashion_mnist", "mlp", 0.2, None, 3, {data!r}, keras_backend="tensorflow"))
print("jax imported:", "jax" in sys.modules)
import jax
print("then jax", jax.__version__)
"""


@pytest.mark.slow
@pytest.mark.skipif(runtime.missing("jax") is not None, reason="jax is not installed here")
def test_a_tensorflow_worker_starts_without_importing_jax_which_stays_importable(fashion_dir):
    """TensorFlow imports JAX where it is installed (for tf.lite; 0.5 s of each worker's 4.5 s
    start here): a worker's runner starts without it, and the user's code can still import it."""
    script = WORKER_IMPORTS.format(root=str(ROOT), data=str(fashion_dir))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "jax imported: False" in done.stdout and "then jax " in done.stdout, done.stdout
