"""The example notebook, executed by nbclient in a real Jupyter kernel (issue 36)."""

import re

import nbformat
from conftest import ROOT, write_fashion_mnist
from nbclient import NotebookClient

from hyperopt_nas.trial_store import TrialStatus, TrialStore

NOTEBOOK = ROOT / "examples" / "notebook_search.ipynb"


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
