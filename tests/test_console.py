"""The running trials on the console: plain lines for logs, live lines on a terminal."""

import pytest


import io
import os
import pty
import re
import select
import subprocess
import sys
import time

from conftest import ROOT

from hyperopt_nas import console
from hyperopt_nas.console import LINES_EVERY_S, TrialsProgress, resolve_mode
from hyperopt_nas.trial import TrialProgress


def at_epoch_end(number, epoch, val_accuracy=0.8123, **kw):
    return TrialProgress(number, epoch=epoch, epochs=10, first_epoch=1, step=422, steps=422,
                         images_per_s=1850.4, epoch_done=True, val_accuracy=val_accuracy, **kw)


def test_a_trial_that_ends_between_two_refreshes_is_drawn_at_its_last_epoch(monkeypatch):
    """The live lines redraw 4 times a second: a short trial's last report, just before it
    ends, is drawn once before its line goes, not lost between two refreshes."""
    from rich.console import Console
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120)
    progress_bars = console.Progress
    monkeypatch.setattr(console, "Progress",
                        lambda *a, **kw: progress_bars(*a, console=terminal, **kw))
    with TrialsProgress("live") as progress:
        progress.started(0)
        progress.update(at_epoch_end(0, 10))
        progress.ended(0)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert "epoch 10/10" in shown and "val. acc. 0.8123" in shown, shown


def test_plain_lines_come_at_epoch_ends_after_half_a_minute_of_silence():
    now = [0.0]
    lines = []
    progress = TrialsProgress("lines", say=lines.append, clock=lambda: now[0])
    progress.started(3)
    now[0] = 10.0
    progress.update(at_epoch_end(3, 1))  # 10 s in: a short trial says nothing
    now[0] = LINES_EVERY_S + 5
    progress.update(TrialProgress(3, 2, 10, 1, 100, 422, 1800.0))  # a batch: never a line
    assert lines == []
    now[0] = LINES_EVERY_S + 11
    progress.update(at_epoch_end(3, 2))
    now[0] = LINES_EVERY_S + 20
    progress.update(at_epoch_end(3, 3))  # only 9 s since the last line
    assert lines == ["  trial 3: epoch 2/10, 1,850 img/s, val. acc. 0.8123 (0:41 in)"]
    progress.ended(3)
    now[0] = 1000.0
    progress.update(at_epoch_end(3, 4))  # a report that arrives after its trial ended
    assert len(lines) == 1


def test_runs_of_cross_validation_are_named():
    line = console.describe(at_epoch_end(0, 2, run=3, runs=5), ", ")
    assert line == "run 3/5, epoch 2/10, 1,850 img/s, val. acc. 0.8123"
    during = TrialProgress(0, 1, 10, 1, step=40, steps=422, images_per_s=900.0)
    assert console.describe(during) == "epoch 1/10 · batch 40/422 · 900 img/s"


def test_off_says_nothing_and_auto_follows_the_terminal(monkeypatch):
    lines = []
    progress = TrialsProgress("off", say=lines.append, clock=lambda: 1e6)
    progress.started(0)
    progress.update(at_epoch_end(0, 1))
    assert lines == []

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setenv("TERM", "xterm")
    assert resolve_mode("auto", Terminal()) == "live"
    assert resolve_mode("auto", io.StringIO()) == "lines"  # a pipe, a file, CI
    monkeypatch.setenv("TERM", "dumb")
    assert resolve_mode("auto", Terminal()) == "lines"


def read_terminal(args, cwd, timeout=240):
    """Run the command line with a terminal as its output; everything it wrote."""
    master, slave = pty.openpty()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TERM": "xterm", "COLUMNS": "140",
           "KERAS_HOME": str(cwd / "keras_home")}
    process = subprocess.Popen([sys.executable, str(ROOT / "hyperopt_optimize.py"), *args],
                               cwd=cwd, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL,
                               env=env)
    os.close(slave)
    out, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the command ended
                    break
                if not chunk:
                    break
                out += chunk
            elif process.poll() is not None:
                break
    finally:
        process.kill()
        process.wait()
        os.close(master)
    return process.returncode, out.decode(errors="replace")


@pytest.mark.slow
def test_a_terminal_sees_each_running_trial_live(tmp_path, tiny_space, fashion_dir):
    code, out = read_terminal(["--space", str(tiny_space), "--results-dir",
                               str(tmp_path / "results"), "--data-dir", str(fashion_dir),
                               "--max-evals", "2", "--epochs", "3", "--no-plot",
                               "--no-tensorboard"], tmp_path)
    assert code == 0, out
    redrawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.replace("\r", "\n"))  # no colours
    # A live line per running trial, redrawn in place (cursor control), with where it is.
    assert "\x1b[2K" in out
    assert any(line.lstrip().startswith("trial 0") and "epoch 3/3" in line and "img/s" in line
               for line in redrawn.splitlines()), out
    assert "val. acc." in out
    # The trials' own lines are printed whole, above the live ones.
    assert any(line.startswith("trial    1 [2/2] | val acc") for line in redrawn.splitlines())
