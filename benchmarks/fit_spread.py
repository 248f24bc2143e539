"""How much one network's best validation accuracy moves with the seed alone, fed to ``fit`` as
NumPy arrays (as Keras Tuner's users call it) and through a ``tf.data`` pipeline with a full,
seeded, per-epoch shuffle (as the tool's TensorFlow trials are): the yardstick for the gaps
between searches in ``kt_examples.py``.

The network is Keras Tuner's pick in ``kt_examples.py``'s ``random`` example, seed 1 (one
Dense(512, relu), Adam at 0.00176), on the same arrays (the first 20,000 images of
Fashion-MNIST's training file, the next 5,000 to validate), 2 epochs, batches of 32.

    python benchmarks/fit_spread.py [--seeds 0-8]

Prints each path's best validation accuracy per seed, their means and the difference in
standard errors.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kt_examples  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-8", help="a range, e.g. 0-8")
    args = parser.parse_args()
    first, last = (int(v) for v in args.seeds.split("-"))
    import keras
    import tensorflow as tf
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "arrays.npz"
        kt_examples.arrays(path, 20000, 5000)
        data = np.load(path)
        x, x_val = data["x_train"][..., None], data["x_val"][..., None]
        y, y_val = data["y_train"], data["y_val"]

    def build():
        model = keras.Sequential([keras.layers.Flatten(),
                                  keras.layers.Dense(512, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(0.00176),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    found: dict[str, list[float]] = {"arrays": [], "tf.data": []}
    for seed in range(first, last + 1):
        keras.utils.set_random_seed(seed)
        fit = build().fit(x, y, epochs=2, batch_size=32, validation_data=(x_val, y_val),
                          verbose=0)
        found["arrays"].append(max(fit.history["val_accuracy"]))
        keras.utils.set_random_seed(seed)
        batches = (tf.data.Dataset.from_tensor_slices((x, y))
                   .shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(32))
        fit = build().fit(batches, epochs=2, validation_data=(x_val, y_val), verbose=0)
        found["tf.data"].append(max(fit.history["val_accuracy"]))
        print(f"seed {seed}: arrays {found['arrays'][-1]:.4f}, "
              f"tf.data {found['tf.data'][-1]:.4f}", flush=True)
    a, t = found["arrays"], found["tf.data"]
    error = (statistics.variance(a) / len(a) + statistics.variance(t) / len(t)) ** 0.5
    print(f"arrays: mean {statistics.mean(a):.4f} ({min(a):.4f} to {max(a):.4f}); tf.data: "
          f"mean {statistics.mean(t):.4f} ({min(t):.4f} to {max(t):.4f}); difference "
          f"{(statistics.mean(a) - statistics.mean(t)) / error:.1f} standard errors")


if __name__ == "__main__":
    main()
