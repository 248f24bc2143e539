"""Pictures, TensorBoard logs and ``best_model.png`` refreshed in the background, off the path of
the trials.

The engine calls ``Outputs.notify()`` after each saved trial and goes straight on. A thread
(``Refresher``) runs one refresh at a time and coalesces: if three trials end while a refresh is
drawing, one more refresh follows, of the latest state. The drawing happens in a child process
of low priority (``os.nice``) that reads the saved records, so it never holds this process's
memory or the trials' CPU ahead of training; it draws a new best model from the graph its trial
sent back (``graphs/``), and imports Keras and TensorFlow only to build one that came without it
(a folder of an earlier version). A failure there is a warning, never the end of the search;
``close()`` waits for the last refresh, so the pictures show every trial when the search ends.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from pathlib import Path
from typing import Callable

from hyperopt_nas import data_loaders
from hyperopt_nas.child_processes import exit_with_parent, starting_helper
from hyperopt_nas.gpus import VISIBLE
from hyperopt_nas.log_files import send_output_to
from hyperopt_nas.outputs import html_report, reports
from hyperopt_nas.outputs import plots as search_plots
from hyperopt_nas.trial_store import TrialStore

logger = logging.getLogger(__name__)

NICENESS = 10  # the drawing process yields the CPU to training


def tensorboard_missing(error: ImportError) -> str:
    """What to tell a user whose install lacks tensorboard: the logs are skipped, nothing else."""
    return (f"TensorBoard logs are not written: {error}. Install tensorboard (it is in "
            "setup.cfg's requirements)")


class Refresher:
    """Runs ``work`` in a background thread after each ``notify()``, never two at once, and
    once for any number of notifications that came while it ran."""

    def __init__(self, work: Callable[[], None], name: str = "outputs"):
        self._work = work
        self._cond = threading.Condition()
        self._dirty = self._closing = False
        self.runs = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def notify(self) -> None:
        with self._cond:
            self._dirty = True
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._dirty and not self._closing:
                    self._cond.wait()
                if not self._dirty:
                    return
                self._dirty = False
            try:
                self._work()
            except Exception as e:  # an output problem never stops the search
                logger.warning("the pictures and logs were not refreshed (%s); the search goes "
                               "on", e)
            self.runs += 1

    def close(self, timeout: float | None = None) -> None:
        """Finish the refresh that is due, if any, then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)


def refresh_outputs(results_dir: Path, space_path: Path, plots: bool, tensorboard: bool,
                    best_model: bool, state: dict, live: bool = True) -> list[str]:
    """One refresh from the saved records; returns the problems met (each a sentence).
    ``state`` is kept between calls: what is switched off, the best model already drawn.
    With the plots, ``report.html`` too: ``live`` while the search runs (it reloads itself in a
    browser), a plain page at its end."""
    problems = []
    records = TrialStore(results_dir).load_records()
    if not records:
        return problems
    if plots:
        try:
            search_plots.plot_all(records, results_dir)
        except Exception as e:
            problems.append(f"the search plots were not refreshed ({type(e).__name__}: {e})")
    newest = max(records, key=lambda r: r.number)
    if tensorboard and not state.get("no_tensorboard"):
        try:
            # Here, not at the top: a missing tensorboard is then a warning (below), and the
            # search's process, which imports this module, loads neither it nor hyperopt for it.
            from hyperopt_nas.outputs import tensorboard_logs
            from hyperopt_nas.space_files import load_space_file
            tensorboard_logs.sync(results_dir, records, load_space_file(space_path),
                                  list(data_loaders.record_info(newest).heads))
        except ImportError as e:
            state["no_tensorboard"] = True
            problems.append(f"{tensorboard_missing(e)}; the search goes on.")
        except Exception as e:
            problems.append(f"the TensorBoard logs were not updated ({type(e).__name__}: {e})")
    best = reports.ranked(records)[:1]
    if best_model and best and not state.get("no_graphviz"):
        key = (best[0].number, best[0].started_at)
        if key != state.get("best_drawn"):
            try:
                reports.check_graphviz()
                reports.draw_trial(best[0], results_dir, results_dir / reports.BEST_MODEL_PNG)
                state["best_drawn"] = key
            except reports.GraphvizMissing as e:
                state["no_graphviz"] = True
                problems.append(f"best_model.png is not drawn: {e}. The search goes on.")
            except Exception as e:
                problems.append(f"best_model.png is not drawn ({type(e).__name__}: {e}). "
                                "The search goes on.")
    if plots:
        write_report_now(records, results_dir, live, problems)
    return problems


def write_report_now(records: list, results_dir: Path, live: bool, problems: list[str]) -> None:
    try:
        html_report.write_report(records, results_dir, live=live)
    except Exception as e:
        problems.append(f"report.html was not refreshed ({type(e).__name__}: {e})")


def hide_gpus() -> None:
    """Show this process no GPU, whatever its environment said (a shell's or a scheduler's
    ``CUDA_VISIBLE_DEVICES``): drawing a model needs none, and TensorFlow would take memory on
    every GPU it sees. Before TensorFlow is imported: it reads this once."""
    os.environ[VISIBLE] = ""


def _outputs_main(conn, parent_pid: int, log_path: str | None, args: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the search's to handle
    exit_with_parent(parent_pid)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    hide_gpus()
    try:
        os.nice(NICENESS)
    except OSError:
        pass
    if log_path is not None:
        send_output_to(log_path)
    # Warm up while the first trial trains (at low priority): the first refresh is then quick.
    if args[2]:
        search_plots.pyplot()  # matplotlib
    if args[3]:
        try:  # TensorBoard's writer and the space file's reader (hyperopt): about 1 s here
            from hyperopt_nas.outputs import tensorboard_logs  # noqa: F401
        except ImportError:
            pass  # said at the first refresh
    # best_model.png is drawn from the graph the trial's worker sent back (graphs/): Keras and
    # its backend are loaded here only to build a network again that came without one.
    state: dict = {}
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        try:
            if request == "final":  # the search ended: the report stops reloading itself
                problems: list[str] = []
                if args[2]:
                    records = TrialStore(args[0]).load_records()
                    if records:
                        write_report_now(records, args[0], False, problems)
                conn.send(problems)
            else:
                conn.send(refresh_outputs(*args, state))
        except Exception as e:
            conn.send([f"the outputs were not refreshed ({type(e).__name__}: {e})"])


class Outputs:
    """The search's observer: the pictures and logs of ``results_dir``, kept up to date."""

    def __init__(self, results_dir: Path, space_path: Path, *, plots: bool = True,
                 tensorboard: bool = True, best_model: bool = True,
                 log_path: Path | None = None):
        self.args = (Path(results_dir), Path(space_path), plots, tensorboard, best_model)
        self.log_path = str(log_path) if log_path is not None else None
        self._context = multiprocessing.get_context("spawn")
        self._process = self._conn = None
        self._said: set[str] = set()
        self._start()
        self.refresher = Refresher(self._refresh, name="outputs")

    def notify(self) -> None:
        self.refresher.notify()

    def _start(self) -> None:
        if self._process is None:
            parent, child = self._context.Pipe()
            self._process = self._context.Process(
                target=_outputs_main, name="outputs", daemon=True,
                args=(child, os.getpid(), self.log_path, self.args))
            with starting_helper():
                self._process.start()
            child.close()
            self._conn = parent

    def _refresh(self, request: str = "refresh") -> None:
        self._start()
        try:
            self._conn.send(request)
            problems = self._conn.recv()
        except (EOFError, OSError):
            self._stop()
            raise RuntimeError("the drawing process ended unexpectedly") from None
        for problem in problems:
            if problem not in self._said:  # once each, not after every trial
                self._said.add(problem)
                logger.warning(problem)

    def _stop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(None)
            except OSError:
                pass
            self._conn.close()
            self._conn = None
        if self._process is not None:  # no refresh is under way: it may be warming up still
            self._process.join(timeout=2)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None

    def close(self) -> None:
        """Wait for the last refresh, write the report as the search left it, then stop the
        drawing process."""
        self.refresher.close()
        if self._process is not None and self.args[2]:
            try:
                self._refresh("final")
            except RuntimeError as e:
                logger.warning(str(e))
        self._stop()
