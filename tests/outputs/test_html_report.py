import base64
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from helpers import png_size, recorded_trials
from helpers import make_record

from hyperopt_nas.outputs import html_report
from hyperopt_nas.outputs import plots
from hyperopt_nas.trial_store import TrialStatus


class Page(HTMLParser):
    """What a reader sees: headings, table rows, cards, images (decoded), text."""

    def __init__(self, text):
        super().__init__()
        self.headings, self.rows, self.images, self.text = [], [], [], []
        self._in, self._row = None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("h1", "h2"):
            self._in = tag
            self.headings.append("")
        elif tag == "tr":
            self._row = []
            self.rows.append(self._row)
        elif tag == "img":
            prefix = "data:image/png;base64,"
            assert attrs["src"].startswith(prefix)
            self.images.append(base64.b64decode(attrs["src"][len(prefix):]))

    def handle_endtag(self, tag):
        if tag in ("h1", "h2"):
            self._in = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._in:
            self.headings[-1] += data
        if self._row is not None and data.strip():
            self._row.append(data.strip())


def records_with_every_status():
    records = recorded_trials()
    records.append(make_record(16, 0.45, TrialStatus.PRUNED, params={"optimizer": "sgd"},
                               history={"val_accuracy": [0.55]}))
    records.append(make_record(17, None, TrialStatus.FAILED, history={},
                               error="ValueError: <script>alert(1)</script>"))
    return records


def test_report_shows_the_best_trial_top_ten_statuses_and_plots(tmp_path):
    records = records_with_every_status()
    plots.plot_all(records, tmp_path)
    page = Page(html_report.write_report(records, tmp_path).read_text())

    best = min((r for r in records if r.loss is not None), key=lambda r: r.loss)
    assert f"Best trial: {best.number}" in page.headings
    assert "Top 10 trials" in page.headings
    top = [row for row in page.rows if row[0].isdigit() and len(row) > 2]
    assert [int(row[0]) for row in top] == list(range(1, 11))
    assert int(top[0][1]) == best.number and float(top[0][2]) == pytest.approx(best.score, 1e-3)
    text = " ".join(page.text)
    for count, label in ((18, "trials"), (3, "failed"), (1, "pruned"), (14, "completed")):
        assert f"{count} {label}" in " ".join(" ".join(page.text).split())
    assert "<script>alert(1)</script>" in text  # shown as text, not run
    assert "<script>" not in html_report.render(records, tmp_path)
    assert len(page.images) == 4  # the four search plots (no model graph drawn here)
    for image in page.images:
        assert image[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_before_any_trial_completed(tmp_path):
    failed = [make_record(0, None, TrialStatus.FAILED, history={}, error="OOM")]
    page = Page(html_report.write_report(failed, tmp_path).read_text())
    assert "No trial has completed yet." in " ".join(page.text)
    assert ["0", "OOM"] in page.rows


def test_a_failed_trial_shows_its_error_line_and_the_rest_one_click_away(tmp_path):
    error = ("ValueError: Exception encountered when calling Conv2D.call().\n\nNegative "
             "dimension size caused by subtracting 3 from 2\n\nArguments received by "
             "Conv2D.call():\n  inputs=tf.Tensor(shape=(None, 2, 2, 64))")
    failed = [make_record(0, None, TrialStatus.FAILED, history={}, error=error,
                          traceback="Traceback (most recent call last):\n  File \"x.py\"")]
    text = html_report.write_report(failed, tmp_path).read_text()
    summary = "ValueError: Negative dimension size caused by subtracting 3 from 2"
    assert f"<details><summary>{summary}</summary><pre class=trace>" in text
    assert "Arguments received by" in text and "Traceback (most recent call last)" in text
    assert [summary] == [line for row in Page(text).rows for line in row if "Negative" in line
                         and "Arguments" not in line][:1]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="needs Debian's chromium for a headless screenshot")
def test_report_renders_in_headless_chromium(tmp_path):
    records = records_with_every_status()
    plots.plot_all(records, tmp_path)
    report = html_report.write_report(records, tmp_path)
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=1280,3000", f"--screenshot={shot}",
                    report.as_uri()], capture_output=True, timeout=120, check=True)
    assert png_size(shot) == (1280, 3000)
    assert shot.stat().st_size > 100_000  # tables and plots drawn, not a blank page


def test_report_marks_the_trials_the_split_cannot_tell_from_the_best(tmp_path):
    budget = {"epochs": 3, "train_samples": 6000, "validation_samples": 667}
    records = [make_record(n, loss, budget=budget) for n, loss in
               ((0, 0.14), (1, 0.12), (2, 0.125))]  # 1.3 points of noise: 1 and 2 tie, not 0
    page = Page(html_report.render(records, tmp_path))
    top = [row for row in page.rows if len(row) > 2 and row[0][0].isdigit()]
    assert [(row[0], row[1]) for row in top] == [("1 ~", "1"), ("2 ~", "2"), ("3", "0")]
    assert "2 trials are within one standard error" in " ".join(page.text)


@pytest.mark.slow
def test_the_report_follows_a_running_search_and_stops_reloading_at_its_end(
        tmp_path, tiny_space, fashion_dir):
    from hyperopt_nas.engine import SearchSettings, run_search
    from hyperopt_nas.outputs.refresher import refresh_outputs
    results = tmp_path / "results"
    lines = []
    seen_live = []

    def look(record):  # the report of the trials before this one, as a browser would find it
        page = results / "report.html"
        if page.exists():
            seen_live.append("http-equiv=refresh" in page.read_text())

    run_search(SearchSettings(space_path=tiny_space, results_dir=results, data_dir=fashion_dir,
                              max_evals=3, isolation="none", tensorboard=False, plot_best=False,
                              on_trial_end=look), say=lines.append)
    assert any(line.startswith(f"Live report: {results / 'report.html'}") for line in lines)
    final = (results / "report.html").read_text()
    assert "http-equiv=refresh" not in final and "The search is running" not in final
    assert Page(final).rows  # a whole page, with the trials' table
    # What the drawing process writes after each trial while the search runs:
    refresh_outputs(results, tiny_space, True, False, False, {}, live=True)
    live = (results / "report.html").read_text()
    assert f"http-equiv=refresh content={html_report.LIVE_RELOAD_S}" in live
    assert "The search is running: this page follows it" in live
    assert all(seen_live)  # any report met during the search was the live one


def test_a_search_under_a_size_budget_shows_its_front_and_what_it_did_not_train(tmp_path):
    budget = {"epochs": 2, "max_params": 50_000}
    records = [make_record(0, 0.20, extra={"model_params": 40_000}, budget=budget),
               make_record(1, 0.30, extra={"model_params": 45_000}, budget=budget),
               make_record(2, 0.25, extra={"model_params": 9_000}, budget=budget),
               make_record(3, None, TrialStatus.OVER_BUDGET, history={}, epochs_run=0,
                           extra={"model_params": 120_000}, budget=budget,
                           error="over budget: 120,000 parameters > --max-params 50,000")]
    written = plots.plot_all(records, tmp_path)
    assert tmp_path / plots.SIZE_PNG in written and png_size(tmp_path / plots.SIZE_PNG)[0] > 500
    page = Page(html_report.write_report(records, tmp_path).read_text())
    text = " ".join(" ".join(page.text).split())
    assert "1 over the size budget" in text and "40,000 parameters" in text
    params = {row[1]: row[7] for row in page.rows if row[0].isdigit() and len(row) > 7}
    assert params == {"0": "40k ◆", "2": "9k ◆", "1": "45k"}  # 1: 0 is smaller and better
    assert len(page.images) == 5  # the four search plots and accuracy against size
    # A folder of older trials (no sizes): no such picture, no column.
    plain = [make_record(0, 0.2), make_record(1, 0.3)]
    (tmp_path / "old").mkdir()
    assert tmp_path / "old" / plots.SIZE_PNG not in plots.plot_all(plain, tmp_path / "old")


def test_many_hyperparameters_get_a_table_of_their_own_one_column_per_trial(tmp_path):
    """Issue 36: the top-10 table of a space with many hyperparameters needed sideways
    scrolling; they are now rows, a column per trial."""
    records = [make_record(n, 0.1 + 0.01 * n, params={f"layer_{k}.units": 8 * (n + k)
                                                      for k in range(12)}) for n in range(4)]
    page = Page(html_report.render(records, tmp_path))
    top = next(row for row in page.rows if row[:2] == ["rank", "trial"])
    assert not any(cell.startswith("layer_") for cell in top)
    header = next(row for row in page.rows if row and row[0] == "hyperparameter"
                  and row[1:] and row[1].startswith("trial"))
    assert header[1:] == ["trial 0", "trial 1", "trial 2", "trial 3"]  # best first
    layer = [row for row in page.rows if row and row[0] == "layer_3.units"]
    assert layer[0] == ["layer_3.units", "24"]  # the best trial's own table, then the top's
    assert layer[-1][1:] == ["24", "32", "40", "48"]
    few = [make_record(n, 0.1 + 0.01 * n, params={"units": 8 * (n + 1)}) for n in range(3)]
    top = next(row for row in Page(html_report.render(few, tmp_path)).rows
               if row[:2] == ["rank", "trial"])
    assert top[-1] == "units"  # a few stay columns of the one table


def test_a_search_over_arrays_in_memory_is_named_by_the_users_build_function(tmp_path):
    """Issue 44: the report named the generated notebook_space.py as if it were the user's."""
    import json

    from hyperopt_nas import notebook
    folder = tmp_path / notebook.FOLDER
    folder.mkdir()
    (folder / notebook.ABOUT).write_text(json.dumps({"build_model": "my_cnn"}))
    records = [make_record(0, 0.3, space_file=str(folder / notebook.SPACE_FILE))]
    page = Page(html_report.write_report(records, tmp_path).read_text())
    assert page.headings[0] == "Search report: my_cnn over arrays in memory"
    assert "notebook_space.py" not in " ".join(page.text)
