"""The search-efficiency benchmark's bookkeeping: which model a search selects, at equal wall clock
and at an equal trial count, and the median time to a target when some seeds never reach it."""

import pytest


import importlib.util
import json
import subprocess
import sys
from conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "search_efficiency.py"
spec = importlib.util.spec_from_file_location("search_efficiency", SCRIPT)
search_efficiency = importlib.util.module_from_spec(spec)
spec.loader.exec_module(search_efficiency)


def trial(number, end_s, val, test):
    return {"number": number, "end_s": end_s, "val_accuracy": val, "test_accuracy": test,
            "epochs": 3}


# Search A finds its best point late; search B early but never as good.
A = [trial(0, 10, 0.80, 0.79), trial(1, 20, 0.82, 0.81), trial(2, 30, 0.90, 0.88)]
B = [trial(0, 5, 0.85, 0.84), trial(1, 15, 0.84, 0.86)]


def test_selection_is_by_validation_never_by_test():
    assert search_efficiency.selected(B)["number"] == 0  # B's trial 1 tests better: not chosen
    assert search_efficiency.selected(A)["number"] == 2
    assert search_efficiency.selected(A, 2)["number"] == 1  # only the first two trials count
    ties = [trial(0, 1, 0.9, 0.1), trial(1, 2, 0.9, 0.9)]
    assert search_efficiency.selected(ties)["number"] == 0  # the earlier trial on ties


def test_time_to_target_and_censored_median():
    assert search_efficiency.time_to_target(A, 0.85) == 30
    assert search_efficiency.time_to_target(B, 0.85) == 5
    assert search_efficiency.time_to_target(B, 0.95) is None
    assert search_efficiency.censored_median([10, None, 30]) == 30  # never counts as slowest
    assert search_efficiency.censored_median([10, None, None]) is None
    assert search_efficiency.censored_median([10, 20, 30]) == 20


@pytest.mark.slow
def test_summarize_compares_at_equal_wall_clock_and_equal_trial_count(tmp_path):
    rows = [{"tool": "a", "seed": 0, "settings": {}, "trials": A},
            {"tool": "b", "seed": 0, "settings": {}, "trials": B}]
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = subprocess.run([sys.executable, str(SCRIPT), "--summarize", str(log), "--target",
                          "0.85"], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    # The best test accuracy of any trial of the seed is a's 0.88: a is 0 points below it, b 4
    # (b's unselected 0.86 does not count for b).
    assert any(line.split() == ["a", "1", "3", "0.8800", "30", "0.00"] for line in lines)
    assert any(line.split() == ["b", "1", "2", "0.8400", "5", "4.00"] for line in lines)
    assert any(line.startswith("best:") and "median 0.8800" in line for line in lines)
    # Equal wall clock: a's selection tests 4 points above b's. Equal trial count (2 trials):
    # a selects its trial 1 (0.81), b its trial 0 (0.84): a is 3 points below.
    clock = lines[lines.index(next(x for x in lines if "(row - column)" in x)) + 2]
    assert clock.split() == ["[1]", "+4.00"]
    count = lines[lines.index(next(x for x in lines if x.startswith("equal trial count"))) + 2]
    assert count.split() == ["[1]", "-3.00", "(1/1)"]
    speed = lines[lines.index(next(x for x in lines if x.startswith("ratio of median time"))) + 2]
    assert speed.split() == ["[1]", "6.00"]


def test_a_pruned_trial_is_not_selected_where_its_tool_would_not_select_it():
    pruned = dict(trial(1, 20, 0.95, None), selectable=False)  # Optuna's best_trial skips it
    assert search_efficiency.selected([trial(0, 10, 0.80, 0.79), pruned])["number"] == 0
    assert search_efficiency.time_to_target([trial(0, 10, 0.80, 0.79), pruned], 0.9) == 20


def test_a_relaunched_race_skips_the_searches_its_log_holds_with_the_same_settings(tmp_path):
    log = tmp_path / "race.jsonl"
    assert search_efficiency.logged_searches(log, {"budget_s": 1200}) == set()
    rows = [{"tool": "ours: defaults", "seed": 0, "settings": {"budget_s": 1200}, "trials": []},
            {"tool": "optuna: tpe", "seed": 0, "settings": {"budget_s": 200}, "trials": []}]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert search_efficiency.logged_searches(log, {"budget_s": 1200}) == {("ours: defaults", 0)}


def test_best_so_far_follows_the_selection_over_wall_clock():
    times = search_efficiency.np.array([0.0, 10.0, 25.0, 100.0])
    curve = search_efficiency.best_so_far(A, times)
    assert search_efficiency.np.isnan(curve[0])  # no trial had ended
    assert list(curve[1:]) == [0.80, 0.82, 0.90]
    curve = search_efficiency.best_so_far(B, times)  # B's later trial is worse: kept at 0.85
    assert list(curve[1:]) == [0.85, 0.85, 0.85]
