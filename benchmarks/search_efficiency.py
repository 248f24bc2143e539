"""Search efficiency against Keras Tuner: same data, same epochs per trial, same wall clock.

On Fashion-MNIST (Debian's ``dataset-fashion-mnist``) with the ``fashion_mnist_cnn.py`` space, runs
back to back, for each seed: this project's search (default TPE with budget-sized start-up;
``--prune median``; ``--schedule hyperband``) and Keras Tuner's BayesianOptimization,
RandomSearch and Hyperband. Every search gets the same training subset and validation split (from
the seed), the same epochs per trial, early stopping with the same patience, the same wall-clock
budget, and builds its networks with the same builder (``neural_net.build_simple_cnn``), so only
the search differs. The selected model is each search's best by validation accuracy; its test
accuracy is then measured once. Prints per tool: the median over seeds of the selected model's test
accuracy, of the time to first reach ``--target`` validation accuracy, and the ratios to each peer.

Keras Tuner is a benchmark-only extra: ``pip install -e '.[benchmark]'``.

    python benchmarks/search_efficiency.py [--seeds 3] [--budget-s 600] [--epochs 3]
                                           [--samples 12000] [--target 0.88]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import data_loaders  # noqa: E402
import neural_net  # noqa: E402
from search_loop import SearchSettings, prepare_dataset, run_search  # noqa: E402
from pruning import PruneRule  # noqa: E402

SPACE = ROOT / "search_spaces" / "fashion_mnist_cnn.py"
PATIENCE = 3


def ours(variant: str, args, seed: int, folder: Path) -> dict:
    settings = SearchSettings(
        space_path=SPACE, results_dir=folder / f"ours-{variant}-{seed}", epochs=args.epochs,
        max_train_samples=args.samples, seed=seed, timeout_s=args.budget_s, isolation="none",
        data_dir=data_loaders.DEBIAN_FASHION_MNIST,
        plot_best=False, plot_search=False, tensorboard=False,
        prune=PruneRule("median") if variant == "prune" else PruneRule(),
        schedule="hyperband" if variant == "hyperband" else "none")
    run_search(settings, say=lambda line: None)
    from trial_store import TrialStore
    records = [r for r in TrialStore(settings.results_dir).load_records() if r.loss is not None]
    best = min(records, key=lambda r: (r.loss, r.number))
    # The clock starts with the first trial, as Keras Tuner's starts with data already loaded.
    starts = [datetime.fromisoformat(r.started_at).timestamp() for r in records]
    reached = [start + r.wall_time_s - min(starts)
               for start, r in zip(starts, records) if r.score >= args.target]
    return {"test_accuracy": best.metrics["label"]["test_accuracy"], "val_accuracy": best.score,
            "trials": len(records), "time_to_target_s": min(reached) if reached else None}


def keras_tuner_search(kind: str, args, seed: int, folder: Path, data) -> dict:
    import keras
    import keras_tuner as kt

    info, cpu = data.info, neural_net.Accelerator(gpus=0, mixed_precision=False, xla=False)
    builder = neural_net.model_builder("simple_cnn")
    _, batch_size = builder(_params_of(None), info, cpu)
    keras.backend.clear_session()
    train = neural_net.make_dataset(data.train, batch_size, shuffle=True, seed=seed)
    validation = neural_net.make_dataset(data.validation, batch_size, shuffle=False, seed=seed)
    started = time.time()
    deadline = started + args.budget_s
    reached: list[float] = []

    class Budget(keras.callbacks.Callback):  # the running trial stops at an epoch end past it
        def on_epoch_end(self, epoch, logs=None):
            if time.time() > deadline:
                self.model.stop_training = True

    def build(hp):
        return builder(_params_of(hp), info, cpu)[0]

    common = dict(objective="val_accuracy", seed=seed, directory=str(folder),
                  project_name=f"kt-{kind}-{seed}", overwrite=True)
    if kind == "hyperband":
        tuner_class, extra = kt.Hyperband, dict(max_epochs=args.epochs, factor=3)
    elif kind == "bayesian":
        tuner_class, extra = kt.BayesianOptimization, dict(max_trials=10**6)
    else:
        tuner_class, extra = kt.RandomSearch, dict(max_trials=10**6)

    class Timed(tuner_class):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            if trial.score is not None and trial.score >= args.target:  # as ours: at trial end
                reached.append(time.time() - started)
            if time.time() > deadline:  # no further trial: the oracle is told it is full
                self.oracle.max_trials = len(self.oracle.trials)

    tuner = Timed(build, **common, **extra)
    stop = keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=PATIENCE,
                                         restore_best_weights=True)
    tuner.search(train, validation_data=validation, epochs=args.epochs, callbacks=[stop, Budget()],
                 verbose=0)
    best = tuner.get_best_models(1)[0]
    test = best.evaluate(neural_net.make_dataset(data.test, batch_size, shuffle=False, seed=seed),
                         verbose=0, return_dict=True)
    best_trial = tuner.oracle.get_best_trials(1)[0]
    return {"test_accuracy": float(test["accuracy"]),
            "val_accuracy": float(best_trial.score), "trials": len(tuner.oracle.trials),
            "time_to_target_s": min(reached) if reached else None}


def _params_of(hp) -> dict:
    """The fashion_mnist_cnn.py space, as Keras Tuner hyperparameters (or its first point)."""
    if hp is None:
        return {"conv_blocks": [{"filters": 32, "kernel_size": 3, "padding": "same",
                                 "dropout": 0.0}], "dense_units": 50, "activation": "relu",
                "optimizer": "Adam", "learning_rate": 0.001}
    blocks = []
    for i in range(hp.Int("conv_blocks", 1, 2)):
        blocks.append({"filters": hp.Choice(f"filters_{i}", [32, 64]), "kernel_size": 3,
                       "padding": hp.Choice(f"padding_{i}", ["valid", "same"]),
                       "dropout": hp.Choice(f"dropout_{i}", [0.0, 0.1, 0.2])})
    return {"conv_blocks": blocks, "dense_units": hp.Int("dense_units", 25, 150, step=25),
            "activation": "relu", "optimizer": hp.Choice("optimizer", ["Adam", "SGD"]),
            "learning_rate": hp.Choice("learning_rate", [0.01, 0.001])}


TOOLS = {
    "ours: tpe": lambda a, s, f, d: ours("default", a, s, f),
    "ours: tpe + prune median": lambda a, s, f, d: ours("prune", a, s, f),
    "ours: hyperband + tpe": lambda a, s, f, d: ours("hyperband", a, s, f),
    "keras tuner: bayesian": lambda a, s, f, d: keras_tuner_search("bayesian", a, s, f, d),
    "keras tuner: random": lambda a, s, f, d: keras_tuner_search("random", a, s, f, d),
    "keras tuner: hyperband": lambda a, s, f, d: keras_tuner_search("hyperband", a, s, f, d),
}


def median(values):
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget-s", type=float, default=600, help="wall clock per search")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=12000, help="training images")
    parser.add_argument("--target", type=float, default=0.88, help="validation accuracy")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.seeds} seeds x "
          f"{args.budget_s:g} s per search, {args.epochs} epochs per trial, {args.samples} "
          f"training images, target validation accuracy {args.target}")
    tools = [t.strip() for t in args.tools.split(",")]
    results: dict[str, list[dict]] = {t: [] for t in tools}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            budget = {"validation_fraction": 0.1, "max_train_samples": args.samples}
            data = prepare_dataset("fashion_mnist", budget, seed,
                                   data_loaders.DEBIAN_FASHION_MNIST)
            for tool in tools:
                row = TOOLS[tool](args, seed, Path(tmp), data)
                results[tool].append(row)
                print(json.dumps({"tool": tool, "seed": seed, **row}), flush=True)
    summary = {t: {"test": median([r["test_accuracy"] for r in rows]),
                   "to_target": median([r["time_to_target_s"] for r in rows]),
                   "trials": median([r["trials"] for r in rows])} for t, rows in results.items()}
    print(f"{'tool':<28}{'median test acc':>16}{'median s to target':>20}{'trials':>8}")
    for tool, s in summary.items():
        to_target = f"{s['to_target']:.0f}" if s["to_target"] is not None else "never"
        print(f"{tool:<28}{s['test']:>16.4f}{to_target:>20}{s['trials']:>8.0f}")
    print("test accuracy, points above each peer (row minus column):")
    for tool in tools:
        diffs = "  ".join(f"{peer}: {100 * (summary[tool]['test'] - summary[peer]['test']):+.2f}"
                          for peer in tools if peer != tool)
        print(f"  {tool}: {diffs}")


if __name__ == "__main__":
    main()
