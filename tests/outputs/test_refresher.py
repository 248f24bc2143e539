"""Outputs off the critical path: the coalescing background refresh, and the search's end."""

import shutil
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT
from helpers import make_settings, png_size, search

from hyperopt_nas.engine import SearchSettings, run_search
from hyperopt_nas.outputs.refresher import Refresher
from hyperopt_nas.trial_store import TrialStore


def test_notifications_during_a_refresh_coalesce_into_one_more():
    started, release, runs = threading.Event(), threading.Event(), []

    def work():
        runs.append(len(runs))
        started.set()
        release.wait(10)

    refresher = Refresher(work)
    refresher.notify()
    assert started.wait(10)
    begun = time.monotonic()
    for _ in range(3):  # three trials end while the first refresh draws
        refresher.notify()
    assert time.monotonic() - begun < 5  # notify never waits for the drawing (10 s here)
    release.set()
    refresher.close()
    assert runs == [0, 1]  # the first, then one of the latest state


def test_a_failing_refresh_is_a_warning_and_the_next_one_runs(caplog):
    calls = []
    done = threading.Event()

    def work():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("no space left for the picture")
        done.set()

    refresher = Refresher(work)
    refresher.notify()
    while not calls:
        time.sleep(0.01)
    refresher.notify()
    refresher.close()
    assert done.is_set() and len(calls) == 2
    assert "no space left for the picture" in caplog.text and "the search goes on" in caplog.text


@pytest.mark.slow
def test_the_end_of_a_search_waits_for_the_pictures_of_its_last_trial(tmp_path, tiny_space,
                                                                      fashion_dir):
    settings = SearchSettings(space_path=tiny_space, results_dir=tmp_path / "results",
                              data_dir=fashion_dir, max_evals=3, isolation="none",
                              plot_best=False, tensorboard=True, plot_search=True)
    run_search(settings, say=lambda line: None)
    store = TrialStore(tmp_path / "results")
    last_saved = max(p.stat().st_mtime for p in store.record_paths())
    progress = tmp_path / "results" / "search_progress.png"
    assert progress.stat().st_mtime >= last_saved  # drawn after the last trial was saved
    runs = sorted(p.name for p in (tmp_path / "results" / "tensorboard").glob("trial-*"))
    assert runs == ["trial-0000", "trial-0001", "trial-0002"]


DRAW = """
import sys
from pathlib import Path
from hyperopt_nas.outputs import refresher
folder = Path({folder!r})
print(refresher.refresh_outputs(folder, Path({space!r}), False, False, True, {{}}))
print(sorted(m for m in ("keras", "tensorflow") if m in sys.modules))
"""


@pytest.mark.slow
def test_the_best_network_is_drawn_from_the_graph_its_trial_sent_back(
        tmp_path, tiny_space, fashion_dir):
    """The drawing process drew best_model.png by building the network again: Keras and
    TensorFlow in every search's second process (6 s, some 400 MB). Each trial now sends its
    network back as dot text (graphs/), drawn without either; a folder without it (from an
    earlier version) has the network built again."""
    settings = make_settings(tmp_path, tiny_space, fashion_dir, max_evals=2)
    search(settings)
    store = TrialStore(settings.results_dir)
    for record in store.load_records():
        graph = store.load_graph(record.number)
        units = record.params["hidden_layers"][0]["units"]
        assert graph.startswith("digraph") and "Dense" in graph and f"{units})" in graph
    draw = DRAW.format(folder=str(settings.results_dir), space=str(tiny_space))
    picture = settings.results_dir / "best_model.png"
    for graphs, loaded in ((True, "[]"), (False, "['keras', 'tensorflow']")):
        if not graphs:
            shutil.rmtree(settings.results_dir / "graphs")
        picture.unlink(missing_ok=True)
        done = subprocess.run([sys.executable, "-c", draw], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split("\n")[:2] == ["[]", loaded]
        width, height = png_size(picture)
        assert width > 100 and height > 200  # the layers one above the other, and the title
