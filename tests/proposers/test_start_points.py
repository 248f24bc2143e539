"""A space file's START_POINTS: tried first, never twice, and left out when asked."""

from conftest import write_space
from helpers import Scripted, make_settings, search

from hyperopt_nas.trial_store import TrialStore


START_POINT = {"hidden_layers": [{"units": 16, "dropout": 0.1}], "activation": "tanh",
               "optimizer": "Adam", "learning_rate": 0.01, "batch_size": 32}


def _space_with_start_points(tmp_path, *points):
    path = write_space(tmp_path / "tiny_space.py")
    path.write_text(path.read_text() + f"\nSTART_POINTS = {list(points)!r}\n")
    return path


def test_start_points_are_tried_first_and_never_twice(tmp_path, fashion_dir):
    second = {**START_POINT, "activation": "relu", "learning_rate": 0.004}
    space = _space_with_start_points(tmp_path, START_POINT, second)
    objectives, thresholds = [0.5, 0.6, 0.7, 0.8], []
    search(make_settings(tmp_path, space, fashion_dir, max_evals=1),  # killed after one
           Scripted(objectives, thresholds))
    search(make_settings(tmp_path, space, fashion_dir, max_evals=4),
           Scripted(objectives, thresholds))
    records = TrialStore(tmp_path / "results").load_records()
    assert [r.params for r in records[:2]] == [START_POINT, second]
    assert [r.extra.get("start_point") for r in records] == [0, 1, None, None]
    assert START_POINT not in [r.params for r in records[2:]]  # TPE proposes the rest
    assert records[1].hyperopt_vals == {"units": 16, "dropout": 1, "activation": 0,
                                        "learning_rate": 0.004}


def test_start_points_can_be_left_out(tmp_path, fashion_dir):
    space = _space_with_start_points(tmp_path, START_POINT)
    search(make_settings(tmp_path, space, fashion_dir, max_evals=3, start_points=False),
           Scripted([0.5] * 3, []))
    records = TrialStore(tmp_path / "results").load_records()
    assert all("start_point" not in r.extra for r in records)
    assert START_POINT not in [r.params for r in records]
