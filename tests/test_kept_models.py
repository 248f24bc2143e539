"""The trained networks of the best trials, kept as the search trained them."""

import numpy as np
import pytest
from helpers import make_record

import hyperopt_nas
from hyperopt_nas import kept_models
from hyperopt_nas.engine import SearchSettings, run_search
from hyperopt_nas.outputs.reports import ranked
from hyperopt_nas.trial import DataSetup
from hyperopt_nas.trial_runner import prepare_data
from hyperopt_nas.trial_store import TrialStore


def run(tmp_path, space, data, **changes):
    settings = SearchSettings(space_path=space, results_dir=tmp_path / "results", data_dir=data,
                              seed=4, max_evals=5, isolation="none", plot_best=False,
                              plot_search=False, tensorboard=False, algo="rand")
    for key, value in changes.items():
        setattr(settings, key, value)
    return run_search(settings, say=lambda line: None)


@pytest.mark.slow
def test_the_best_trials_networks_load_and_predict_without_retraining(tmp_path, tiny_space,
                                                                      fashion_dir):
    run(tmp_path, tiny_space, fashion_dir, keep_models=2)
    results = tmp_path / "results"
    records = TrialStore(results).load_records()
    best_two = [r.number for r in ranked(records)[:2]]
    assert kept_models.kept_numbers(results) == sorted(best_two)  # never more than asked
    assert not [p for p in (results / kept_models.FOLDER).iterdir() if p.name.startswith(".")]
    model = hyperopt_nas.load_model(results)  # the best, as trained
    images = np.zeros((3, 28, 28, 1), dtype="float32")
    # One label set: an array, as the user's own model predicts (issue 36: a dict {"label": }).
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (3, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-3)
    pairs = hyperopt_nas.best_models(results)
    assert [record.number for record, _ in pairs] == best_two
    # The kept network is the one the trial scored with: its validation accuracy again.
    best = ranked(records)[0]
    data = prepare_data(DataSetup("fashion_mnist", "mlp", best.budget["validation_fraction"],
                                  None, 4, str(fashion_dir)))
    predicted = model.predict(data.validation.x, verbose=0).argmax(axis=1)
    accuracy = float(np.mean(predicted == data.validation.y["label"]))
    assert accuracy == pytest.approx(best.score, abs=1e-6)
    logs = model.evaluate(data.validation.x, data.validation.y["label"], verbose=0,
                          return_dict=True)  # compiled with the trial's loss and metrics
    assert logs["accuracy"] == pytest.approx(best.score, abs=1e-6)


@pytest.mark.slow
def test_no_models_kept_when_asked_for_none(tmp_path, tiny_space, fashion_dir):
    run(tmp_path, tiny_space, fashion_dir, keep_models=0, max_evals=2)
    assert not (tmp_path / "results" / kept_models.FOLDER).exists()


def test_only_the_best_trials_models_stay_and_a_staged_one_moves_in(tmp_path):
    """The bookkeeping alone, on files standing in for saved networks: the best ``keep`` stay,
    a newcomer among them moves in from its staging file, one that drops out is removed."""
    records = [make_record(n, loss) for n, loss in enumerate([0.5, 0.3, 0.4])]
    for r in records:
        kept_models.path(tmp_path, r.number).parent.mkdir(exist_ok=True)
        kept_models.path(tmp_path, r.number).write_text(f"model {r.number}")
    better = make_record(3, 0.1)
    staged = kept_models.staging(tmp_path, 3)
    staged.write_text("model 3")
    kept_models.keep_best(tmp_path, [*records, better], 3, better, staged)
    assert kept_models.kept_numbers(tmp_path) == [1, 2, 3]  # trial 0 (0.5) dropped out
    assert kept_models.path(tmp_path, 3).read_text() == "model 3" and not staged.exists()
    worse = make_record(4, 0.9)
    kept_models.staging(tmp_path, 4).write_text("model 4")
    kept_models.keep_best(tmp_path, [*records, better, worse], 3, worse,
                          kept_models.staging(tmp_path, 4))
    assert kept_models.kept_numbers(tmp_path) == [1, 2, 3]
    assert not kept_models.staging(tmp_path, 4).exists()  # not kept, not left behind
    kept_models.staging(tmp_path, 5).write_text("a kill left this")
    kept_models.clear_staging(tmp_path)
    assert sorted(p.name for p in (tmp_path / kept_models.FOLDER).iterdir()) == [
        "trial-0001.keras", "trial-0002.keras", "trial-0003.keras"]
