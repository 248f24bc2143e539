"""What the running trials are doing, on the console, between the lines of the ended ones.

Three ways to show it (``--progress``):

- ``live``: one line per running trial, redrawn in place below the search's own lines (rich's
  ``Progress``): ``trial 7 ━━━━━━━━━━ epoch 3/10 · batch 120/422 · 1,850 img/s · val. acc.
  0.8123 · GPU 0 57% 3.2 GB · 0:45`` (the GPU's utilisation and the trial's memory on it, through
  NVML, where it trains on one). The default when the output is a terminal.
- ``lines``: plain lines, for files and CI logs: a line at an epoch's end when the trial has
  been silent for ``LINES_EVERY_S`` (so short trials add nothing, and a long one says where it
  is every half minute or every epoch, whichever is rarer). The default otherwise.
- ``off``: only the lines of ended trials.

Trials are shown from their reports (``TrialProgress``), which the in-process executor and the
worker pool pass on; Spark tasks cannot report before they end, so under Spark a running trial
shows only its elapsed time.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from hyperopt_nas.choices import PROGRESS_MODES
from hyperopt_nas.trial import TrialProgress

MODES = PROGRESS_MODES
LINES_EVERY_S = 30.0


def resolve_mode(mode: str, stream=None) -> str:
    """``auto``: live on a terminal, plain lines elsewhere (a pipe, a file, a notebook)."""
    if mode not in MODES:
        raise ValueError(f"progress must be one of {', '.join(MODES)}, got {mode!r}.")
    if mode != "auto":
        return mode
    stream = stream or sys.stdout
    terminal = hasattr(stream, "isatty") and stream.isatty()
    return "live" if terminal and os.environ.get("TERM") != "dumb" else "lines"


def describe(p: TrialProgress, separator: str = " · ") -> str:
    """Where a trial is, in words: ``epoch 3/10 · batch 120/422 · 1,850 img/s · val. acc.
    0.8123`` (with ``run 2/5`` first under --cv or --executions-per-trial)."""
    parts = [f"run {p.run}/{p.runs}"] if p.runs > 1 else []
    parts.append(f"epoch {p.epoch}/{p.epochs}")
    if not p.epoch_done and p.step is not None:
        parts.append(f"batch {p.step}/{p.steps}" if p.steps else f"batch {p.step}")
    parts.append(f"{p.images_per_s:,.0f} img/s")
    if p.val_accuracy is not None:
        parts.append(f"val. acc. {p.val_accuracy:.4f}")
    if p.gpu is not None and (p.gpu_util is not None or p.gpu_memory_mb is not None):
        parts.append(" ".join([f"GPU {p.gpu}"]
                              + ([f"{p.gpu_util:.0f}%"] if p.gpu_util is not None else [])
                              + ([f"{p.gpu_memory_mb / 1024:.1f} GB"]
                                 if p.gpu_memory_mb is not None else [])))
    return separator.join(parts)


def clock_text(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on."""
    seconds = int(round(seconds))
    return (f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600
            else f"{seconds // 60}:{seconds % 60:02d}")


def duration_text(seconds: float) -> str:
    """A budget as a person would say it: ``90 s``, ``30 min``, ``2 h``, ``1 h 30 min``."""
    if seconds < 120 or seconds % 60:
        return f"{seconds:g} s"
    minutes = int(seconds // 60)
    if minutes < 60 or minutes % 60 and minutes < 180:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h {rest} min" if hours else f"{minutes} min"
    return f"{minutes / 60:g} h"


class TrialsProgress:
    """Shows the running trials; ``started``/``update``/``ended`` come from the search loop and
    the executors (from any thread), ``say`` writes the search's own lines."""

    def __init__(self, mode: str, say: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.monotonic):
        self.mode, self.say, self.clock = resolve_mode(mode), say, clock
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}
        self._last_line: dict[int, float] = {}
        self._live = None
        self._tasks: dict[int, int] = {}

    # -- the search's side ------------------------------------------------------------------

    def __enter__(self) -> "TrialsProgress":
        if self.mode == "live":
            # print() while it runs goes above the trials' lines (rich redirects stdout).
            self._live = Progress(TextColumn("trial {task.fields[number]}"),
                                  BarColumn(bar_width=20), TextColumn("{task.description}"),
                                  TimeElapsedColumn(), transient=True, refresh_per_second=4)
            self._live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def started(self, number: int) -> None:
        with self._lock:
            self._started[number] = self._last_line[number] = self.clock()
            if self._live is not None:
                self._tasks[number] = self._live.add_task("starting", total=None, number=number)

    def ended(self, number: int) -> None:
        with self._lock:
            self._started.pop(number, None)
            self._last_line.pop(number, None)
            task = self._tasks.pop(number, None)
            if task is not None and self._live is not None:
                # Its last state drawn once (a short trial's last epoch can fall between two of
                # the 4 refreshes a second), then gone before the trial's line is printed.
                self._live.refresh()
                self._live.remove_task(task)
                self._live.refresh()

    # -- the trials' side -------------------------------------------------------------------

    def update(self, p: TrialProgress) -> None:
        with self._lock:
            if p.number not in self._started:  # ended already (a late report)
                return
            if self._live is not None:
                self._show_live(p)
            elif self.mode == "lines" and p.epoch_done:
                now = self.clock()
                if now - self._last_line[p.number] >= LINES_EVERY_S:
                    self._last_line[p.number] = now
                    self.say(f"  trial {p.number}: {describe(p, ', ')} "
                             f"({clock_text(now - self._started[p.number])} in)")

    def _show_live(self, p: TrialProgress) -> None:
        task = self._tasks.get(p.number)
        if task is None:
            return
        epochs = max(p.epochs - p.first_epoch + 1, 1) * p.runs
        done_epochs = (p.run - 1) * (p.epochs - p.first_epoch + 1) + p.epoch - p.first_epoch
        if p.epoch_done:
            done = done_epochs + 1.0
        elif p.step is not None and p.steps:
            done = done_epochs + min(p.step / p.steps, 1.0)
        else:
            done = float(done_epochs)
        self._live.update(task, total=epochs, completed=done, description=describe(p))
