"""The command line's options, read in this process (the same commands run as a user runs them,
in real processes, are in integration/test_command_line.py)."""

import signal

import pytest
from helpers import cli_search_args


@pytest.mark.parametrize("option", ["--timeout", "--trial-timeout"])
@pytest.mark.parametrize("value", ["-5", "0", "inf", "nan", "ten", "30x", "0m", "m"])
def test_a_time_limit_that_is_not_a_positive_number_is_refused(option, value, capsys):
    import hyperopt_optimize
    with pytest.raises(SystemExit) as exit_:
        hyperopt_optimize.parse_args([option, value])
    assert exit_.value.code == 2
    assert f"argument {option}: must be a" in capsys.readouterr().err
    assert hyperopt_optimize.parse_args([option, "2.5"]).__dict__[
        option[2:].replace("-", "_")] == 2.5


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("30m", 1800),
                                           ("2h", 7200), ("1.5h", 5400), ("2H", 7200)])
def test_a_time_budget_takes_units(text, seconds):
    import hyperopt_optimize
    from hyperopt_nas.console import duration_text
    assert hyperopt_optimize.parse_args(["--timeout", text]).timeout == seconds
    assert duration_text(seconds) == {90: "90 s", 1800: "30 min", 7200: "2 h",
                                      5400: "1 h 30 min"}[seconds]


@pytest.mark.parametrize("given, mode", [
    (["--parallelism", "4"], "--executor spark"),
    (["--spark-master", "spark://h:7077"], "--executor spark"),
    (["--prune-percentile", "10"], "--prune percentile"),
    (["--prune", "median", "--prune-percentile", "10"], "--prune percentile"),
    (["--prune-warmup", "1"], "--prune median or percentile"),
    (["--prune-min-trials", "5"], "--prune median or percentile"),
])
def test_an_option_without_its_mode_is_refused(given, mode, tmp_path, capsys, monkeypatch):
    import hyperopt_optimize
    from hyperopt_nas import engine as search_loop
    monkeypatch.setattr(search_loop, "run_search", lambda *a, **k: pytest.fail("searched"))
    args = hyperopt_optimize.parse_args(
        [*given, "--results-dir", str(tmp_path / "r")])
    assert hyperopt_optimize.command_search(args) == hyperopt_optimize.EXIT_FATAL
    assert f"{given[-2]} applies only with {mode}" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_options_with_their_mode_reach_the_search(tmp_path, monkeypatch):
    import hyperopt_optimize
    from hyperopt_nas import engine as search_loop
    seen = []
    monkeypatch.setattr(search_loop, "run_search",
                        lambda settings: seen.append(settings) or search_loop.SearchSummary(
                            0, 0, None))
    parse = hyperopt_optimize.parse_args
    for argv in (["--prune", "percentile", "--prune-percentile", "10", "--prune-warmup", "1",
                  "--prune-min-trials", "5"],
                 ["--prune", "median"], ["--backend", "spark", "--parallelism", "4"], []):
        assert hyperopt_optimize.command_search(parse(argv)) == 0
    percentile, median, spark, plain = seen
    assert (percentile.prune.kind, percentile.prune.percentile, percentile.prune.warmup_epochs,
            percentile.prune.min_trials) == ("percentile", 10.0, 1, 5)
    assert (median.prune.percentile, median.prune.warmup_epochs) == (50.0, 2)
    assert (spark.backend, spark.parallelism, plain.parallelism) == ("spark", 4, 2)


@pytest.mark.parametrize("dropped", [False, True])
def test_a_ctrl_c_while_loading_stops_before_anything_is_done(tmp_path, tiny_space, fashion_dir,
                                                              monkeypatch, capsys, dropped):
    """A Ctrl-C during the start-up's imports, one that Python dropped (raised in a module
    lock's weakref callback, CI saw it) too, stops the command before it writes anything."""
    import hyperopt_optimize
    from hyperopt_nas.interrupts import STOP
    real = hyperopt_optimize.load_commands

    class Dropped:
        def __del__(self):
            STOP.raise_now = True  # as a handler raising at once, inside a callback
            STOP(signal.SIGINT, None)

    def interrupted_while_loading():
        real()
        if dropped:
            Dropped()
        else:
            STOP(signal.SIGINT, None)

    monkeypatch.setattr(hyperopt_optimize, "load_commands", interrupted_while_loading)
    code = hyperopt_optimize.main(cli_search_args(tiny_space, tmp_path / "r", fashion_dir, 2))
    assert code == 130
    err = capsys.readouterr().err
    assert err.strip() == hyperopt_optimize.INTERRUPTED_STARTING, err
    assert not (tmp_path / "r").exists()
    assert signal.getsignal(signal.SIGINT) is not STOP  # the caller's handler is back


def test_the_executors_old_option_name_still_works_and_says_the_new_one(capsys):
    import hyperopt_optimize
    args = hyperopt_optimize.parse_args(["--backend", "spark", "--parallelism", "3"])
    assert (args.executor, args.parallelism) == ("spark", 3)
    assert "--backend is now --executor" in capsys.readouterr().err
    args = hyperopt_optimize.parse_args(["--executor", "spark", "--keras-backend", "jax"])
    assert (args.executor, args.keras_backend) == ("spark", "jax")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("text, count", [("50000", 50_000), ("50,000", 50_000), ("50k", 50_000),
                                         ("1.5M", 1_500_000), ("2_000", 2_000)])
def test_a_parameter_budget_reads_as_people_write_it(text, count):
    import hyperopt_optimize
    assert hyperopt_optimize.parse_args(["--max-params", text]).max_params == count


def test_the_size_weight_option_is_read_as_a_number():
    import hyperopt_optimize
    args = hyperopt_optimize.parse_args(["--size-weight", "0.01"])
    assert args.size_weight == 0.01


@pytest.mark.parametrize("option, value", [("--max-params", "lots"), ("--max-params", "0"),
                                           ("--max-params", "1.5"), ("--max-latency-ms", "-1"),
                                           ("--max-latency-ms", "fast"),
                                           ("--max-latency-ms", "inf"),
                                           ("--size-weight", "-0.1"),
                                           ("--size-weight", "heavy")])
def test_a_bad_size_budget_is_one_line_and_exit_2(option, value, capsys):
    import hyperopt_optimize
    with pytest.raises(SystemExit) as exit_:
        hyperopt_optimize.parse_args([option, value])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"argument {option}: must be" in err
    assert "Traceback" not in err
