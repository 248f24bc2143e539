
import pytest
from conftest import ROOT, write_space
from helpers import make_settings, search
from helpers import make_record

from hyperopt_nas import proposers
from hyperopt_nas.engine import FatalError, SearchSettings, run_search
from hyperopt_nas.executors.simulated import SimulatedExecutor
from hyperopt_nas.schedulers import checkpoints
from hyperopt_nas.schedulers.asha import ASHA, KEY, rung_epochs
from hyperopt_nas.schedulers.base import Pending, Situation
from hyperopt_nas.schedulers.pruning import PruneRule
from hyperopt_nas.trial_store import TrialStatus, TrialStore

SPACE = ROOT / "search_spaces" / "fashion_mnist_cnn.py"


@pytest.mark.parametrize("epochs, eta, min_epochs, rungs", [
    (10, 3, 1, [1, 3, 10]), (9, 3, 1, [1, 3, 9]), (3, 3, 1, [1, 3]), (2, 3, 1, [2]),
    (1, 3, 1, [1]), (27, 3, 3, [3, 9, 27]), (16, 2, 1, [1, 2, 4, 8, 16])])
def test_rungs_end_at_the_full_epochs(epochs, eta, min_epochs, rungs):
    assert rung_epochs(epochs, eta, min_epochs) == rungs


@pytest.mark.parametrize("eta, min_epochs, message", [(1, 1, "--eta"), (3, 0, "--min-epochs"),
                                                      (3, 11, "--min-epochs")])
def test_bad_rungs_are_refused_with_what_to_give(tmp_path, eta, min_epochs, message):
    settings = SearchSettings(space_path=SPACE, results_dir=tmp_path, schedule="asha", eta=eta,
                              min_epochs=min_epochs, epochs=10)
    with pytest.raises(FatalError, match=message):
        run_search(settings, say=lambda line: None, executor=SimulatedExecutor())


def rung_run(number, loss, rung=0, config=None, epochs=1, wall=10.0, status=TrialStatus.OK):
    return make_record(number, loss, status, wall_time_s=wall, extra={KEY: {
        "rung": rung, "epochs": epochs, "from_epoch": 0 if rung == 0 else 1,
        "config": number if config is None else config}})


def saved(tmp_path, *numbers):
    for n in numbers:
        checkpoints.options(tmp_path, n, None, 0)  # makes the folder
        checkpoints.path(tmp_path / checkpoints.FOLDER, n).write_text("model")


def decide(scheduler, records, running=(), time_left=None):
    return scheduler.next_run(Situation(len(records) + len(running), list(records),
                                        list(running), time_left, scheduler.max_epochs))


def test_the_best_third_is_promoted_as_soon_as_the_rung_has_three_runs(tmp_path):
    asha = ASHA(10, tmp_path)
    records = [rung_run(0, 0.5), rung_run(1, 0.2)]
    saved(tmp_path, 0, 1, 2)
    first = decide(asha, records)
    assert first.parent is None and first.epochs == 1  # two runs: no top third yet
    records.append(rung_run(2, 0.9))
    promotion = decide(asha, records)
    assert promotion.parent.number == 1 and promotion.epochs == 3
    assert promotion.extra[KEY] == {"rung": 1, "epochs": 3, "from_epoch": 1, "config": 1}
    assert promotion.options["initial_epoch"] == 1
    assert promotion.options["resume_from"].endswith("trial-0001.keras")
    # While it runs, the free worker starts a new configuration: nobody waits for a rung.
    again = decide(asha, records, [Pending(3, promotion)])
    assert again.parent is None and again.extra[KEY]["rung"] == 0


def test_the_highest_rung_promotes_first_and_a_failed_run_never(tmp_path):
    asha = ASHA(9, tmp_path)
    records = [rung_run(0, 0.5), rung_run(1, None, status=TrialStatus.FAILED),
               rung_run(2, 0.4), rung_run(3, 0.6), rung_run(4, 0.45), rung_run(5, 0.7),
               rung_run(6, 0.30, rung=1, config=2, epochs=3),
               rung_run(7, 0.35, rung=1, config=4, epochs=3),
               rung_run(8, 0.50, rung=1, config=0, epochs=3)]
    saved(tmp_path, *range(9))
    run = decide(asha, records)
    assert run.parent.number == 6 and run.epochs == 9  # rung 1's best goes to the full 9


def test_a_promotion_that_cannot_end_before_the_timeout_is_not_started(tmp_path):
    asha = ASHA(10, tmp_path)
    records = [rung_run(0, 0.2, wall=10.0), rung_run(1, 0.5), rung_run(2, 0.9)]
    saved(tmp_path, 0, 1, 2)
    assert decide(asha, records, time_left=25.0).parent.number == 0  # 2 epochs of 10 s
    assert decide(asha, records, time_left=15.0).parent is None


def test_a_run_whose_model_was_not_kept_is_not_promoted(tmp_path):
    asha = ASHA(10, tmp_path)
    records = [rung_run(0, 0.2), rung_run(1, 0.5), rung_run(2, 0.9)]
    saved(tmp_path, 1, 2)
    assert decide(asha, records).parent is None


def test_the_proposer_learns_from_the_highest_rung_with_enough_runs(tmp_path):
    asha = ASHA(10, tmp_path)
    rung0 = [rung_run(n, 0.5 + n / 100) for n in range(6)]
    rung1 = [rung_run(6, 0.3, rung=1, config=0, epochs=3),
             rung_run(7, None, rung=1, config=1, epochs=3, status=TrialStatus.FAILED)]
    assert asha.evidence(rung0 + rung1, enough=2) == rung0  # one scored run at rung 1
    more = rung1 + [rung_run(8, 0.35, rung=1, config=2, epochs=3)]
    assert [r.number for r in asha.evidence(rung0 + more, enough=2)] == [6, 8]


def test_tpe_models_one_fidelity_in_a_search(tmp_path, monkeypatch):
    """In a search, TPE is shown the scores of one rung only, once that rung has enough."""
    seen = []
    real = proposers.tpe.suggest

    def spy(new_ids, domain, trials, seed, **kwargs):
        seen.append(sorted(round(t["result"]["loss"], 6) for t in trials.trials
                           if t["result"].get("status") == "ok"))
        return real(new_ids, domain, trials, seed, **kwargs)

    monkeypatch.setattr(proposers.tpe, "suggest", spy)
    settings = SearchSettings(space_path=SPACE, results_dir=tmp_path / "r", schedule="asha",
                              epochs=9, max_evals=40, startup_trials=3, plot_best=False,
                              plot_search=False, tensorboard=False, progress="off")
    run_search(settings, say=lambda line: None, executor=SimulatedExecutor())
    records = TrialStore(settings.results_dir).load_records()
    by_rung = {rung: sorted(round(r.loss, 6) for r in records
                            if r.extra[KEY]["rung"] == rung and r.loss is not None)
               for rung in (0, 1, 2)}
    assert len(by_rung[1]) >= 3
    last = seen[-1]  # the last proposal saw only the scores of rung 1 (or 2), never a mix
    assert last and any(set(last) <= set(by_rung[rung]) for rung in (1, 2))
    assert not set(last) & set(by_rung[0])


@pytest.mark.slow
def test_an_asha_search_trains_promotions_on_from_their_saved_models(tmp_path, fashion_dir):
    space = write_space(tmp_path / "s.py", epochs=3)  # rungs: 1 and 3 epochs
    settings = make_settings(tmp_path, space, fashion_dir, max_evals=4, schedule="asha",
                             keep_models=1)
    summary, out = search(settings)
    records = sorted(TrialStore(settings.results_dir).load_records(), key=lambda r: r.number)
    assert [r.extra[KEY]["rung"] for r in records] == [0, 0, 0, 1]
    best_new = min(records[:3], key=lambda r: (r.loss, r.number))
    promoted = records[3]
    assert promoted.extra[KEY]["config"] == best_new.number and promoted.params == best_new.params
    assert promoted.epochs_run == 3 and len(promoted.history["val_accuracy"]) == 3
    assert promoted.history["val_accuracy"][0] == best_new.history["val_accuracy"][0]
    assert "asha rung 1, 3 epochs, config of trial" in out
    assert summary.best_full.number == 3  # the only run trained to the full epochs


def test_asha_with_pruning_is_refused_before_anything_is_written(tmp_path):
    settings = SearchSettings(space_path=SPACE, results_dir=tmp_path / "r", schedule="asha",
                              prune=PruneRule("median"))
    with pytest.raises(FatalError, match="--schedule asha cannot be combined with --prune"):
        run_search(settings, say=lambda line: None, executor=SimulatedExecutor())
    assert not (tmp_path / "r").exists()
