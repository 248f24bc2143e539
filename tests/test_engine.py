"""The search (hyperopt_nas/engine.py): every trial saved at once, relaunches, edited spaces,
failures, interrupts, limits, the size budget; in process, on tiny data or a scripted executor."""

import math
import pickle
import signal
import time

import numpy as np
import pytest
from conftest import ROOT, write_space
from helpers import Scripted, make_settings, search

from hyperopt_nas import engine as search_loop, search_lines, training
from hyperopt_nas.engine import FatalError
from hyperopt_nas.interrupts import STOP
from hyperopt_nas.trial import derive_seed
from hyperopt_nas.trial_store import SizeBudget, TrialStatus, TrialStore


@pytest.mark.slow
def test_every_trial_is_saved_with_its_full_record(tmp_path, tiny_space, fashion_dir):
    summary, out = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=3))
    assert summary.completed == 3 and "trial    2 [3/3]" in out
    store = TrialStore(tmp_path / "results")
    records = store.load_records()
    assert [r.number for r in records] == [0, 1, 2]
    payload = store.load_trials()
    assert payload["numbers"] == [0, 1, 2] and len(payload["trials"].trials) == 3
    for r in records:
        assert r.status == TrialStatus.OK
        assert r.params["activation"] in ("relu", "tanh")  # decoded values, not indexes
        assert r.hyperopt_vals["activation"] in (0, 1)
        assert isinstance(r.params["hidden_layers"][0]["units"], int)
        assert set(r.metrics["label"]) >= {"best_val_accuracy", "final_val_accuracy",
                                           "best_val_loss"}
        # The test split is evaluated for the trials that beat every earlier one, and only them.
        beats_earlier = all(r.loss < e.loss for e in records if e.number < r.number)
        assert ("test_accuracy" in r.metrics["label"]) == beats_earlier
        assert r.loss == pytest.approx(1 - r.metrics["label"]["best_val_accuracy"])
        assert len(r.history["val_accuracy"]) == r.epochs_run == 2
        assert r.budget["train_samples"] == 240 and r.budget["validation_samples"] == 60
        assert r.budget["test_samples"] == 100
        assert r.seed == 11 and r.trial_seed == derive_seed(11, r.number)
        assert {"tensorflow", "keras", "hyperopt"} <= set(r.versions)
        assert r.space_file == str(tiny_space) and len(r.space_fingerprint) == 16
    assert summary.best.loss == min(r.loss for r in records)


@pytest.mark.slow
def test_a_small_validation_split_is_pointed_out(tmp_path, tiny_space, fashion_dir, monkeypatch):
    _, out = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=2))
    assert out.count("note: the validation split holds only 60 images") == 1  # tiny: 60 images
    monkeypatch.setattr(search_lines, "SMALL_VALIDATION", 60)
    _, out = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=3))
    assert "trial    2 [3/3]" in out and "validation split holds" not in out


def _scripted_training(objectives, thresholds):
    """Stands in for training: the next objective of the script; notes the test threshold."""
    def train(builder, params, info, train, validation, test, budget, seed, accel,
              on_progress=None, user_callbacks=None):
        thresholds.append(budget.test_if_loss_below)
        value = objectives[len(thresholds) - 1]
        metrics = {"best_val_accuracy": value, "best_val_loss": 1.0, "final_val_accuracy": value,
                   "final_val_loss": 1.0}
        return training.TrainResult(metrics={"label": metrics},
                                    history={"val_accuracy": [value], "val_loss": [1.0]},
                                    epochs_run=1, best_epoch=1, stopped_by_time=False,
                                    objective=value)
    return train


@pytest.mark.parametrize("every_trial", [False, True])
def test_each_trial_is_told_the_loss_to_beat_for_a_test_evaluation(tmp_path, tiny_space,
                                                                   fashion_dir, every_trial):
    thresholds, objectives = [], [0.5, 0.4, 0.75, 0.75, 0.6, 0.875]
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=4,
                         test_every_trial=every_trial), Scripted(objectives, thresholds))
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=6,  # resumed: the best
                         test_every_trial=every_trial),                   # comes from the records
           Scripted(objectives, thresholds))
    expected = [None] * 6 if every_trial else [None, 0.5, 0.5, 0.25, 0.25, 0.25]
    assert thresholds == expected


def test_several_runs_of_a_point_are_all_tested(tmp_path, tiny_space, fashion_dir, monkeypatch):
    thresholds = []
    monkeypatch.setattr(training, "train_and_evaluate",
                        _scripted_training([0.5] * 2 + [0.25] * 2, thresholds))
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=2, executions_per_trial=2))
    assert thresholds == [None] * 4  # their test metrics are averaged


@pytest.mark.slow
def test_relaunch_continues_the_same_search(tmp_path, tiny_space, fashion_dir):
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=2))
    summary, out = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=4))
    assert "Loaded 2 trials" in out and "(from results.pkl); 2 inform the search" in out
    assert summary.completed == 2 and summary.total == 4
    resumed = TrialStore(tmp_path / "results").load_records()
    # The same search run in one go draws the same points: resuming loses nothing.
    search(make_settings(tmp_path / "once", tiny_space, fashion_dir, max_evals=4))
    once = TrialStore(tmp_path / "once" / "results").load_records()
    assert [r.hyperopt_vals for r in resumed] == [r.hyperopt_vals for r in once]
    _, out = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=4))
    assert "--max-evals 4 is reached" in out


@pytest.mark.slow
def test_missing_pickle_is_rebuilt_from_records(tmp_path, tiny_space, fashion_dir, caplog):
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=2))
    (tmp_path / "results" / "results.pkl").unlink()
    summary, out = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=3))
    assert "no results.pkl, but 2 JSON records" in caplog.text
    assert "(from records); 2 inform the search" in out and summary.total == 3
    payload = TrialStore(tmp_path / "results").load_trials()
    assert payload["numbers"] == [0, 1, 2]


@pytest.mark.slow
def test_unreadable_pickle_is_kept_aside_and_rebuilt(tmp_path, tiny_space, fashion_dir, caplog):
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=2))
    (tmp_path / "results" / "results.pkl").write_bytes(b"torn by a crash")
    summary, _ = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=3))
    assert summary.total == 3 and "Rebuilding the search from the 2 JSON records" in caplog.text
    kept = list((tmp_path / "results").glob("results.pkl.unreadable-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == b"torn by a crash"


@pytest.mark.slow
def test_pickle_behind_the_records_catches_up_from_them(tmp_path, tiny_space, fashion_dir):
    """A kill after a trial's JSON record, before the next results.pkl snapshot: the records
    saved since are added to the snapshot."""
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=2))
    store = TrialStore(tmp_path / "results")
    payload = store.load_trials()
    payload["trials"]._dynamic_trials.pop()
    payload["trials"].refresh()
    store.save_trials(payload["trials"], payload["space_fingerprint"], [0], {})
    summary, out = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=3))
    assert "(from results.pkl and 1 newer records); 2 inform the search" in out
    assert summary.total == 3 and store.load_trials()["numbers"] == [0, 1, 2]


@pytest.mark.slow
def test_edited_space_keeps_what_still_fits(tmp_path, fashion_dir):
    space = write_space(tmp_path / "space.py", activations='["relu", "tanh"]')
    search(make_settings(tmp_path, space, fashion_dir, max_evals=3))
    before = {r.number: r.params for r in TrialStore(tmp_path / "results").load_records()}
    write_space(space, activations='["sigmoid", "tanh", "relu"]')  # reordered and extended
    summary, out = search(make_settings(tmp_path, space, fashion_dir, max_evals=4))
    assert "3 inform the search" in out and "set aside" not in out
    payload = TrialStore(tmp_path / "results").load_trials()
    order = ["sigmoid", "tanh", "relu"]
    for number, doc in zip(payload["numbers"], payload["trials"].trials):
        if number in before:  # the index hyperopt now sees names the activation it trained
            assert order[doc["misc"]["vals"]["activation"][0]] == before[number]["activation"]
    assert summary.total == 4


@pytest.mark.slow
def test_edited_space_sets_aside_what_no_longer_fits(tmp_path, fashion_dir):
    space = write_space(tmp_path / "space.py", activations='["relu", "tanh"]')
    search(make_settings(tmp_path, space, fashion_dir, max_evals=3))
    write_space(space, activations='["sigmoid"]')
    summary, out = search(make_settings(tmp_path, space, fashion_dir, max_evals=4))
    assert "3 trials do not fit the current space and are set aside" in out
    assert "trial 0: the option it took for 'activation' is no longer offered" in out
    assert len(list((tmp_path / "results").glob("*trial-*.json"))) == 4  # nothing deleted
    payload = TrialStore(tmp_path / "results").load_trials()
    assert payload["numbers"] == [3] and sorted(payload["set_aside"]) == [0, 1, 2]
    # A second relaunch trusts the pickle: it accounts for every record.
    _, out = search(make_settings(tmp_path, space, fashion_dir, max_evals=5))
    assert "Loaded 4 trials" in out and "(from results.pkl); 1 inform the search" in out


def test_failing_model_is_recorded_and_the_search_stops_after_k(tmp_path, fashion_dir):
    space = write_space(tmp_path / "space.py", activations='["no_such_activation"]')
    with pytest.raises(FatalError, match="2 trials failed in a row.*activation must be one of"):
        search(make_settings(tmp_path, space, fashion_dir, max_evals=5,
                             max_consecutive_failures=2))
    records = TrialStore(tmp_path / "results").load_records()
    assert [r.status for r in records] == [TrialStatus.FAILED] * 2
    assert "Traceback" in records[0].traceback and records[0].loss is None
    assert (tmp_path / "results" / "failed_trial-0000.json").exists()


NAN_SPACE = """
from hyperopt import hp
DATASET, MODEL = "fashion_mnist", "mlp"
DEFAULTS = {"epochs": 2, "validation_fraction": 0.2, "patience": 2}
SPACE = {"hidden_layers": [{"units": 16}], "optimizer": "SGD", "batch_size": 32,
         "learning_rate": hp.choice("learning_rate", [1e12, 0.01])}
"""


@pytest.mark.slow
def test_nan_loss_is_a_failed_trial_and_the_search_goes_on(tmp_path, fashion_dir):
    space = write_space(tmp_path / "space.py", text=NAN_SPACE)
    summary, out = search(make_settings(tmp_path, space, fashion_dir, max_evals=6,
                                        max_consecutive_failures=6))
    records = TrialStore(tmp_path / "results").load_records()
    by_lr = {r.params["learning_rate"]: r for r in records}
    assert set(by_lr) == {1e12, 0.01}, "the seed should draw both learning rates"
    assert all(r.status == TrialStatus.FAILED and "loss became" in r.error
               for r in records if r.params["learning_rate"] == 1e12)
    assert all(r.status == TrialStatus.OK for r in records if r.params["learning_rate"] == 0.01)
    assert "FAILED (TrialFailed: the training loss became" in out and summary.total == 6


def test_out_of_memory_is_a_failed_trial(tmp_path, tiny_space, fashion_dir, monkeypatch):
    import tensorflow as tf

    def out_of_memory(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    monkeypatch.setattr(training, "train_and_evaluate", out_of_memory)
    with pytest.raises(FatalError, match="3 trials failed in a row"):
        search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=5))
    [first, *_] = TrialStore(tmp_path / "results").load_records()
    assert first.error.startswith("ResourceExhaustedError")


@pytest.mark.slow
def test_interrupt_discards_only_the_running_trial(tmp_path, tiny_space, fashion_dir,
                                                   monkeypatch):
    real = training.train_and_evaluate
    calls = []

    def interrupted_second_time(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "train_and_evaluate", interrupted_second_time)
    summary, out = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=4))
    assert summary.interrupted and summary.completed == 1
    assert "Interrupted: trial 1 was discarded; 1 trials are saved" in out
    monkeypatch.setattr(training, "train_and_evaluate", real)
    summary, _ = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=3))
    numbers = [r.number for r in TrialStore(tmp_path / "results").load_records()]
    assert numbers == [0, 1, 2] and summary.completed == 2


class _DroppedCtrlC:
    """Deleted at once: a Ctrl-C raised in its ``__del__`` is one that Python drops."""

    def __del__(self):
        STOP(signal.SIGINT, None)


def test_a_ctrl_c_that_python_dropped_still_stops_the_search(tmp_path, tiny_space, fashion_dir,
                                                             capsys):
    class DroppedDuringSecondTrial(Scripted):
        def _outcome(self, spec):
            if len(self.thresholds) == 1:
                _DroppedCtrlC()
            return super()._outcome(spec)

    previous = STOP.listen()
    try:
        summary, out = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=6),
                              DroppedDuringSecondTrial([0.5] * 6, []))
    finally:
        STOP.restore(previous)
    assert summary.interrupted and summary.completed == 2, out
    assert "Relaunch the same command to continue" in out
    assert "Exception ignored" not in capsys.readouterr().err  # the dropped one said nothing


@pytest.mark.slow
def test_full_disk_stops_with_earlier_trials_intact(tmp_path, tiny_space, fashion_dir,
                                                    monkeypatch):
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=1))
    before = (tmp_path / "results" / "results.pkl").read_bytes()

    def disk_full(self, record, new=False):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(TrialStore, "save_record", disk_full)
    with pytest.raises(FatalError, match="could not save trial 1.*No space left.*intact"):
        search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=2))
    saved = pickle.loads((tmp_path / "results" / "results.pkl").read_bytes())  # Trials
    assert saved.attachments["hyperopt_nas"]["numbers"] == [0]
    assert (tmp_path / "results" / "results.pkl").read_bytes() == before


def test_bad_settings_are_refused_before_any_trial(tmp_path, tiny_space, fashion_dir):
    with pytest.raises(FatalError, match="--algo must be one of"):
        search(make_settings(tmp_path, tiny_space, fashion_dir, algo="bayes"))
    with pytest.raises(FatalError, match="Fashion-MNIST idx .gz files was not found|not a folder"):
        search(make_settings(tmp_path, tiny_space, tmp_path / "no_data"))


# --- Keras Tuner's conveniences, the hyperopt way ---------------------------------------------


@pytest.mark.slow
def test_executions_per_trial_average_with_spread(tmp_path, tiny_space, fashion_dir):
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=1, executions_per_trial=3))
    [record] = TrialStore(tmp_path / "results").load_records()
    runs = record.extra["runs"]
    assert len(runs) == 3 and [r["execution"] for r in runs] == [0, 1, 2]
    objectives = [r["objective"] for r in runs]
    assert record.score == pytest.approx(sum(objectives) / 3)
    assert record.extra["objective_std"] == pytest.approx(float(np.std(objectives)))


@pytest.mark.slow
def test_cross_validation_scores_every_fold(tmp_path, tiny_space, fashion_dir):
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=1, cv_folds=3))
    [record] = TrialStore(tmp_path / "results").load_records()
    runs = record.extra["runs"]
    assert [r["fold"] for r in runs] == [0, 1, 2]
    assert record.score == pytest.approx(np.mean([r["objective"] for r in runs]))


def test_cross_validation_folds_partition_train_and_validation(tmp_path, fashion_dir, tiny_space):
    from hyperopt_nas import trial_runner
    from hyperopt_nas.space_files import load_space_file
    space_file = load_space_file(tiny_space)
    settings = make_settings(tmp_path, tiny_space, fashion_dir, seed=0)
    budget = search_loop.resolve_budget(space_file, settings)
    data = trial_runner.prepare_data(search_loop.data_setup(space_file, budget, settings))
    folds = list(trial_runner._fold_splits(data, 3, seed=0))
    assert sum(len(val) for _, val in folds) == len(data.train) + len(data.validation)
    assert all(len(tr) + len(val) == 300 for tr, val in folds)


@pytest.mark.slow
def test_trial_timeout_stops_at_an_epoch_end_and_counts(tmp_path, fashion_dir):
    space = write_space(tmp_path / "space.py", epochs=500)
    search(make_settings(tmp_path, space, fashion_dir, max_evals=1, trial_timeout_s=2.0))
    [record] = TrialStore(tmp_path / "results").load_records()
    assert record.status == TrialStatus.OK and record.extra["stopped_by_time"]
    assert 1 <= record.epochs_run < 500


@pytest.mark.slow
def test_search_timeout_stops_the_search(tmp_path, fashion_dir):
    space = write_space(tmp_path / "space.py", epochs=500)
    started = time.monotonic()
    summary, out = search(make_settings(tmp_path, space, fashion_dir, max_evals=50,
                                        timeout_s=6.0))
    assert "--timeout 6 s reached" in out and summary.completed < 50
    assert time.monotonic() - started < 60


@pytest.mark.slow
@pytest.mark.parametrize("change, named", [
    ({"seed": 12}, "--seed (the validation split) 11 (this run: 12)"),
    ({"epochs": 1}, "--epochs 2 (this run: 1)"),
    ({"max_train_samples": 100}, "--max-train-samples None (this run: 100)"),
])
def test_trials_of_other_settings_are_not_mixed_in_silently(tmp_path, tiny_space, fashion_dir,
                                                            change, named):
    """Finding 4 of the hostile test: another validation split or budget was mixed in."""
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=1))
    with pytest.raises(FatalError, match=rf"1 of the 1 trials in .* were made with "
                                         rf"{named.replace('(', '[(]').replace(')', '[)]')}.*"
                                         "--reuse-trials"):
        search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=2, **change))
    assert len(TrialStore(tmp_path / "results").load_records()) == 1
    summary, out = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=2,
                                        reuse_trials=True, **change))
    assert summary.total == 2 and "1 inform the search" in out


def test_a_space_of_another_dataset_is_refused_for_a_folder_with_trials(tmp_path, tiny_space,
                                                                        fashion_dir):
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=1))
    mnist = write_space(tmp_path / "mnist.py", text=tiny_space.read_text().replace(
        '"fashion_mnist"', '"mnist"'))
    with pytest.raises(FatalError, match="DATASET 'fashion_mnist' [(]this run: 'mnist'[)]"):
        search(make_settings(tmp_path, mnist, fashion_dir, max_evals=2))


def test_the_folder_keeps_a_copy_of_its_space(tmp_path, tiny_space, fashion_dir):
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=1))
    store = TrialStore(tmp_path / "results")
    copy = tmp_path / "results" / "search_space.py"
    assert copy.read_text() == tiny_space.read_text()
    assert store.space_path(store.load_records()) == tiny_space
    tiny_space.rename(tmp_path / "moved.py")
    assert store.space_path(store.load_records()) == copy


@pytest.mark.slow
def test_an_unreadable_record_is_never_overwritten_by_a_new_trial(tmp_path, tiny_space,
                                                                  fashion_dir):
    """Finding 2: the next number was 'highest readable + 1', and saving it deleted the file."""
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=1))
    edited = tmp_path / "results" / "0.500000_trial-0001.json"
    edited.write_text('{"number": 1,}')  # a hand edit with a trailing comma
    summary, _ = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=2))
    assert edited.read_text() == '{"number": 1,}'
    assert [r.number for r in TrialStore(tmp_path / "results").load_records()] == [0, 2]


@pytest.mark.slow
def test_a_garbage_record_is_not_explained_as_a_killed_run(tmp_path, tiny_space, fashion_dir,
                                                           caplog):
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=2))
    (next((tmp_path / "results").glob("*trial-0001.json"))).write_text("garbage")
    search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=3))
    assert "records cannot be read now" in caplog.text and "killed" not in caplog.text


@pytest.mark.slow
def test_the_console_says_what_the_search_will_do_and_when_it_ends(tmp_path, tiny_space,
                                                                   fashion_dir):
    summary, out = search(make_settings(tmp_path, tiny_space, fashion_dir, max_evals=3))
    lines = out.splitlines()
    assert lines[0] == (f"Searching tiny_space.py (fashion_mnist, mlp) with tpe: 2 epochs per "
                        f"trial, until 3 trials; trials train in this process on Keras' "
                        f"tensorflow backend; results in {tmp_path / 'results'}.")
    trial_lines = [line for line in lines if line.startswith("trial ")]
    assert all("| elapsed " in line for line in trial_lines)
    assert all("| ETA " in line for line in trial_lines[:-1])
    assert "ETA" not in trial_lines[-1]  # the last trial: nothing left


EDITED = '''
from hyperopt import hp
DATASET, MODEL = "fashion_mnist", "mlp"
DEFAULTS = {{"epochs": 1, "validation_fraction": 0.2}}
SPACE = {{"hidden_layers": [{{"units": hp.choice("units", [8, 16])}}],
          "optimizer": {optimizer}, "learning_rate": 0.01, "batch_size": 32}}
START_POINTS = [{{"hidden_layers": [{{"units": 16}}], "optimizer": "Adam",
                  "learning_rate": 0.01, "batch_size": 32}}]
'''


@pytest.mark.slow
def test_an_edited_space_keeps_the_trials_it_can_still_draw_and_no_start_point_twice(
        tmp_path, fashion_dir):
    """Issue 24, finding 1: a choice made the constant Adam; trials that used Adam keep
    informing the search, and the start point (trained before the edit) is not trained again."""
    space = tmp_path / "edited.py"
    space.write_text(EDITED.format(optimizer='hp.choice("optimizer", ["Adam", "SGD"])'))
    search(make_settings(tmp_path, space, fashion_dir, max_evals=4, algo="rand"))
    before = TrialStore(tmp_path / "results").load_records()
    adam = [r for r in before if r.params["optimizer"] == "Adam"]
    assert before[0].extra.get("start_point") == 0 and adam
    space.write_text(EDITED.format(optimizer='"Adam"'))
    summary, out = search(make_settings(tmp_path, space, fashion_dir, max_evals=6,
                                        algo="rand"))
    assert f"{len(adam)} inform the search" in out
    after = TrialStore(tmp_path / "results").load_records()
    assert [r.extra.get("start_point") for r in after].count(0) == 1
    assert summary.completed == 2


def test_the_eta_leaves_out_the_workers_start_before_the_first_trial():
    """Issue 24, finding 7: the first ETA counted TensorFlow's start-up once per trial left."""
    from types import SimpleNamespace

    from hyperopt_nas.engine import Search
    state = SimpleNamespace(settings=SimpleNamespace(timeout_s=None, max_evals=10),
                            counted=1, counted_before=0, start_up_s=6.0)
    assert Search._eta(state, elapsed=14.0) == pytest.approx(9 * 8.0)  # 8 s a trial, 9 left


@pytest.mark.slow
def test_points_over_the_size_budget_are_not_trained_and_tpe_is_told(tmp_path, fashion_dir):
    """A space whose networks range from 6k to 200k parameters, searched under 20,000: the
    larger points are built, recorded as over budget in milliseconds (no epoch) and told to TPE
    as the worst loss; a relaunch under another budget tells the records again."""
    space = write_space(tmp_path / "sized.py", text="""
        from hyperopt import hp
        DATASET, MODEL = "fashion_mnist", "mlp"
        DEFAULTS = {"epochs": 1, "validation_fraction": 0.2, "patience": 1}
        SPACE = {"hidden_layers": [{"units": hp.choice("units", [8, 16, 64, 256])}],
                 "learning_rate": 0.01, "batch_size": 32}
        """)
    settings = make_settings(tmp_path, space, fashion_dir, max_evals=6, max_params=20_000,
                             algo="rand")
    summary, out = search(settings)
    records = TrialStore(settings.results_dir).load_records()
    over = [r for r in records if r.status == TrialStatus.OVER_BUDGET]
    trained = [r for r in records if r.status == TrialStatus.OK]
    # --max-evals counts the networks trained: the points over the budget come on top.
    assert over and len(trained) == 6 and summary.over_budget == len(over)
    assert f"[6/6, {len(over)} over budget]" in out
    for r in over:
        assert r.params["hidden_layers"][0]["units"] in (64, 256) and r.epochs_run == 0
        assert r.model_params > 20_000 and r.history == {} and r.loss is None
        assert "over budget" in r.error and r.wall_time_s < 5
        assert f"trial {r.number:4d} " in out and "not trained" in out
    for r in trained:
        assert r.params["hidden_layers"][0]["units"] in (8, 16) and r.model_params <= 20_000
        assert r.budget["max_params"] == 20_000
    assert summary.best.model_params <= 20_000
    told = {number: doc["result"] for number, doc in
            zip(TrialStore(settings.results_dir).load_trials()["numbers"],
                TrialStore(settings.results_dir).load_trials()["trials"].trials)}
    for r in over:
        assert told[r.number] == {"status": "ok", "loss": 1.0}
    for r in trained:
        assert told[r.number] == {"status": "ok", "loss": r.loss}
    # Relaunched without the budget: the refused points are unknown (never trained: hyperopt's
    # TPE would count a failure as worse than any result), so they are set aside, not fed; the
    # trained ones keep their loss; the snapshot of the old budget is not trusted.
    settings.max_params, settings.max_evals = None, len(records) + 1
    _, out = search(settings)
    payload = TrialStore(settings.results_dir).load_trials()
    told = {n: doc["result"] for n, doc in zip(payload["numbers"], payload["trials"].trials)}
    assert not any(r.number in told for r in over)
    assert set(payload["set_aside"]) == {r.number for r in over}
    assert f"{len(over)} trial" in out and "never trained, they are not fed" in out
    assert all(told[r.number] == {"status": "ok", "loss": r.loss} for r in trained)
    # Under the budget again: they are over it, told as the worst loss once more.
    settings.max_params, settings.max_evals = 20_000, 8
    _, out = search(settings)
    budget = SizeBudget(max_params=20_000)
    within = [r for r in TrialStore(settings.results_dir).load_records() if budget.counts(r)]
    assert len(within) == 8 and all(r.model_params <= 20_000 for r in within)
    assert f"{len(records) + 1 - 6} of them over the size budget" in out
    payload = TrialStore(settings.results_dir).load_trials()
    told = {n: doc["result"] for n, doc in zip(payload["numbers"], payload["trials"].trials)}
    assert all(told[r.number] == {"status": "ok", "loss": 1.0} for r in over)
    # The soft form instead (--size-weight): no limit, every trained network told its loss
    # plus the weight times its log-size; the banner says so.
    settings.max_params, settings.size_weight, settings.max_evals = None, 0.05, len(records) + 4
    _, out = search(settings)
    payload = TrialStore(settings.results_dir).load_trials()
    told = {n: doc["result"]["loss"]
            for n, doc in zip(payload["numbers"], payload["trials"].trials)}
    assert payload["size_budget"]["size_weight"] == 0.05
    assert "validation loss + 0.05 x ln(parameters)" in out
    for r in TrialStore(settings.results_dir).load_records():
        if r.status == TrialStatus.OK:
            assert told[r.number] == pytest.approx(r.loss + 0.05 * math.log(r.model_params))


def _sized_training(builder, params, info, train, validation, test, budget, seed, accel,
                    on_progress=None, user_callbacks=None):
    """Stands in for training: builds the real network and measures it against the budget as
    training does, then scores it without fitting (wider dense layers score higher, so that the
    proposer is drawn toward the networks over the budget)."""
    model, _ = builder(params, info, accel)
    size = training.check_budget(model, budget, train.x[:1])
    value = 0.5 + params["dense_units"] / 1000
    metrics = {"best_val_accuracy": value, "best_val_loss": 1.0, "final_val_accuracy": value,
               "final_val_loss": 1.0}
    return training.TrainResult(metrics={"label": metrics},
                                history={"val_accuracy": [value], "val_loss": [1.0]},
                                epochs_run=1, best_epoch=1, stopped_by_time=False,
                                objective=value, size=size)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_max_evals_trains_that_many_networks_within_the_size_budget(tmp_path, fashion_dir,
                                                                    monkeypatch, seed):
    """Issue 47: the Keras Tuner tutorial's CNN space (its start point has 333,526 parameters,
    about 3 % of it fits 50,000), --max-params 50k --max-evals 12: twelve networks trained,
    each within the budget; the points over it are not counted, and few once the proposals are
    steered; a relaunch counts what is there."""
    monkeypatch.setattr(training, "train_and_evaluate", _sized_training)
    space = ROOT / "search_spaces" / "fashion_mnist_cnn.py"
    settings = make_settings(tmp_path, space, fashion_dir, max_evals=12, max_params=50_000,
                             seed=seed, epochs=1)
    summary, out = search(settings)
    records = TrialStore(settings.results_dir).load_records()
    trained = [r for r in records if r.status == TrialStatus.OK]
    over = [r for r in records if r.status == TrialStatus.OVER_BUDGET]
    assert len(trained) == 12 and all(r.model_params <= 50_000 for r in trained)
    assert all(r.model_params > 50_000 for r in over) and summary.over_budget == len(over)
    # Steered: about 3 % of the space fits, so unsteered proposals would need hundreds of
    # points (the search would stop at OVER_BUDGET_CAP); here 3 to 15 in the seeds tried.
    assert len(over) <= 24, [r.model_params for r in over]
    assert records[0].extra.get("start_point") == 0 and records[0] in over
    assert "nor counted in the trials" in out and "[12/12, " in out
    if seed:
        return
    # Relaunched with the same budget: nothing to do; with two more, two more trained.
    _, out = search(settings)
    assert "12 trials already in" in out and "within the size budget" in out
    settings.max_evals = 14
    _, out = search(settings)
    after = TrialStore(settings.results_dir).load_records()
    assert sum(r.status == TrialStatus.OK for r in after) == 14
    assert f"{len(over)} of them over the size budget" in out
    assert sum(r.extra.get("start_point") == 0 for r in after) == 1  # never built again


def test_a_budget_nothing_fits_stops_with_one_line(tmp_path, fashion_dir, monkeypatch):
    """No network of the space fits: the search stops after OVER_BUDGET_CAP points in a row,
    saying how many it built, the smallest and the budget, instead of running forever."""
    monkeypatch.setattr(training, "train_and_evaluate", _sized_training)
    monkeypatch.setattr(search_loop, "OVER_BUDGET_CAP", 6)
    space = ROOT / "search_spaces" / "fashion_mnist_cnn.py"
    settings = make_settings(tmp_path, space, fashion_dir, max_evals=3, max_params=1_000)
    with pytest.raises(FatalError, match=r"no network within the budget: the last 6 points "
                       r"built were all over the size budget \(1,000 parameters\); 6 built "
                       r"in all in .*, the smallest had [\d,]+ parameters\. Raise the budget"):
        search(settings)
    records = TrialStore(settings.results_dir).load_records()
    assert len(records) == 6 and all(r.status == TrialStatus.OVER_BUDGET for r in records)
