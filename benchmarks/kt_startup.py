"""A tiny search, start to end, against Keras Tuner's ``RandomSearch`` on the same arrays (issue
44, item 8): what a user waits for before the first result of a small experiment.

Each round runs, as separate fresh Python processes, the same Keras Tuner script twice: with
``import keras_tuner as kt`` and with ``import hyperopt_nas.keras_tuner as kt`` (the tools'
defaults, nothing tuned for speed). The script loads 2,000 Fashion-MNIST training images and 500
validation images (Debian's files, or Keras' cache), builds a small dense network per trial and
runs 3 trials of 1 epoch; each time is from the process's launch to the end of that search
(imports included).
Rounds alternate the tools so that a busy machine slows both alike. The script then searches a
second time in the same process (1 trial): the time from that ``search`` call to the end of its
trial, less the trial's own training, is how long a notebook's second search waits to start.

    python benchmarks/kt_startup.py [--rounds 3] [--log benchmarks/results/kt_startup.txt]

Prints each round, the medians and the ratio ours / Keras Tuner's (goal: at most 1.3x), and the
second search's wait (goal: at most 2 s).
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

SCRIPT = """
import json, sys, time
sys.path.insert(0, {root!r})
import numpy as np
import keras
import {module} as kt

data = np.load({data!r})
x, y, x_val, y_val = data["x"], data["y"], data["x_val"], data["y_val"]

def build_model(hp):
    model = keras.Sequential([keras.layers.Flatten(),
                              keras.layers.Dense(hp.Int("units", 32, 128, step=32),
                                                 activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-4, 1e-2, sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

tuner = kt.RandomSearch(build_model, objective="val_accuracy", max_trials=3, seed=1,
                        directory={folder!r}, project_name="first", overwrite=True)
tuner.search(x, y, epochs=1, validation_data=(x_val, y_val), verbose=0)
best = tuner.get_best_hyperparameters(1)[0].values
first_done = time.time()
second = None
if {second}:
    again = kt.RandomSearch(build_model, objective="val_accuracy", max_trials=1, seed=2,
                            directory={folder!r}, project_name="second", overwrite=True)
    from datetime import datetime
    from hyperopt_nas.trial_store import TrialStore
    started, clock = time.perf_counter(), time.time()
    again.search(x, y, epochs=1, validation_data=(x_val, y_val), verbose=0)
    called = time.perf_counter() - started
    record = TrialStore({folder!r} + "/second").load_records()[0]
    began = datetime.fromisoformat(record.started_at).timestamp() - clock
    second = {{"search_s": called, "trial_s": record.wall_time_s, "wait_s": began}}
print("RESULT " + json.dumps({{"best": best, "first_done": first_done, "second": second}}),
      flush=True)
"""


def arrays(path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from hyperopt_nas.data_loaders import load_fashion_mnist
    train, _, where = load_fashion_mnist(None)
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(train.x))[:2500]
    x, y = train.x[rows].astype("float32") / 255, train.y["label"][rows]
    np.savez(path, x=x[:2000], y=y[:2000], x_val=x[2000:], y_val=y[2000:])
    print(f"data: 2,000 training and 500 validation images of Fashion-MNIST ({where})")


def run(module: str, data: Path, folder: Path, second: bool) -> tuple[float, dict]:
    script = SCRIPT.format(root=str(ROOT), module=module, data=str(data), folder=str(folder),
                           second=second)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    launched = time.time()
    done = subprocess.run([sys.executable, "-"], input=script, text=True, capture_output=True,
                          env=env, cwd=folder, timeout=900)
    result = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not result:
        raise RuntimeError(f"{module} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    found = json.loads(result[0][len("RESULT "):])
    return found["first_done"] - launched, found  # launch to the first search's end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log", type=Path, default=None, help="append the output here too")
    args = parser.parse_args()
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    say(f"# {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} cores; "
        f"{args.rounds} rounds")
    walls: dict[str, list[float]] = {"keras_tuner": [], "hyperopt_nas.keras_tuner": []}
    waits: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "arrays.npz"
        arrays(data)
        for round_ in range(args.rounds):
            order = list(walls) if round_ % 2 == 0 else list(walls)[::-1]
            for module in order:
                folder = tmp / f"{module}-{round_}"
                folder.mkdir()
                wall, result = run(module, data, folder, second=module != "keras_tuner")
                walls[module].append(wall)
                extra = ""
                if result["second"]:
                    waits.append(result["second"]["wait_s"])
                    s = result["second"]
                    extra = (f"; a second search in the same process: its trial began "
                             f"{s['wait_s']:.1f} s after the call, trained {s['trial_s']:.1f} "
                             f"s, the call returned after {s['search_s']:.1f} s")
                say(f"round {round_ + 1} {module}: 3 trials in {wall:.1f} s{extra}")
    ours, theirs = (float(np.median(walls[m])) for m in ("hyperopt_nas.keras_tuner",
                                                         "keras_tuner"))
    say(f"median: ours {ours:.1f} s, Keras Tuner {theirs:.1f} s: {ours / theirs:.2f}x "
        f"(goal at most 1.3x: {'met' if ours / theirs <= 1.3 else 'not met'})")
    wait = float(np.median(waits))
    say(f"a second search's wait before its trial (median): {wait:.1f} s (goal at most 2 s: "
        f"{'met' if wait <= 2 else 'not met'})")
    if args.log is not None:
        with open(args.log, "a") as log:
            log.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
