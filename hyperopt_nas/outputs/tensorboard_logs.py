"""TensorBoard logs of a search, for the HParams dashboard.

    tensorboard --logdir results/tensorboard


Written from the trial records with TensorBoard's own protocol buffers and event-file writer
(no TensorFlow needed, so the search process stays light):

- ``tensorboard/events.out.tfevents.*.<fingerprint>``: the experiment, declared once per space: the
  domain of every hyperparameter of the space file (choices by their options, numbers by their
  range) and the metrics;
- ``tensorboard/trial-NNNN/``: one run per trial: its hyperparameter values (named as ``rank``
  names them, by their place in the point: ``conv_blocks.1.filters``; a choice by the option it
  took, a conditional one only where active), per-epoch scalars (``epoch/<Keras log name>``),
  final metrics (``objective/val_accuracy``, or ``objective/<name>`` under ``--objective``;
  ``<head>/best_val_accuracy``, ``<head>/test_accuracy``, ...) and its status (a failed trial
  shows as failed).

Each run is written to a temporary folder and renamed into place, so TensorBoard never reads a
half-written run. Logs are derived data: deleting ``tensorboard/`` and running
``python hyperopt_optimize.py plot`` writes them again from the JSON records.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from datetime import datetime
import shutil
import tempfile
from pathlib import Path
import sys
import types
from typing import Any

# TensorBoard's writer reaches files through ``tensorboard.compat.tf``, which imports TensorFlow
# when it is installed (5 s and a few hundred MB in the drawing process, for each search) unless
# ``tensorboard.compat.notf`` exists: its documented switch to the stub, which writes local files
# the same way. Set before the writer is imported.
sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))

from tensorboard.compat.proto import summary_pb2  # noqa: E402
from tensorboard.compat.proto.event_pb2 import Event  # noqa: E402
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2  # noqa: E402
from tensorboard.plugins.hparams import summary_v2 as hparams_summary  # noqa: E402
from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: E402

from hyperopt_nas.space_files import Hyperparameter, SpaceFile  # noqa: E402
from hyperopt_nas.trial_store import TrialRecord, TrialStatus  # noqa: E402

logger = logging.getLogger(__name__)

LOG_DIR = "tensorboard"
HEAD_METRICS = ("best_val_accuracy", "test_accuracy", "best_val_loss", "test_loss")
RUN_STATUS = {TrialStatus.OK: api_pb2.STATUS_SUCCESS,
              TrialStatus.PRUNED: api_pb2.STATUS_SUCCESS,  # its partial score counts
              TrialStatus.FAILED: api_pb2.STATUS_FAILURE}


# Runs and declarations written by an older version (hyperparameters named by hyperopt label)
# are written again.
FORMAT = "-v2"


def run_name(number: int) -> str:
    return f"trial-{number:04d}"


def _option_label(name: str) -> str:
    """A choice option's readable name as the dashboard shows it: ``'Adam'`` -> ``Adam``."""
    return name.strip("'\"")


def _option_values(names: list[str]) -> list[Any]:
    """A choice's options as the dashboard's values: numbers when every option is a number (so
    they sort and plot as numbers), else their names."""
    labels = [_option_label(n) for n in names]
    try:
        return [float(x) for x in labels]
    except ValueError:
        return labels


def hparam_domain(param: Hyperparameter) -> hparams_summary.HParam:
    """The dashboard's domain of one hyperparameter of the space."""
    d, a = param.distribution, param.args
    if d == "choice":
        options = list(dict.fromkeys(_option_values(param.option_names)))
        return hparams_summary.HParam(param.name, hparams_summary.Discrete(options))
    if d == "uniform":
        return hparams_summary.HParam(param.name, hparams_summary.RealInterval(*map(float, a[:2])))
    if d == "loguniform":
        low, high = math.exp(a[0]), math.exp(a[1])
        return hparams_summary.HParam(param.name, hparams_summary.RealInterval(low, high))
    if d == "quniform" and all(float(x).is_integer() for x in (*param.grid_ends(), a[2])):
        return hparams_summary.HParam(param.name,
                                      hparams_summary.IntInterval(*map(int, param.grid_ends())))
    if d in ("quniform", "qloguniform"):
        low, high = param.grid_ends() if d == "quniform" else (math.exp(a[0]), math.exp(a[1]))
        return hparams_summary.HParam(param.name,
                                      hparams_summary.RealInterval(float(low), float(high)))
    if d == "randint":
        low, high = (0, a[0]) if len(a) == 1 else (a[0], a[1])
        return hparams_summary.HParam(param.name,
                                      hparams_summary.IntInterval(int(low), int(high) - 1))
    return hparams_summary.HParam(param.name)  # unbounded (normal, ...): no domain to declare


def metric_tags(heads: list[str], objective: str = "val_accuracy") -> list[str]:
    return [objective_tag(objective)] + [f"{head}/{name}" for head in heads
                                         for name in HEAD_METRICS]


def objective_tag(objective: str) -> str:
    """The trial's score, under the objective's name (``objective/val_accuracy`` by default)."""
    return f"objective/{objective}"


def trial_hparams(record: TrialRecord, space_file: SpaceFile) -> dict[str, Any]:
    """``{name: value}`` of one trial: numbers as drawn, a choice by the option it took. A
    hyperparameter no longer in the space keeps its hyperopt label."""
    values: dict[str, Any] = {}
    for label, value in sorted(record.hyperopt_vals.items()):
        param = space_file.params.get(label)
        name = param.name if param is not None else label
        if param is not None and param.distribution == "choice":
            signature = record.choice_options.get(label)
            if signature in param.options:  # the option, even if it moved in an edited space
                values[name] = _option_values(param.option_names)[param.options.index(signature)]
            else:
                values[name] = signature or str(value)
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            values[name] = str(value)
        else:
            values[name] = float(value)
    return values


def _event(summary: summary_pb2.Summary, wall_time: float, step: int = 0) -> Event:
    return Event(summary=summary, wall_time=wall_time, step=step)


def _scalar(tag: str, value: float) -> summary_pb2.Summary:
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])


def _session_end(status: int, end_time: float) -> summary_pb2.Summary:
    data = plugin_data_pb2.HParamsPluginData(
        session_end_info=plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=end_time))
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(
        tag=metadata.SESSION_END_INFO_TAG, metadata=metadata.create_summary_metadata(data))])


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _write(folder: Path, events: list[Event], suffix: str = "") -> None:
    writer = EventFileWriter(str(folder), filename_suffix=suffix)
    try:
        for event in events:
            writer.add_event(event)
    finally:
        writer.close()


def write_experiment(log_dir: Path, space_file: SpaceFile, heads: list[str],
                     objective: str = "val_accuracy") -> bool:
    """Declare the hyperparameters' domains and the metrics, once per version of the space.

    Returns whether a declaration was written (the space is new or was edited)."""
    suffix = f".{space_file.fingerprint[:16]}{FORMAT}"
    if any(log_dir.glob(f"events.out.tfevents.*{suffix}")):
        return False
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("events.out.tfevents.*"):  # an edited space: its new declaration only
        old.unlink()
    hparams = [hparam_domain(p) for p in space_file.params.values()]
    metrics = [hparams_summary.Metric(tag) for tag in metric_tags(heads, objective)]
    config = hparams_summary.hparams_config_pb(hparams, metrics, time_created_secs=0.0)
    _write(log_dir, [_event(config, wall_time=0.0)], suffix)
    return True


def trial_events(record: TrialRecord, space_file: SpaceFile) -> list[Event]:
    """The events of one trial's run: its values, per-epoch scalars, final metrics, status."""
    start = _start_time(record)
    end = start + max(record.wall_time_s, 0.0)
    summary = hparams_summary.hparams_pb(trial_hparams(record, space_file),
                                         trial_id=run_name(record.number), start_time_secs=start)
    events = [_event(summary, start)]
    epochs = max((len(v) for v in record.history.values()), default=0)
    for epoch in range(epochs):
        values = [summary_pb2.Summary.Value(tag=f"epoch/{key}", simple_value=series[epoch])
                  for key, series in sorted(record.history.items())
                  if epoch < len(series) and _finite(series[epoch])]
        when = start + (end - start) * (epoch + 1) / epochs
        events.append(_event(summary_pb2.Summary(value=values), when, step=epoch + 1))
    if record.status != TrialStatus.FAILED and record.score is not None:
        last = max(epochs, 1)
        events.append(_event(_scalar(objective_tag(record.objective.name), record.score), end,
                             last))
        for head, values in sorted(record.metrics.items()):
            for name in HEAD_METRICS:
                if isinstance(values, dict) and _finite(values.get(name)):
                    events.append(_event(_scalar(f"{head}/{name}", values[name]), end, last))
    events.append(_event(_session_end(RUN_STATUS[record.status], end), end))
    return events


def _start_time(record: TrialRecord) -> float:
    try:
        return datetime.fromisoformat(record.started_at).timestamp()
    except (TypeError, ValueError):
        return 0.0


DIGEST = "record.sha256"  # in a run's folder: the record it was written from (TensorBoard
# reads only event files)


def record_digest(record: TrialRecord) -> str:
    return hashlib.sha256((FORMAT + record.to_json()).encode()).hexdigest()


def write_trial(log_dir: Path, record: TrialRecord, space_file: SpaceFile) -> bool:
    """Write one trial's run unless it is there already, from the same record; returns whether
    it was written. A run whose record changed (a number given again by an older version, a
    record edited by hand) is written anew."""
    final = log_dir / run_name(record.number)
    digest = record_digest(record)
    if final.exists():
        try:
            if (final / DIGEST).read_text().strip() == digest:
                return False
        except OSError:
            pass  # written by an earlier version, or torn: write it anew
    log_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{run_name(record.number)}.", suffix=".tmp",
                                    dir=log_dir.parent))
    old = None
    try:
        _write(staging, trial_events(record, space_file))
        (staging / DIGEST).write_text(digest + "\n")
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{run_name(record.number)}.", suffix=".tmp",
                                        dir=log_dir.parent))
            os.replace(final, old / "run")
        staging.rename(final)  # TensorBoard sees the whole run or none of it
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return True


def sync(results_dir: Path, records: list[TrialRecord], space_file: SpaceFile,
         heads: list[str]) -> int:
    """Bring ``<results_dir>/tensorboard`` up to date with the records; returns runs written.
    A network refused by the size budget trained nothing: it has no run."""
    log_dir = Path(results_dir) / LOG_DIR
    scored = [r for r in records if r.loss is not None]
    write_experiment(log_dir, space_file, heads,
                     max(scored, key=lambda r: r.number).objective.name if scored
                     else "val_accuracy")
    return sum(write_trial(log_dir, r, space_file) for r in sorted(records, key=lambda r: r.number)
               if r.status != TrialStatus.OVER_BUDGET)
