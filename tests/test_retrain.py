import pytest

from hyperopt_nas import retrain
from hyperopt_nas.engine import SearchSettings, run_search
from hyperopt_nas.trial_store import TrialStore


@pytest.fixture
def searched(tmp_path, tiny_space, fashion_dir):
    results = tmp_path / "results"
    run_search(SearchSettings(space_path=tiny_space, results_dir=results, data_dir=fashion_dir,
                              max_evals=3, isolation="none", seed=2), say=lambda line: None)
    return results


def test_best_trial_and_config(searched):
    records = TrialStore(searched).load_records()
    best = min(records, key=lambda r: r.loss)
    assert retrain.best_trial(searched).number == best.number
    assert retrain.best_config(searched) == best.params


def test_retrain_trains_on_train_plus_validation_and_saves(searched, fashion_dir):
    import keras
    best = retrain.best_trial(searched)
    result = retrain.retrain(searched, data_dir=fashion_dir)
    assert result.number == best.number and result.path.exists()
    assert result.train_samples == best.budget["train_samples"] + best.budget["validation_samples"]
    assert result.epochs == best.extra["best_epoch"]
    assert 0.0 <= result.test_accuracy <= 1.0
    model = retrain.load_model(searched)
    assert isinstance(model, keras.Model)
    assert model.count_params() > 0


def test_retrain_a_named_trial_and_refuse_unknown_ones(searched, fashion_dir):
    assert retrain.retrain(searched, number=1, data_dir=fashion_dir).path.name == "trial-0001.keras"
    with pytest.raises(retrain.RetrainError, match="trial 99 is not a completed trial"):
        retrain.retrain(searched, number=99, data_dir=fashion_dir)
    with pytest.raises(retrain.RetrainError, match="no saved model.*retrain --trial 2"):
        retrain.load_model(searched, number=2)


def test_empty_results_say_what_to_do(tmp_path):
    with pytest.raises(retrain.RetrainError, match="no completed trial.*run a search first"):
        retrain.best_trial(tmp_path)
