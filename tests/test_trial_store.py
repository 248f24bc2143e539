import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from hyperopt_nas import trial_store
from hyperopt_nas.trial_store import (OVER_BUDGET_LOSS, SearchLocked, SizeBudget, StoreError,
                                      TrialRecord, TrialStatus, TrialStore, atomic_write,
                                      proposer_loss, ranked)
from helpers import make_record


def test_record_round_trips_through_json():
    record = make_record(error=None)
    again = TrialRecord.from_json(record.to_json())
    assert again == record
    assert json.loads(record.to_json())["status"] == "ok"


@pytest.mark.parametrize("text, message", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"number": 1}', "lacks"),
])
def test_bad_records_are_refused_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        TrialRecord.from_json(text)


def test_unknown_status_and_missing_loss_are_refused():
    data = json.loads(make_record().to_json())
    with pytest.raises(ValueError, match="unknown status 'weird'"):
        TrialRecord.from_json(json.dumps({**data, "status": "weird"}))
    with pytest.raises(ValueError, match="no numeric loss"):
        TrialRecord.from_json(json.dumps({**data, "loss": None}))


def test_nan_never_reaches_disk():
    with pytest.raises(ValueError):
        make_record(history={"loss": [float("nan")]}).to_json()


def test_file_names_sort_best_first_and_failures_last(tmp_path):
    store = TrialStore(tmp_path)
    for number, loss in ((0, 0.5), (1, 0.125), (2, None), (3, 0.3)):
        status = TrialStatus.FAILED if loss is None else TrialStatus.OK
        store.save_record(make_record(number, loss, status))
    names = sorted(p.name for p in tmp_path.glob("*.json"))
    assert names == ["0.125000_trial-0001.json", "0.300000_trial-0003.json",
                     "0.500000_trial-0000.json", "failed_trial-0002.json"]


def test_rescored_trial_keeps_one_file(tmp_path):
    store = TrialStore(tmp_path)
    store.save_record(make_record(4, 0.5, TrialStatus.PRUNED))
    store.save_record(make_record(4, 0.2))
    assert [p.name for p in tmp_path.glob("*.json")] == ["0.200000_trial-0004.json"]


def test_unreadable_record_is_skipped_and_kept(tmp_path, caplog):
    store = TrialStore(tmp_path)
    store.save_record(make_record(0))
    (tmp_path / "0.100000_trial-0001.json").write_text("{ torn")
    assert [r.number for r in store.load_records()] == [0]
    assert (tmp_path / "0.100000_trial-0001.json").exists()
    assert "skipping 0.100000_trial-0001.json" in caplog.text


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "results.pkl"
    atomic_write(path, b"old")

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, b"new" * 1000)
    assert path.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_unreadable_pickle_is_reported_and_set_aside(tmp_path):
    store = TrialStore(tmp_path)
    store.pickle_path.write_bytes(b"\x80\x04 torn")
    with pytest.raises(trial_store.StoreError, match="unreadable"):
        store.load_trials()
    moved = store.set_aside_pickle()
    assert moved.read_bytes() == b"\x80\x04 torn" and not store.pickle_path.exists()


HOLD_LOCK = """
import sys, time
sys.path.insert(0, {root!r})
from hyperopt_nas.trial_store import TrialStore
with TrialStore({path!r}).lock():
    print("locked", flush=True)
    time.sleep(60)
"""


def _hold_lock(path):
    code = HOLD_LOCK.format(root=str(ROOT), path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", code],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_process_is_refused_and_a_killed_one_frees_the_lock(tmp_path):
    holder = _hold_lock(tmp_path)
    try:
        with pytest.raises(SearchLocked, match=f"pid {holder.pid}.*--results-dir"):
            with TrialStore(tmp_path).lock():
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + 10
    while True:  # the kernel drops the lock with the process
        try:
            with TrialStore(tmp_path).lock():
                break
        except SearchLocked:
            assert time.monotonic() < deadline, "lock still held after its owner was killed"
            time.sleep(0.1)


def test_removing_the_lock_file_does_not_let_a_second_search_in(tmp_path):
    """Finding 7 of the hostile test: the lock was a file anyone could remove."""
    holder = _hold_lock(tmp_path)
    try:
        (tmp_path / ".search.lock").unlink()
        with pytest.raises(SearchLocked, match="already using"):
            with TrialStore(tmp_path).lock():
                pass
        assert TrialStore(tmp_path).in_use()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


@pytest.mark.parametrize("text", ['{"hand": "edited",}', None])
def test_an_unreadable_record_keeps_its_number_and_its_file(tmp_path, text):
    """Finding 2: an unreadable record (a trailing comma, a newer schema) was deleted when its
    number was given to a new trial."""
    store = TrialStore(tmp_path)
    store.save_record(make_record(0))
    newer = json.loads(make_record(1, 0.1).to_json())
    newer["schema_version"] = 2
    unreadable = tmp_path / "0.100000_trial-0001.json"
    unreadable.write_text(text if text is not None else json.dumps(newer))
    before = unreadable.read_bytes()
    assert [r.number for r in store.load_records()] == [0]
    assert store.reserved_numbers() == {1}
    store.save_record(make_record(1, 0.3))  # were the number given again anyway:
    assert unreadable.read_bytes() == before  # the file is not touched


@pytest.mark.parametrize("field", ["metrics", "history", "params", "budget", "extra"])
def test_a_record_with_a_null_field_is_refused_on_read(tmp_path, field, caplog):
    """Finding 6: "metrics": null broke rank, report and plot."""
    store = TrialStore(tmp_path)
    store.save_record(make_record(0))
    data = json.loads(make_record(1).to_json())
    data[field] = None
    (tmp_path / "0.250000_trial-0001.json").write_text(json.dumps(data))
    assert [r.number for r in store.load_records()] == [0]
    assert f"{field} must be a JSON object" in caplog.text


def test_a_results_folder_that_is_a_file_or_not_writable_is_one_clear_error(tmp_path,
                                                                            monkeypatch):
    a_file = tmp_path / "results"
    a_file.write_text("")
    with pytest.raises(StoreError, match="is a file, not a folder"):
        TrialStore(a_file).create()

    def denied(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(trial_store, "atomic_write", denied)  # as in a folder of another user
    with pytest.raises(StoreError, match=r"cannot write in the results folder .*\(Permission "
                                         r"denied\): choose a folder"):
        TrialStore(tmp_path / "new").create()


def test_staging_files_a_kill_left_are_removed_when_a_search_takes_the_folder(tmp_path):
    store = trial_store.TrialStore(tmp_path)
    store.create()
    store.save_record(make_record(0, 0.3))
    leftovers = [".0.300000_trial-0001.json.x8s1.tmp", ".results.pkl.ab12.tmp",
                 ".report.html.k2.tmp"]
    for name in leftovers:
        (tmp_path / name).write_text("")  # a SIGKILL between mkstemp and the rename
    (tmp_path / ".trial-0002.k3j4.tmp").mkdir()  # TensorBoard's staging folder
    mine = [".my-notes.txt", "draft.tmp", "trial-notes.tmp"]
    for name in mine:
        (tmp_path / name).write_text("the user's")
    with store.lock():
        pass
    names = {p.name for p in tmp_path.iterdir()}
    assert not names & set(leftovers + [".trial-0002.k3j4.tmp"])
    assert set(mine) <= names and len(store.load_records()) == 1


def test_a_full_disk_asks_for_space_and_other_errors_for_another_folder(tmp_path):
    full = trial_store.cannot_write(tmp_path, OSError(28, "No space left on device"))
    assert "Free some space and run the command again" in full and "--results-dir" not in full
    denied = trial_store.cannot_write(tmp_path, OSError(13, "Permission denied"))
    assert "choose a folder you can write to with --results-dir" in denied


def test_an_over_budget_record_has_no_score_its_own_file_name_and_round_trips():
    record = make_record(3, loss=None, status=TrialStatus.OVER_BUDGET, metrics={}, history={},
                         epochs_run=0, error="over budget: 80,000 parameters > --max-params "
                         "50,000", extra={"model_params": 80_000})
    again = TrialRecord.from_json(record.to_json())
    assert again == record and again.model_params == 80_000
    assert record.file_name() == "over_budget_trial-0003.json"
    assert record.score is None and ranked([record, make_record(4)])[0].number == 4
    with pytest.raises(ValueError, match="no numeric loss"):  # a trained status needs its loss
        TrialRecord.from_json(make_record(5, loss=None).to_json())


def test_what_the_proposer_is_told_of_a_record_under_a_size_budget():
    budget = SizeBudget(max_params=50_000)
    small = make_record(0, loss=0.2, extra={"model_params": 40_000})
    large = make_record(1, loss=0.1, extra={"model_params": 60_000})
    unsized = make_record(2, loss=0.3)  # before sizes were recorded
    refused = make_record(3, loss=None, status=TrialStatus.OVER_BUDGET,
                          extra={"model_params": 70_000})
    failed = make_record(4, loss=None, status=TrialStatus.FAILED)
    assert [proposer_loss(r, budget) for r in (small, large, unsized, refused, failed)] == \
        [0.2, OVER_BUDGET_LOSS, 0.3, OVER_BUDGET_LOSS, None]
    # Without the budget (or under a looser one), a refused network is unknown, not bad; a
    # trained one is its loss.
    assert [proposer_loss(r) for r in (large, refused)] == [0.1, None]
    assert proposer_loss(refused, SizeBudget(max_params=80_000)) is None
    slow = make_record(5, loss=0.2, extra={"model_params": 10, "latency_ms": 3.0})
    assert proposer_loss(slow, SizeBudget(max_latency_ms=2.0)) == OVER_BUDGET_LOSS
    assert SizeBudget(max_latency_ms=2.0).over(10, None) is None  # latency never measured


def test_under_a_size_weight_the_proposer_is_told_the_loss_plus_the_weighted_log_size():
    """The soft budget (--size-weight W): loss + W ln(parameters), so that of two networks with
    the same loss the smaller one is told the better result, and a network twice as large must
    be W ln 2 more accurate to be told as good."""
    soft = SizeBudget(size_weight=0.01)
    small = make_record(0, loss=0.12, extra={"model_params": 10_000})
    large = make_record(1, loss=0.12 - 0.01 * math.log(2) + 1e-9, extra={"model_params": 20_000})
    unsized = make_record(2, loss=0.3)
    assert proposer_loss(small, soft) == pytest.approx(0.12 + 0.01 * math.log(10_000))
    assert proposer_loss(large, soft) > proposer_loss(small, soft)
    assert proposer_loss(unsized, soft) == 0.3 and proposer_loss(small, SizeBudget()) == 0.12
    # With a limit too, a network over it is still told worse than any within it.
    both = SizeBudget(max_params=15_000, size_weight=0.01)
    assert proposer_loss(large, both) > max(proposer_loss(small, both), 1.0)
    assert not soft and soft.over(10**9, None) is None  # not a limit: every network trains
    # A results.pkl told under another weight (or before the weight existed) is told again.
    assert soft.same_as(soft.as_dict()) and not soft.same_as(SizeBudget().as_dict())
    assert SizeBudget().same_as({"max_params": None, "max_latency_ms": None})


def test_a_size_budget_says_itself_in_words():
    assert SizeBudget(50_000, 2.5).text() == "50,000 parameters and 2.5 ms a prediction"
    assert SizeBudget(max_latency_ms=1.0).text() == "1 ms a prediction"
    assert not SizeBudget() and SizeBudget(max_params=5)


def test_a_trials_graph_is_kept_and_a_damaged_one_reads_as_none(tmp_path):
    """best_model.png is drawn from graphs/; a file that cannot be read is no graph (the network
    is then built again to be drawn), never an error that stops the pictures."""
    store = TrialStore(tmp_path)
    store.create()
    assert store.load_graph(3) is None
    store.save_graph(3, "digraph G {\n1 [label=Dense];\n}\n")
    assert store.load_graph(3) == "digraph G {\n1 [label=Dense];\n}\n"
    assert store.graph_path(3) == tmp_path / "graphs" / "trial-0003.dot.gz"
    for damaged in (b"not gzip", store.graph_path(3).read_bytes()[:-6]):
        store.graph_path(3).write_bytes(damaged)
        assert store.load_graph(3) is None


# TensorFlow's words for a label beyond the softmax (TF 2.21, Keras 3): the heading, the trace
# of where the failing node was defined, the message, the node.
TF_GRAPH_ERROR = """InvalidArgumentError: Graph execution error:

Detected at node compile_loss/sparse_categorical_crossentropy/SparseSoftmaxCrossEntropyWithLogits\
 defined at (most recent call last):
  File "/usr/lib/python3.11/threading.py", line 1002, in _bootstrap

  File "/venv/keras/src/backend/tensorflow/trainer.py", line 113, in one_step_on_data

Received a label value of 12 which is outside the valid range of [0, 10).  Label values: 3 12 5
\t [[{{node compile_loss/sparse_categorical_crossentropy/SparseSoftmaxCrossEntropyWithLogits}}]]\
 [Op:__inference_multi_step_on_iterator_2034]"""

KERAS_CALL_ERROR = """ValueError: Exception encountered when calling Conv2D.call().

Negative dimension size caused by subtracting 3 from 2 for 'conv2d_3/convolution'

Arguments received by Conv2D.call():
  \u2022 inputs=tf.Tensor(shape=(None, 2, 2, 64), dtype=float32)"""


@pytest.mark.parametrize("error, line", [
    (TF_GRAPH_ERROR, "InvalidArgumentError: Received a label value of 12 which is outside the "
                     "valid range of [0, 10).  Label values: 3 12 5"),
    (KERAS_CALL_ERROR, "ValueError: Negative dimension size caused by subtracting 3 from 2 for "
                       "'conv2d_3/convolution'"),
    ("ValueError: activation must be one of relu, tanh", "ValueError: activation must be one "
                                                         "of relu, tanh"),
    ("RuntimeError: first line\nsecond line", "RuntimeError: first line"),
    ("a worker died (signal 9)", "a worker died (signal 9)"),
])
def test_a_failed_trials_error_reads_in_one_line(error, line):
    record = make_record(status=TrialStatus.FAILED, loss=None, error=error)
    assert record.error_line == line and record.error == error  # the whole message is kept
