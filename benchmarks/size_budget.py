"""Small and accurate: the best network within a parameter budget, found three ways in the same
wall clock, on all of Fashion-MNIST with the Keras Tuner tutorial's CNN space
(``search_spaces/fashion_mnist_cnn.py``: its 10 epochs per trial, patience 3).

For each seed, back to back:

- ``ours: --max-params``: this project's search at its defaults with ``--max-params N``: a
  network over the budget is built, measured and recorded, not trained, and told to TPE as a bad
  result;
- ``ours: no budget, then filtered``: the same search without the budget; its best network within
  the budget is picked afterwards (what a user does today);
- ``ours: --size-weight 0.07``: the soft, scalarised form: no limit, every network trains, and
  TPE is told validation loss + 0.07 x ln(parameters) (0.07: MnasNet's weight on log-latency in
  its soft-constraint reward, here on log-size); its best network within the budget is picked
  afterwards;
- ``optuna: constrained tpe``: Optuna's ``TPESampler(constraints_func=...)`` on validation
  accuracy, the parameter count minus the budget as its constraint; its objective builds each
  network, records its size and skips training over the budget (scored 0), so it pays what ours
  pays for such a point;
- ``optuna: multi-objective tpe``: Optuna's ``TPESampler`` on two objectives (validation
  accuracy up, parameters down), each network trained the same way (the same builder, split,
  input pipeline, epochs and early stopping); its best completed trial within the budget is
  picked afterwards. Optuna is not told the budget (a multi-objective study finds the front).

Both of our searches run with ``test_every_trial=True`` (the tool's default evaluates the test
split only for a trial that beats every earlier one; the filtered search's pick may not be one),
the only setting that differs from the defaults besides the budget; Optuna's trials are tested
after its clock stops. Selection is by validation accuracy; the test accuracy is only reported.
Prints per method: trials, trials on networks within the budget, and the selected in-budget
network's parameters, validation and test accuracy; medians over the seeds logged.

``--log FILE`` appends each search as a JSON line and skips the (method, seed) searches it
already holds with the same settings, so that seeds accumulate across sittings;
``--summarize FILE`` prints the table again from such a log.

    python benchmarks/size_budget.py [--seeds 5] [--first-seed 0] [--budget-s 600]
                                     [--max-params 50000] [--methods 'A;B'] [--log FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from hyperopt_nas import data_loaders  # noqa: E402
from hyperopt_nas.engine import SearchSettings, run_search  # noqa: E402
from hyperopt_nas.trial_store import TrialStatus, TrialStore  # noqa: E402

SPACE = ROOT / "search_spaces" / "fashion_mnist_cnn.py"
PATIENCE = 3
EPOCHS = 10  # the space file's DEFAULTS


SIZE_WEIGHT = 0.07


def ours(args, seed: int, folder: Path, max_params: int | None = None,
         size_weight: float | None = None) -> dict:
    settings = SearchSettings(
        space_path=SPACE, results_dir=folder / f"ours-{max_params}-{size_weight}-{seed}",
        seed=seed, timeout_s=args.budget_s, data_dir=data_loaders.DEBIAN_FASHION_MNIST,
        test_every_trial=True, max_params=max_params, size_weight=size_weight)
    started = time.time()
    run_search(settings, say=lambda line: None)
    store = TrialStore(settings.results_dir)
    trials = []
    for r in store.load_records():
        if r.status == TrialStatus.FAILED:
            continue
        trials.append({"number": r.number, "params": r.model_params, "trained":
                       r.status != TrialStatus.OVER_BUDGET, "val_accuracy": r.score,
                       "test_accuracy": (r.metrics.get("label") or {}).get("test_accuracy"),
                       "end_s": (store.dir / r.file_name()).stat().st_mtime - started,
                       "train_s": r.wall_time_s, "point": r.params})
    return {"trials": trials}


def optuna_search(args, seed: int, folder: Path, data, constrained: bool = False) -> dict:
    """Optuna's TPE: multi-objective (accuracy up, parameters down), or, ``constrained``, on
    accuracy alone with the budget as its constraint (``TPESampler(constraints_func=...)``):
    a network over it is built and measured, not trained (scored 0), as ours is."""
    import keras
    import optuna

    import neural_net
    import search_efficiency as race
    from hyperopt_nas import training

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    info, cpu = data.info, neural_net.Accelerator(gpus=0, mixed_precision=False, xla=False)
    builder = neural_net.model_builder("simple_cnn")
    weights = folder / f"optuna-{seed}"
    weights.mkdir(parents=True, exist_ok=True)
    started = time.time()
    deadline = started + args.budget_s
    rows: dict[int, dict] = {}

    class Deadline(keras.callbacks.Callback):  # the running trial stops at an epoch end past it
        def on_epoch_end(self, epoch, logs=None):
            if time.time() > deadline:
                self.model.stop_training = True

    def objective(trial):
        began = time.time() - started
        params = race._params_of(race._OptunaHp(trial))
        model, batch_size = builder(params, info, cpu)
        size = int(model.count_params())
        row = {"number": trial.number, "point": params, "params": size, "trained": True}
        rows[trial.number] = row
        trial.set_user_attr("params", size)
        if constrained and size > args.max_params:
            row.update(trained=False, end_s=time.time() - started, train_s=time.time() - started
                       - began)
            keras.backend.clear_session()
            return 0.0
        stop = keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=PATIENCE,
                                             restore_best_weights=True)
        try:
            history = model.fit(
                training.make_dataset(data.train, batch_size, shuffle=True, seed=seed),
                validation_data=training.make_dataset(data.validation, batch_size,
                                                      shuffle=False, seed=seed),
                epochs=EPOCHS, callbacks=[stop, Deadline()], shuffle=False, verbose=0)
            model.save_weights(weights / f"trial-{trial.number}.weights.h5")
            row["val_accuracy"] = max(history.history["val_accuracy"])
            return row["val_accuracy"] if constrained else (row["val_accuracy"], size)
        finally:
            row["end_s"] = time.time() - started
            row["train_s"] = row["end_s"] - began
            keras.backend.clear_session()

    if constrained:
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(
            seed=seed, constraints_func=lambda t: (t.user_attrs["params"] - args.max_params,)))
    else:
        study = optuna.create_study(directions=["maximize", "minimize"],
                                    sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(race._optuna_values(race._start_point()))
    study.optimize(objective, timeout=args.budget_s)
    trials = []
    for trial in study.trials:  # outside the budget: the completed trials on the test split
        row = rows.get(trial.number)
        if row is None or trial.state != optuna.trial.TrialState.COMPLETE or not row["trained"]:
            if row is not None and not row["trained"]:
                trials.append(row)
            continue
        model, batch_size = builder(row["point"], info, cpu)
        model.load_weights(weights / f"trial-{trial.number}.weights.h5")
        test = training.make_dataset(data.test, batch_size, shuffle=False, seed=seed)
        row["test_accuracy"] = float(model.evaluate(test, verbose=0,
                                                    return_dict=True)["accuracy"])
        keras.backend.clear_session()
        trials.append(row)
    return {"trials": trials}


METHODS = {
    "ours: --max-params": lambda a, s, f, d: ours(a, s, f, max_params=a.max_params),
    "ours: no budget, then filtered": lambda a, s, f, d: ours(a, s, f),
    f"ours: --size-weight {SIZE_WEIGHT:g}":
        lambda a, s, f, d: ours(a, s, f, size_weight=SIZE_WEIGHT),
    "optuna: multi-objective tpe": optuna_search,
    "optuna: constrained tpe": lambda a, s, f, d: optuna_search(a, s, f, d, constrained=True),
}


def selected(trials: list[dict], max_params: int) -> dict:
    """The best trained network within the budget, by validation accuracy (earlier on a tie)."""
    fitting = [t for t in trials if t["trained"] and t.get("val_accuracy") is not None
               and t["params"] is not None and t["params"] <= max_params]
    return max(fitting, key=lambda t: (t["val_accuracy"], -t["number"]), default={})


def summarize(rows: list[dict]) -> None:
    by_method: dict[str, list[dict]] = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(row)
    print(f"{'method':<30} {'seeds':>5} {'trials':>7} {'trained':>8} {'in budget':>9} "
          f"{'params':>8} {'val acc':>8} {'test acc':>8} {'over %':>7}")
    for method, runs in by_method.items():
        picks = [selected(r["trials"], r["settings"]["max_params"]) for r in runs]

        def med(values):
            values = [v for v in values if v is not None]
            return float(np.median(values)) if values else float("nan")
        limit = runs[0]["settings"]["max_params"]
        fitting = [sum(t["trained"] and (t["params"] or 0) <= limit for t in r["trials"])
                   for r in runs]
        over_share = [sum(t.get("train_s") or 0 for t in r["trials"] if not t["trained"])
                      / r["settings"]["budget_s"] for r in runs]
        print(f"{method:<30} {len(runs):>5} "
              f"{med([len(r['trials']) for r in runs]):>7.1f} "
              f"{med([sum(t['trained'] for t in r['trials']) for r in runs]):>8.1f} "
              f"{med(fitting):>9.1f} "
              f"{med([p.get('params') for p in picks]):>8.0f} "
              f"{med([p.get('val_accuracy') for p in picks]):>8.4f} "
              f"{med([p.get('test_accuracy') for p in picks]):>8.4f} "
              f"{100 * med(over_share):>7.1f}")
    print("trials: all of a search's trials (ours: over-budget networks included, each built and "
          "measured, not trained); trained: networks trained; in budget: trained networks within "
          "the budget; params, val acc, test acc: the selected in-budget network (medians over "
          "seeds; nan: no network within the budget was trained); over %: the share of the "
          "wall clock spent on points over the budget (built and measured, not trained).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget-s", type=float, default=600, help="wall clock per search")
    parser.add_argument("--max-params", type=int, default=50_000)
    parser.add_argument("--methods", default=";".join(METHODS), help="a ;-separated subset")
    parser.add_argument("--log", type=Path, help="append each search here (JSON lines)")
    parser.add_argument("--summarize", type=Path, metavar="LOG",
                        help="only print the table from an earlier --log file")
    args = parser.parse_args()
    if args.summarize:
        summarize([json.loads(line) for line in args.summarize.read_text().splitlines()
                   if line.strip()])
        return
    methods = [m.strip() for m in args.methods.split(";")]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {list(METHODS)}")
    # steered: --max-evals counts trained networks and proposals are screened by predicted size
    # (issue 47); a log's rows from before that do not count as done.
    settings = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "budget_s": args.budget_s, "max_params": args.max_params, "steered": True}
    print(f"machine: {settings['machine']}; seeds {args.first_seed}.."
          f"{args.first_seed + args.seeds - 1}, {args.budget_s:g} s per search, budget "
          f"{args.max_params:,} parameters", flush=True)
    done = set()
    if args.log is not None and args.log.exists():
        logged = [json.loads(line) for line in args.log.read_text().splitlines() if line.strip()]
        done = {(r["method"], r["seed"]) for r in logged if r["settings"] == settings}
    import keras  # noqa: F401  (imported once, before any clock starts)

    from hyperopt_nas.trial import DataSetup
    from hyperopt_nas.trial_runner import prepare_data
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            data = None
            for method in methods:
                if (method, seed) in done:
                    print(f"seed {seed} {method}: already in {args.log}, skipped", flush=True)
                    continue
                if data is None and method.startswith("optuna"):
                    data = prepare_data(DataSetup("fashion_mnist", "simple_cnn", 0.1, None, seed,
                                                  str(data_loaders.DEBIAN_FASHION_MNIST)))
                row = {"method": method, "seed": seed, "settings": settings,
                       **METHODS[method](args, seed, Path(tmp), data)}
                rows.append(row)
                pick = selected(row["trials"], args.max_params)
                over_s = sum(t.get("train_s") or 0 for t in row["trials"] if not t["trained"])
                print(f"seed {seed} {method}: {len(row['trials'])} trials, "
                      f"{sum(t['trained'] for t in row['trials'])} trained "
                      f"({over_s / args.budget_s:.1%} of the time on points over the budget); "
                      "selected "
                      f"{pick.get('params')} parameters, validation "
                      f"{pick.get('val_accuracy', float('nan')):.4f} test "
                      f"{pick.get('test_accuracy') or float('nan'):.4f}", flush=True)
                if args.log:
                    with args.log.open("a") as f:
                        f.write(json.dumps(row) + "\n")
    summarize(rows)


if __name__ == "__main__":
    main()
