"""Keras Tuner's own examples run twice on the same arrays: with ``import keras_tuner`` and with
``import hyperopt_nas.keras_tuner`` (issue 44), the only line that differs.

The examples are the code of Keras Tuner's "Getting started" guide as its users write it
(``build_model(hp)`` with a loop over ``hp.Int("num_layers", 1, 3)`` and per-layer units, a
``Choice`` of activation, a ``Boolean`` dropout, a log-sampled learning rate, one-hot labels with
``categorical_crossentropy``, a ``Sequential()`` without an ``Input``):

- ``random``: the guide's ``RandomSearch(max_trials=3, executions_per_trial=2)``, 2 epochs;
- ``bayesian``: the same model under ``BayesianOptimization(max_trials=10)``, 2 epochs (the
  guide's other tuner; ours proposes with TPE where Keras Tuner fits a Gaussian process).

Both tools run at their defaults with the guide's arguments and a ``seed`` (the guide gives none;
both accept it), each in a fresh Python process. The arrays are Fashion-MNIST's (Debian's files
or Keras' cache): ``--train`` images of the training file to train on, the next ``--val`` of it
to validate on (what the tuners select on), and the 10,000 test images, which only measure the
selected model: its accuracy on the validation and test images is computed here the same way
for both tools, from ``get_best_models(1)[0]``. Wall time is the ``search`` call alone.

    python benchmarks/kt_examples.py [--seeds 0,1,2] [--examples random,bayesian]
        [--train 20000] [--val 5000] [--log benchmarks/results/kt_examples.jsonl]

Each run is one JSON line in ``--log`` (appended, so that runs add up across sittings), with
the commit it ran; the table printed at the end reads the log's lines of this commit for the
sizes asked (``--commit`` another one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TOOLS = {"keras_tuner": "Keras Tuner", "hyperopt_nas.keras_tuner": "ours"}

# The guide's tuners: the lines that construct them, as a user writes them (plus seed=).
TUNERS = {
    "random": ("keras_tuner.RandomSearch(hypermodel=build_model, objective=\"val_accuracy\", "
               "max_trials=3, executions_per_trial=2, overwrite=True, directory=FOLDER, "
               "project_name=\"helloworld\", seed=SEED)"),
    "bayesian": ("keras_tuner.BayesianOptimization(hypermodel=build_model, "
                 "objective=\"val_accuracy\", max_trials=10, overwrite=True, directory=FOLDER, "
                 "project_name=\"bayesian\", seed=SEED)"),
}

SCRIPT = """
import json, sys, time
sys.path.insert(0, {root!r})
import keras
from keras import layers
import numpy as np

import {module} as keras_tuner

FOLDER, SEED = {folder!r}, {seed}
data = np.load({data!r})
x_train, x_val, x_test = data["x_train"], data["x_val"], data["x_test"]
num_classes = 10
y_train = keras.utils.to_categorical(data["y_train"], num_classes)
y_val = keras.utils.to_categorical(data["y_val"], num_classes)
y_test = keras.utils.to_categorical(data["y_test"], num_classes)


def build_model(hp):
    model = keras.Sequential()
    model.add(layers.Flatten())
    # Tune the number of layers.
    for i in range(hp.Int("num_layers", 1, 3)):
        model.add(
            layers.Dense(
                # Tune number of units separately.
                units=hp.Int(f"units_{{i}}", min_value=32, max_value=512, step=32),
                activation=hp.Choice("activation", ["relu", "tanh"]),
            )
        )
    if hp.Boolean("dropout"):
        model.add(layers.Dropout(rate=0.25))
    model.add(layers.Dense(10, activation="softmax"))
    learning_rate = hp.Float("lr", min_value=1e-4, max_value=1e-2, sampling="log")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


tuner = {tuner}
started = time.perf_counter()
tuner.search(x_train, y_train, epochs=2, validation_data=(x_val, y_val), verbose=0)
search_s = time.perf_counter() - started
best = tuner.get_best_models(num_models=1)[0]
hps = tuner.get_best_hyperparameters(1)[0]


def accuracy(x, y):
    return float(np.mean(best.predict(x, verbose=0).argmax(1) == y.argmax(1)))


print("RESULT " + json.dumps({{"search_s": search_s, "val_accuracy": accuracy(x_val, y_val),
                              "test_accuracy": accuracy(x_test, y_test),
                              "best_values": hps.values}}), flush=True)
"""


def arrays(path: Path, n_train: int, n_val: int) -> str:
    sys.path.insert(0, str(ROOT))
    from hyperopt_nas.data_loaders import load_fashion_mnist
    train, test, where = load_fashion_mnist(None)
    if n_train + n_val > len(train.x):
        raise SystemExit(f"--train {n_train} and --val {n_val} ask for more than the "
                         f"{len(train.x):,} training images")
    x = train.x.astype("float32") / 255
    np.savez(path, x_train=x[:n_train], y_train=train.y["label"][:n_train],
             x_val=x[n_train:n_train + n_val], y_val=train.y["label"][n_train:n_train + n_val],
             x_test=test.x.astype("float32") / 255, y_test=test.y["label"])
    return where


def run(module: str, example: str, seed: int, data: Path, folder: Path) -> dict:
    script = SCRIPT.format(root=str(ROOT), module=module, folder=str(folder), seed=seed,
                           data=str(data), tuner=TUNERS[example])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, "-"], input=script, text=True, capture_output=True,
                          env=env, cwd=folder, timeout=3600)
    result = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not result:
        raise RuntimeError(f"{module} {example} seed {seed} failed:\n{done.stdout[-2000:]}\n"
                           f"{done.stderr[-3000:]}")
    return json.loads(result[0][len("RESULT "):])


def head_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                          capture_output=True)
    return done.stdout.strip() or "unknown"


def table(log: Path, sizes: dict) -> list[str]:
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if all(r.get(k) == v for k, v in sizes.items())]
    lines = ["| example | seed | tool | best: validation acc | its test acc | search s |",
             "| --- | ---: | --- | ---: | ---: | ---: |"]
    for r in sorted(rows, key=lambda r: (r["example"], r["seed"], r["tool"])):
        lines.append(f"| {r['example']} | {r['seed']} | {TOOLS[r['tool']]} | "
                     f"{r['val_accuracy']:.4f} | {r['test_accuracy']:.4f} | "
                     f"{r['search_s']:.1f} |")
    for example in sorted({r["example"] for r in rows}):
        for tool, name in TOOLS.items():
            mine = [r for r in rows if r["example"] == example and r["tool"] == tool]
            if mine:
                med = {k: float(np.median([r[k] for r in mine]))
                       for k in ("val_accuracy", "test_accuracy", "search_s")}
                lines.append(f"median {example} {name} ({len(mine)} seeds): validation "
                             f"{med['val_accuracy']:.4f}, test {med['test_accuracy']:.4f}, "
                             f"search {med['search_s']:.1f} s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--examples", default="random,bayesian")
    parser.add_argument("--train", type=int, default=20000,
                        help="training images (the first of the training file)")
    parser.add_argument("--val", type=int, default=5000,
                        help="validation images (the next ones of the training file)")
    parser.add_argument("--log", type=Path,
                        default=ROOT / "benchmarks" / "results" / "kt_examples.jsonl")
    parser.add_argument("--commit", default=None,
                        help="print the table of the runs of this commit (default: HEAD's), "
                             "and run nothing")
    args = parser.parse_args()
    if args.commit is not None:
        print("\n".join(table(args.log, {"train": args.train, "val": args.val,
                                         "commit": args.commit})))
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    examples = args.examples.split(",")
    unknown = sorted(set(examples) - set(TUNERS))
    if unknown:
        raise SystemExit(f"--examples: {', '.join(unknown)} unknown (choose from "
                         f"{', '.join(TUNERS)})")
    sizes = {"train": args.train, "val": args.val, "commit": head_commit()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "arrays.npz"
        where = arrays(data, args.train, args.val)
        print(f"data: {args.train:,} training, {args.val:,} validation images of Fashion-MNIST's "
              f"training file, its 10,000 test images ({where})", flush=True)
        for example in examples:
            for seed in seeds:
                # Alternate which tool runs first, so that a busy machine slows both alike.
                order = list(TOOLS) if seed % 2 == 0 else list(TOOLS)[::-1]
                for module in order:
                    folder = tmp / f"{module}-{example}-{seed}"
                    folder.mkdir()
                    result = run(module, example, seed, data, folder)
                    row = {"when": time.strftime("%Y-%m-%d %H:%M"),
                           "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                           "example": example, "seed": seed, "tool": module, **sizes, **result}
                    print(json.dumps(row), flush=True)
                    args.log.parent.mkdir(parents=True, exist_ok=True)
                    with open(args.log, "a") as log:
                        log.write(json.dumps(row) + "\n")
    print("\n".join(table(args.log, sizes)))


if __name__ == "__main__":
    main()
