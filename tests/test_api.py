"""The Python API: hyperopt_nas.search and hyperopt_nas.results_table."""

import csv
import io
import signal
import subprocess
import sys

import pytest
from conftest import ROOT

import hyperopt_nas
from hyperopt_nas.outputs import reports
from hyperopt_nas.trial_store import TrialStore

COLUMNS = ["number", "status", "val_accuracy", "test_accuracy", "epochs_run", "wall_time_s"]


@pytest.mark.slow
def test_search_from_python_and_the_table_of_its_trials(tmp_path, tiny_space, fashion_dir,
                                                        monkeypatch):
    lines = []
    summary = hyperopt_nas.search(tiny_space, tmp_path / "results", say=lines.append,
                                  max_evals=3, data_dir=str(fashion_dir), isolation="none",
                                  plot_best=False, plot_search=False, tensorboard=False)
    assert summary.total == 3 and summary.best is not None and len(lines) >= 4
    monkeypatch.setitem(sys.modules, "pandas", None)  # as without pandas: plain rows
    rows = hyperopt_nas.results_table(tmp_path / "results")
    assert [row["number"] for row in rows][0] == summary.best.number
    assert all(c in rows[0] for c in COLUMNS)
    assert rows[0]["param.hidden_layers.0.units"] == summary.best.params["hidden_layers"][0][
        "units"]
    records = TrialStore(tmp_path / "results").load_records()
    parsed = list(csv.DictReader(io.StringIO(reports.rank_csv(records))))
    assert [int(r["number"]) for r in parsed] == [row["number"] for row in rows]
    assert list(parsed[0])[:len(COLUMNS)] == COLUMNS


def test_the_table_is_a_dataframe_with_pandas(tmp_path):
    pandas = pytest.importorskip("pandas")
    from helpers import make_record
    store = TrialStore(tmp_path)
    for number, loss in ((0, 0.3), (1, 0.1)):
        store.save_record(make_record(number, loss))
    table = hyperopt_nas.results_table(tmp_path)
    assert isinstance(table, pandas.DataFrame) and list(table["number"]) == [1, 0]


def test_an_unknown_option_is_named():
    with pytest.raises(TypeError, match=r"unknown options \['max_eval'\]; it takes: .*max_evals"):
        hyperopt_nas.search("space.py", max_eval=3)


UNGUARDED = """
import sys
sys.path.insert(0, {root!r})
import hyperopt_nas
print("script run", flush=True)  # once: in the search's own process only
summary = hyperopt_nas.search({space!r}, {results!r}, max_evals=2, data_dir={data!r},
                              plot_best=False, tensorboard=False)
print("done", summary.total)
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["script", "stdin"])
def test_a_script_without_the_main_guard_or_fed_on_stdin_runs_to_the_end(
        tmp_path, tiny_space, fashion_dir, how):
    """Issue 36: trial workers imported the user's script again (a search without the guard
    failed, "the trial worker died while starting"), and code on standard input, as a notebook
    cell runs, could not be imported at all; nor could the drawing process start."""
    code = UNGUARDED.format(root=str(ROOT), space=str(tiny_space),
                            results=str(tmp_path / "results"), data=str(fashion_dir))
    script = tmp_path / "run.py"
    script.write_text(code)
    argv, stdin = ([sys.executable, str(script)], None) if how == "script" else \
        ([sys.executable, "-"], code)
    out = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("script run") == 1 and "done 2" in out.stdout
    assert "ended unexpectedly" not in out.stdout + out.stderr
    assert (tmp_path / "results" / "search_progress.png").is_file()  # the drawing process's


@pytest.mark.slow
def test_a_callback_hears_every_saved_trial_and_its_errors_lose_nothing(
        tmp_path, tiny_space, fashion_dir):
    heard, lines = [], []

    def on_trial_end(record):
        heard.append((record.number, record.score))
        # The record is on disk when the callback hears of it.
        assert any(TrialStore(tmp_path / "results").dir.glob(f"*trial-{record.number:04d}.json"))
        if record.number == 1:
            raise RuntimeError("my dashboard is down")

    summary = hyperopt_nas.search(tiny_space, tmp_path / "results", say=lines.append,
                                  max_evals=3, data_dir=str(fashion_dir), isolation="none",
                                  plot_best=False, plot_search=False, tensorboard=False,
                                  on_trial_end=on_trial_end)
    assert summary.completed == 3 and [n for n, _ in heard] == [0, 1, 2]
    assert len(TrialStore(tmp_path / "results").load_records()) == 3
    warned = [line for line in lines if line.startswith("warning: on_trial_end raised")]
    assert warned == ["warning: on_trial_end raised RuntimeError: my dashboard is down (trial 1 "
                      "is saved; the search goes on)."]


def test_a_ctrl_c_that_python_dropped_stops_a_search_from_python(tmp_path, tiny_space,
                                                                 fashion_dir):
    before = signal.getsignal(signal.SIGINT)

    class DroppedCtrlC:  # deleted at once: what its __del__ raises, Python drops
        def __del__(self):
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # the Ctrl-C, as delivered

    lines = []
    # Issue 44: it raises, as any Ctrl-C does (Keras Tuner and Optuna too), once the finished
    # trial is saved: the rest of the script does not run on as if the search had ended.
    with pytest.raises(KeyboardInterrupt):
        hyperopt_nas.search(tiny_space, tmp_path / "results", say=lines.append,
                            max_evals=3, data_dir=str(fashion_dir), isolation="none",
                            plot_best=False, plot_search=False, tensorboard=False,
                            on_trial_end=lambda record: DroppedCtrlC())
    assert len(TrialStore(tmp_path / "results").load_records()) == 1, lines
    assert any(line.startswith("Interrupted:") for line in lines)
    assert signal.getsignal(signal.SIGINT) is before  # the program's own handler is back


def test_a_search_whose_trials_all_fail_raises_whatever_max_evals(tmp_path):
    """Issue 44: with max_evals under the failures-in-a-row limit, search() returned best=None
    quietly."""
    from hyperopt import hp
    from helpers import arrays

    def broken(params):
        raise RuntimeError("my network does not build")
    x, y = arrays(40, 1)
    with pytest.raises(hyperopt_nas.FatalError, match="none of the 2 trials of this run "
                       "succeeded; each failed_trial-"):
        hyperopt_nas.search({"u": hp.choice("u", [1, 2])}, tmp_path / "r", say=lambda line: None,
                            build_model=broken, x=x, y=y, max_evals=2, epochs=1,
                            isolation="none", plot_best=False, plot_search=False,
                            tensorboard=False)
    assert len(TrialStore(tmp_path / "r").load_records()) == 2  # kept, with their errors


def test_every_public_name_is_there_at_once_in_a_fresh_process():
    """The package docstring's ``hyperopt_nas.retrain.retrain(...)`` works as the first use."""
    code = ("import hyperopt_nas\n"
            "print(callable(hyperopt_nas.retrain.retrain), "
            "all(callable(getattr(hyperopt_nas, n)) for n in hyperopt_nas.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.split() == ["True", "True"]


def test_options_take_the_command_lines_names_and_spellings():
    from hyperopt_nas.schedulers.pruning import PruneRule
    settings = hyperopt_nas.settings_of("s.py", "r", dict(
        timeout="2m", trial_timeout="90s", cv=5, prune="median", max_params="50k",
        max_latency_ms="2.5", executor="local"))
    assert (settings.timeout_s, settings.trial_timeout_s, settings.cv_folds) == (120, 90, 5)
    assert settings.prune == PruneRule("median") and settings.max_params == 50_000
    assert settings.max_latency_ms == 2.5 and settings.backend == "local"
    assert hyperopt_nas.settings_of("s.py", "r", dict(timeout_s=30)).timeout_s == 30


@pytest.mark.parametrize("options, error, message", [
    (dict(timeout="2x"), ValueError, r"search\(\): timeout must be a duration such as 90s"),
    (dict(timeout_s=-1), ValueError, r"search\(\): timeout_s must be a positive duration"),
    (dict(prune="mediam"), ValueError, r"search\(\): prune must be one of"),
    (dict(max_params="lots"), ValueError, r"max_params must be a number of parameters"),
    (dict(timeout="2m", timeout_s=120), TypeError, "both timeout= and timeout_s="),
])
def test_a_bad_option_is_one_clear_error(options, error, message):
    with pytest.raises(error, match=message):
        hyperopt_nas.settings_of("s.py", "r", options)


@pytest.mark.parametrize("argv, options", [
    # Issue 45: --prune percentile pruned below the 25th percentile, search(prune=...) the 50th.
    (["--prune", "percentile"], dict(prune="percentile")),
    (["--prune", "median"], dict(prune="median")),
    (["--timeout", "2m", "--trial-timeout", "90s", "--cv", "5", "--max-params", "50k",
      "--max-latency-ms", "2.5", "--executor", "local", "--max-evals", "7", "--seed", "3"],
     dict(timeout="2m", trial_timeout="90s", cv=5, max_params="50k", max_latency_ms="2.5",
          executor="local", max_evals=7, seed=3)),
])
def test_the_command_line_and_the_api_give_the_same_settings(argv, options):
    import hyperopt_optimize
    from hyperopt_nas.schedulers.pruning import DEFAULT_PERCENTILE, PruneRule

    args = hyperopt_optimize.parse_args(["--space", "s.py", "--results-dir", "r", *argv])
    cli = hyperopt_optimize.settings_from_args(args)
    api = hyperopt_nas.settings_of("s.py", "r", options)
    assert cli == api
    assert PruneRule("percentile").percentile == DEFAULT_PERCENTILE == 25.0
    assert PruneRule("median").percentile == 50.0
