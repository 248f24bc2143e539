"""delete_results.sh removes only what the tool wrote, and only in a results folder."""

import pytest


import os
import subprocess

from conftest import ROOT
from hyperopt import Trials
from helpers import make_record

from hyperopt_nas.trial_store import MARKER_NAME, TrialStatus, TrialStore

SCRIPT = str(ROOT / "delete_results.sh")
USER_FILES = ["models/production.h5", "tensorboard/run1/events.out.tfevents.1.host",
              "checkpoints/epoch9.ckpt", "graphs/mine.dot.gz", "figure1.png", ".hidden.png",
              "my_trial-notes.json", "notes.txt"]


def delete(folder, *options):
    return subprocess.run([SCRIPT, str(folder), *options], capture_output=True, text=True,
                          timeout=120)


def write_user_files(folder):
    for name in USER_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("the user's")


def a_results_folder(folder):
    """What a search leaves: marker, records, results.pkl, pictures, logs, runs, models."""
    store = TrialStore(folder)
    store.create()
    store.save_record(make_record(0, 0.2))
    store.save_record(make_record(1, None, status=TrialStatus.FAILED))
    store.save_record(make_record(2, None, status=TrialStatus.OVER_BUDGET,
                                  extra={"model_params": 9}))
    store.save_trials(Trials(), "abc", [0, 1, 2], {})
    for name in ("best_model.png", "search_progress.png", "report.html", "tensorflow.log",
                 "accuracy_vs_size.png", "best_models/trial-0000.keras",
                 ".search.lock", "tensorboard/trial-0000/events.out.tfevents.1.x",
                 "tensorboard/events.out.tfevents.2.x.abcdef", "models/trial-0000.keras",
                 "checkpoints/trial-0001.keras", "graphs/trial-0000.dot.gz"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("tool")
    (folder / ".trial-0002.k3j4.tmp").mkdir()  # a SIGKILL leftover: TensorBoard's staging
    (folder / ".trial-0002.k3j4.tmp" / "events.out.tfevents.3.x").write_text("tool")
    (folder / ".results.pkl.abc.tmp").write_text("tool")  # an atomic write's leftover


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_folder_that_is_not_a_results_folder_is_refused_whole(tmp_path):
    folder = tmp_path / "home"
    folder.mkdir()
    write_user_files(folder)
    before = listing(folder)
    out = delete(folder)
    assert out.returncode == 2 and "not a results folder" in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert listing(folder) == before


def test_the_root_folder_is_refused():
    out = delete("/")
    assert out.returncode == 2 and "not a results folder" in out.stderr


def test_only_what_the_tool_wrote_goes_and_the_users_files_stay(tmp_path):
    folder = tmp_path / "results"
    a_results_folder(folder)
    write_user_files(folder)
    outside = tmp_path / "precious.png"
    outside.write_text("elsewhere")
    os.symlink(outside, folder / "demo_model.png")  # a link is neither followed nor removed
    out = delete(folder, "--models")
    assert out.returncode == 0, out.stderr
    assert "kept" in out.stdout
    assert listing(folder) == sorted(USER_FILES + [MARKER_NAME, "demo_model.png"])
    assert os.path.islink(folder / "demo_model.png") and outside.read_text() == "elsewhere"
    assert not (folder / ".trial-0002.k3j4.tmp").exists()


@pytest.mark.slow
def test_a_folder_of_the_tools_files_only_is_removed(tmp_path):
    folder = tmp_path / "results"
    a_results_folder(folder)
    out = delete(folder, "--models")
    assert out.returncode == 0, out.stderr
    assert not folder.exists()
    again = delete(folder)
    assert again.returncode == 0 and "does not exist" in again.stdout


def test_a_record_the_tool_cannot_read_is_kept(tmp_path):
    folder = tmp_path / "results"
    a_results_folder(folder)
    (folder / "0.100000_trial-0005.json").write_text('{"hand": "edited",}')
    assert delete(folder, "--models").returncode == 0
    assert listing(folder) == [MARKER_NAME, "0.100000_trial-0005.json"]


def test_a_folder_in_use_by_a_search_is_refused(tmp_path):
    folder = tmp_path / "results"
    a_results_folder(folder)
    with TrialStore(folder).lock():
        (folder / ".search.lock").unlink()  # removing the lock file does not free the folder
        before = listing(folder)
        out = delete(folder)
    assert out.returncode == 2 and "a search is using" in out.stderr
    assert listing(folder) == before


def test_an_unreadable_results_pkl_set_aside_is_kept(tmp_path):
    """docs/usage.md: a results.pkl moved aside as unreadable is never deleted."""
    folder = tmp_path / "results"
    a_results_folder(folder)
    (folder / "results.pkl.unreadable-20261130-101500").write_bytes(b"\x80\x04 half a pickle")
    assert delete(folder, "--models").returncode == 0
    assert listing(folder) == [MARKER_NAME, "results.pkl.unreadable-20261130-101500"]


def test_without_the_projects_python_nothing_is_deleted_and_it_says_why(tmp_path):
    """A Python without hyperopt cannot tell this tool's results.pkl from another file."""
    import shutil
    import sys
    folder = tmp_path / "results"
    a_results_folder(folder)
    before = listing(folder)
    bare = tmp_path / "bare"  # a Python whose site-packages lack hyperopt
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy(SCRIPT, copy / "delete_results.sh")
    shutil.copytree(ROOT / "hyperopt_nas", copy / "hyperopt_nas")
    (copy / ".venv").symlink_to(bare)
    out = subprocess.run([str(copy / "delete_results.sh"), str(folder)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.startswith("error: ") and "./setup.sh" in out.stderr
    assert "nothing deleted" in out.stderr and listing(folder) == before


@pytest.mark.slow
def test_the_models_retrain_saved_are_kept_unless_asked(tmp_path):
    """A retrained model is a deliberate full training run: a reset keeps it and says how to
    delete it too."""
    folder = tmp_path / "results"
    a_results_folder(folder)
    out = delete(folder)
    assert out.returncode == 0, out.stderr
    assert listing(folder) == [MARKER_NAME, "models/trial-0000.keras"]
    assert f"kept the models retrain saved in {folder / 'models'}" in out.stdout
    assert "pass --models to delete them too" in out.stdout
    assert delete(folder, "--models").returncode == 0 and not folder.exists()


def test_a_results_pkl_that_plain_hyperopt_wrote_is_the_users_and_stays(tmp_path):
    """Issue 44: hyperopt's Trials pickled by the original script (not by this tool) is never
    removed, nor what a search moved it to."""
    import pickle
    folder = tmp_path / "results"
    a_results_folder(folder)
    (folder / "results.pkl").write_bytes(pickle.dumps(Trials()))  # plain hyperopt's
    (folder / "results.pkl.hyperopt-20261206-000000").write_bytes(pickle.dumps(Trials()))
    done = delete(folder)
    assert done.returncode == 0, done.stderr
    assert (folder / "results.pkl").is_file()
    assert (folder / "results.pkl.hyperopt-20261206-000000").is_file()
