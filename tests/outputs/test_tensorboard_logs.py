import json
import re
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import ROOT, write_space
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, metadata
from helpers import make_record

from hyperopt_nas.outputs import tensorboard_logs
from hyperopt_nas.space_files import load_space_file
from hyperopt_nas.trial_store import TrialStatus, TrialStore

HEADS = ["label"]


def trial(space_file, number, vals, loss=0.2, status=TrialStatus.OK, epochs=3):
    history = {"accuracy": [0.3 + 0.1 * e for e in range(epochs)],
               "val_accuracy": [0.25 + 0.1 * e for e in range(epochs)]}
    return make_record(number, loss, status, hyperopt_vals=vals,
                       choice_options=space_file.choice_options(vals),
                       params=space_file.decode(vals), history=history)


@pytest.fixture
def space(tmp_path):
    return load_space_file(write_space(tmp_path / "space.py"))


@pytest.fixture
def records(space):
    vals = {"units": 16.0, "dropout": 1, "activation": 0, "learning_rate": 0.01}
    return [trial(space, 0, vals, loss=0.3),
            trial(space, 1, {**vals, "activation": 1, "units": 24.0}, loss=0.1),
            trial(space, 2, vals, loss=None, status=TrialStatus.FAILED, epochs=0)]


def accumulate(folder):
    acc = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    return acc


def plugin_data(acc, tag):
    return acc.SummaryMetadata(tag).plugin_data.content


def test_the_logs_are_written_without_loading_tensorflow(tmp_path, space, records):
    """TensorBoard's writer imports TensorFlow where it is installed unless told not to: 5 s in
    the drawing process of every search. The logs are written with its stub instead."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from hyperopt_nas.outputs import tensorboard_logs\n"
        "from hyperopt_nas.space_files import load_space_file\n"
        "from hyperopt_nas.trial_store import TrialStore\n"
        f"folder = Path({str(tmp_path / 'results')!r})\n"
        "records = TrialStore(folder).load_records()\n"
        f"space = load_space_file(Path({str(space.path)!r}))\n"
        "print(tensorboard_logs.sync(folder, records, space, ['label']))\n"
        "print('tensorflow' in sys.modules)\n")
    store = TrialStore(tmp_path / "results")
    for record in records:
        store.save_record(record, new=True)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "False"]
    assert len(list((tmp_path / "results" / "tensorboard").glob("trial-*"))) == 3


def test_runs_read_back_with_tensorboards_own_reader(tmp_path, space, records):
    assert tensorboard_logs.sync(tmp_path, records, space, HEADS) == 3
    logs = tmp_path / "tensorboard"

    experiment = metadata.parse_experiment_plugin_data(
        plugin_data(accumulate(logs), metadata.EXPERIMENT_TAG))
    domains = {h.name: h for h in experiment.hparam_infos}
    assert set(domains) == {"hidden_layers.0.units", "hidden_layers.0.dropout", "activation",
                            "learning_rate"}  # as rank names them
    assert [v.string_value for v in domains["activation"].domain_discrete.values] == \
        ["relu", "tanh"]
    dropout = domains["hidden_layers.0.dropout"]
    assert [v.number_value for v in dropout.domain_discrete.values] == [0.0, 0.1]
    assert domains["learning_rate"].domain_interval.min_value == pytest.approx(0.00247875, 1e-4)
    assert domains["hidden_layers.0.units"].domain_interval.max_value == 32
    tags = {m.name.tag for m in experiment.metric_infos}
    assert {"objective/val_accuracy", "label/test_accuracy"} <= tags

    best = accumulate(logs / "trial-0001")
    start = metadata.parse_session_start_info_plugin_data(
        plugin_data(best, metadata.SESSION_START_INFO_TAG))
    assert start.hparams["activation"].string_value == "tanh"
    assert start.hparams["hidden_layers.0.units"].number_value == 24
    assert start.hparams["hidden_layers.0.dropout"].number_value == 0.1
    assert [e.step for e in best.Scalars("epoch/val_accuracy")] == [1, 2, 3]
    assert best.Scalars("epoch/val_accuracy")[-1].value == pytest.approx(0.45)
    assert best.Scalars("objective/val_accuracy")[0].value == pytest.approx(0.9)
    end = metadata.parse_session_end_info_plugin_data(
        plugin_data(best, metadata.SESSION_END_INFO_TAG))
    assert end.status == api_pb2.STATUS_SUCCESS

    failed = accumulate(logs / "trial-0002")
    assert "objective/val_accuracy" not in failed.Tags()["scalars"]
    end = metadata.parse_session_end_info_plugin_data(
        plugin_data(failed, metadata.SESSION_END_INFO_TAG))
    assert end.status == api_pb2.STATUS_FAILURE


def test_a_conditional_hyperparameter_is_logged_only_where_active(tmp_path):
    space = load_space_file(write_space(tmp_path / "cond.py", text="""
        from hyperopt import hp
        DATASET = "fashion_mnist"
        MODEL = "mlp"
        DEFAULTS = {"epochs": 1, "validation_fraction": 0.2, "patience": 1,
                    "max_train_samples": None}
        SPACE = {"hidden_layers": [{"units": 8}, hp.choice("extra", [
                     None, {"units": hp.quniform("extra_units", 8, 32, 8)}])],
                 "learning_rate": 0.01}
        """))
    records = [trial(space, 0, {"extra": 0}), trial(space, 1, {"extra": 1, "extra_units": 16.0})]
    tensorboard_logs.sync(tmp_path, records, space, HEADS)
    values = []
    for number in (0, 1):
        acc = accumulate(tmp_path / "tensorboard" / f"trial-000{number}")
        values.append(metadata.parse_session_start_info_plugin_data(
            plugin_data(acc, metadata.SESSION_START_INFO_TAG)).hparams)
    # Named by place in the point, as rank names them, not by hyperopt label ("extra_units").
    assert "hidden_layers.1.units" not in values[0]
    assert values[0]["hidden_layers.1"].string_value == "None"
    assert values[1]["hidden_layers.1.units"].number_value == 16


def test_sync_adds_only_new_runs_and_redeclares_an_edited_space(tmp_path, space, records):
    tensorboard_logs.sync(tmp_path, records[:2], space, HEADS)
    logs = tmp_path / "tensorboard"
    before = sorted(p.name for p in logs.rglob("events.*"))
    assert tensorboard_logs.sync(tmp_path, records[:2], space, HEADS) == 0
    assert tensorboard_logs.sync(tmp_path, records, space, HEADS) == 1
    assert set(before) < {p.name for p in logs.rglob("events.*")}

    edited = load_space_file(write_space(tmp_path / "space.py", activations='["relu", "elu"]'))
    tensorboard_logs.sync(tmp_path, records, edited, HEADS)
    declarations = list(logs.glob("events.out.tfevents.*"))
    assert len(declarations) == 1
    experiment = metadata.parse_experiment_plugin_data(
        plugin_data(accumulate(logs), metadata.EXPERIMENT_TAG))
    activation = next(h for h in experiment.hparam_infos if h.name == "activation")
    assert {v.string_value for v in activation.domain_discrete.values} == {"relu", "elu"}
    assert not list(tmp_path.glob(".*.tmp"))  # no staging folder left behind


def _post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_the_hparams_dashboard_serves_the_search(tmp_path, space, records):
    """A real TensorBoard on loopback answers the HParams dashboard's own queries."""
    tensorboard_logs.sync(tmp_path, records, space, HEADS)
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path / "tensorboard"),
         "--host", "127.0.0.1", "--port", "0", "--reload_interval", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        deadline = time.monotonic() + 90
        while url is None and time.monotonic() < deadline:
            line = server.stdout.readline()
            assert line or server.poll() is None, "TensorBoard exited before serving"
            found = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            url = found.group(1) if found else None
        assert url, "TensorBoard did not start within 90 s"
        plugin = url + "data/plugin/hparams/"
        groups = {}
        while time.monotonic() < deadline and len(groups) < 3:  # until it has read every run
            answer = _post(plugin + "session_groups", {
                "experimentName": "", "startIndex": 0, "sliceSize": 10,
                "allowedStatuses": ["STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_UNKNOWN"]})
            groups = {g["name"]: g for g in answer.get("sessionGroups", [])}
            time.sleep(0.5)
        experiment = _post(plugin + "experiment", {"experimentName": ""})
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert {h["name"] for h in experiment["hparamInfos"]} == {
        "hidden_layers.0.units", "hidden_layers.0.dropout", "activation", "learning_rate"}
    assert set(groups) == {"trial-0000", "trial-0001", "trial-0002"}
    assert groups["trial-0001"]["hparams"]["activation"] == "tanh"
    objective = {m["name"]["tag"]: m["value"] for m in groups["trial-0001"]["metricValues"]}
    assert objective["objective/val_accuracy"] == pytest.approx(0.9)
    assert groups["trial-0002"]["sessions"][0]["status"] == "STATUS_FAILURE"


def test_a_run_whose_record_changed_is_written_anew(tmp_path, space, records):
    """Finding 8 of the hostile test: after a record number was reused, TensorBoard kept the old
    trial's hyperparameters."""
    tensorboard_logs.sync(tmp_path, records[:2], space, HEADS)
    run = tmp_path / "tensorboard" / tensorboard_logs.run_name(1)
    changed = trial(space, 1, {"units": 8.0, "dropout": 0, "activation": 0,
                               "learning_rate": 0.002}, loss=0.4)
    assert tensorboard_logs.sync(tmp_path, [records[0], changed], space, HEADS) == 1
    hparams = metadata.parse_session_start_info_plugin_data(
        plugin_data(accumulate(run), metadata.SESSION_START_INFO_TAG)).hparams
    assert hparams["hidden_layers.0.units"].number_value == 8
    assert hparams["activation"].string_value == "relu"
    assert len(list(run.glob("events.*"))) == 1  # the old run's events are gone
    assert tensorboard_logs.sync(tmp_path, [records[0], changed], space, HEADS) == 0
    assert not list(tmp_path.glob(".*.tmp"))
