"""Pointing a process's stdout and stderr at a log file of the results folder.

TensorFlow's C++ start-up lines, absl's, the JVM's and log4j's are written to the file descriptors
1 and 2 by code that Python's ``sys.stdout`` never sees, and child processes inherit those
descriptors; so they are redirected at that level, for good (in a worker process) or for a while
(around TensorFlow's import, or the start of Spark's JVM, in the search's own process).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator

STDOUT_AND_STDERR = (1, 2)


def send_output_to(log_path: str | Path | None, fds: tuple[int, ...] = STDOUT_AND_STDERR
                   ) -> None:
    """From now on, this process's (and its children's) ``fds`` write to ``log_path`` (appended;
    ``None``: to nowhere)."""
    sys.stdout.flush()
    sys.stderr.flush()
    target = os.open(str(log_path) if log_path is not None else os.devnull,
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for fd in fds:
            os.dup2(target, fd)
    finally:
        os.close(target)


@contextlib.contextmanager
def output_to(log_path: str | Path | None, fds: tuple[int, ...] = STDOUT_AND_STDERR
              ) -> Iterator[None]:
    """``fds`` write to ``log_path`` while the block runs; children started meanwhile keep
    writing there, this process gets its console back afterwards."""
    saved = [os.dup(fd) for fd in fds]
    try:
        send_output_to(log_path, fds)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip(fds, saved):
            os.dup2(copy, fd)
            os.close(copy)


def see_log(log_path: str | Path | None, whose: str = "its own messages") -> str:
    """The end of an error message that points at a log: ``"; its own messages are in PATH"``
    (nothing without a log)."""
    return f"; {whose} are in {log_path}" if log_path else ""
