from test_trial_store import make_record

from reports import flatten_params, rank_table
from trial_store import TrialStatus


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
    assert lines[-1].endswith("1 failed.")
