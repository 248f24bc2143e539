"""What only the worker pool does: workers that persist, are replaced, are pinned to a GPU,
and a worker killed or failing to start."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT, TINY_POINT, write_space
from test_executors import run_all, setup_for, spec

from hyperopt_nas.engine import SearchSettings, run_search
from hyperopt_nas.errors import FatalError
from hyperopt_nas.executors.pool import WorkerPool
from hyperopt_nas.trial import TrainBudget, TrialSpec
from hyperopt_nas.trial_store import TrialStatus, TrialStore


def _children() -> list[int]:
    with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as f:
        return [int(pid) for pid in f.read().split()]


def _cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode(errors="replace")


SLOW_SPACE_EPOCHS = 3000  # far longer than the test waits before it kills the worker


@pytest.mark.slow
def test_pool_workers_persist_and_are_replaced_when_asked(fashion_dir):
    pool = WorkerPool(setup_for(fashion_dir), workers=1, trials_per_worker=2)
    try:
        pool.start()
        first_pid = pool.pids[0]
        outcomes = run_all(pool, [spec(i) for i in range(3)])
    finally:
        pool.close()
    assert [outcomes[i].extra["worker"]["trial"] for i in range(3)] == [1, 2, 1]
    assert pool.replaced == 1 and first_pid is not None
    # Each worker froze what it loaded (TensorFlow's modules, the data): the collection that
    # ends a trial no longer walks through it.
    assert all(outcomes[i].extra["worker"]["frozen_objects"] > 10_000 for i in range(3))


@pytest.mark.slow
def test_pool_replaces_a_worker_whose_memory_grew(fashion_dir):
    pool = WorkerPool(setup_for(fashion_dir), workers=1, memory_growth_mb=-1.0)  # any growth
    try:
        outcomes = run_all(pool, [spec(i) for i in range(2)])
    finally:
        pool.close()
    assert [outcomes[i].extra["worker"]["trial"] for i in range(2)] == [1, 1]
    assert all(o.extra["worker"]["rss_mb"] > 0 for o in outcomes.values())


@pytest.mark.slow
def test_pool_pins_one_gpu_per_worker_and_a_pinned_worker_without_gpu_stops_the_search(
        fashion_dir):
    """On this CPU machine TensorFlow sees no GPU: a worker shown GPU 1 refuses to train on the
    CPU instead, naming what it was shown."""
    pool = WorkerPool(setup_for(fashion_dir), workers=3, gpus=["1", "0"])
    assert [w.gpu for w in pool.workers] == ["1", "0", "1"]
    try:
        with pytest.raises(FatalError, match=r"pinned to GPU 1 \(--gpus\) sees no GPU.*"
                                             r"tensorflow\[and-cuda\]"):
            pool.submit(spec(0))
    finally:
        pool.close()


@pytest.mark.slow
def test_three_trials_in_one_worker_each_train_in_mixed_precision(fashion_dir):
    """--mixed-precision on: every trial of a persistent worker builds in mixed_float16 with loss
    scaling (clear_session() after each trial resets Keras' policy), and says so in its record."""
    pool = WorkerPool(setup_for(fashion_dir, mixed_precision="on"), workers=1)
    try:
        outcomes = run_all(pool, [spec(i) for i in range(3)])
    finally:
        pool.close()
    assert [o.extra["worker"]["trial"] for o in outcomes.values()] == [1, 2, 3]
    for outcome in outcomes.values():
        assert outcome.ok, outcome.error
        assert outcome.accelerator["dtype_policy"] == "mixed_float16"
        assert outcome.accelerator["loss_scale"] is True
        assert outcome.accelerator["mixed_precision"] is True


def test_a_worker_that_holds_gpu_memory_after_a_trial_is_replaced(fashion_dir):
    pool = WorkerPool(setup_for(fashion_dir), workers=1, gpu_memory_held_mb=512.0)
    worker = pool.workers[0]
    worker.first_rss_mb, worker.trials_done = 900.0, 1
    assert pool._due(worker, 900.0, 600.0)  # 600 MiB still held on the GPU
    assert not pool._due(worker, 900.0, 100.0)
    assert not pool._due(worker, 900.0, None)  # no GPU


@pytest.mark.slow
def test_killed_worker_is_one_failed_trial_and_a_fresh_worker_follows(fashion_dir):
    pool = WorkerPool(setup_for(fashion_dir), workers=1)
    try:
        run_all(pool, [spec(0)])  # started and warm
        pid = pool.pids[0]
        # Far longer than the wait before the kill, however fast this machine is.
        pool.submit(TrialSpec(number=1, params=TINY_POINT, seed=7,
                              budget=TrainBudget(epochs=500, patience=500)))
        time.sleep(1.0)
        os.kill(pid, signal.SIGKILL)
        died = pool.collect()
        after = run_all(pool, [spec(2)])[2]
    finally:
        pool.close()
    assert not died.ok and "killed by SIGKILL" in died.error and "out-of-memory" in died.error
    assert after.ok and after.extra["worker"]["trial"] == 1


@pytest.mark.slow
def test_worker_that_cannot_start_is_fatal(tmp_path):
    not_a_folder = tmp_path / "data.txt"
    not_a_folder.write_text("")
    pool = WorkerPool(setup_for(not_a_folder), workers=1)
    try:
        with pytest.raises(FatalError, match="data.txt is not a folder"):
            pool.submit(spec(0))
    finally:
        pool.close()


def test_a_trial_worker_starts_without_hyperopt():
    """What a worker imports to train a trial of a shipped model: TensorFlow and the data code,
    not hyperopt (a space file's own data or model loads the file, and hyperopt with it)."""
    code = ("import sys; import hyperopt_nas.executors.pool, hyperopt_nas.trial; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'hyperopt'))")
    listed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    assert listed.strip() == "[]"


@pytest.mark.slow
def test_two_workers_train_trials_side_by_side(tmp_path, tiny_space, fashion_dir):
    settings = SearchSettings(space_path=tiny_space, results_dir=tmp_path / "results",
                              data_dir=fashion_dir, max_evals=4, workers=2, seed=5,
                              plot_best=False, plot_search=False, tensorboard=False)
    lines = []
    summary = run_search(settings, say=lines.append)
    records = TrialStore(tmp_path / "results").load_records()
    assert summary.completed == 4 and [r.number for r in records] == [0, 1, 2, 3]
    assert {r.extra["worker"]["index"] for r in records} == {0, 1}
    assert TrialStore(tmp_path / "results").load_trials()["numbers"] == \
        [int(line.split()[1]) for line in lines if line.startswith("trial ")]


@pytest.mark.slow
def test_search_records_a_killed_trial_and_goes_on(tmp_path, fashion_dir):
    space = write_space(tmp_path / "space.py", epochs=SLOW_SPACE_EPOCHS)
    settings = SearchSettings(space_path=space, results_dir=tmp_path / "results",
                              data_dir=fashion_dir, max_evals=1, isolation="process",
                              plot_best=False, plot_search=False, tensorboard=False,
                              head_start=False)  # every trial in a worker, to be killed there
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
    assert f"its own messages are in {tmp_path / 'results' / 'tensorflow.log'}" in record.error
    assert "FAILED (the trial's process was killed by SIGKILL" in "\n".join(lines)
    # The search goes on with a fresh worker (fewer epochs, so it ends: other trials' scores).
    settings.max_evals, settings.epochs, settings.reuse_trials = 2, 2, True
    summary = run_search(settings, say=lines.append)
    assert summary.total == 2 and summary.best.status == TrialStatus.OK


def test_a_worker_that_dies_starting_is_explained_by_its_log_or_its_signal(tmp_path):
    """The advice was always the `__main__` guard, even for a worker whose backend failed."""
    import signal

    from hyperopt_nas.executors.pool import NO_CAUSE_HINT, _startup_hint
    log = tmp_path / "tensorflow.log"
    log.write_text("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                   "ModuleNotFoundError: No module named 'jax'\n")
    assert _startup_hint(str(log), 1) == "It ended with: ModuleNotFoundError: No module named 'jax'"
    log.write_text("I0000 some start-up line\n")
    hint = _startup_hint(str(log), -signal.SIGILL)
    assert "killed by SIGILL while loading its libraries" in hint
    assert _startup_hint(str(log), 1) == NO_CAUSE_HINT
    assert _startup_hint(None, 1) == NO_CAUSE_HINT


@pytest.mark.slow
def test_a_search_of_the_same_process_takes_the_workers_the_last_one_kept(tmp_path, fashion_dir):
    """Issue 44, item 8: a notebook's second search started a worker again (5 s here). The
    workers a search kept warm train the next one's trials on its own data; a search that asks
    for another kind of worker (deterministic kernels here) starts its own."""
    from hyperopt_nas.executors import pool

    def search(folder, samples, **changes):
        settings = SearchSettings(space_path=write_space(tmp_path / "space.py"),
                                  results_dir=tmp_path / folder, data_dir=fashion_dir,
                                  max_evals=2, max_train_samples=samples, plot_best=False,
                                  plot_search=False, tensorboard=False, head_start=False,
                                  **changes)
        run_search(settings, say=lambda line: None)
        return TrialStore(tmp_path / folder).load_records()

    first = search("first", 150)
    assert [r.extra["worker"]["trial"] for r in first] == [1, 2] and pool._PARKED
    workers = [pid for pid in _children() if "spawn_main" in _cmdline(pid)]
    second = search("second", 200)
    assert [r.extra["worker"]["trial"] for r in second] == [3, 4]  # the same worker process
    assert {r.budget["train_samples"] for r in first} == {150}
    assert {r.budget["train_samples"] for r in second} == {200}  # the second search's data
    assert [pid for pid in _children() if "spawn_main" in _cmdline(pid)] == workers
    other = search("deterministic", 200, deterministic=True)
    assert [r.extra["worker"]["trial"] for r in other] == [1, 2]
    pool.close_parked()
    assert not pool._PARKED and not [pid for pid in _children()
                                     if "spawn_main" in _cmdline(pid)]
