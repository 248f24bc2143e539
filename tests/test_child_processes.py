"""Helper processes leave Ctrl-C to the search; the search stops once per Ctrl-C."""

import multiprocessing
import signal

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
