"""The example notebooks, executed by nbclient in a real Jupyter kernel (issues 36 and 44)."""

import os
import re
import subprocess
import sys

import nbformat
from conftest import ROOT, write_fashion_mnist
from nbclient import NotebookClient

from hyperopt_nas.trial_store import TrialStatus, TrialStore

NOTEBOOK = ROOT / "examples" / "notebook_search.ipynb"
GETTING_STARTED = ROOT / "examples" / "keras_tuner_getting_started.ipynb"
# The getting-started notebook's data cell (MNIST, downloaded) in the tests: small learnable
# arrays, one-hot as the guide makes them.
SMALL_DATA = """
from helpers import arrays
(x_train, y_train), (x_val, y_val) = arrays(160, 1), arrays(80, 2)
x_test, y_test = x_val, y_val
y_train, y_val, y_test = (keras.utils.to_categorical(y, 10) for y in (y_train, y_val, y_test))
"""


def _small(notebook):
    """The getting-started notebook on small arrays: its code cells, the data cell replaced."""
    for cell in notebook.cells:
        if "data" in cell.metadata.get("tags", []):
            cell.source = SMALL_DATA
    return notebook


def test_keras_tuners_getting_started_runs_with_the_import_changed(tmp_path, monkeypatch):
    """Issue 44: Keras Tuner's guide with only its import changed, in a Jupyter kernel; then
    the same code from standard input, relaunched with overwrite=False, continues it."""
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}{os.pathsep}{ROOT / 'tests'}")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    notebook = _small(nbformat.read(GETTING_STARTED, as_version=4))
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                    for cell in notebook.cells if cell.cell_type == "code"
                    for o in cell.get("outputs", []))
    errors = [o for cell in notebook.cells for o in cell.get("outputs", [])
              if o.get("name") == "stderr"]
    assert "Search space summary" in out and "num_layers (Int)" in out
    assert "units_2 (Int)" in out  # found by calling the loop at its largest
    assert "predicted (80, 10)" in out  # the kept network predicts an array, as the user's does
    # Keras' warning of the optimizer state it skips on loading is not the user's to read.
    assert not any("Skipping variable loading" in o.get("text", "") for o in errors)
    assert "Results summary" in out and "Trial " in out and "Score: " in out
    assert 'Objective(name="val_accuracy", direction="max")' in out
    folder = tmp_path / "my_dir" / "helloworld"
    records = TrialStore(folder).load_records()
    assert len(records) == 3 and all(r.status == TrialStatus.OK for r in records)
    for r in records:  # two executions each, the first one's network the one kept
        assert len(r.extra["runs"]) == 2 and r.extra["saved_execution"] == 1
    # Relaunched from standard input with overwrite=False: it continues to 5 trials, as Keras
    # Tuner reloads, and keeps a file of the user's.
    (folder / "my_notes.txt").write_text("mine")
    code = "\n\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    code = code.replace("max_trials=3", "max_trials=5").replace("overwrite=True",
                                                                "overwrite=False")
    done = subprocess.run([sys.executable, "-"], input=code, cwd=tmp_path, text=True,
                          capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Loaded 3 trials" in done.stdout and len(TrialStore(folder).load_records()) == 5
    assert (folder / "my_notes.txt").read_text() == "mine"


def test_the_example_notebook_runs_in_a_kernel_and_reports_its_best_model(tmp_path, monkeypatch):
    data = write_fashion_mnist(tmp_path / "data", n_train=1500, n_test=300)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(data))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1
    parameters[0].source = (f"N_TRAIN, N_VAL = 800, 400\nEPOCHS, TRIALS = 1, 10\n"
                            f"RESULTS = {str(tmp_path / 'results')!r}\nSEED = 0")
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
                     for cell in notebook.cells if cell.cell_type == "code"
                     for output in cell.get("outputs", []))
    found = re.search(r"validation loss (\d\.\d+), test accuracy (\d\.\d+)", text)
    assert found, text[-3000:]
    records = TrialStore(tmp_path / "results").load_records()
    assert len(records) == 10 and all(r.status == TrialStatus.OK for r in records)
    best = min(records, key=lambda r: r.loss)  # objective="val_loss": the lowest
    assert best.objective.name == "val_loss"
    assert float(found.group(1)) == round(best.score, 4)
    assert float(found.group(2)) > 0.5  # the logits model learned (at chance: about 0.1)
    assert "trains at chance" not in text
    # Keras Tuner's side: its table where keras-tuner is installed, else one line saying so.
    assert ("Keras Tuner RandomSearch" in text) or ("keras-tuner is not installed" in text)


def test_the_example_notebook_s_code_fed_on_standard_input_runs_to_the_end(tmp_path):
    """Issue 36: the same code, as one script on standard input (no file for the workers to
    import again, no __main__ guard)."""
    import os
    import subprocess
    import sys
    data = write_fashion_mnist(tmp_path / "data", n_train=1500, n_test=300)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    cells = [c.source for c in notebook.cells if c.cell_type == "code"]
    cells[0] = (f"N_TRAIN, N_VAL = 800, 400\nEPOCHS, TRIALS = 1, 3\n"
                f"RESULTS = {str(tmp_path / 'results')!r}\nSEED = 0")
    cells = [c for c in cells if "import keras_tuner" not in c]  # ours only: the comparison
    # is the kernel test's
    env = {**os.environ, "FASHION_MNIST_DIR": str(data), "PYTHONPATH": str(ROOT),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-"], input="\n\n".join(cells), text=True,
                          capture_output=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert re.search(r"validation loss \d\.\d+, test accuracy \d\.\d+", done.stdout)
    assert len(TrialStore(tmp_path / "results").load_records()) == 3
