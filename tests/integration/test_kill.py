"""A SIGKILL at a random moment of a 32-worker simulated search loses no completed trial, and a
relaunch resumes to the end."""

import os
import random
import signal
import subprocess
import sys

import pytest
from conftest import ROOT

from hyperopt_nas.engine import SearchSettings, run_search
from hyperopt_nas.executors.simulated import SimulatedExecutor, Surrogate
from hyperopt_nas.trial_store import TrialStore

SPACE = ROOT / "search_spaces" / "fashion_mnist_cnn.py"
TOTAL = 150
SEARCH = """
import sys
sys.path.insert(0, {root!r})
from pathlib import Path
from hyperopt_nas.engine import SearchSettings, run_search
from hyperopt_nas.executors.simulated import SimulatedExecutor, Surrogate

settings = SearchSettings(space_path=Path({space!r}), results_dir=Path({results!r}),
                          schedule={schedule!r}, epochs=9, max_evals={total}, workers=32,
                          plot_best=False, plot_search=False, tensorboard=False,
                          progress="off", max_consecutive_failures=10**6)
run_search(settings, say=lambda line: print(line, flush=True),
           executor=SimulatedExecutor(32, Surrogate(failure_rate=0.05)))
"""


def settings_for(results, schedule):
    return SearchSettings(space_path=SPACE, results_dir=results, schedule=schedule, epochs=9,
                          max_evals=TOTAL, workers=32, plot_best=False, plot_search=False,
                          tensorboard=False, progress="off", max_consecutive_failures=10**6)


@pytest.mark.parametrize("schedule, seed", [("asha", 1), ("asha", 2), ("none", 3),
                                            ("hyperband", 4)])
def test_a_killed_search_loses_no_completed_trial_and_resumes(tmp_path, schedule, seed):
    results = tmp_path / "results"
    script = SEARCH.format(root=str(ROOT), space=str(SPACE), results=str(results),
                           schedule=schedule, total=TOTAL)
    search = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONHASHSEED": "0"})
    kill_after = random.Random(seed).randrange(5, TOTAL - 20)  # a completed trial's line
    announced = []
    for line in search.stdout:
        if line.startswith("trial "):
            announced.append(int(line.split()[1]))  # printed once its record is saved
            if len(announced) == kill_after:
                search.send_signal(signal.SIGKILL)
                break
    search.wait()
    assert search.returncode == -signal.SIGKILL, "the search ended before it was killed"

    store = TrialStore(results)
    saved = {r.number: r.to_json() for r in store.load_records()}
    assert set(announced) <= set(saved)  # every trial it reported is on disk, whole
    summary = run_search(settings_for(results, schedule), say=lambda line: None,
                         executor=SimulatedExecutor(32, Surrogate(failure_rate=0.05)))
    records = store.load_records()
    assert len(records) == TOTAL == summary.total
    again = {r.number: r.to_json() for r in records}
    assert {n: again[n] for n in saved} == saved  # the relaunch rewrote none of them
    assert sorted(store.load_trials()["numbers"]) == sorted(again)
