"""Search efficiency against Keras Tuner and Optuna: same data, same epochs per trial, same wall
clock.

On Fashion-MNIST (Debian's ``dataset-fashion-mnist``) with the ``fashion_mnist_cnn.py`` space, runs
back to back, for each seed: this project's search (default TPE with budget-sized start-up;
``--prune median``; ``--schedule hyperband``; ``--schedule asha``), Keras Tuner's
BayesianOptimization, RandomSearch and Hyperband, and Optuna's TPESampler with its MedianPruner
and with its HyperbandPruner (each epoch's validation accuracy reported with ``trial.report``,
``trial.should_prune()`` asked after it: Optuna's documented way to prune a Keras model; the
Hyperband pruner with ``min_resource=1``, ``max_resource`` the epochs and
``reduction_factor=3``). Every search gets the same training subset and validation split (from
the seed), the same epochs per trial, early stopping with the same patience, the same wall-clock
budget, and builds its networks with the same builder (``neural_net.build_simple_cnn``), so only
the search differs. A search's clock starts when it is called, with TensorFlow already imported;
Keras Tuner's with the data in memory, ours loads its data itself (a few seconds that its trials'
end times include, its ``--timeout`` budget not: that starts at its first trial). Our searches
pay for their own bookkeeping inside the budget (saving each trial, and evaluating on the test
split each trial that beats all before it, as the tool does), Keras Tuner its checkpoints. Ours
run at the tool's defaults: trials train in a worker process (its start-up, TensorFlow's import
and the data's loading, inside the budget), and the pictures, best_model.png and TensorBoard logs
are refreshed in the background during the search, as a user gets them. Our
search tries the space file's START_POINTS[0] first; Keras Tuner's RandomSearch,
BayesianOptimization and Hyperband draw every trial at random and cannot be given a first point
(only its GridSearch starts at the defaults): an advantage that our users have and Keras Tuner's
do not. Keras Tuner's defaults are the same point all the same. Optuna's users can queue a first
point (``study.enqueue_trial``), so its searches are given the same start point.

The selected model is each search's best trial by validation accuracy; its test accuracy is only
reported. Keras Tuner's trials are evaluated on the test split after its clock has stopped, from
the checkpoint it kept of each; Optuna's from the weights each completed trial saved (inside its
clock; Optuna selects among its completed trials only, not its pruned ones). Prints per tool:

- at equal wall clock: the median over seeds of the selected model's test accuracy and of the time
  to first reach ``--target`` validation accuracy, and the ratios of both to each peer; and how
  far the selection is below the best test accuracy of any trial of any search of that seed (the
  most any selection could reach);
- at an equal trial count: for each pair of searches and each seed, both are cut to the number of
  trials the shorter one ran and their selections compared (median difference, seeds below).

``--log FILE`` appends every search's trials (end time, validation and test accuracy, epochs) as a
JSON line; ``--summarize FILE ...`` prints the tables again from such logs, so that runs made in
several sittings (``--first-seed``) can be pooled.

``--samples all`` trains on every training image (the full-data race: 54,000 for training and
6,000 for validation with the space's validation fraction, the tool's default).

Keras Tuner and Optuna are benchmark-only extras: ``pip install -e '.[benchmark]'``.

    python benchmarks/search_efficiency.py [--seeds 3] [--first-seed 0] [--budget-s 600]
                                           [--epochs 3] [--samples 12000|all] [--target 0.88]
                                           [--tools A,B] [--log FILE] [--summarize FILE ...]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hyperopt_nas import data_loaders  # noqa: E402
import neural_net  # noqa: E402
from hyperopt_nas import training  # noqa: E402
from hyperopt_nas.engine import SearchSettings, run_search  # noqa: E402
from hyperopt_nas.trial import DataSetup  # noqa: E402
from hyperopt_nas.trial_runner import prepare_data  # noqa: E402
from hyperopt_nas.schedulers.pruning import PruneRule  # noqa: E402
from hyperopt_nas.space_files import load_space_file  # noqa: E402
from hyperopt_nas.trial_store import TrialStore  # noqa: E402

SPACE = ROOT / "search_spaces" / "fashion_mnist_cnn.py"
PATIENCE = 3


def ours(variant: str, args, seed: int, folder: Path) -> dict:
    gpus = args.gpus.split(",") if args.gpus else None
    settings = SearchSettings(
        space_path=SPACE, results_dir=folder / f"ours-{variant}-{seed}", epochs=args.epochs,
        max_train_samples=args.samples, seed=seed, timeout_s=args.budget_s,
        data_dir=args.data_dir,  # otherwise the tool's defaults: a worker process, pictures,
        # best_model.png and TensorBoard logs refreshed in the background; on a GPU, --gpus
        # and --trials-per-gpu as given (benchmarks/device_check.py)
        gpus=gpus, trials_per_gpu=args.trials_per_gpu if gpus else None,
        workers=len(gpus) * (args.trials_per_gpu or 1) if gpus else 1,
        prune=PruneRule("median") if variant == "prune" else PruneRule(),
        schedule=variant if variant in ("hyperband", "asha") else "none")
    started = time.time()
    run_search(settings, say=lambda line: None)
    store = TrialStore(settings.results_dir)
    # A record is written the moment its trial ends: its file's time is the trial's end.
    return {"trials": [{"number": r.number, "val_accuracy": r.score, "epochs": r.epochs_run,
                        "end_s": (store.dir / r.file_name()).stat().st_mtime - started,
                        "train_s": r.wall_time_s, "point": r.params,
                        # Evaluated for each trial that beat all before it; so for any
                        # first-N selection (earliest best by validation) too.
                        "test_accuracy": r.metrics["label"].get("test_accuracy")}
                       for r in store.load_records() if r.loss is not None]}


def keras_tuner_search(kind: str, args, seed: int, folder: Path, data) -> dict:
    import keras
    import keras_tuner as kt

    info, cpu = data.info, neural_net.Accelerator(gpus=0, mixed_precision=False, xla=False)
    builder = neural_net.model_builder("simple_cnn")
    _, batch_size = builder(_params_of(None), info, cpu)
    keras.backend.clear_session()
    started = time.time()
    train = training.make_dataset(data.train, batch_size, shuffle=True, seed=seed)
    validation = training.make_dataset(data.validation, batch_size, shuffle=False, seed=seed)
    deadline = started + args.budget_s
    began: dict[str, float] = {}
    ended: dict[str, float] = {}

    class Budget(keras.callbacks.Callback):  # the running trial stops at an epoch end past it
        def on_epoch_end(self, epoch, logs=None):
            if time.time() > deadline:
                self.model.stop_training = True

    def build(hp):
        return builder(_params_of(hp), info, cpu)[0]

    common = dict(objective="val_accuracy", seed=seed, directory=str(folder),
                  project_name=f"kt-{kind}-{seed}", overwrite=True)
    if kind == "hyperband":
        # Repeated until the budget is spent, as ours is (its default, one iteration, stops early).
        tuner_class, extra = kt.Hyperband, dict(max_epochs=args.epochs, factor=3,
                                                hyperband_iterations=10**6)
    elif kind == "bayesian":
        tuner_class, extra = kt.BayesianOptimization, dict(max_trials=10**6)
    else:
        tuner_class, extra = kt.RandomSearch, dict(max_trials=10**6)

    class Timed(tuner_class):
        def on_trial_begin(self, trial):
            super().on_trial_begin(trial)
            began[trial.trial_id] = time.time() - started

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            ended[trial.trial_id] = time.time() - started
            if time.time() > deadline:  # no further trial: the oracle is told it is full
                self.oracle.max_trials = len(self.oracle.trials)

    tuner = Timed(build, **common, **extra)
    stop = keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=PATIENCE,
                                         restore_best_weights=True)
    tuner.search(train, validation_data=validation, epochs=args.epochs, callbacks=[stop, Budget()],
                 verbose=0)
    # Outside the budget: each trial's saved model (its best epoch) on the test split, so that
    # searches can also be compared at an equal number of trials.
    test = training.make_dataset(data.test, batch_size, shuffle=False, seed=seed)
    trials = []
    for number, trial_id in enumerate(tuner.oracle.start_order):
        trial = tuner.oracle.trials[trial_id]
        if trial.score is None or trial_id not in ended:
            continue
        model = tuner.load_model(trial)
        logs = model.evaluate(test, verbose=0, return_dict=True)
        epochs = trial.hyperparameters.values.get("tuner/epochs", args.epochs)
        trials.append({"number": number, "end_s": ended[trial_id],
                       "train_s": ended[trial_id] - began[trial_id],
                       "point": _params_of(trial.hyperparameters),
                       "val_accuracy": float(trial.score), "epochs": int(epochs),
                       "test_accuracy": float(logs["accuracy"])})
        keras.backend.clear_session()
    return {"trials": trials}


def optuna_search(pruner_kind: str, args, seed: int, folder: Path, data) -> dict:
    import keras
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    info, cpu = data.info, neural_net.Accelerator(gpus=0, mixed_precision=False, xla=False)
    builder = neural_net.model_builder("simple_cnn")
    _, batch_size = builder(_start_point(), info, cpu)
    keras.backend.clear_session()
    weights = folder / f"optuna-{pruner_kind}-{seed}"
    weights.mkdir(parents=True, exist_ok=True)
    started = time.time()
    deadline = started + args.budget_s
    train = training.make_dataset(data.train, batch_size, shuffle=True, seed=seed)
    validation = training.make_dataset(data.validation, batch_size, shuffle=False, seed=seed)
    rows: dict[int, dict] = {}

    class Report(keras.callbacks.Callback):  # Optuna's documented pruning of a Keras model
        def __init__(self, trial):
            super().__init__()
            self.trial, self.best = trial, -1.0

        def on_epoch_end(self, epoch, logs=None):
            self.best = max(self.best, float(logs["val_accuracy"]))
            self.trial.report(float(logs["val_accuracy"]), epoch)
            if self.trial.should_prune():
                raise optuna.TrialPruned()
            if time.time() > deadline:
                self.model.stop_training = True

    def objective(trial):
        began = time.time() - started
        params = _params_of(_OptunaHp(trial))
        model = builder(params, info, cpu)[0]
        report = Report(trial)
        stop = keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=PATIENCE,
                                             restore_best_weights=True)
        row = {"number": trial.number, "point": params, "train_s": 0.0, "epochs": 0}
        rows[trial.number] = row
        try:
            history = model.fit(train, validation_data=validation, epochs=args.epochs,
                                callbacks=[stop, report], verbose=0)
            row["epochs"] = len(history.history["val_accuracy"])
            model.save_weights(weights / f"trial-{trial.number}.weights.h5")
            return max(history.history["val_accuracy"])
        except optuna.TrialPruned:
            row.update(pruned=True, epochs=None)
            raise
        finally:
            row.update(val_accuracy=report.best, end_s=time.time() - started)
            row["train_s"] = row["end_s"] - began
            keras.backend.clear_session()

    sampler = optuna.samplers.TPESampler(seed=seed)
    pruner = (optuna.pruners.HyperbandPruner(min_resource=1, max_resource=args.epochs,
                                             reduction_factor=3)
              if pruner_kind == "hyperband" else optuna.pruners.MedianPruner())
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    study.enqueue_trial(_optuna_values(_start_point()))
    study.optimize(objective, timeout=args.budget_s)
    test = training.make_dataset(data.test, batch_size, shuffle=False, seed=seed)
    trials = []
    for trial in study.trials:  # outside the budget: each completed trial on the test split
        row = rows.get(trial.number)
        if row is None or "val_accuracy" not in row or row["val_accuracy"] < 0:
            continue
        row["selectable"] = trial.state == optuna.trial.TrialState.COMPLETE
        row["test_accuracy"] = None
        if row["selectable"]:
            model = builder(row["point"], info, cpu)[0]
            model.load_weights(weights / f"trial-{trial.number}.weights.h5")
            row["test_accuracy"] = float(model.evaluate(test, verbose=0,
                                                        return_dict=True)["accuracy"])
            keras.backend.clear_session()
        row["epochs"] = row["epochs"] or len(trial.intermediate_values)
        trials.append(row)
    return {"trials": trials}


class _OptunaHp:
    """Optuna's trial behind the three calls ``_params_of`` makes of Keras Tuner's ``hp``."""

    def __init__(self, trial):
        self.trial = trial

    def Int(self, name, low, high, step=1, default=None):
        return self.trial.suggest_int(name, low, high, step=step)

    def Choice(self, name, values, default=None):
        return self.trial.suggest_categorical(name, values)


def _optuna_values(point: dict) -> dict:
    """The start point as Optuna's parameter names (those ``_params_of`` gives them)."""
    blocks = [b for b in point["conv_blocks"] if b is not None]
    values = {"conv_blocks": len(blocks), "dense_units": point["dense_units"],
              "optimizer": point["optimizer"], "learning_rate": point["learning_rate"]}
    for i, block in enumerate(blocks):
        values.update({f"filters_{i}": block["filters"], f"padding_{i}": block["padding"],
                       f"dropout_{i}": block["dropout"]})
    return values


@functools.lru_cache
def _start_point() -> dict:
    space = load_space_file(SPACE)
    return space.decode(space.start_vals[0])


def _params_of(hp) -> dict:
    """The fashion_mnist_cnn.py space, as Keras Tuner hyperparameters (or its start point).

    The defaults are the space file's START_POINTS[0], the point our search tries first. Keras
    Tuner builds once with them to discover the space; its random and Bayesian oracles then
    draw every trial's values at random.
    """
    start = _start_point()
    if hp is None:
        return start
    start_blocks = [b for b in start["conv_blocks"] if b is not None]
    blocks = []
    for i in range(hp.Int("conv_blocks", 1, 2, default=len(start_blocks))):
        default = (start_blocks + start_blocks)[i]
        blocks.append({"filters": hp.Choice(f"filters_{i}", [32, 64],
                                            default=default["filters"]),
                       "kernel_size": 3,
                       "padding": hp.Choice(f"padding_{i}", ["valid", "same"],
                                            default=default["padding"]),
                       "dropout": hp.Choice(f"dropout_{i}", [0.0, 0.1, 0.2],
                                            default=default["dropout"])})
    return {"conv_blocks": blocks,
            "dense_units": hp.Int("dense_units", 25, 150, step=25, default=start["dense_units"]),
            "activation": "relu",
            "optimizer": hp.Choice("optimizer", ["Adam", "SGD"], default=start["optimizer"]),
            "learning_rate": hp.Choice("learning_rate", [0.01, 0.001],
                                       default=start["learning_rate"])}


TOOLS = {
    # At the tool's defaults since 2026-11-24; logs before that day ran ours in-process with
    # no pictures (--isolation none --no-plot --no-tensorboard) under the name "ours: tpe".
    "ours: defaults": lambda a, s, f, d: ours("default", a, s, f),
    "ours: tpe + prune median": lambda a, s, f, d: ours("prune", a, s, f),
    "ours: hyperband + tpe": lambda a, s, f, d: ours("hyperband", a, s, f),
    "ours: asha + tpe": lambda a, s, f, d: ours("asha", a, s, f),
    "keras tuner: bayesian": lambda a, s, f, d: keras_tuner_search("bayesian", a, s, f, d),
    "keras tuner: random": lambda a, s, f, d: keras_tuner_search("random", a, s, f, d),
    "keras tuner: hyperband": lambda a, s, f, d: keras_tuner_search("hyperband", a, s, f, d),
    "optuna: tpe + median pruner": lambda a, s, f, d: optuna_search("median", a, s, f, d),
    "optuna: tpe + hyperband pruner": lambda a, s, f, d: optuna_search("hyperband", a, s, f, d),
}


def median(values):
    return float(np.median(values))


def censored_median(values):
    """Median where None (never reached) counts as longer than any time; None if that is the
    median."""
    middle = float(np.median([math.inf if v is None else v for v in values]))
    return None if math.isinf(middle) else middle


def selected(trials: list[dict], count: int | None = None) -> dict:
    """The trial a search selects (best validation accuracy, earliest on ties) among its first
    ``count`` trials (all if None)."""
    pool = trials if count is None else trials[:count]
    pool = [t for t in pool if t.get("selectable", True)] or pool
    return max(pool, key=lambda t: (t["val_accuracy"], -t["number"]))


def time_to_target(trials: list[dict], target: float) -> float | None:
    reached = [t["end_s"] for t in trials if t["val_accuracy"] >= target]
    return min(reached) if reached else None


def best_so_far(trials: list[dict], times: np.ndarray) -> np.ndarray:
    """The validation accuracy of the model the search would select at each time (NaN before
    its first trial ended)."""
    curve = np.full(len(times), np.nan)
    for i, t in enumerate(times):
        done = [x for x in trials if x["end_s"] <= t]
        if done:
            curve[i] = selected(done)["val_accuracy"]
    return curve


def plot_race(rows: list[dict], path: Path, target: float) -> None:
    """Best validation accuracy so far against wall clock, one line per tool: the median over
    seeds, with the range of the seeds shaded."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    budget = max(r["settings"]["budget_s"] for r in rows)
    times = np.linspace(0, budget, 241)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    styles = ["-", "--", "-.", ":", (0, (6, 2, 1, 2, 1, 2))]  # lines that overlap stay visible
    for i, tool in enumerate(dict.fromkeys(r["tool"] for r in rows)):
        curves = np.array([best_so_far(r["trials"], times) for r in rows if r["tool"] == tool])
        with warnings.catch_warnings():  # a time before any seed's first trial: all NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            started = np.sum(~np.isnan(curves), axis=0) * 2 > len(curves)  # most seeds have one
            mid = np.where(started, np.nanmedian(curves, axis=0), np.nan)
            low, high = np.nanmin(curves, axis=0), np.nanmax(curves, axis=0)
        line, = ax.step(times / 60, mid, where="post", lw=2, ls=styles[i % len(styles)],
                        label=f"{tool} ({len(curves)} seed{'s' if len(curves) > 1 else ''})")
        if len(curves) > 1:
            ax.fill_between(times / 60, np.where(started, low, np.nan),
                            np.where(started, high, np.nan), step="post",
                            color=line.get_color(), alpha=0.15)
    ax.axhline(target, color="grey", ls=":", lw=1)
    ax.text(0.2, target, f" target {target:g}", va="bottom", color="grey", fontsize=9)
    settings = rows[0]["settings"]
    samples = "all" if settings["samples"] is None else settings["samples"]
    ax.set(xlabel="wall clock (minutes)", ylabel="validation accuracy of the selected model",
           title=f"Fashion-MNIST, {samples} training images, {settings['epochs']} epochs per "
                 f"trial, {settings['machine']}\nthe best so far by validation accuracy: median "
                 "over seeds, range shaded")
    # From a little below the weakest search's final selection: the race is decided up there.
    lowest = min([best_so_far(r["trials"], times[-1:])[0] for r in rows if r["trials"]]
                 + [target])
    ax.set_ylim(bottom=max(0.0, lowest - 0.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summarize(rows: list[dict], target: float) -> None:
    tools = list(dict.fromkeys(r["tool"] for r in rows))
    by_tool = {t: {r["seed"]: r["trials"] for r in rows if r["tool"] == t} for t in tools}
    # The best test accuracy of any trial of any search of a seed: no selection can pick a model
    # above it (our searches only test trials that beat all before them, so it is a lower bound).
    pool_best = {}
    for row in rows:
        tested = [t["test_accuracy"] for t in row["trials"] if t["test_accuracy"] is not None]
        pool_best[row["seed"]] = max(tested + [pool_best.get(row["seed"], -math.inf)])
    summary = {}
    for tool, seeds in by_tool.items():
        summary[tool] = {
            "test": median([selected(ts)["test_accuracy"] for ts in seeds.values() if ts]),
            "below_best": median([pool_best[seed] - selected(ts)["test_accuracy"]
                                  for seed, ts in seeds.items() if ts]),
            "to_target": censored_median([time_to_target(ts, target) for ts in seeds.values()]),
            "never": sum(time_to_target(ts, target) is None for ts in seeds.values()),
            "trials": median([len(ts) for ts in seeds.values()]), "seeds": len(seeds)}
    print(f"\nequal wall clock; target validation accuracy {target}")
    print(f"{'tool':<28}{'seeds':>6}{'trials':>8}{'median test acc':>17}"
          f"{'median s to target':>24}{'points below best':>19}")
    for tool, s in summary.items():
        to_target = "never" if s["to_target"] is None else f"{s['to_target']:.0f}"
        if s["never"]:
            to_target += f" ({s['never']}/{s['seeds']} never)"
        print(f"{tool:<28}{s['seeds']:>6}{s['trials']:>8.0f}{s['test']:>17.4f}{to_target:>24}"
              f"{100 * s['below_best']:>19.2f}")
    # Logs since 2026-11-24's "timed" one hold each trial's own training time.
    timed = {tool: [ts for ts in seeds.values() if ts and "train_s" in ts[0]]
             for tool, seeds in by_tool.items()}
    if any(timed.values()):
        print(f"\nwhere the wall clock went (medians over seeds)\n{'tool':<28}"
              f"{'s before trial 1':>18}{'s per trial':>13}{'s between trials':>18}")
        for tool, runs in timed.items():
            if not runs:
                continue
            before = median([ts[0]["end_s"] - ts[0]["train_s"] for ts in runs])
            per_trial = median([float(np.mean([t["train_s"] for t in ts])) for ts in runs])
            gaps = [[b["end_s"] - b["train_s"] - a["end_s"] for a, b in zip(ts, ts[1:])]
                    for ts in runs]
            between = median([float(np.mean(g)) if g else 0.0 for g in gaps])
            print(f"{tool:<28}{before:>18.1f}{per_trial:>13.2f}{between:>18.2f}")
    print(f"best: the best test accuracy of any trial of any search of the seed (median "
          f"{median(list(pool_best.values())):.4f}); no selection can be above it")
    legend = {tool: f"[{i + 1}]" for i, tool in enumerate(tools)}
    print("\n" + "  ".join(f"{legend[t]} {t}" for t in tools))

    def matrix(title: str, cell) -> None:
        print(f"\n{title}")
        print(" " * 6 + "".join(f"{legend[p]:>16}" for p in tools))
        for tool in tools:
            print(f"{legend[tool]:<6}" + "".join(
                f"{'':>16}" if peer == tool else f"{cell(tool, peer):>16}" for peer in tools))

    def speed(tool, peer):
        a, b = summary[tool]["to_target"], summary[peer]["to_target"]
        return f"{a / b:.2f}" if a is not None and b is not None else "n/a"

    def equal_count(tool, peer):
        diffs = []
        for seed in by_tool[tool].keys() & by_tool[peer].keys():
            mine, theirs = by_tool[tool][seed], by_tool[peer][seed]
            count = min(len(mine), len(theirs))
            if count:
                diffs.append(selected(mine, count)["test_accuracy"]
                             - selected(theirs, count)["test_accuracy"])
        below = sum(d < 0 for d in diffs)
        return f"{100 * median(diffs):+.2f} ({below}/{len(diffs)})" if diffs else "n/a"

    matrix("equal wall clock: ratio of median test accuracy (row / column)",
           lambda t, p: f"{summary[t]['test'] / summary[p]['test']:.4f}")
    matrix("equal wall clock: points of median test accuracy above the column (row - column)",
           lambda t, p: f"{100 * (summary[t]['test'] - summary[p]['test']):+.2f}")
    matrix("ratio of median time to the target (row / column; below 1: the row is faster)", speed)
    matrix("equal trial count: each seed's pair cut to the shorter one's trials; median points "
           "above the column (seeds where the row is below)", equal_count)


def logged_searches(log: Path | None, settings: dict) -> set:
    """The (tool, seed) searches a log already holds with these settings: a relaunch of the same
    command skips them, so a race run across sittings accumulates one finished search at a time."""
    if log is None or not log.exists():
        return set()
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return {(r["tool"], r["seed"]) for r in rows if r["settings"] == settings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget-s", type=float, default=600, help="wall clock per search")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=lambda v: None if v == "all" else int(v),
                        default=12000, help="training images, or all")
    parser.add_argument("--target", type=float, default=0.88, help="validation accuracy")
    parser.add_argument("--data-dir", type=Path, default=data_loaders.DEBIAN_FASHION_MNIST,
                        help="Fashion-MNIST's four official .gz files")
    parser.add_argument("--gpus", default=None, help="our searches: --gpus (e.g. 0)")
    parser.add_argument("--trials-per-gpu", type=int, default=None,
                        help="our searches: --trials-per-gpu (with --gpus)")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    parser.add_argument("--log", type=Path, help="append each search's trials here (JSON lines)")
    parser.add_argument("--summarize", type=Path, nargs="+", metavar="LOG",
                        help="only print the tables from earlier --log files")
    parser.add_argument("--plot", type=Path, metavar="PNG",
                        help="with --summarize: draw the best validation accuracy so far against "
                             "wall clock, per tool")
    args = parser.parse_args()
    if args.summarize:
        rows = [json.loads(line) for log in args.summarize
                for line in log.read_text().splitlines() if line.strip()]
        settings = {json.dumps(r["settings"], sort_keys=True) for r in rows}
        for setting in sorted(settings):
            print(f"settings: {setting}")
        summarize(rows, args.target)
        if args.plot:
            plot_race(rows, args.plot, args.target)
            print(f"wrote {args.plot}")
        return
    tools = [t.strip() for t in args.tools.split(",")]
    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        parser.error(f"unknown tools {unknown}; choose from {list(TOOLS)}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; seeds {args.first_seed}.."
          f"{args.first_seed + args.seeds - 1}, {args.budget_s:g} s per search, {args.epochs} "
          f"epochs per trial, {args.samples} training images", flush=True)
    import keras  # noqa: F401  (imported once, before any clock starts)
    settings = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "budget_s": args.budget_s, "epochs": args.epochs, "samples": args.samples}
    rows = []
    done = logged_searches(args.log, settings)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            todo = [tool for tool in tools if (tool, seed) not in done]
            for tool in [t for t in tools if t not in todo]:  # in the order of --tools
                print(f"seed {seed} {tool}: already in {args.log}, skipped", flush=True)
            if not todo:
                continue
            data = prepare_data(DataSetup("fashion_mnist", "simple_cnn", 0.1, args.samples, seed,
                                          str(args.data_dir)))
            for tool in todo:
                row = {"tool": tool, "seed": seed, "settings": settings,
                       **TOOLS[tool](args, seed, Path(tmp), data)}
                rows.append(row)
                best = selected(row["trials"]) if row["trials"] else {}
                print(f"seed {seed} {tool}: {len(row['trials'])} trials, selected validation "
                      f"{best.get('val_accuracy', float('nan')):.4f} test "
                      f"{best.get('test_accuracy', float('nan')):.4f}", flush=True)
                if args.log:
                    with args.log.open("a") as f:
                        f.write(json.dumps(row) + "\n")
    summarize(rows, args.target)


if __name__ == "__main__":
    main()
