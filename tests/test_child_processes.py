"""Helper processes leave Ctrl-C to the search; the search stops once per Ctrl-C."""

import multiprocessing
import signal

import pytest

from hyperopt_nas.child_processes import starting_helper


def _report_sigint(queue):
    queue.put(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)


def test_a_helper_started_so_ignores_ctrl_c_from_its_first_line():
    # As in a terminal: a shell that starts the tests in the background (`cmd &` without job
    # control) hands them SIGINT already ignored, which every child would inherit.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _helper_and_plain_child()
    finally:
        signal.signal(signal.SIGINT, previous)


def _helper_and_plain_child():
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    with starting_helper():
        ignoring = context.Process(target=_report_sigint, args=(queue,))
        ignoring.start()
    plain = context.Process(target=_report_sigint, args=(queue,))
    plain.start()
    ignoring.join(60), plain.join(60)
    assert sorted([queue.get(timeout=10), queue.get(timeout=10)]) == [False, True]
    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN  # the search's own is back


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
