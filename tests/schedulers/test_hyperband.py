import pytest
from conftest import write_space
from helpers import make_settings, search
from helpers import make_record

from hyperopt_nas import data_loaders
from hyperopt_nas.schedulers import hyperband
import neural_net
from hyperopt_nas import training
from hyperopt_nas import engine as search_loop
from hyperopt_nas.schedulers.hyperband import KEY, Rung
from hyperopt_nas.trial_store import TrialStatus, TrialStore


def test_brackets_of_nine_epochs():
    rounds = hyperband.brackets(9)
    assert [[(r.epochs, r.size) for r in b] for b in rounds] == [
        [(1, 9), (3, 3), (9, 1)], [(3, 5), (9, 1)], [(9, 3)]]


def run(number, job, loss, status=TrialStatus.OK):
    return make_record(number, loss, status, extra={KEY: job.tag(number)})


def play(losses_of_new, runs=12, max_epochs=9, scripted_promotion=None):
    """Drive the schedule with a scripted objective: a new configuration's loss comes from
    ``losses_of_new`` in order; a promoted one improves by 0.01 per extra rung."""
    records, new = [], iter(losses_of_new)
    for number in range(runs):
        job = hyperband.next_job(records, max_epochs)
        if job.parent is None:
            loss = next(new)
        else:
            loss = job.parent.loss - 0.01
        records.append(run(number, job, loss))
    return records


def test_successive_halving_promotes_the_best_third_and_then_the_best():
    losses = [0.50, 0.20, 0.90, 0.40, 0.10, 0.80, 0.30, 0.70, 0.60, 0.55, 0.45, 0.35]
    records = play(losses, runs=14)
    tags = [(r.extra[KEY]["rung"], r.extra[KEY]["config"], r.extra[KEY]["epochs"])
            for r in records]
    assert tags[:9] == [(0, i, 1) for i in range(9)]  # nine new configurations at 1 epoch
    assert tags[9:12] == [(1, 4, 3), (1, 1, 3), (1, 6, 3)]  # the best third, best first
    assert tags[12] == (2, 4, 9)  # then the best of those, to the full 9 epochs
    assert tags[13] == (0, 13, 3)  # and the next bracket starts: new configurations at 3 epochs
    assert records[13].extra[KEY]["iteration"] == 1


def test_a_failed_run_is_not_promoted():
    records = []
    for number in range(9):
        job = hyperband.next_job(records, 9)
        failed = number in (0, 1)
        records.append(run(number, job, None if failed else 0.5 - number / 100,
                           TrialStatus.FAILED if failed else TrialStatus.OK))
    promoted = hyperband.next_job(records, 9)
    assert promoted.rung == Rung(2, 1, 3, 3) and promoted.parent.number == 8


def test_the_schedule_resumes_mid_bracket_from_the_records():
    losses = [0.50, 0.20, 0.90, 0.40, 0.10, 0.80, 0.30, 0.70, 0.60]
    full = play(losses, runs=11)
    again = hyperband.next_job(full[:10], 9)  # as a relaunch reads them back
    assert again.parent.number == full[10].extra[KEY]["config"] == 1
    assert again.initial_epoch == 1 and again.rung.epochs == 3
    assert hyperband.promotable(full[:10], 9) == {1, 6, 9}  # rung 0 waiting, and trial 9


def test_a_saved_model_is_continued_with_its_weights(tmp_path, fashion_dir):
    dataset = data_loaders.load_dataset("fashion_mnist", fashion_dir)
    train, validation = data_loaders.train_validation_split(dataset.train, 0.2, 0, "label")
    params = {"hidden_layers": [{"units": 8}], "optimizer": "Adam", "learning_rate": 0.01,
              "batch_size": 32}
    cpu = neural_net.Accelerator(gpus=0, mixed_precision=False, xla=False)
    builder = neural_net.model_builder("mlp")
    saved = tmp_path / "first.keras"
    training.train_and_evaluate(builder, params, dataset.info, train, validation, dataset.test,
                                training.TrainBudget(1, 5, save_to=str(saved)), 0, cpu)
    import keras
    expected = [w.copy() for w in keras.models.load_model(saved).get_weights()]
    seen = []
    more = training.train_and_evaluate(
        builder, params, dataset.info, train, validation, dataset.test,
        training.TrainBudget(3, 5, initial_epoch=1, resume_from=str(saved)), 1, cpu,
        on_model=lambda m: seen.append([w.copy() for w in m.get_weights()]))
    assert all((a == b).all() for a, b in zip(seen[0], expected))
    assert len(more.history["val_accuracy"]) == 2 and more.epochs_run == 3


@pytest.mark.slow
def test_a_hyperband_search_runs_resumes_mid_bracket_and_keeps_only_needed_models(
        tmp_path, fashion_dir):
    space = write_space(tmp_path / "s.py", epochs=4)  # brackets: 3 at 1 epoch -> 1 at 4; 2 at 4
    settings = make_settings(tmp_path, space, fashion_dir, max_evals=3, schedule="hyperband")
    search(settings)
    store = TrialStore(settings.results_dir)
    first = sorted(store.load_records(), key=lambda r: r.number)
    assert [r.epochs_run for r in first] == [1, 1, 1]
    best_new = min(first, key=lambda r: (r.loss, r.number))
    checkpoints = settings.results_dir / "checkpoints"  # only the one rung 1 will continue
    assert [p.name for p in checkpoints.iterdir()] == [f"trial-{best_new.number:04d}.keras"]

    settings.max_evals = 6  # relaunch: the bracket goes on where it stopped
    _, out = search(settings)
    records = sorted(store.load_records(), key=lambda r: r.number)
    promoted = records[3]
    assert promoted.extra[KEY]["config"] == best_new.number and promoted.extra[KEY]["rung"] == 1
    assert promoted.epochs_run == 4 and len(promoted.history["val_accuracy"]) == 4
    assert promoted.history["val_accuracy"][0] == best_new.history["val_accuracy"][0]
    assert promoted.params == best_new.params
    assert [r.extra[KEY]["epochs"] for r in records[4:]] == [4, 4]  # bracket s=0
    assert not list(checkpoints.iterdir())  # nothing left to continue
    trials = store.load_trials()
    assert trials["numbers"] == list(range(6)) and len(trials["trials"].trials) == 6


def test_hyperband_refuses_what_it_cannot_combine_with(tmp_path, tiny_space, fashion_dir):
    with pytest.raises(search_loop.FatalError, match="--cv"):
        search(make_settings(tmp_path, tiny_space, fashion_dir, schedule="hyperband",
                             cv_folds=3))


@pytest.mark.slow
def test_hyperband_fills_two_workers_and_promotes_only_whole_rungs(tmp_path, tiny_space,
                                                                   fashion_dir):
    """With two workers a promotion waits for its whole rung: every promoted configuration is
    among the best of its rung, and started after every run of that rung had ended."""
    from datetime import datetime
    settings = make_settings(tmp_path, tiny_space, fashion_dir, max_evals=8, epochs=3,
                             schedule="hyperband", isolation="process", workers=2)
    summary, out = search(settings)
    records = TrialStore(tmp_path / "results").load_records()
    assert summary.total == 8 and {r.extra["worker"]["index"] for r in records} == {0, 1}
    runs = [r for r in records if KEY in r.extra]
    start = {r.number: datetime.fromisoformat(r.started_at).timestamp() for r in runs}
    promotions = [r for r in runs if r.extra[KEY]["rung"] > 0]
    assert promotions, "no configuration was promoted"
    for r in promotions:
        tag = r.extra[KEY]
        rung = next(x for bracket in hyperband.brackets(3) for x in bracket
                    if x.bracket == tag["bracket"] and x.index == tag["rung"])
        below = [x for x in runs if x.extra[KEY]["iteration"] == tag["iteration"]
                 and x.extra[KEY]["rung"] == tag["rung"] - 1]
        best = sorted((x for x in below if x.loss is not None), key=lambda x: (x.loss, x.number))
        assert tag["config"] in {x.extra[KEY]["config"] for x in best[:rung.size]}
        ended = max(start[x.number] + x.wall_time_s for x in below)
        assert start[r.number] >= ended - 1.0  # started_at is whole seconds
