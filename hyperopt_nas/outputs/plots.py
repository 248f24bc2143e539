"""Pictures of a search, drawn from the trial records with matplotlib (no TensorFlow needed).

- ``search_progress.png``: each trial's validation accuracy, the running best, failures marked;
- ``hyperparameter_effects.png``: score against each hyperparameter (box plots for choices),
  ordered by importance;
- ``hyperparameters_scatter_matrix.png``: the most important hyperparameters against each other,
  coloured by score, and against the score on the diagonal;
- ``learning_curves.png``: training and validation accuracy per epoch of the top 5 trials;
- ``accuracy_vs_size.png``: validation accuracy against parameters (log scale), the
  accuracy-size front joined, networks over the size budget marked at their size (drawn once
  trials have their size measured).

Importance is the share of the score's variance that a hyperparameter's value explains (the
correlation ratio, eta squared), over the trials where it is active: between the options of a
choice, or between the quartiles of a numeric hyperparameter. It is 0 when the score does not
depend on it and 1 when the value alone fixes the score. With few trials it is a rough guide.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hyperopt_nas.outputs.reports import (count_text, flatten_params, front, ranked,
                                          score_name, with_presence)
from hyperopt_nas.trial_store import TrialRecord, TrialStatus

PROGRESS_PNG = "search_progress.png"
EFFECTS_PNG = "hyperparameter_effects.png"
SCATTER_PNG = "hyperparameters_scatter_matrix.png"
CURVES_PNG = "learning_curves.png"
SIZE_PNG = "accuracy_vs_size.png"
DPI = 100
SCATTER_MAX_PARAMS = 6
CURVES_TOP = 5
EFFECTS_COLUMNS = 3
CATEGORY_SPREAD = 0.18  # half the width of the band a category's trials are spread across
NUMERIC_BINS = 4
FEW_VALUES = 6  # a number taking at most this many values (an hp.choice of numbers, a coarse
# quniform) is drawn as categories: one box or column per value
LOG_SPAN = 20.0  # positive numbers spanning this factor or more get a log axis (loguniform)


def pyplot():
    # matplotlib (and its 0.5 s of imports) is loaded by the first picture drawn: the search's
    # process imports this module and never draws (a child process does, ``refresher.py``).
    import matplotlib
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt
    return plt


@dataclass
class Column:
    """One hyperparameter across the scored trials: its values (None where inactive)."""

    name: str
    values: list[Any]
    categorical: bool
    categories: list[str]
    importance: float | None  # None: too few trials per option or range to tell
    log: bool = False  # numbers drawn on a log axis

    def position(self, value: Any) -> float:
        """Where a value sits on an axis: categories at 0, 1, 2...; numbers as they are."""
        return float(self.categories.index(_label(value))) if self.categorical else float(value)

    def spread(self) -> list[float | None]:
        """Each trial's position (None where inactive), a category's trials spread across a
        band around it (the same offset for a trial in every panel, another for each
        hyperparameter) so that they do not cover one another."""
        rng = np.random.default_rng(zlib.crc32(self.name.encode()))
        offsets = rng.uniform(-CATEGORY_SPREAD, CATEGORY_SPREAD, len(self.values))
        return [None if v is None else
                self.position(v) + (float(o) if self.categorical else 0.0)
                for v, o in zip(self.values, offsets)]

    def importance_text(self) -> str:
        return ("too few trials to rank" if self.importance is None
                else f"importance {self.importance:.2f}")


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _category_order(values: list[Any]) -> list[str]:
    """Categories in their natural order: numbers by value, the rest by name."""
    distinct = {_label(v): v for v in values}
    numeric = all(_is_number(v) for v in distinct.values())
    return sorted(distinct, key=(lambda k: float(distinct[k])) if numeric else None)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def importance(groups: list[np.ndarray]) -> float | None:
    """Share of the scores' variance explained by the group (option, or range of values) a
    trial fell in, corrected for chance (epsilon squared: with few trials a grouping explains
    some variance even when it does nothing). A group of one trial says nothing of its spread
    and is left out, so a hyperparameter needs two options tried twice each to score at all:
    None until then."""
    groups = [g for g in groups if len(g) >= 2]
    if len(groups) < 2:
        return None
    values = np.concatenate(groups)
    total = float(((values - values.mean()) ** 2).sum())
    if total == 0:
        return 0.0
    between = float(sum(len(g) * (g.mean() - values.mean()) ** 2 for g in groups))
    within_mean_square = (total - between) / (len(values) - len(groups))
    return float(np.clip((between - (len(groups) - 1) * within_mean_square) / total, 0.0, 1.0))


def columns(records: list[TrialRecord]) -> tuple[list[Column], np.ndarray]:
    """The varying hyperparameters of the scored trials, most important first, and the scores."""
    scored = ranked(records)
    flat = with_presence([flatten_params(r.params) for r in scored])
    scores = np.array([r.score for r in scored])
    names = sorted({k for row in flat for k in row})
    out = []
    for name in names:
        values = [row.get(name) for row in flat]
        present = [(v, s) for v, s in zip(values, scores) if v is not None]
        if len({repr(v) for v, _ in present}) < 2:
            continue  # a constant tells nothing
        numeric = all(_is_number(v) for v, _ in present)
        categorical = not numeric or len({v for v, _ in present}) <= FEW_VALUES
        log = False
        if categorical:
            categories = _category_order([v for v, _ in present])
            groups = [np.array([s for v, s in present if _label(v) == c]) for c in categories]
        else:
            categories = []
            numbers = np.array([float(v) for v, _ in present])
            edges = np.quantile(numbers, np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1])
            bins = np.searchsorted(edges, numbers)
            groups = [np.array([s for (_, s), b in zip(present, bins) if b == k])
                      for k in range(NUMERIC_BINS)]
            log = bool(numbers.min() > 0 and numbers.max() / numbers.min() >= LOG_SPAN)
        out.append(Column(name, values, categorical, categories, importance(groups), log))
    out.sort(key=lambda c: (-(c.importance if c.importance is not None else -1.0), c.name))
    return out, scores


def plot_progress(records: list[TrialRecord], path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ordered = sorted(records, key=lambda r: r.number)
    ok = [r for r in ordered if r.status == TrialStatus.OK]
    pruned = [r for r in ordered if r.status == TrialStatus.PRUNED]
    failed = [r for r in ordered if r.status == TrialStatus.FAILED]
    over = [r for r in ordered if r.status == TrialStatus.OVER_BUDGET]
    ax.scatter([r.number for r in ok], [r.score for r in ok], s=22, color="tab:blue",
               label="trial")
    if pruned:
        ax.scatter([r.number for r in pruned], [r.score for r in pruned], s=22,
                   facecolors="none", edgecolors="tab:blue", label="pruned trial")
    best, running = None, []
    for r in ordered:  # the best by loss, drawn as its score (lower loss: better)
        if r.loss is not None and (best is None or r.loss < best.loss):
            best = r
        running.append(best.score if best is not None else np.nan)
    ax.step([r.number for r in ordered], running, where="post", color="tab:orange",
            label="best so far")
    floor = min([r.score for r in ok + pruned] or [0.0])
    if failed:
        ax.scatter([r.number for r in failed], [floor] * len(failed), marker="x", s=40,
                   color="tab:red", label=f"failed ({len(failed)})")
    if over:
        ax.scatter([r.number for r in over], [floor] * len(over), marker="|", s=60,
                   color="tab:gray", label=f"over the size budget, not trained ({len(over)})")
    ax.set_xlabel("trial number")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.set_ylabel(score_name(records))
    ax.set_title(f"Search progress: {len(records)} trials")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _categorical_ticks(ax, column: Column, axis: str) -> None:
    labels = [c if len(c) <= 14 else c[:12] + ".." for c in column.categories]
    ticks = range(len(labels))
    if axis == "x":
        ax.set_xticks(ticks, labels, rotation=30, ha="right", fontsize=8)
    else:
        ax.set_yticks(ticks, labels, fontsize=8)


def plot_effects(records: list[TrialRecord], path: Path) -> Path:
    plt = pyplot()
    cols, scores = columns(records)
    n = max(1, len(cols))
    rows = math.ceil(n / EFFECTS_COLUMNS)
    fig, axes = plt.subplots(rows, EFFECTS_COLUMNS, figsize=(4.2 * EFFECTS_COLUMNS, 3.4 * rows),
                             squeeze=False)
    for ax in axes.flat[len(cols):]:
        ax.axis("off")
    if not cols:
        axes.flat[0].text(0.5, 0.5, "no hyperparameter varies among the scored trials yet",
                          ha="center", va="center")
    for ax, col in zip(axes.flat, cols):
        pairs = [(v, s) for v, s in zip(col.values, scores) if v is not None]
        if col.categorical:
            data = [[s for v, s in pairs if _label(v) == c] for c in col.categories]
            ax.boxplot(data, positions=range(len(data)))
            _categorical_ticks(ax, col, "x")
        else:
            ax.scatter([float(v) for v, _ in pairs], [s for _, s in pairs], s=16, alpha=0.8)
            if col.log:
                ax.set_xscale("log")
        ax.set_title(f"{col.name}\n{col.importance_text()} ({len(pairs)} trials)",
                     fontsize=9)
        ax.set_ylabel(score_name(records), fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{score_name(records).capitalize()} against each hyperparameter, most "
                 "important first")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_scatter_matrix(records: list[TrialRecord], path: Path) -> Path:
    """Each pair of the most important hyperparameters, coloured by validation accuracy; on
    the diagonal, each against the accuracy (its scale on the right)."""
    plt = pyplot()
    cols, scores = columns(records)
    cols = cols[:SCATTER_MAX_PARAMS]
    n = max(1, len(cols))
    width, height = 2.4 * n + 2.0, 2.4 * n + 0.8
    # Margins set in inches, not by matplotlib's constrained layout: that layout measured
    # every tick label of the n x n panels and took half the drawing time.
    title = ((f"The {len(cols)} most important hyperparameters" if len(cols) > 1 else
              "The most important hyperparameter")
             + (" " if n > 2 else "\n") + f"(diagonal: against the {score_name(records)})")
    fig, axes = plt.subplots(n, n, figsize=(width, height), squeeze=False,
                             gridspec_kw=dict(left=1.3 / width, right=1 - 1.85 / width,
                                              bottom=0.9 / height,
                                              top=1 - (0.5 if n > 2 else 0.8) / height,
                                              wspace=0.6, hspace=0.1))
    if not cols:
        axes[0, 0].text(0.5, 0.5, "no hyperparameter varies yet", ha="center", va="center")
        axes[0, 0].axis("off")
    points = None
    for i, row_col in enumerate(cols):
        for j, col_col in enumerate(cols):
            ax = axes[i, j]
            if i == j:  # the hyperparameter against the score, whose scale is on the right
                pairs = [(p, s) for p, s in zip(col_col.spread(), scores) if p is not None]
                ax.scatter([p for p, _ in pairs], [s for _, s in pairs], s=10, color="0.3")
                ax.yaxis.tick_right()
                ax.yaxis.set_label_position("right")
                ax.set_ylabel("val. acc.", fontsize=7)
                if j == 0:  # the row's name, on the left as in every other row
                    ax.annotate(row_col.name, xy=(-0.08, 0.5), xycoords="axes fraction",
                                rotation=90, ha="right", va="center", fontsize=8)
            else:  # conditional hyperparameters: only trials where both are present
                triples = [(a, b, s) for a, b, s in
                           zip(col_col.spread(), row_col.spread(), scores)
                           if a is not None and b is not None]
                if triples:
                    xs, ys, ss = zip(*triples)
                    points = ax.scatter(xs, ys, c=ss, cmap="viridis", s=14,
                                        vmin=scores.min(), vmax=scores.max())
                if row_col.log:
                    ax.set_yscale("log")
                if row_col.categorical:
                    _categorical_ticks(ax, row_col, "y")
                if j == 0:
                    ax.set_ylabel(row_col.name, fontsize=8)
                elif not (i == 0 and j == 1):  # the row's scale is on its first panel (the
                    ax.tick_params(labelleft=False)  # first row's: its second, the first is
                    # the diagonal's)
            if col_col.log:
                ax.set_xscale("log")
            if col_col.categorical:
                _categorical_ticks(ax, col_col, "x")
            if i == n - 1:
                ax.set_xlabel(col_col.name, fontsize=8)
            else:  # the column's scale is on its bottom panel
                ax.tick_params(labelbottom=False)
            ax.tick_params(labelsize=7)
    if points is not None:
        bar = fig.add_axes((1 - 0.95 / width, 0.3, 0.2 / width, 0.4))
        fig.colorbar(points, cax=bar, label=score_name(records))
    fig.suptitle(title)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_learning_curves(records: list[TrialRecord], path: Path) -> Path:
    plt = pyplot()
    top = [r for r in ranked(records) if r.history][:CURVES_TOP]
    heads = sorted({k[len("val_"):-len("_accuracy")] or "" for r in top for k in r.history
                    if k.startswith("val_") and k.endswith("accuracy")})
    heads = heads or [""]
    fig, axes = plt.subplots(1, len(heads), figsize=(7 * len(heads), 4.5), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, head in zip(axes.flat, heads):
        key = f"{head}_accuracy" if head else "accuracy"
        for k, r in enumerate(top):
            train, val = r.history.get(key), r.history.get(f"val_{key}")
            epochs = range(1, len(val or []) + 1)
            if val:
                ax.plot(epochs, val, color=colours(k), marker="o", markersize=3,
                        label=f"trial {r.number} validation")
            if train:
                ax.plot(epochs, train, color=colours(k), linestyle="--",
                        label=f"trial {r.number} training")
        ax.set_title(f"Top {len(top)} trials: {head or 'accuracy'} head" if head else
                     f"Top {len(top)} trials")
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
        if top:
            ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_size_front(records: list[TrialRecord], path: Path) -> Path:
    """Validation accuracy against parameters (log scale): every scored trial, the front (the
    trials no other beats on both) joined and labelled, the networks over the size budget as
    marks at their size along the bottom, the budget as a dashed line."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 5))
    scored = [r for r in ranked(records) if r.model_params is not None]
    on_front = front(records, "params")
    over = [r for r in records
            if r.status == TrialStatus.OVER_BUDGET and r.model_params is not None]
    ax.scatter([r.model_params for r in scored], [r.score for r in scored], s=24,
               color="tab:blue", alpha=0.6, label=f"trained network ({len(scored)})")
    if on_front:
        xs = [r.model_params for r in on_front]
        ys = [r.score for r in on_front]
        ax.step(xs, ys, where="post", color="tab:orange", alpha=0.8)
        ax.scatter(xs, ys, s=60, facecolors="none", edgecolors="tab:orange", linewidths=2,
                   label=f"front: no other is both smaller and better ({len(on_front)})")
        for r in on_front:
            ax.annotate(f"#{r.number}", (r.model_params, r.score), textcoords="offset points",
                        xytext=(4, 5), fontsize=8, color="tab:orange")
    floor = min([r.score for r in scored] or [0.0])
    if over:
        ax.scatter([r.model_params for r in over], [floor] * len(over), marker="|", s=80,
                   color="tab:gray", label=f"over the budget, not trained ({len(over)})")
    limits = {r.budget.get("max_params") for r in records} - {None}
    for limit in sorted(limits):
        ax.axvline(limit, color="tab:red", linestyle="--", alpha=0.7,
                   label=f"--max-params {count_text(limit)}")
    ax.set_xscale("log")
    if limits:  # beyond the tightest budget: the sizes the search does not train
        left, right = ax.get_xlim()
        ax.axvspan(min(limits), right, color="tab:red", alpha=0.07, zorder=0,
                   label="over the budget: not trained")
        ax.set_xlim(left, right)
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel(score_name(records))
    ax.set_title(f"Accuracy against size: {len(scored)} trained networks"
                 + (f", {len(over)} over the budget" if over else ""))
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best", framealpha=0.9, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_all(records: list[TrialRecord], results_dir: Path) -> list[Path]:
    """Every search plot, written into the results folder (the accuracy-size picture once
    trials have their size measured)."""
    results_dir = Path(results_dir)
    paths = [plot_progress(records, results_dir / PROGRESS_PNG),
             plot_effects(records, results_dir / EFFECTS_PNG),
             plot_scatter_matrix(records, results_dir / SCATTER_PNG),
             plot_learning_curves(records, results_dir / CURVES_PNG)]
    if any(r.model_params is not None for r in records):
        paths.append(plot_size_front(records, results_dir / SIZE_PNG))
    return paths
