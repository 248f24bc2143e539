"""results.pkl as hyperopt's own Trials (issue 44): what a user of the original hyperopt script
does with it works, and a results.pkl that plain hyperopt wrote is taken up, not refused."""

import pickle

import hyperopt
import pytest
from hyperopt import STATUS_OK, Trials, fmin
from helpers import make_settings, search

from hyperopt_nas.space_files import load_space_file
from hyperopt_nas.trial_store import TAKEN_UP, TrialStatus, TrialStore, ranked


@pytest.mark.slow
def test_results_pkl_is_hyperopts_trials_and_fmin_continues_it(tmp_path, tiny_space,
                                                               fashion_dir):
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=3))
    with open(tmp_path / "results" / "results.pkl", "rb") as f:
        trials = pickle.load(f)  # as the original script's users load it
    assert isinstance(trials, Trials) and len(trials.trials) == 3
    records = TrialStore(tmp_path / "results").load_records()
    assert sorted(trials.losses()) == sorted(r.loss for r in records)
    assert trials.best_trial["result"]["loss"] == min(r.loss for r in records)
    space = load_space_file(tiny_space).space
    fmin(lambda point: {"loss": 0.5, "status": STATUS_OK}, space, algo=hyperopt.tpe.suggest,
         max_evals=5, trials=trials, show_progressbar=False)
    assert len(trials.trials) == 5  # hyperopt continued it


def _plain_hyperopt_pickle(folder, space, n=4):
    """What the original script leaves: fmin over the space, Trials pickled as they are."""
    trials = Trials()
    losses = iter([0.4, 0.2, 0.3, 0.6, 0.9, 0.8])
    fmin(lambda point: {"loss": next(losses), "status": STATUS_OK}, space,
         algo=hyperopt.rand.suggest, max_evals=n, trials=trials, show_progressbar=False,
         rstate=__import__("numpy").random.default_rng(0))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.pkl").write_bytes(pickle.dumps(trials))
    return trials


@pytest.mark.slow
def test_a_results_pkl_written_by_plain_hyperopt_is_taken_up(tmp_path, tiny_space, fashion_dir):
    space_file = load_space_file(tiny_space)
    plain = _plain_hyperopt_pickle(tmp_path / "results", space_file.space)
    summary, out = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=6))
    assert "unreadable" not in out
    assert "Took up the 4 finished trials of a results.pkl that hyperopt wrote" in out
    assert "4 fit tiny_space.py and inform the search" in out
    store = TrialStore(tmp_path / "results")
    records = store.load_records()
    taken = [r for r in records if r.extra.get(TAKEN_UP) == "hyperopt"]
    assert [r.loss for r in taken] == plain.losses()
    assert [r.hyperopt_vals for r in taken] == [
        {k: v[0] for k, v in t["misc"]["vals"].items() if v} for t in plain.trials]
    assert len(records) == 6 and summary.completed == 2  # 6 trials, 4 of them taken up
    assert all(r.number not in {t.number for t in taken} for r in ranked(records))
    moved = list((tmp_path / "results").glob("results.pkl.hyperopt-*"))
    assert len(moved) == 1 and pickle.loads(moved[0].read_bytes()).losses() == plain.losses()
    payload = store.load_trials()  # this tool's snapshot, the taken-up trials told as they were
    told = dict(zip(payload["numbers"], payload["trials"].losses()))
    assert all(told[r.number] == r.loss for r in taken)


def test_trials_that_do_not_fit_the_space_are_set_aside_with_the_reason(
        tmp_path, tiny_space, fashion_dir):
    from hyperopt import hp
    _plain_hyperopt_pickle(tmp_path / "results", {"units": hp.choice("units", [1, 2, 3, 4, 5]),
                                                  "other": hp.uniform("other", 0, 1)}, n=2)
    _, out = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=3))
    assert "Took up the 2 finished trials" in out and "0 fit tiny_space.py" in out
    assert "do not fit the current space and are set aside" in out
    assert "trial 0: hyperparameter 'other' is no longer in the space" in out
    records = TrialStore(tmp_path / "results").load_records()
    assert len(records) == 3 and sum(r.status == TrialStatus.OK for r in records) == 3


@pytest.mark.parametrize("content", [b"not a pickle", pickle.dumps({"some": "dict"})])
def test_a_results_pkl_of_neither_kind_is_moved_aside_not_deleted(tmp_path, tiny_space,
                                                                  fashion_dir, content):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "results.pkl").write_bytes(content)
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=1))
    (kept,) = (tmp_path / "results").glob("results.pkl.unreadable-*")
    assert kept.read_bytes() == content
