"""Issue 36: the objective chosen (``--objective val_loss``, ``search(objective=...)``), used for
early stopping, selection, ranking, pruning and the report."""

import pytest
from conftest import run_cli, write_space
from helpers import make_settings, search
from helpers import make_record

from hyperopt_nas.engine import FatalError
from hyperopt_nas.objectives import Objective
from hyperopt_nas.outputs import reports
from hyperopt_nas.schedulers.pruning import reference_curves
from hyperopt_nas.trial_store import TrialStatus, TrialStore, ranked

LOSS = {"objective": "val_loss", "direction": "min", "epochs": 3}


@pytest.mark.parametrize("name, direction", [
    ("val_accuracy", "max"), ("val_loss", "min"), ("val_auc", "max"),
    ("val_mean_absolute_error", "min"), ("val_top2", "max"), ("val_fine_accuracy", "max")])
def test_the_direction_is_inferred_from_the_name(name, direction):
    assert Objective.parse(name).direction == direction


@pytest.mark.parametrize("name, direction, message", [
    ("loss", None, "must be a metric of the validation data"),
    ("accuracy", None, "never on training or test data"),
    ("val_widgets", None, "cannot tell whether a higher or lower val_widgets is better"),
    ("val_loss", "up", "direction must be 'max' or 'min'"),
])
def test_a_bad_objective_says_what_to_write(name, direction, message):
    with pytest.raises(ValueError, match=message):
        Objective.parse(name, direction)
    assert Objective.parse("val_widgets", "max").direction == "max"


def test_a_record_scores_and_ranks_by_its_objective():
    """Lower val_loss is better: the record's loss is the val_loss, its score the same number,
    and ranking, the front and the default (accuracy) records keep their meaning."""
    low, high = (make_record(n, loss, budget=LOSS, extra={"model_params": p})
                 for n, loss, p in ((0, 0.30, 5000), (1, 0.55, 900)))
    assert (low.score, high.score) == (0.30, 0.55)
    assert [r.number for r in ranked([high, low])] == [0, 1]
    assert [r.number for r in reports.front([low, high])] == [1, 0]  # smaller, or better
    auc = make_record(2, -0.91, budget={"objective": "val_auc", "direction": "max"})
    assert auc.score == pytest.approx(0.91) and auc.objective.label == "val_auc"
    assert make_record(3, 0.2).score == pytest.approx(0.8)  # no objective: accuracy
    assert reports.score_name([low, high]) == "val_loss"
    assert reports.score_name([make_record(3, 0.2)]) == "validation accuracy"


def test_pruning_compares_losses_negated_so_that_higher_is_better():
    record = make_record(0, 0.3, budget=LOSS, history={"val_loss": [0.5, 0.3, 0.4]})
    assert reference_curves([record], 3) == [[-0.5, -0.3, -0.3]]
    old = make_record(1, 0.25, history={"val_accuracy": [0.5, 0.75]})
    assert reference_curves([old], 2) == [[0.5, 0.75]]


@pytest.mark.slow
def test_a_search_on_val_loss_stops_selects_and_reports_on_it(tmp_path, tiny_space,
                                                              fashion_dir):
    settings = make_settings(tmp_path, tiny_space, fashion_dir, max_evals=3, algo="rand",
                             objective="val_loss", plot_search=True)
    summary, out = search(settings)
    records = TrialStore(settings.results_dir).load_records()
    assert len(records) == 3 and all(r.status == TrialStatus.OK for r in records)
    for r in records:
        assert r.objective == Objective("val_loss", "min")
        assert r.loss == pytest.approx(min(r.history["val_loss"]))  # its best epoch's
        assert r.extra["best_epoch"] == r.history["val_loss"].index(r.loss) + 1
    assert summary.best.loss == min(r.loss for r in records)
    assert "selecting on val_loss (lower is better)" in out
    assert f"val_loss {records[0].score:.4f}" in out
    rank = run_cli(["rank", "--results-dir", str(settings.results_dir)], cwd=tmp_path)
    assert rank.returncode == 0, rank.stderr
    assert rank.stdout.splitlines()[0].split()[2] == "val_loss"
    assert "ranked trials (val_loss, lower is better;" in rank.stdout
    assert "By val_loss (lower is better)" in (settings.results_dir / "report.html").read_text()
    # The same folder under another objective: its scores are in other units, refused.
    settings.objective, settings.max_evals = None, 4
    with pytest.raises(FatalError, match="--objective 'val_loss' \\(this run: 'val_accuracy'\\)"):
        search(settings)


def test_an_objective_the_model_does_not_log_fails_the_trial_saying_what_it_logs(
        tmp_path, tiny_space, fashion_dir):
    settings = make_settings(tmp_path, tiny_space, fashion_dir, max_evals=1,
                             objective="val_auc", max_consecutive_failures=1)
    with pytest.raises(FatalError, match="the model logs no val_auc on the validation data "
                       "\\(it logs val_accuracy, val_loss\\)"):
        search(settings)


@pytest.mark.parametrize("argv, message", [
    (["--objective", "loss"], "must be a metric of the validation data"),
    (["--objective", "val_widgets"], "give its direction"),
])
def test_a_bad_objective_on_the_command_line_is_one_line_and_exit_2(tmp_path, argv, message):
    space = write_space(tmp_path / "s.py")
    done = run_cli(["--space", str(space), "--results-dir", str(tmp_path / "r"), *argv],
                   cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "r" / "results.pkl").exists()


def test_tensorboard_names_the_score_by_its_objective(tmp_path):
    from hyperopt_nas.outputs import tensorboard_logs
    assert tensorboard_logs.metric_tags(["label"])[0] == "objective/val_accuracy"
    assert tensorboard_logs.metric_tags(["label"], "val_loss")[0] == "objective/val_loss"
    assert tensorboard_logs.objective_tag(make_record(0, 0.3, budget=LOSS).objective.name) == \
        "objective/val_loss"


def test_no_accuracy_tie_is_claimed_for_another_objective():
    """The tie at the top is a binomial standard error of an accuracy: it says nothing of a
    loss."""
    budget = {**LOSS, "validation_samples": 100}
    records = [make_record(n, loss, budget=budget) for n, loss in ((0, 0.30), (1, 0.301))]
    assert reports.tied_with_best(records) is None
    accuracy = [make_record(n, loss, budget={"validation_samples": 100})
                for n, loss in ((0, 0.30), (1, 0.301))]
    assert reports.tied_with_best(accuracy).numbers == [0, 1]
