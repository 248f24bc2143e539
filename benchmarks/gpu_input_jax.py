"""Host batches against data kept on the device (``--data-on-gpu``), side by side, under Keras'
JAX backend: one trial of the ``fashion_mnist_cnn.py`` space's start point on Fashion-MNIST,
trained as the search trains it (``training.train_and_evaluate``), the two arms alternating.

Prints one JSON line per run and each arm's steady training images/s (epochs after the first,
which compiles) as a ratio to host batches. ``--data-on-gpu`` becomes the default where this says
it is faster on a GPU; on a CPU both arms read the same memory.

    KERAS_BACKEND=jax python benchmarks/gpu_input_jax.py [--samples 60000] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=None, help="training images (all)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--budget-s", type=float, default=120.0)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import dataclasses

    import keras

    import neural_net
    from hyperopt_nas import data_loaders, training
    from hyperopt_nas.space_files import load_space_file
    from hyperopt_nas.trial import DataSetup, TrainBudget
    from hyperopt_nas.trial_runner import prepare_data

    space = load_space_file(ROOT / "search_spaces" / "fashion_mnist_cnn.py")
    point = space.decode(space.start_vals[0])
    data = prepare_data(DataSetup("fashion_mnist", "simple_cnn", 0.1, args.samples, 0,
                                  str(args.data_dir or data_loaders.DEBIAN_FASHION_MNIST)))
    accel = training.configure_accelerator("off", "auto")
    header = {"backend": keras.backend.backend(), "keras": keras.__version__,
              "gpus": accel.gpus, "train_images": len(data.train), "point": point}
    print(json.dumps(header), flush=True)
    started, runs = time.monotonic(), []
    for round_ in range(args.rounds):
        for on_device in ((False, True) if round_ % 2 == 0 else (True, False)):
            if time.monotonic() - started > args.budget_s:
                break
            epochs: list[float] = []
            began = time.monotonic()
            training.train_and_evaluate(
                neural_net.model_builder("simple_cnn"), point, data.info, data.train,
                data.validation, data.test,
                TrainBudget(epochs=args.epochs, patience=args.epochs), seed=0,
                accel=dataclasses.replace(accel, data_on_device=on_device),
                on_progress=lambda p: epochs.append(p["images_per_s"])
                if p.get("epoch_done") else None)
            run = {"data_on_device": on_device, "round": round_,
                   "wall_s": round(time.monotonic() - began, 2),
                   "epoch_images_per_s": [round(v) for v in epochs],
                   "steady_images_per_s": round(statistics.mean(epochs[1:]))
                   if len(epochs) > 1 else None}
            runs.append(run)
            print(json.dumps(run), flush=True)
            if args.out:
                args.out.write_text(json.dumps({"header": header, "runs": runs}, indent=1))
    arms = {}
    for on_device in (False, True):
        steady = [r["steady_images_per_s"] for r in runs
                  if r["data_on_device"] is on_device and r["steady_images_per_s"]]
        arms[on_device] = statistics.median(steady) if steady else None
    if arms[False] and arms[True]:
        print(f"host batches {arms[False]:.0f} images/s; data on the device {arms[True]:.0f} "
              f"images/s = {arms[True] / arms[False]:.2f}x host batches", flush=True)


if __name__ == "__main__":
    main()
