"""Ctrl-C and a polite kill (SIGTERM) stop the command as asked, once, and are never lost.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be. Raised inside a
weakref callback or a ``__del__`` (an import's module lock has one, the garbage collector runs
others at any moment) it is printed as "Exception ignored" and dropped, and the command went on
as if never asked. ``STOP`` records every request as well as raising it, and the places that
check it (the end of the start-up, the search's loop) act on one that was dropped; the dropped
one's "Exception ignored" lines are not printed.

The same signal again within ``REPEAT_S`` (``timeout -s INT`` and some schedulers signal the
process, then its group) is the same request and must not cut short the stop it started; one
later is a second request, raised again.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    REPEAT_S = 2.0

    def __init__(self):
        self.asked_at: float | None = None  # time.monotonic() of the last request
        self.raise_now = True  # False while starting: a request waits for check()
        self.listening = False
        self.hook = sys.unraisablehook  # the one that prints what Python drops, while listening

    def listen(self, raise_now: bool = True, signals: tuple = SIGNALS) -> dict:
        """Take ``signals`` (main thread only); returns the handlers they had, for ``restore``.
        A request made before, while already listening, is kept."""
        previous = {s: signal.signal(s, self) for s in signals}
        if not self.listening:
            self.asked_at, self.hook = None, sys.unraisablehook
            sys.unraisablehook = self._unraisable
        self.listening, self.raise_now = True, raise_now
        return previous

    def restore(self, previous: dict) -> None:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if self.listening:
            sys.unraisablehook = self.hook
        self.listening, self.asked_at = False, None

    def __call__(self, signum, frame) -> None:
        now = time.monotonic()
        if self.asked_at is not None and now - self.asked_at < self.REPEAT_S:
            return
        self.asked_at = now
        if self.raise_now:
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise the request if one was made: one Python dropped, or one made while starting."""
        if self.asked_at is not None:
            raise KeyboardInterrupt

    def _unraisable(self, unraisable) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):  # that one is held here
            self.hook(unraisable)

    def start_raising(self) -> None:
        """The start-up is over: a request made during it is raised now, later ones at once."""
        self.raise_now = True
        self.check()


STOP = StopRequest()


@contextlib.contextmanager
def listening(signals: tuple = (signal.SIGINT,), raise_now: bool = True) -> Iterator[None]:
    """``STOP`` takes ``signals`` for the block and gives the handlers back after, where it can:
    in the main thread, and unless it listens already (the command line from its first lines).
    The API's search takes SIGINT only: a Ctrl-C, not the program's own SIGTERM."""
    if STOP.listening or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = STOP.listen(raise_now, signals)
    try:
        yield
    finally:
        STOP.restore(previous)
