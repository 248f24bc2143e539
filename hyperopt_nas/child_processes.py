"""What the search's helper processes (trial workers, the drawing process) share: they leave
Ctrl-C to the search, and they end when the search is gone.

A Ctrl-C reaches every process of the terminal's process group, and a scheduler or ``timeout``
may send SIGINT to the search and then to its group: a helper that died of it would lose a
trial or a picture. Started with SIGINT ignored (a disposition kept across exec), a helper
ignores it from its first instruction, before Python has loaded anything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Iterator

PARENT_CHECK_S = 1.0  # how often an orphaned helper looks for its parent


@contextlib.contextmanager
def ctrl_c_ignored() -> Iterator[None]:
    """While starting a helper process: it inherits SIGINT ignored. Only the main thread can
    change signal handling; elsewhere the helper ignores SIGINT once its code runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def exit_with_parent(parent_pid: int) -> None:
    """End this process when its parent (the search) is gone: no training for nobody."""
    def watch():
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(PARENT_CHECK_S)

    threading.Thread(target=watch, daemon=True).start()
