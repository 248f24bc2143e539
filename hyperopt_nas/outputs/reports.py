"""What a user reads or looks at: the ranking table and the model graphs."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperopt_nas import data_loaders
from hyperopt_nas.runtime import Accelerator
from hyperopt_nas.trial_store import (TrialRecord, TrialStatus, TrialStore,  # noqa: F401
                                      ranked)  # (re-exported)
from hyperopt_nas.workload import Workload

logger = logging.getLogger(__name__)

BEST_MODEL_PNG = "best_model.png"
TITLE_FONT_SIZE = 20
DEMO_MODEL_PNG = "demo_model.png"
MIN_PARAMS_WIDTH = 20  # a terminal narrower than the table still shows this much


class GraphvizMissing(RuntimeError):
    pass


def validation_images(record: TrialRecord) -> int | None:
    """How many images a trial's validation accuracy is measured on: the validation split, or
    under ``--cv`` every image of training + validation (each is held out once)."""
    n = record.budget.get("validation_samples")
    if n and any(run.get("fold") is not None for run in record.extra.get("runs") or []):
        n += record.budget.get("train_samples", 0)
    return n or None


def standard_error(accuracy: float, images: int) -> float:
    """Binomial standard error of an accuracy measured on ``images`` images (at least that of
    one image in error, so that 100 % is not taken as exact)."""
    return math.sqrt(max(accuracy * (1 - accuracy), 1 / images) / images)


@dataclass(frozen=True)
class Tie:
    """The trials whose validation accuracy lies within one standard error of the best's: the
    validation split cannot order them."""

    numbers: list[int]  # best first, as ranked
    points: float  # one standard error, in points of accuracy
    images: int


def tied_with_best(records: list[TrialRecord]) -> Tie | None:
    """The tie at the top of the ranking; None if the best stands alone (or the split's size is
    not recorded)."""
    rows = ranked(records)
    images = validation_images(rows[0]) if rows else None
    if images is None or not rows[0].objective.is_default:  # a binomial error: accuracy only
        return None
    best = rows[0].score
    margin = standard_error(best, images)
    numbers = [r.number for r in rows if best - r.score <= margin]
    return Tie(numbers, 100 * margin, images) if len(numbers) > 1 else None


# How a user gets a validation accuracy that ranks trials more surely (said wherever it can't).
MORE_VALIDATION = ("validate on more images (--max-train-samples, validation_fraction in the "
                   "space file's DEFAULTS, or search()'s validation_data or validation_split)")


def tie_sentence(tie: Tie) -> str:
    return (f"{len(tie.numbers)} trials are within one standard error of the best's validation "
            f"accuracy ({tie.points:.2g} points on {tie.images} images), too close for the split "
            f"to order them; to tell them apart, {MORE_VALIDATION} or use --cv K")


def flatten_params(params: dict[str, Any] | list, prefix: str = "") -> dict[str, Any]:
    """``{"residual": {"units": 2}, "layers": [{"units": 8}]}`` ->
    ``{"residual.units": 2, "layers.0.units": 8}``; an absent option -> None."""
    flat: dict[str, Any] = {}
    items = params.items() if isinstance(params, dict) else enumerate(params)
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, (dict, list)) and value:
            flat.update(flatten_params(value, f"{name}."))
        else:
            flat[name] = value
    return flat


PRESENT, ABSENT = "present", "absent"


def with_presence(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flattened points with the optional parts named: where a part is None in some rows (an
    absent option, e.g. a second conv block) and has values inside it in others, its own key
    says ``present`` or ``absent`` in every row, so that choice is a column like any other."""
    optional = {k for row in rows for k, v in row.items() if v is None}
    nested = {k for k in optional
              if any(key.startswith(k + ".") for row in rows for key in row)}
    if not nested:
        return rows
    out = []
    for row in rows:
        row = dict(row)
        for k in nested:
            row[k] = ABSENT if row.get(k, "") is None else (
                PRESENT if any(key.startswith(k + ".") for key in row) else row.get(k))
        out.append(row)
    return out


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _varying_keys(flat: list[dict[str, Any]]) -> set[str]:
    """The hyperparameters worth a column: those that differ among the rows shown."""
    keys = {k for row in flat for k in row}
    if len(flat) < 2:
        return keys
    return {k for k in keys if len({repr(row.get(k)) for row in flat}) > 1}


SIZE_HEAD, LATENCY_HEAD = "params", "ms"
FRONT_MEASURES = ("params", "latency")  # what the accuracy-size front weighs accuracy against
MEASURE_NAMES = {"params": "parameters", "latency": "batch-1 latency"}


def front(records: list[TrialRecord], measure: str = "params") -> list[TrialRecord]:
    """The accuracy-size front: the scored trials that no other trial beats on both validation
    accuracy and ``measure`` (``params`` or ``latency``, ``TrialRecord.size``), i.e. each is
    more accurate than every trial at most its size; smallest first. Trials whose size was not
    measured (older records; latency without a latency budget) are left out."""
    sized = sorted((r for r in ranked(records) if r.size(measure) is not None),
                   key=lambda r: (r.size(measure), r.loss, r.number))
    best, out = None, []
    for r in sized:  # by loss: lower is better whatever the objective
        if best is None or r.loss < best:
            out.append(r)
            best = r.loss
    return out


def score_name(records: list[TrialRecord]) -> str:
    """What the trials' scores are, in words: "validation accuracy", or the objective the
    search chose (``val_loss``...)."""
    objectives = {r.objective for r in records if r.loss is not None}
    return objectives.pop().words if len(objectives) == 1 else "validation accuracy"


def count_text(n: float | None) -> str:
    """A parameter count as people read it: 812, 45.1k, 1.25M."""
    if n is None:
        return "-"
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if n >= limit:
            return f"{n / limit:.3g}{suffix}"
    return f"{int(n)}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def rank_table(records: list[TrialRecord], top: int | None = 10,
               width: int | None = None, front_of: str | None = None) -> str:
    """The ranking as text; each line cut to ``width`` characters when given (a terminal's).
    ``front_of`` (``params``/``latency``): the accuracy-size front instead, smallest first."""
    rows = ranked(records) if front_of is None else front(records, front_of)
    if not rows:
        return ("No completed trial yet." if front_of is None or not ranked(records) else
                f"No trial has its {MEASURE_NAMES[front_of]} measured (older records, or no "
                "--max-latency-ms): there is no front to draw.")
    shown = rows if top is None or front_of is not None else rows[:top]
    # A folder whose trials trained on several Keras backends shows which trained each.
    backends = len({r.keras_backend for r in records}) > 1
    sizes = any(r.model_params is not None for r in rows)
    latency = any(r.latency_ms is not None for r in rows)
    label = rows[0].objective.label  # val acc, or the objective the search chose
    header = f"{'rank':>4}  {'trial':>5}  {label:>7}  {'test acc':>8}  {'epochs':>6}  " \
             f"{'time s':>7}  {'status':<6}  {f'{SIZE_HEAD:>6}  ' if sizes else ''}" \
             f"{f'{LATENCY_HEAD:>6}  ' if latency else ''}{'backend  ' if backends else ''}" \
             "hyperparameters"
    lines = [header, "-" * len(header)]
    flat = with_presence([flatten_params(r.params) for r in shown])
    varying = _varying_keys(flat)
    tie = tied_with_best(records)
    tied = set(tie.numbers) if tie else set()
    place = {r.number: i for i, r in enumerate(ranked(records), 1)}
    for r, params_of_r in zip(shown, flat):
        rank = place[r.number]
        test = r.test_accuracy
        params = " ".join(f"{k}={_short(v)}" for k, v in params_of_r.items() if k in varying)
        mark = "~" if r.number in tied else " "
        line = (f"{rank:>4}{mark} {r.number:>5}  {r.score:>{max(7, len(label))}.4f}  "
                f"{(f'{test:.4f}' if test is not None else '-'):>8}  {r.epochs_run:>6}  "
                f"{r.wall_time_s:>7.1f}  {r.status.value:<6}  "
                f"{f'{count_text(r.model_params):>6}  ' if sizes else ''}"
                f"{f'{_ms(r.latency_ms):>6}  ' if latency else ''}"
                f"{f'{r.keras_backend:<10} ' if backends else ''}{params}")
        if width is not None and len(line) > max(width, len(header) + MIN_PARAMS_WIDTH):
            line = line[:max(width, len(header) + MIN_PARAMS_WIDTH) - 3] + "..."
        lines.append(line)
    failed = sum(r.status == TrialStatus.FAILED for r in records)
    over = sum(r.status == TrialStatus.OVER_BUDGET for r in records)
    others = (f"{f', {failed} failed' if failed else ''}"
              f"{f', {over} over the size budget (not trained)' if over else ''}")
    if front_of is None:
        objective = rows[0].objective
        chosen = ("validation accuracy of the primary head" if objective.is_default
                  else f"{label}, {objective.better} is better")
        lines.append(f"{len(rows)} ranked trials ({chosen}; the "
                     f"test accuracy is reported, never used to select){others}.")
    else:
        lines.append(f"The accuracy-size front: {len(rows)} of the {len(ranked(records))} scored "
                     f"trials, each more accurate than every trial with at most its "
                     f"{MEASURE_NAMES[front_of]} (smallest first; ranks are by validation "
                     f"accuracy){others}.")
    shared = sorted(k for row in flat for k in row if k not in varying)
    if shared and len(shown) > 1:
        same = {k: flat[0].get(k) for k in dict.fromkeys(shared)}
        lines.append("Not shown, the same in every row: "
                     + " ".join(f"{k}={_short(v)}" for k, v in same.items())
                     + " (rank --csv has every column).")
    if tie:
        lines.append(f"~ {tie_sentence(tie)}.")
    return "\n".join(lines)


def rank_json(records: list[TrialRecord], top: int | None = 10,
              front_of: str | None = None) -> str:
    rows = ranked(records) if front_of is None else front(records, front_of)
    shown = rows if top is None or front_of is not None else rows[:top]
    return json.dumps([json.loads(r.to_json()) for r in shown], indent=2)


def check_graphviz() -> None:
    try:
        import pydot  # noqa: F401
    except ImportError as e:
        raise GraphvizMissing("drawing a model needs pydot: pip install pydot") from e
    if shutil.which("dot") is None:
        raise GraphvizMissing("drawing a model needs Graphviz's `dot` program: "
                              "sudo apt-get install graphviz")


def best_title(record: TrialRecord) -> str:
    """The caption of a trial's model drawing: which trial, and how it scored."""
    return (f"trial {record.number}: {record.objective.words} {record.score:.4f}"
            + (f" ({record.dataset}, {record.model})"))


def draw_trial(record: TrialRecord, results_dir: Path, path: Path) -> Path:
    """Draw a trial's network: from the graph its worker sent back (``graphs/``; neither Keras
    nor its backend is loaded), else built again with the model it was trained with (a built-in
    family by the name its record gives, a space file's own build_model from the space its
    folder keeps)."""
    dot = TrialStore(results_dir).load_graph(record.number)
    if dot is not None:
        return write_png(dot, path, best_title(record))
    workload = Workload.from_record(record, results_dir)
    return plot_model_graph(record.params, workload, data_loaders.record_info(record), path,
                            title=best_title(record))


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_png(dot: str, path: Path, title: str | None = None) -> Path:
    """Draw dot text to ``path`` (PNG) with Graphviz, ``title`` above the graph."""
    check_graphviz()
    if title:  # the root graph's own label, set last: the nested models' clusters keep theirs
        end = dot.rstrip().rfind("}")
        dot = (dot[:end] + f"label={_dot_string(title)};\nlabelloc=t;\n"
               f"fontsize={TITLE_FONT_SIZE};\n" + dot[end:])
    done = subprocess.run(["dot", "-Tpng", "-o", str(path)], input=dot.encode(),
                          capture_output=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"Graphviz's dot failed: {done.stderr.decode(errors='replace')[-300:]}")
    return path


def plot_model_graph(params: dict[str, Any], source: Any, info: Any, path: Path,
                     title: str | None = None) -> Path:
    """Build the network of ``params`` (``source``: a ``Workload`` or a ``SpaceFile``, whose
    model it is; ``info``: the data's ``DatasetInfo``) and draw it, with tensor shapes, to
    ``path`` (PNG). The process that draws has chosen its Keras backend (``runtime.choose``)."""
    # Keras and the families load here, in the process that draws, once its backend is chosen:
    # ranking and the report's tables, which import this module, load neither.
    import keras

    import neural_net
    from hyperopt_nas import training

    check_graphviz()
    cpu = Accelerator(gpus=0, mixed_precision=False, xla=False)
    try:
        model, _ = neural_net.builder_for(source)(params, info, cpu)
        return write_png(training.model_dot(model).to_string(), path, title)
    finally:
        keras.backend.clear_session()


def table_rows(records: list[TrialRecord], front_of: str | None = None
               ) -> list[dict[str, Any]]:
    """One flat row per trial, best first (then failed and over-budget trials): its number,
    status, scores, size, time and every hyperparameter (``param.<path>``, as ``rank`` names
    them). ``front_of`` (``params``/``latency``): only the accuracy-size front, smallest first."""
    if front_of is not None:
        order = front(records, front_of)
    else:
        order = ranked(records)
        order += sorted((r for r in records if r not in order), key=lambda r: r.number)
    flats = with_presence([flatten_params(r.params) for r in order])
    rows = []
    for r, flat in zip(order, flats):
        primary = r.primary_metrics
        # The score under the objective's name: val_accuracy, or the one the search chose
        # (whose trials also show their validation accuracy at that epoch).
        score = {"val_accuracy": r.score} if r.objective.is_default else {
            r.objective.name: r.score, "val_accuracy": primary.get("best_val_accuracy")}
        row = {"number": r.number, "status": r.status.value, **score,
               "test_accuracy": primary.get("test_accuracy"), "epochs_run": r.epochs_run,
               "wall_time_s": r.wall_time_s, "started_at": r.started_at, "seed": r.seed,
               "trial_seed": r.trial_seed, "dataset": r.dataset, "model": r.model,
               "keras_backend": r.keras_backend, "model_params": r.model_params,
               "model_bytes": r.extra.get("model_bytes"), "latency_ms": r.latency_ms,
               "error": r.error}
        row.update({f"param.{k}": v for k, v in flat.items()})
        rows.append(row)
    return rows


def rank_csv(records: list[TrialRecord], front_of: str | None = None) -> str:
    rows = table_rows(records, front_of)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
