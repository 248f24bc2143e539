import pytest
from helpers import make_record

from hyperopt_nas.outputs.reports import (flatten_params, rank_table, standard_error,
                                          tied_with_best, validation_images)
from hyperopt_nas.trial_store import TrialStatus


def test_flatten_nested_options_and_layer_lists():
    params = {"residual": {"units": 2}, "second_fc": None,
              "layers": [{"units": 8}, [{"units": 4}]]}
    assert flatten_params(params) == {"residual.units": 2, "second_fc": None,
                                      "layers.0.units": 8, "layers.1.0.units": 4}


def test_rank_table_shows_best_first_and_only_what_varies():
    records = [make_record(0, 0.4, params={"lr": 0.1, "opt": "sgd", "layers": [{"units": 8}]}),
               make_record(1, 0.2, params={"lr": 0.01, "opt": "sgd", "layers": [{"units": 16}]}),
               make_record(2, None, TrialStatus.FAILED)]
    lines = rank_table(records).splitlines()
    assert lines[2].split()[:3] == ["1", "1", "0.8000"] and lines[3].split()[1] == "0"
    assert "layers.0.units=16" in lines[2] and "opt=" not in lines[2]
    assert lines[-2].endswith("1 failed.")
    # What it leaves out is said, with the shared value.
    assert lines[-1] == "Not shown, the same in every row: opt=sgd (rank --csv has every column)."


def _scored(number, accuracy, images=667, **changes):
    budget = {"epochs": 3, "train_samples": 6000, "validation_samples": images}
    return make_record(number, round(1 - accuracy, 6), budget=budget, **changes)


def test_trials_within_one_standard_error_of_the_best_are_marked():
    # 667 validation images at 88 %: one standard error is sqrt(0.88 * 0.12 / 667) = 1.26 points.
    records = [_scored(0, 0.860), _scored(1, 0.880), _scored(2, 0.868), _scored(3, 0.867)]
    lines = rank_table(records).splitlines()
    marks = {line.split()[1]: line.split()[0] for line in lines[2:6]}
    assert marks == {"1": "1~", "2": "2~", "3": "3", "0": "4"}
    assert lines[-1] == ("~ 2 trials are within one standard error of the best's validation "
                         "accuracy (1.3 points on 667 images), too close for the split to order "
                         "them; to tell them apart, validate on more images (--max-train-samples, "
                         "validation_fraction in the space file's DEFAULTS, or search()'s "
                         "validation_data or validation_split) or use --cv K.")


def test_no_mark_when_the_split_separates_the_best():
    table = rank_table([_scored(0, 0.88, images=60000), _scored(1, 0.87, images=60000)])
    assert "~" not in table and "standard error" not in table
    assert tied_with_best([_scored(0, 0.88, images=60000), _scored(1, 0.87, images=60000)]) is None
    assert tied_with_best([make_record(0, 0.1), make_record(1, 0.1)]) is None  # size unknown


def test_under_cross_validation_every_image_counts():
    folds = [{"fold": i, "execution": 0, "objective": 0.88} for i in range(3)]
    record = _scored(0, 0.88, extra={"runs": folds})
    assert validation_images(record) == 6667
    assert validation_images(_scored(0, 0.88, extra={"runs": [
        {"fold": None, "execution": i, "objective": 0.88} for i in range(3)]})) == 667
    assert standard_error(0.88, 6667) < standard_error(0.88, 667) / 3
    assert standard_error(1.0, 100) == 0.01  # never taken as exact


def test_a_backend_column_only_when_the_trials_trained_on_several_backends():
    from hyperopt_nas.outputs import html_report, reports
    same = [make_record(0, 0.2), make_record(1, 0.3)]
    mixed = same + [make_record(2, 0.1, accelerator={"gpus": 0, "keras_backend": "jax"})]
    assert "backend" not in reports.rank_table(same).splitlines()[0]
    table = reports.rank_table(mixed).splitlines()
    assert "backend" in table[0]
    assert table[2].split()[7] == "jax" and table[3].split()[7] == "tensorflow"  # old: TF
    assert "<th>backend</th>" not in html_report._top_table(same)
    assert "<th>backend</th>" in html_report._top_table(mixed)
    assert "<td>jax</td>" in html_report._top_table(mixed)
    assert [r["keras_backend"] for r in reports.table_rows(mixed)] == ["jax", "tensorflow",
                                                                       "tensorflow"]


def _sized(number, accuracy, params, latency=None, status=TrialStatus.OK):
    extra = {"model_params": params, **({"latency_ms": latency} if latency else {})}
    return make_record(number, None if status != TrialStatus.OK else round(1 - accuracy, 6),
                       status, extra=extra)


def test_the_accuracy_size_front_is_what_no_other_trial_beats_on_both():
    from hyperopt_nas.outputs import reports
    records = [_sized(0, 0.80, 10_000), _sized(1, 0.85, 50_000), _sized(2, 0.84, 60_000),
               _sized(3, 0.90, 200_000), _sized(4, 0.79, 5_000), _sized(5, 0.85, 50_000),
               _sized(6, 0.70, 30_000), _sized(7, 0.95, 1_000, status=TrialStatus.FAILED),
               _sized(8, 0.99, 900, status=TrialStatus.OVER_BUDGET),
               make_record(9, 0.01)]  # the best score, but no size: not on the front
    # 2 is beaten by 1 (smaller and better), 6 by 0, 5 ties 1 on both (the earlier one stays).
    assert [r.number for r in reports.front(records)] == [4, 0, 1, 3]
    assert [r.number for r in reports.front(records, "latency")] == []
    timed = [_sized(0, 0.8, 10, latency=2.0), _sized(1, 0.9, 5, latency=3.0),
             _sized(2, 0.7, 1, latency=2.5)]
    assert [r.number for r in reports.front(timed, "latency")] == [0, 1]
    assert [row["number"] for row in reports.table_rows(records, "params")] == [4, 0, 1, 3]
    lines = reports.rank_table(records, front_of="params").splitlines()
    assert [line.split()[1] for line in lines[2:6]] == ["4", "0", "1", "3"]
    assert lines[2].split()[0] == "7"  # its rank by validation accuracy among all 8 scored
    assert "params" in lines[0] and lines[2].split()[7] == "5k"
    assert "The accuracy-size front: 4 of the 8 scored trials" in lines[-2]
    assert "1 over the size budget (not trained)" in lines[-2]


def _two_heads(tmp_path, objective=None):
    """A CIFAR-100 trial saved and read back (the JSON sorts the heads: coarse before fine)."""
    from hyperopt_nas.trial_store import TrialStore

    budget = {"epochs": 2, **({"objective": objective} if objective else {})}
    loss = 0.9 if objective is None else 4.0
    record = make_record(1, loss, dataset="cifar100", budget=budget, metrics={
        "fine": {"best_val_accuracy": 0.1, "best_val_loss": 4.0, "test_accuracy": 0.0075},
        "coarse": {"best_val_accuracy": 0.3, "best_val_loss": 2.0, "test_accuracy": 0.0575}})
    store = TrialStore(tmp_path)
    store.save_record(record, new=True)
    return store.load_records()


def test_two_heads_show_the_primary_heads_test_accuracy_everywhere(tmp_path):
    """Issue 45: rank, the CSV, results_table and the report showed the coarse head's test
    accuracy (0.0575) beside the fine head's validation accuracy."""
    import csv
    import io

    import hyperopt_nas
    from hyperopt_nas.outputs import html_report
    from hyperopt_nas.outputs.reports import rank_csv
    from test_html_report import Page

    (record,) = _two_heads(tmp_path)
    assert list(record.metrics) == ["coarse", "fine"]  # as a record reads back
    assert record.primary_head == "fine" and record.test_accuracy == 0.0075
    assert rank_table([record]).splitlines()[2].split()[:4] == ["1", "1", "0.1000", "0.0075"]
    (row,) = csv.DictReader(io.StringIO(rank_csv([record])))
    assert float(row["test_accuracy"]) == 0.0075
    assert float(row["val_accuracy"]) == pytest.approx(0.1)
    table = hyperopt_nas.results_table(tmp_path)
    assert list(table["test_accuracy"]) == [0.0075]
    page = Page(html_report.write_report([record], tmp_path).read_text())
    assert [row[3] for row in page.rows if row[:2] == ["1", "1"]] == ["0.0075"]
    # Selected on another metric: the CSV's val_accuracy is the fine head's too.
    (record,) = _two_heads(tmp_path / "loss", objective="val_loss")
    (row,) = csv.DictReader(io.StringIO(rank_csv([record])))
    assert float(row["val_accuracy"]) == pytest.approx(0.1)
    assert float(row["test_accuracy"]) == 0.0075
    # A trial that recorded its primary head is read by it, whatever the dataset.
    own = make_record(2, 0.5, dataset="own", budget={"epochs": 2, "primary_head": "b"},
                      metrics={"a": {"test_accuracy": 0.2}, "b": {"test_accuracy": 0.6}})
    assert own.test_accuracy == 0.6
