"""hyperopt's own algorithms as proposers (tpe, rand, anneal), and TPE's start-up trials sized
from the budget or the pace of a timed search."""

import pytest
from helpers import make_settings, search

from hyperopt_nas import proposers
from hyperopt_nas.trial_store import TrialStore


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["rand", "anneal"])
def test_other_algorithms_run(tmp_path, tiny_space, fashion_dir, algo):
    summary, _ = search(make_settings(tmp_path, tiny_space, fashion_dir, algo=algo, max_evals=2))
    assert summary.completed == 2


@pytest.mark.parametrize("budget, startup", [(None, 20), (8, 3), (20, 5), (30, 8), (50, 12),
                                             (200, 20)])
def test_start_up_trials_follow_the_budget(budget, startup):
    assert proposers.default_startup_trials(budget) == startup


@pytest.mark.slow
def test_tpe_gets_the_start_up_trials_of_the_budget(tmp_path, tiny_space, fashion_dir,
                                                    monkeypatch):
    seen = []
    real = proposers.tpe.suggest

    def spy(new_ids, domain, trials, seed, **kwargs):
        seen.append(kwargs.get("n_startup_jobs"))
        return real(new_ids, domain, trials, seed, **kwargs)

    monkeypatch.setattr(proposers.tpe, "suggest", spy)
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=2))
    assert seen == [3, 3]
    records = TrialStore(tmp_path / "results").load_records()
    assert {r.extra["tpe_startup_trials"] for r in records} == {3}

    seen.clear()
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=3, startup_trials=7))
    assert seen == [7]


def test_a_timeout_search_sizes_its_start_up_from_its_pace():
    tpe_ = proposers.BudgetTPE(None, None, timeout_s=600)
    assert tpe_.startup == 20  # nothing known yet
    tpe_.update(earlier_trials=0, done_this_run=2, elapsed_s=60)  # 30 s a trial: ~20 trials
    assert tpe_.startup == proposers.default_startup_trials(20) == 5
    fixed = proposers.BudgetTPE(9, None, timeout_s=600)
    fixed.update(0, 2, 60)
    assert fixed.startup == 9


@pytest.mark.slow
def test_a_timeout_search_proposes_with_the_start_up_of_its_pace(tmp_path, tiny_space,
                                                                 fashion_dir):
    """The first proposal knows no pace (hyperopt's 20); the next ones follow the trials so far:
    about a second each in a 20 s budget is far fewer than the 80 trials that 20 would need."""
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=None, timeout_s=20))
    records = TrialStore(tmp_path / "results").load_records()
    assert len(records) >= 2
    assert records[0].extra["tpe_startup_trials"] == 20
    assert all(3 <= r.extra["tpe_startup_trials"] < 20 for r in records[1:])
