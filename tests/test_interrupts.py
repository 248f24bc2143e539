"""Ctrl-C and a polite kill stop the command once, and are never lost (interrupts.py)."""

import signal

import pytest


def test_the_same_interrupt_delivered_twice_stops_the_search_once(monkeypatch):
    from hyperopt_nas.interrupts import StopRequest
    clock = iter([100.0, 100.01, 103.0])
    monkeypatch.setattr("time.monotonic", lambda: next(clock))
    interrupt = StopRequest()
    with pytest.raises(KeyboardInterrupt):
        interrupt(signal.SIGINT, None)
    interrupt(signal.SIGINT, None)  # the group's copy, 10 ms later: nothing
    with pytest.raises(KeyboardInterrupt):  # the user insisting, 3 s later
        interrupt(signal.SIGINT, None)
