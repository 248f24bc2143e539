"""``report.html``: one self-contained page on a search, to open in a browser or to send on.

It holds the best trial (its hyperparameters and every head's metrics), the top-10 table, the
time spent, the trials per status and the search plots. The pictures are embedded in the file, so
it can be moved or mailed on its own. It is written from the JSON records, like the plots.
"""

from __future__ import annotations

import base64
import html
import statistics
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from hyperopt_nas import kept_models
from hyperopt_nas.notebook import searched_name
from hyperopt_nas.retrain import retrain_command
from hyperopt_nas.outputs.reports import (BEST_MODEL_PNG, count_text, flatten_params, front,
                                          ranked, tie_sentence, tied_with_best)
from hyperopt_nas.trial_store import TrialRecord, TrialStatus, atomic_write

REPORT_HTML = "report.html"
TOP = 10
WIDE_TABLE_KEYS = 6  # more differing hyperparameters than this: a table of their own

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1.5em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em;
     margin-top: 1.8em; }
.sub { color: #666; margin-top: 0; }
.live { background: #eef6ee; border-left: 4px solid #3a3; padding: .4em .8em; }
.cards { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em; min-width: 9em; }
.card .n { font-size: 1.6em; font-weight: 600; } .card .l { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.92em; margin: 0.5em 0; }
.scroll { overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #eef7ee; }
.status-failed { color: #b00; } .status-pruned { color: #a60; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.92em; }
code { background: #f4f4f4; padding: 0 0.25em; border-radius: 3px; }
details summary { cursor: pointer; }
pre.trace { font-size: 0.85em; max-height: 24em; overflow: auto; background: #f8f8f8;
            padding: 0.5em; white-space: pre-wrap; }
"""

PLOTS = [
    ("search_progress.png", "Search progress: each trial's validation accuracy and the best so "
                            "far; failed trials (and networks over the size budget) marked."),
    ("hyperparameter_effects.png", "Effect of each hyperparameter on the score, most important "
                                   "first (share of the score's variance it explains)."),
    ("hyperparameters_scatter_matrix.png", "The most important hyperparameters against each "
                                           "other, coloured by score."),
    ("learning_curves.png", "Training and validation accuracy per epoch of the top trials."),
    ("accuracy_vs_size.png", "Validation accuracy against parameters (log scale): the front "
                             "(orange) holds the trials no other trial beats on both; networks "
                             "over the size budget are marked at their size, not trained."),
    (BEST_MODEL_PNG, "The best trial's network."),
]


def _e(value: Any) -> str:
    return html.escape(str(value))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def _duration(seconds: float) -> str:
    minutes, s = divmod(int(round(seconds)), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min" if hours else f"{m} min {s:02d} s" if m else f"{s} s"


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_e(path.name)}">'


def _cards(records: list[TrialRecord]) -> str:
    counts = Counter(r.status for r in records)
    spent = sum(r.wall_time_s for r in records)
    items = [(len(records), "trials"), (counts[TrialStatus.OK], "completed"),
             (counts[TrialStatus.PRUNED], "pruned"), (counts[TrialStatus.FAILED], "failed")]
    if counts[TrialStatus.OVER_BUDGET]:
        items.append((counts[TrialStatus.OVER_BUDGET], "over the size budget"))
    items += [(_duration(spent), "training time"),
              (_span(records), "from first to last trial")]
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="n">{_e(n)}</div><div class="l">{_e(label)}</div></div>'
        for n, label in items) + "</div>"


def _span(records: list[TrialRecord]) -> str:
    try:
        starts = [datetime.fromisoformat(r.started_at).timestamp() for r in records]
    except (TypeError, ValueError):
        return "—"
    last = max(records, key=lambda r: datetime.fromisoformat(r.started_at).timestamp())
    return _duration(max(starts) + last.wall_time_s - min(starts))


def _kept_sentence(results_dir: Path, number: int) -> str:
    path = kept_models.path(results_dir, number)
    if not path.exists():
        return ""
    return (f"Its trained network is kept: <code>{_e(path)}</code> (<code>"
            f"{_e(f'hyperopt_nas.load_model({str(results_dir)!r})')}</code>). ")


def _best_section(best: TrialRecord, results_dir: Path) -> str:
    params = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_fmt(v))}</td></tr>"
                     for k, v in flatten_params(best.params).items())
    heads = sorted(best.metrics, key=lambda h: h != best.primary_head)  # the primary first
    head_titles = ([f"{heads[0]} (selected on)", *heads[1:]] if len(heads) > 1 else ["value"])
    names = sorted({name for values in best.metrics.values() for name in values})
    metric_rows = "".join(
        f"<tr><th>{_e(name)}</th>" + "".join(
            f'<td class="num">{_e(_fmt(best.metrics[h].get(name)))}</td>' for h in heads)
        + "</tr>" for name in names)
    return (f"<h2>Best trial: {best.number}</h2>"
            f"<p>{_e(best.objective.words.capitalize())} <b>{best.score:.4f}</b> (selects the "
            "model); "
            f"{best.epochs_run} epochs, {best.wall_time_s:.1f} s, "
            + (f"{best.model_params:,} parameters, " if best.model_params else "")
            + f"trial seed "
            f"<code>{best.trial_seed}</code>. The test accuracy is reported only, never used to "
            f"select. {_kept_sentence(results_dir, best.number)}Retrain it on training + "
            f"validation data with <code>{_e(retrain_command(results_dir, best.number))}"
            "</code>.</p>"
            '<div class="cards">'
            f'<table><tr><th>hyperparameter</th><th>value</th></tr>{params}</table>'
            f'<table><tr><th>metric</th>{"".join(f"<th>{_e(h)}</th>" for h in head_titles)}</tr>'
            f"{metric_rows}</table></div>")


def _top_table(records: list[TrialRecord]) -> str:
    rows = ranked(records)[:TOP]
    flat = [flatten_params(r.params) for r in rows]
    keys = [k for k in dict.fromkeys(k for f in flat for k in f)
            if len({repr(f.get(k)) for f in flat}) > 1 or len(flat) == 1]
    # A folder whose trials trained on several Keras backends shows which trained each.
    backends = len({r.keras_backend for r in records}) > 1
    sizes = any(r.model_params is not None for r in rows)
    on_front = {r.number for r in front(records)}
    # Many hyperparameters (a CIFAR-100 space has dozens) would make the table wider than the
    # page: they get a table of their own, one row each and a column per trial.
    across = len(keys) <= WIDE_TABLE_KEYS
    head = (f"<tr><th>rank</th><th>trial</th><th>{_e(rows[0].objective.label)}</th>"
            "<th>test acc</th><th>epochs</th>"
            "<th>time s</th><th>status</th>" + ("<th>params</th>" if sizes else "")
            + ("<th>backend</th>" if backends else "")
            + "".join(f"<th>{_e(k)}</th>" for k in keys if across) + "</tr>")
    tie = tied_with_best(records)
    tied = set(tie.numbers) if tie else set()
    body = []
    for rank, (r, f) in enumerate(zip(rows, flat), 1):
        test = r.test_accuracy
        cells = [f"{rank} ~" if r.number in tied else rank, r.number, f"{r.score:.4f}",
                 _fmt(test), r.epochs_run, f"{r.wall_time_s:.1f}"]
        body.append(f'<tr{" class=best" if rank == 1 else ""}>'
                    + "".join(f'<td class="num">{_e(c)}</td>' for c in cells)
                    + f'<td class="status-{r.status.value}">{_e(r.status.value)}</td>'
                    + (f'<td class="num">{_e(count_text(r.model_params))}'
                       f'{" ◆" if r.number in on_front else ""}</td>' if sizes else "")
                    + (f"<td>{_e(r.keras_backend)}</td>" if backends else "")
                    + "".join(f"<td>{_e(_fmt(f.get(k)))}</td>" for k in keys if across)
                    + "</tr>")
    params = ""
    if keys and not across:
        params = ("<p class=sub>Their hyperparameters, one column per trial (best first):</p>"
                  "<div class=scroll><table><tr><th>hyperparameter</th>"
                  + "".join(f'<th class="num">trial {r.number}</th>' for r in rows) + "</tr>"
                  + "".join(f"<tr><td>{_e(k)}</td>"
                            + "".join(f"<td>{_e(_fmt(f.get(k)))}</td>" for f in flat) + "</tr>"
                            for k in keys)
                  + "</table></div>")
    objective = rows[0].objective
    by = ("validation accuracy of the primary head" if objective.is_default
          else f"{objective.name} ({objective.better} is better)")
    return (f"<h2>Top {len(rows)} trials</h2><p class=sub>By {_e(by)}; only the "
            "hyperparameters that differ among them are shown."
            + (" ◆: on the accuracy-size front (no trial is both smaller and better)."
               if sizes and on_front else "")
            + (f" ~: {_e(tie_sentence(tie))}." if tie else "") + "</p>"
            f"<div class=scroll><table>{head}{''.join(body)}</table></div>{params}")


def _gpus(records: list[TrialRecord]) -> str:
    """Where trials trained on GPUs: per GPU and worker, its trials, how busy the GPU was and
    the most memory the worker held (NVML), its share when it shared the GPU, and compilation
    (the first trial of a worker against its later ones: the persistent cache at work)."""
    rows: dict[tuple[str, Any], list[TrialRecord]] = {}
    for r in sorted(records, key=lambda r: r.number):
        gpu = r.accelerator.get("gpu")  # the GPU a trial trained on (trial_runner)
        if gpu is not None:
            worker = (r.extra.get("worker") or {}).get("index")
            rows.setdefault((str(gpu), worker), []).append(r)
    if not rows:
        return ""
    body = []
    for (gpu, worker), trials in sorted(rows.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        acc = [t.accelerator for t in trials]
        utils = [a["gpu_util_mean"] for a in acc if a.get("gpu_util_mean") is not None]
        held = [a["gpu_process_memory_peak_mb"] for a in acc
                if a.get("gpu_process_memory_peak_mb") is not None]
        compiles = [t.extra["compile_s"] for t in trials if t.extra.get("compile_s") is not None]
        limit = acc[-1].get("gpu_memory_limit_mb")
        cells = [gpu, acc[-1].get("gpu_name", ""), "" if worker is None else worker,
                 len(trials),
                 f"{sum(utils) / len(utils):.0f} %" if utils else "-",
                 f"{max(held):,.0f}" if held else "-",
                 f"{limit:,}" if limit is not None else "whole GPU",
                 f"{compiles[0]:.1f}" if compiles else "-",
                 f"{statistics.median(compiles[1:]):.1f}" if len(compiles) > 1 else "-"]
        body.append("<tr>" + "".join(f'<td class="num">{_e(c)}</td>' for c in cells) + "</tr>")
    return ("<h2>GPUs</h2><p class=sub>Per GPU and worker: mean utilisation of the GPU while "
            "its trials trained (shared by every worker on it), the most GPU memory the worker "
            "held (MiB, NVML), its share of the GPU's memory, and compilation: the worker's "
            "first trial against the median of its later ones (seconds).</p>"
            "<div class=scroll><table><tr><th>GPU</th><th>name</th><th>worker</th>"
            "<th>trials</th><th>utilisation</th><th>memory held, MiB</th><th>share, MiB</th>"
            "<th>compile, first</th><th>compile, later</th></tr>"
            + "".join(body) + "</table></div>")


def _failures(records: list[TrialRecord]) -> str:
    failed = [r for r in records if r.status == TrialStatus.FAILED]
    if not failed:
        return ""
    rows = "".join(f'<tr><td class="num">{r.number}</td><td>{_error_cell(r)}</td></tr>'
                   for r in failed[-TOP:])
    return ("<h2>Failed trials</h2><p class=sub>Each error in one line; click it for the whole "
            "message and the traceback (also in the trial's "
            "<code>failed_trial-NNNN.json</code>).</p><div class=scroll><table><tr><th>trial</th>"
            f"<th>error</th></tr>{rows}</table></div>")


def _error_cell(record: TrialRecord) -> str:
    """A failed trial's error: its line, the whole message and the traceback one click away."""
    line = _e(_fmt(record.error_line))
    whole = "\n\n".join(t for t in (record.error, record.traceback) if t)
    if not whole or whole.strip() == record.error_line:
        return line
    return f"<details><summary>{line}</summary><pre class=trace>{_e(whole)}</pre></details>"


LIVE_RELOAD_S = 15  # a live report reloads itself this often in the browser


def render(records: list[TrialRecord], results_dir: Path, live: bool = False,
           figures_dir: Path | None = None) -> str:
    """The report's HTML, with the PNGs found in ``figures_dir`` (default ``results_dir``)
    embedded. ``live``: written while the search runs; the page then reloads itself every
    ``LIVE_RELOAD_S`` seconds."""
    figures_dir = Path(figures_dir or results_dir)
    first = max(records, key=lambda r: r.number) if records else None  # the newest trial's space
    title = ("Search report: "
             + (searched_name(first.space_file, results_dir) if first else "no trials yet"))
    reload = f"<meta http-equiv=refresh content={LIVE_RELOAD_S}>" if live else ""
    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8>{reload}"
             f"<meta name=viewport content='width=device-width, initial-scale=1'>"
             f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
             f"<h1>{_e(title)}</h1>"]
    if live:
        parts.append(f"<p class=live>The search is running: this page follows it, reloading "
                     f"every {LIVE_RELOAD_S} s.</p>")
    spaces = {searched_name(r.space_file, results_dir) for r in records}
    if len(spaces) > 1:
        parts.append(f"<p class=sub>Trials come from {len(spaces)} space files: "
                     f"{_e(', '.join(sorted(spaces)))}.</p>")
    if first:
        parts.append(f"<p class=sub>Dataset <code>{_e(first.dataset)}</code>, model "
                     f"<code>{_e(first.model)}</code>, search seed <code>{first.seed}</code>, "
                     f"results in <code>{_e(results_dir)}</code>. Written "
                     f"{datetime.now().strftime('%Y-%m-%d %H:%M')}.</p>")
    parts.append(_cards(records))
    best = ranked(records)[:1]
    if best:
        parts += [_best_section(best[0], results_dir), _top_table(records)]
    else:
        parts.append("<p>No trial has completed yet.</p>")
    parts.append(_gpus(records))
    parts.append(_failures(records))
    figures = [(figures_dir / name, caption) for name, caption in PLOTS
               if (figures_dir / name).exists()]
    if figures:
        parts.append("<h2>Plots</h2>")
        parts += [f"<figure>{_image(path)}<figcaption>{_e(caption)}</figcaption></figure>"
                  for path, caption in figures]
    parts.append("<p class=sub>Every trial is also in the HParams dashboard: "
                 f"<code>tensorboard --logdir {_e(figures_dir / 'tensorboard')}</code>.</p>"
                 "</body></html>")
    return "\n".join(parts)


def write_report(records: list[TrialRecord], results_dir: Path, live: bool = False,
                 out_dir: Path | None = None) -> Path:
    """``report.html`` in ``out_dir`` (default: the results folder), with the pictures found
    there."""
    out_dir = Path(out_dir or results_dir)
    path = out_dir / REPORT_HTML
    atomic_write(path, render(records, Path(results_dir), live, figures_dir=out_dir)
                 .encode("utf-8"))
    return path
