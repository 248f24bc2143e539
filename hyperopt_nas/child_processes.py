"""What the search's helper processes (trial workers, the drawing process) share: they leave
Ctrl-C to the search, they end when the search is gone, and they never run the user's script.

``multiprocessing``'s spawn runs the parent's ``__main__`` again in each child, to find what
the child's function needs: a script without an ``if __name__ == "__main__":`` guard would
start a search in every worker, and code fed on standard input (``python - < cell.py``) cannot
be run again at all. A helper's function and arguments are this package's own (a search's own
model and data travel in files: its space file, or the notebook API's pickle), so the helper is
started as if ``__main__`` were an interactive session's: nothing of it is imported again.

A Ctrl-C reaches every process of the terminal's process group, and a scheduler or ``timeout``
may send SIGINT to the search and then to its group: a helper that died of it would lose a
trial or a picture. Started with SIGINT ignored (a disposition kept across exec), a helper
ignores it from its first instruction, before Python has loaded anything.

A helper also watches for its parent from the moment this package is imported (the first
import of a spawned process, to unpickle its function), not
only once its own code runs: a search killed while its workers still import TensorFlow and
hyperopt (many seconds on a loaded machine) leaves none of them running for long.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Iterator

PARENT_CHECK_S = 1.0  # how often an orphaned helper looks for its parent
PARENT_PID_ENV = "HYPEROPT_NAS_PARENT_PID"  # set only while a helper process is started

_starting = threading.Lock()  # one helper started at a time: the variable is the process's
_watched: set[int] = set()


@contextlib.contextmanager
def main_not_run_again() -> Iterator[None]:
    """While starting a spawned process: ``__main__`` looks like an interactive session's (no
    ``__file__``, no ``__spec__``), so that the child does not import the user's script."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {name: vars(main)[name] for name in ("__file__", "__spec__") if name in vars(main)}
    vars(main).pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        vars(main).pop("__spec__", None)
        vars(main).update(saved)


@contextlib.contextmanager
def starting_helper() -> Iterator[None]:
    """While starting a helper process: it inherits SIGINT ignored, the search's pid in its
    environment so that it can watch for its parent before its heavy imports, and none of the
    user's ``__main__``. Only the main thread can change signal handling; elsewhere the helper
    ignores SIGINT once its code runs."""
    with _starting, main_not_run_again():
        os.environ[PARENT_PID_ENV] = str(os.getpid())
        try:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                yield
            finally:
                signal.signal(signal.SIGINT, previous)
        finally:
            os.environ.pop(PARENT_PID_ENV, None)


def exit_with_parent(parent_pid: int) -> None:
    """End this process when its parent (the search) is gone: no training for nobody."""
    if parent_pid in _watched:
        return
    _watched.add(parent_pid)

    def watch():
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(PARENT_CHECK_S)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def watch_parent_if_helper() -> None:
    """In a process started by ``starting_helper``: watch for the parent from now on. The
    variable is taken out of the environment, so this process's own children (a JVM, `dot`)
    never mistake its pid for their parent's."""
    pid = os.environ.pop(PARENT_PID_ENV, "")
    if pid.isdigit():
        exit_with_parent(int(pid))
