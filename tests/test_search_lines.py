"""What a search says between trials (hyperopt_nas/search_lines.py)."""

from pathlib import Path

from helpers import make_record
from hyperopt import Trials

from hyperopt_nas.resume import NEVER_TRAINED, Restored
from hyperopt_nas.search_lines import banner, counted, progress_line, say_restored
from hyperopt_nas.settings import SearchSettings
from hyperopt_nas.space_files import load_space_file
from hyperopt_nas.trial_store import TrialStatus, TrialStore

ROOT = Path(__file__).resolve().parent.parent


def test_a_line_per_ended_trial_says_its_score_the_best_and_the_count():
    best = make_record(number=1, loss=0.2)
    ok = make_record(number=3, loss=0.25, wall_time_s=4.26)
    assert progress_line(ok, best, 3, 10) == (
        "trial    3 [3/10] | val acc 0.7500 | best 0.8000 (trial 1) | 4.3 s")
    failed = make_record(number=4, loss=None, status=TrialStatus.FAILED, error="ValueError: x")
    line = progress_line(failed, best, 4, None, elapsed_s=65, over_budget=2)
    assert line.startswith("trial    4 [4, 2 over budget] | FAILED (ValueError: x) |")
    assert line.endswith("| elapsed 1:05")
    assert "ETA" in progress_line(ok, best, 3, 10, eta_s=30)
    assert "ETA" not in progress_line(ok, best, 10, 10, eta_s=30)  # the last: nothing to wait


def test_a_relaunch_says_what_it_loaded_and_what_it_set_aside(tmp_path):
    lines, store = [], TrialStore(tmp_path)
    say_restored(lines.append, Restored(Trials(), []), None, store)
    assert lines == [f"Starting a new search in {tmp_path}."]
    lines.clear()
    restored = Restored(Trials(), [0, 1], {2: NEVER_TRAINED, 3: "units 64 is not a choice"},
                        total_records=4, source="results.pkl")
    say_restored(lines.append, restored, make_record(number=1, loss=0.1), store, over_budget=1)
    assert lines[0] == (f"Loaded 4 trials from {tmp_path} (from results.pkl); 2 inform the "
                        "search (1 of them over the size budget); best so far: trial 1, val acc "
                        "0.9000.")
    assert lines[1].startswith("1 trial (2) was over the size budget of an earlier run")
    assert lines[2:] == ["1 trials do not fit the current space and are set aside (kept on "
                         "disk, not fed to the search):", "  trial 3: units 64 is not a choice"]


def test_the_banner_says_what_the_search_will_do(tmp_path):
    space = load_space_file(ROOT / "search_spaces" / "fashion_mnist_cnn.py")
    settings = SearchSettings(space_path=space.path, results_dir=tmp_path, max_evals=12,
                              workers=2, keras_backend="tensorflow")
    budget = {"epochs": 1, "max_train_samples": 3000, "max_params": 50_000,
              "objective": "val_accuracy", "direction": "max"}
    line = banner(settings, space, budget, TrialStore(tmp_path))
    assert line.startswith(f"Searching {space.name} (fashion_mnist, ") and "with tpe: 1 epoch " \
        "per trial, 3000 training images, networks within" in line
    assert "until 12 trials; trials train in 2 worker processes on Keras' tensorflow" in line
    assert counted(1, "epoch") == "1 epoch" and counted(2, "epoch") == "2 epochs"
