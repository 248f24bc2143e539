"""The driver's cost per trial stays flat: the JSON records are the journal and results.pkl a
snapshot, the next point is asked ahead while every worker is busy, and a proposer reads a
bounded history. On the simulated executor."""

import pickle
import shutil

import pytest
from conftest import ROOT

from hyperopt_nas import engine, proposers
from hyperopt_nas.engine import FatalError, SearchSettings, history, run_search
from hyperopt_nas.executors.simulated import SimulatedExecutor, Surrogate
from hyperopt_nas.proposers.base import done_doc
from hyperopt_nas.trial_store import TrialStore

SPACE = ROOT / "search_spaces" / "fashion_mnist_cnn.py"
QUIET = dict(plot_best=False, plot_search=False, tensorboard=False, progress="off")


def settings_for(tmp_path, **kwargs):
    return SearchSettings(space_path=SPACE, results_dir=tmp_path / "results", seed=5, **{
        **QUIET, **kwargs})


def spy_on_snapshots(monkeypatch):
    calls = []
    real = TrialStore.save_trials

    def save_trials(self, trials, *args):
        calls.append(len(trials.trials))
        real(self, trials, *args)

    monkeypatch.setattr(TrialStore, "save_trials", save_trials)
    return calls


def test_results_pkl_is_a_snapshot_written_on_its_schedule_and_at_the_end(tmp_path, monkeypatch):
    calls = spy_on_snapshots(monkeypatch)
    settings = settings_for(tmp_path, max_evals=12, workers=3, snapshot_every_s=3600)
    run_search(settings, say=lambda line: None, executor=SimulatedExecutor(3))
    assert calls == [0, 12]  # at the start and at the exit, not after each of the 12 trials
    payload = TrialStore(settings.results_dir).load_trials()
    assert sorted(payload["numbers"]) == list(range(12))

    calls.clear()  # snapshot_every_s=0: after every trial, as before
    settings = settings_for(tmp_path / "every", max_evals=4, snapshot_every_s=0)
    run_search(settings, say=lambda line: None, executor=SimulatedExecutor(1))
    assert calls == [0, 1, 2, 3, 4]  # the exit's: nothing new since


def test_a_kill_between_snapshots_resumes_from_the_snapshot_and_the_newer_records(tmp_path):
    """What a SIGKILL leaves: results.pkl from an earlier moment, and every record since."""
    settings = settings_for(tmp_path, max_evals=6, snapshot_every_s=3600)
    run_search(settings, say=lambda line: None, executor=SimulatedExecutor(1))
    store = TrialStore(settings.results_dir)
    early = tmp_path / "early.pkl"
    shutil.copy(store.pickle_path, early)
    settings.max_evals = 10
    run_search(settings, say=lambda line: None, executor=SimulatedExecutor(1))
    whole = pickle.loads(store.pickle_path.read_bytes())
    shutil.copy(early, store.pickle_path)  # killed after trial 9's record, before a snapshot

    lines = []
    settings.max_evals = 11
    summary = run_search(settings, say=lines.append, executor=SimulatedExecutor(1))
    assert any("(from results.pkl and 4 newer records); 10 inform the search" in line
               for line in lines)
    assert summary.completed == 1 and summary.total == 11
    payload = store.load_trials()
    assert payload["numbers"] == list(range(11))
    # The journal replayed: what TPE reads is what the uninterrupted search had.
    losses = [t["result"].get("loss") for t in payload["trials"].trials]
    assert losses[:10] == [t["result"].get("loss") for t in whole.trials]  # hyperopt's Trials


def test_a_snapshot_that_fails_loses_nothing_and_the_search_goes_on(tmp_path, monkeypatch):
    real = TrialStore.save_trials
    calls = []

    def disk_full(self, *args):  # results.pkl cannot be written after the start
        calls.append(1)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        real(self, *args)

    monkeypatch.setattr(TrialStore, "save_trials", disk_full)
    lines = []
    settings = settings_for(tmp_path, max_evals=3, snapshot_every_s=0)
    summary = run_search(settings, say=lines.append, executor=SimulatedExecutor(1))
    assert summary.completed == 3
    assert any("warning: results.pkl could not be updated" in line and "No space left" in line
               for line in lines)
    monkeypatch.setattr(TrialStore, "save_trials", real)
    settings.max_evals = 4
    lines.clear()
    summary = run_search(settings, say=lines.append, executor=SimulatedExecutor(1))
    assert any("(from results.pkl and 3 newer records); 3 inform" in line for line in lines)
    assert summary.total == 4


class Watched(SimulatedExecutor):
    """Records how many trials were running each time the proposer was asked."""

    def __init__(self, slots):
        super().__init__(slots, Surrogate(epoch_s=10.0))
        self.running_at_proposals: list[int] = []


def watch_proposals(monkeypatch, executor, seen=None):
    real = proposers.hyperopt_algorithms.BudgetTPE.propose

    def propose(self, new_id, domain, trials, seed, tried):
        executor.running_at_proposals.append(executor.running)
        if seen is not None:
            seen.append(len([t for t in trials.trials if t["result"].get("status") == "ok"]))
        return real(self, new_id, domain, trials, seed, tried)

    monkeypatch.setattr(proposers.hyperopt_algorithms.BudgetTPE, "propose", propose)


def test_with_several_workers_the_next_point_is_proposed_while_every_worker_is_busy(
        tmp_path, monkeypatch):
    executor = Watched(4)
    watch_proposals(monkeypatch, executor)
    settings = settings_for(tmp_path, max_evals=20, workers=4, start_points=False)
    run_search(settings, say=lambda line: None, executor=executor)
    first_fill, rest = executor.running_at_proposals[:4], executor.running_at_proposals[4:]
    assert first_fill == [0, 1, 2, 3]
    assert len(rest) == 16 and all(running == 4 for running in rest)  # none kept a slot idle

    executor = Watched(4)  # ask_ahead off: each point is proposed once a slot is free
    watch_proposals(monkeypatch, executor)
    settings = settings_for(tmp_path / "off", max_evals=20, workers=4, start_points=False,
                            ask_ahead=False)
    run_search(settings, say=lambda line: None, executor=executor)
    assert all(running == 3 for running in executor.running_at_proposals[4:])


def test_one_worker_never_asks_ahead_so_each_point_sees_every_result(tmp_path, monkeypatch):
    executor, seen = Watched(1), []
    watch_proposals(monkeypatch, executor, seen)
    settings = settings_for(tmp_path, max_evals=8, start_points=False)
    run_search(settings, say=lambda line: None, executor=executor)
    assert executor.running_at_proposals == [0] * 8
    assert seen == list(range(8))


def test_a_proposer_reads_at_most_tpe_history_finished_trials(tmp_path, monkeypatch):
    executor, seen = Watched(1), []
    watch_proposals(monkeypatch, executor, seen)
    settings = settings_for(tmp_path, max_evals=30, start_points=False, tpe_history=12,
                            startup_trials=5)
    run_search(settings, say=lambda line: None, executor=executor)
    assert seen == list(range(13)) + [12] * 17


def test_the_history_keeps_the_best_quarter_and_the_most_recent_in_order():
    from hyperopt import Trials
    losses = [0.5, 0.1, 0.9, None, 0.2, 0.8, 0.7, 0.6, 0.4, 0.3]
    docs = [done_doc(Trials(), i, {"x": i}, loss, ["x"]) for i, loss in enumerate(losses)]
    kept = [d["tid"] for d in history(docs, 4)]
    assert kept == [1, 7, 8, 9]  # the best (tid 1), then the 3 most recent
    kept = [d["tid"] for d in history(docs, 8)]
    assert kept == [1, 2, 4, 5, 6, 7, 8, 9]  # best 1 and 4; failed 3 left out
    assert len(history(docs, 100)) == 9
    assert [d["tid"] for d in history(docs, 1)] == [9]


def test_a_history_below_one_is_refused(tmp_path):
    with pytest.raises(FatalError, match="tpe_history must be a positive whole number"):
        run_search(settings_for(tmp_path, max_evals=1, tpe_history=0), say=lambda line: None,
                   executor=SimulatedExecutor(1))
    assert engine.DEFAULT_TPE_HISTORY >= 100


def test_the_driver_cost_benchmark_measures_each_step(tmp_path):
    """benchmarks/driver_cost.py on a small search: its hooks still meet the engine's steps."""
    import importlib.util
    script = ROOT / "benchmarks" / "driver_cost.py"
    spec = importlib.util.spec_from_file_location("driver_cost", script)
    driver_cost = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(driver_cost)
    driver_cost.fill(tmp_path / "filled", 20)
    assert len(TrialStore(tmp_path / "filled").load_trials()["numbers"]) == 20
    for mode in ("before", "after"):
        shutil.copytree(tmp_path / "filled", tmp_path / mode)
        ms = driver_cost.measure(tmp_path / mode, mode, 20, 6, 2)
        assert ms["ask"] > 0 and ms["tell"] > 0 and ms["snapshot"] > 0
        assert (ms["ahead"] > 0) == (mode == "after")  # asked ahead while both workers ran
        assert (ms["save"] > 0) == (mode == "before")  # a snapshot after every trial
        assert len(TrialStore(tmp_path / mode).load_records()) == 26
