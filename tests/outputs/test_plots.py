import numpy as np
import pytest
from helpers import make_record

from hyperopt_nas.outputs import plots
from hyperopt_nas.trial_store import TrialStatus
from helpers import recorded_trials
from helpers import png_size


def test_importance_finds_what_drives_the_score():
    cols, scores = plots.columns(recorded_trials())
    names = [c.name for c in cols]
    assert names[0] == "optimizer" and cols[0].importance > 0.9
    assert "fixed" not in names  # constant: nothing to learn from it
    units = next(c for c in cols if c.name == "extra.units")
    assert sum(v is not None for v in units.values) < len(scores)  # only where present


def test_importance_limits():
    assert plots.importance([np.array([1.0, 1.0]), np.array([2.0, 2.0])]) == pytest.approx(1.0)
    assert plots.importance([np.array([1.0, 2.0]), np.array([1.0, 2.0])]) == pytest.approx(0.0)


def test_one_trial_per_option_is_no_evidence_of_importance():
    """Issue 24, finding 6: 'importance 1.00 (3 trials)' from one trial per option; issue 36:
    then 'importance 0.00' beside boxes at 0.37 and 0.86, which read as "no effect"."""
    assert plots.importance([np.array([0.8]), np.array([0.5]), np.array([0.6])]) is None
    assert plots.importance([np.array([0.8, 0.81]), np.array([0.5])]) is None
    column = plots.Column("optimizer", ["Adam", "SGD", "Adam"], True, ["Adam", "SGD"], None)
    assert column.importance_text() == "too few trials to rank"
    assert plots.Column("lr", [], False, [], 0.0).importance_text() == "importance 0.00"
    # Chance alone: two random halves of noise explain little once corrected.
    rng = np.random.default_rng(3)
    noise = [rng.normal(0, 1, 6) for _ in range(2)]
    assert plots.importance(noise) < 0.2


def test_a_category_s_trials_are_spread_around_it_not_piled_on_one_point():
    """Issue 36: in the scatter matrix every trial of an option sat on the same point."""
    column = plots.Column("act", ["relu"] * 20 + [None, "tanh"], True, ["relu", "tanh"], 0.5)
    spread = column.spread()
    relu = [p for p in spread[:20]]
    assert spread[20] is None and len(set(relu)) == 20
    assert all(abs(p - 0.0) <= plots.CATEGORY_SPREAD for p in relu)
    assert abs(spread[21] - 1.0) <= plots.CATEGORY_SPREAD
    assert column.spread() == spread  # the same offsets in every panel
    numbers = plots.Column("lr", [0.1, 0.2], False, [], 0.5)
    assert numbers.spread() == [0.1, 0.2]  # numbers sit where they are


def test_an_optional_part_is_a_column_of_its_own():
    """Issue 24, finding 6: the one-or-two-blocks choice was missing from the picture and its
    CSV column empty whichever the trial had."""
    from hyperopt_nas.outputs import reports
    records = []
    for i in range(8):
        second = {"filters": 32 + i} if i % 2 else None
        score = 0.9 if second else 0.6
        records.append(make_record(i, 1 - score - 0.001 * i, params={
            "conv_blocks": [{"filters": 16}, second], "lr": 0.01 * (i + 1)}))
    cols, _ = plots.columns(records)
    block = next(c for c in cols if c.name == "conv_blocks.1")
    assert block.categories == ["absent", "present"] and cols[0].name == "conv_blocks.1"
    rows = reports.table_rows(records)
    assert {r["param.conv_blocks.1"] for r in rows} == {"absent", "present"}
    for row in rows:
        present = row["param.conv_blocks.1"] == "present"
        assert present == (row.get("param.conv_blocks.1.filters") is not None)


@pytest.mark.parametrize("draw, min_size", [
    (plots.plot_progress, (800, 400)),
    (plots.plot_effects, (1000, 300)),
    (plots.plot_scatter_matrix, (600, 600)),
    (plots.plot_learning_curves, (600, 400)),
])
def test_each_plot_renders_from_recorded_trials(tmp_path, draw, min_size):
    path = draw(recorded_trials(), tmp_path / "plot.png")
    width, height = png_size(path)
    assert width >= min_size[0] and height >= min_size[1]
    assert path.stat().st_size > 10_000  # more than an empty canvas


def test_plots_survive_a_search_with_nothing_scored_yet(tmp_path):
    failed = [make_record(0, None, TrialStatus.FAILED, history={})]
    for path in plots.plot_all(failed, tmp_path):
        assert png_size(path)[0] > 100


def test_learning_curves_show_one_panel_per_head(tmp_path):
    two_heads = [make_record(i, 0.5 - i / 100, history={
        "fine_accuracy": [0.1, 0.2], "val_fine_accuracy": [0.1, 0.3],
        "coarse_accuracy": [0.2, 0.4], "val_coarse_accuracy": [0.2, 0.5]}) for i in range(3)]
    one_head = plots.plot_learning_curves(recorded_trials(), tmp_path / "one.png")
    both = plots.plot_learning_curves(two_heads, tmp_path / "two.png")
    assert png_size(both)[0] > 1.8 * png_size(one_head)[0]


def test_numeric_choices_are_categories_and_wide_ranges_get_a_log_axis():
    """Issue 17: dropout 0/0.1/0.2 and learning rates 0.001/0.01 were drawn as scatter on linear
    axes, and log-uniform hyperparameters on linear axes."""
    rng = np.random.default_rng(1)
    records = [make_record(i, 0.5 - i / 100, params={
        "dropout": [0.2, 0.0, 0.1][i % 3], "lr": [0.01, 0.001][i % 2],
        "loguniform": float(np.exp(rng.uniform(np.log(1e-4), np.log(1e-1)))),
        "uniform": float(rng.uniform(0.3, 0.9))}) for i in range(12)]
    cols = {c.name: c for c in plots.columns(records)[0]}
    assert cols["dropout"].categorical and cols["dropout"].categories == ["0", "0.1", "0.2"]
    assert cols["lr"].categorical and cols["lr"].categories == ["0.001", "0.01"]
    assert not cols["loguniform"].categorical and cols["loguniform"].log
    assert not cols["uniform"].categorical and not cols["uniform"].log
    assert cols["dropout"].position(0.1) == 1.0


def test_the_scatter_matrix_labels_rows_by_hyperparameter(tmp_path, monkeypatch):
    """Issue 17: its first row's label read "val. acc." over a hyperparameter's axis."""
    import matplotlib.figure
    labels = []
    real = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kwargs):
        for ax in fig.axes[:-1]:  # the last axes is the colour bar
            labels.append((ax.get_ylabel(), ax.yaxis.get_label_position(),
                           [t.get_text() for t in ax.texts]))
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    plots.plot_scatter_matrix(recorded_trials(), tmp_path / "m.png")
    first = labels[0]  # row 0, column 0: the diagonal
    assert first[0] == "val. acc." and first[1] == "right" and first[2] == ["optimizer"]
    n = int(round(len(labels) ** 0.5))
    assert [labels[i * n][0] for i in range(1, n)] == [c.name for c in
                                                       plots.columns(recorded_trials())[0][1:n]]


def test_the_accuracy_size_picture_shades_the_sizes_over_the_budget(tmp_path):
    """Where the feasible region lies, at a glance: the right of the budget line tinted red,
    the left of it not."""
    import matplotlib.image

    budget = {"epochs": 2, "max_params": 50_000}
    records = [make_record(0, 0.20, extra={"model_params": 40_000}, budget=budget),
               make_record(1, 0.25, extra={"model_params": 9_000}, budget=budget),
               make_record(2, None, TrialStatus.OVER_BUDGET, history={}, epochs_run=0,
                           extra={"model_params": 900_000}, budget=budget)]
    pixels = matplotlib.image.imread(plots.plot_size_front(records, tmp_path / "size.png"))
    height, width = pixels.shape[:2]
    band = pixels[int(height * 0.3):int(height * 0.6)]  # below the legend, above the marks

    def tinted(columns):
        red, green = band[:, columns, 0], band[:, columns, 1]
        return float(np.mean((red > 0.95) & (green < 0.97) & (green > 0.85)))

    assert tinted(slice(int(width * 0.85), int(width * 0.95))) > 0.5  # 900k: over the budget
    assert tinted(slice(int(width * 0.12), int(width * 0.2))) < 0.05  # 9k-40k: within it
