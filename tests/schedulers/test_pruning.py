import numpy as np
import pytest
from conftest import write_space
from helpers import make_settings, search
from helpers import make_record

from hyperopt_nas import data_loaders
import neural_net
from hyperopt_nas import training
from hyperopt_nas import engine as search_loop
from hyperopt_nas.schedulers.pruning import PruneRule, reference_curves
from hyperopt_nas.trial_store import TrialStatus

# Scripted learning curves (validation accuracy per epoch) of three earlier trials.
EARLIER = [[0.50, 0.60, 0.70, 0.75], [0.40, 0.55, 0.65, 0.70], [0.30, 0.50, 0.60, 0.62]]


def first_stop(rule, curve):
    """The epoch at which ``rule`` stops a trial with this curve, as the callback does."""
    best = -np.inf
    for epoch, value in enumerate(curve, 1):
        best = max(best, value)
        if rule.should_stop(epoch, best):
            return epoch
    return None


@pytest.mark.parametrize("curve, stops_at", [
    ([0.20, 0.30, 0.40, 0.50], 2),  # behind from the start: stopped once warm-up is over
    ([0.60, 0.70, 0.75, 0.80], None),  # ahead throughout
    ([0.45, 0.56, 0.62, 0.64], 3),  # on the median at epoch 2, behind it at epoch 3
    ([0.10, 0.58, 0.70, 0.80], None),  # a slow start is forgiven at epoch 1 (warm-up)
])
def test_median_rule_stops_what_trails_earlier_trials_at_the_same_epoch(curve, stops_at):
    rule = PruneRule("median", warmup_epochs=2).with_reference(EARLIER)
    assert first_stop(rule, curve) == stops_at


def test_percentile_rule_is_less_strict_than_the_median():
    curve = [0.35, 0.53, 0.63, 0.67]
    assert first_stop(PruneRule("median").with_reference(EARLIER), curve) == 2
    assert first_stop(PruneRule("percentile", percentile=25).with_reference(EARLIER), curve) is None


def test_no_judgement_without_enough_earlier_trials_or_with_no_rule():
    hopeless = [0.0, 0.0, 0.0, 0.0]
    assert first_stop(PruneRule("median").with_reference(EARLIER[:2]), hopeless) is None
    assert first_stop(PruneRule("median", min_trials=2).with_reference(EARLIER[:2]),
                      hopeless) == 2
    assert first_stop(PruneRule("none").with_reference(EARLIER), hopeless) is None
    short = PruneRule("median").with_reference([c[:2] for c in EARLIER])
    assert short.threshold(3) is None  # nobody reached epoch 3 yet


@pytest.mark.parametrize("bad", [dict(kind="mean"), dict(percentile=0), dict(warmup_epochs=0)])
def test_bad_rules_are_refused(bad):
    with pytest.raises(ValueError):
        PruneRule(**{"kind": "median", **bad})


def test_pruning_with_several_runs_per_trial_is_refused(tmp_path, tiny_space, fashion_dir):
    rule = PruneRule("median")
    for changes, message in ((dict(cv_folds=3), "--cv"),
                             (dict(executions_per_trial=2), "--executions-per-trial")):
        with pytest.raises(search_loop.FatalError, match=message):
            search(make_settings(tmp_path, tiny_space, fashion_dir, prune=rule, **changes))
    assert not (tmp_path / "results").exists()  # refused before anything was written


def test_reference_curves_carry_early_stopped_trials_and_skip_failures(tmp_path):
    records = [make_record(0, 0.3, history={"val_accuracy": [0.5, 0.7, 0.6]}),
               make_record(1, 0.4, TrialStatus.PRUNED, history={"val_accuracy": [0.2, 0.6]}),
               make_record(2, None, TrialStatus.FAILED, history={})]
    curves = reference_curves(records, 5)
    assert curves == [[0.5, 0.7, 0.7, 0.7, 0.7], [0.2, 0.6]]


@pytest.mark.slow
def test_the_keras_callback_stops_a_trailing_trial_at_the_rule_epoch(tmp_path, fashion_dir):
    dataset = data_loaders.load_dataset("fashion_mnist", fashion_dir)
    train, validation = data_loaders.train_validation_split(dataset.train, 0.2, 0, "label")
    params = {"hidden_layers": [{"units": 8, "dropout": 0.0}], "activation": "relu",
              "optimizer": "Adam", "learning_rate": 0.001, "batch_size": 32}
    cpu = neural_net.Accelerator(gpus=0, mixed_precision=False, xla=False)
    perfect = PruneRule("median", warmup_epochs=2).with_reference([[1.0] * 5] * 3)
    hopeless = PruneRule("median", warmup_epochs=2).with_reference([[0.0] * 5] * 3)
    runs = {}
    for name, rule in (("behind", perfect), ("ahead", hopeless)):
        runs[name] = training.train_and_evaluate(
            neural_net.model_builder("mlp"), params, dataset.info, train, validation,
            dataset.test, training.TrainBudget(5, 5, None, rule), 0, cpu)
    assert runs["behind"].pruned_at == 2 and runs["behind"].epochs_run == 2
    assert runs["ahead"].pruned_at is None and runs["ahead"].epochs_run == 5


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_search_prunes_by_the_rule_and_records_pruned_trials(tmp_path, fashion_dir, workers):
    """Half the points cannot learn (a learning rate of 1e-7), so some trials trail; every
    decision the search made is checked against the rule applied to the records that had ended
    when the trial started (all earlier ones with one worker; with two, not the one running
    beside it)."""
    space = write_space(tmp_path / "s.py", epochs=4, text="""
        from hyperopt import hp
        DATASET = "fashion_mnist"
        MODEL = "mlp"
        DEFAULTS = {"epochs": 4, "validation_fraction": 0.2, "patience": 4}
        SPACE = {"hidden_layers": [{"units": 16}], "optimizer": "Adam", "batch_size": 32,
                 "learning_rate": hp.choice("learning_rate", [0.03, 1e-7])}
        """)
    rule = PruneRule("median", warmup_epochs=1, min_trials=1)
    settings = make_settings(tmp_path, space, fashion_dir, max_evals=8, prune=rule, seed=4,
                             **({} if workers == 1 else dict(isolation="process", workers=2)))
    summary, out = search(settings)
    records = sorted(search_loop.TrialStore(settings.results_dir).load_records(),
                     key=lambda r: r.number)
    assert len(records) == 8
    pruned = [r for r in records if r.status == TrialStatus.PRUNED]
    assert pruned, "no trial was pruned"
    if workers == 1:
        assert [r.extra["pruned_against"] for r in records] == [list(range(i)) for i in range(8)]
    else:
        assert records[1].extra["pruned_against"] == []  # trial 0 was running beside it
    for r in records:
        earlier = [e for e in records if e.number in r.extra["pruned_against"]]
        judged = rule.with_reference(reference_curves(earlier, 4))
        assert first_stop(judged, r.history["val_accuracy"]) == r.extra.get("pruned_at_epoch")
        if r.status == TrialStatus.PRUNED:
            assert r.epochs_run == r.extra["pruned_at_epoch"] < 4
            assert r.loss == pytest.approx(1 - max(r.history["val_accuracy"]))
            assert "_pruned.json" in r.file_name() and "(pruned at epoch" in out
    # TPE saw the pruned trials' scores as finished trials
    trials = search_loop.TrialStore(settings.results_dir).load_trials()["trials"]
    assert sorted(trials.losses()) == sorted(r.loss for r in records)
