import os
import signal
import threading
import time

import pytest
from conftest import write_space

from search_loop import SearchSettings, run_search
from trial_store import TrialStatus, TrialStore
from trial_worker import RemoteTrialError, TrialWorker, WorkerDied, WorkerFatal, WorkerSpec

BUDGET = {"epochs": 2, "patience": 2, "validation_fraction": 0.2, "max_train_samples": None}
POINT = {"hidden_layers": [{"units": 16, "dropout": 0.0}], "activation": "relu",
         "optimizer": "Adam", "learning_rate": 0.01, "batch_size": 32}


@pytest.fixture
def worker(tiny_space, fashion_dir):
    w = TrialWorker(WorkerSpec(str(tiny_space), BUDGET, 3, str(fashion_dir)), trials_per_worker=2)
    yield w
    w.close()


def test_worker_trains_and_is_replaced_when_due(worker):
    first = worker.run(POINT, trial_seed=7)
    pid = worker.pid
    second = worker.run(POINT, trial_seed=7)
    assert worker.pid == pid  # two trials per worker
    assert first.objective == pytest.approx(second.objective)  # same seed, same result
    assert worker.data_sizes == {"train_samples": 240, "validation_samples": 60,
                                 "test_samples": 100}
    assert not worker.accelerator.mixed_precision
    worker.run(POINT, trial_seed=8)
    assert worker.pid != pid
    assert "test_accuracy" in first.metrics["label"]
    # The search's threshold travels with the trial: nothing beats a loss of 0, so no test.
    untested = worker.run(POINT, trial_seed=9, run={"test_if_loss_below": 0.0})
    assert "test_accuracy" not in untested.metrics["label"]


def test_trial_error_comes_back_with_the_workers_traceback(worker):
    with pytest.raises(RemoteTrialError, match="ValueError: activation must be one of") as info:
        worker.run({**POINT, "activation": "nope"}, trial_seed=1)
    assert "Traceback" in info.value.remote_traceback
    assert worker.run(POINT, trial_seed=1).objective > 0  # the same worker goes on


def test_killed_worker_is_one_failed_trial_and_a_fresh_worker_follows(worker):
    worker.run(POINT, trial_seed=1)  # started and warm
    pid = worker.pid
    killer = threading.Timer(1.0, os.kill, (pid, signal.SIGKILL))
    killer.start()
    with pytest.raises(WorkerDied, match="killed by SIGKILL.*out-of-memory"):
        worker.run({**POINT, "hidden_layers": [{"units": 16}] * 3}, trial_seed=2)
    killer.join()
    assert worker.run(POINT, trial_seed=3).objective > 0 and worker.pid != pid


def test_worker_that_cannot_start_is_fatal(tiny_space, tmp_path):
    not_a_folder = tmp_path / "data.txt"
    not_a_folder.write_text("")
    w = TrialWorker(WorkerSpec(str(tiny_space), BUDGET, 3, str(not_a_folder)),
                    trials_per_worker=1)
    with pytest.raises(WorkerFatal, match="data.txt is not a folder"):
        w.run(POINT, trial_seed=1)


def _children() -> list[int]:
    with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as f:
        return [int(pid) for pid in f.read().split()]


def _cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode(errors="replace")


SLOW_SPACE_EPOCHS = 3000  # far longer than the test waits before it kills the worker


def test_search_records_a_killed_trial_and_goes_on(tmp_path, fashion_dir):
    space = write_space(tmp_path / "space.py", epochs=SLOW_SPACE_EPOCHS)
    settings = SearchSettings(space_path=space, results_dir=tmp_path / "results",
                              data_dir=fashion_dir, max_evals=1, isolation="process")
    lines = []

    def kill_first_worker():
        # Kill the worker (not multiprocessing's resource tracker) once it is training.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            workers = [pid for pid in _children() if "spawn_main" in _cmdline(pid)]
            if workers:
                time.sleep(12)  # past start-up (TensorFlow import, data), into training
                os.kill(workers[0], signal.SIGKILL)
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_first_worker)
    killer.start()
    run_search(settings, say=lines.append)
    killer.join()
    [record] = TrialStore(tmp_path / "results").load_records()
    assert record.status == TrialStatus.FAILED and "killed by SIGKILL" in record.error
    assert "FAILED (WorkerDied: the trial's process was killed by SIGKILL" in "\n".join(lines)
    settings.max_evals, settings.epochs = 2, 2  # the search goes on with a fresh worker
    summary = run_search(settings, say=lines.append)
    assert summary.total == 2 and summary.best.status == TrialStatus.OK
