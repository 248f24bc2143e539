"""Images per second of a trial's training, side by side with two baselines, in one run.

1. ours: the trial's own pipeline (``training.make_dataset``: the backend's input pipeline,
   tf.data under TensorFlow; ``model.fit`` with the trial's callbacks, flip as a preprocessing
   layer);
   ours+progress: the same with the progress callback of ``--progress`` (a thread reads the
   step counter once a second; a report then and at each epoch's end);
   numpy: the same callbacks on the NumPy batches through a ``keras.utils.PyDataset`` that JAX
   and PyTorch read (``hyperopt_nas.batches``), to decide which TensorFlow should use;
2. bare: a hand-written ``model.fit`` of the same network on the same in-memory float arrays;
3. map_fn: the same network with the reference script's per-image ``tf.map_fn`` random flip.

Each variant trains the same CIFAR-shaped network on the same synthetic images; the first epoch
(graph tracing) is left out of the timing. Prints images/s and the ratios ours/bare (goal >= 0.95),
ours+progress/ours and ours/map_fn.

    python benchmarks/training_throughput.py [--images 3072] [--epochs 4] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import neural_net  # noqa: E402
from hyperopt_nas import training  # noqa: E402
from hyperopt_nas.data_loaders import DATASETS, Split  # noqa: E402

# A mid-sized member of the CIFAR-100 family: 3 stages, residual units, inception reductions.
POINT = {
    "lr_rate_mult": 1.0, "l2_weight_reg_mult": 1.0, "batch_size": 128, "optimizer": "Adam",
    "coarse_loss_weight": 0.3, "conv_dropout": 0.2, "fc_dropout": 0.4, "use_batch_norm": True,
    "first_conv": None, "residual": {"units": 1, "first_stage": 1, "kernel_size": 3},
    "filter_mult": 0.5, "n_stages": 3, "pooling": "max", "conv_kernel_size": 3,
    "fc_units_mult": 0.5, "second_fc": None, "activation": "relu",
}


class EpochTimer:
    def __init__(self):
        import keras

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(inner, epoch, logs=None):
                inner.start = time.perf_counter()

            def on_epoch_end(inner, epoch, logs=None):
                self.times.append(time.perf_counter() - inner.start)

        self.times: list[float] = []
        self.callback = Timer()

    def images_per_second(self, n_images: int) -> float:
        timed = self.times[1:]  # the first epoch traces the graph
        return n_images * len(timed) / sum(timed)


def build(point, map_fn_flip: bool):
    """The family's network; with ``map_fn_flip`` its flip layer is the reference's map_fn."""
    import keras
    import tensorflow as tf
    info = DATASETS["cifar100"]
    cpu = neural_net.Accelerator(gpus=0, mixed_precision=False, xla=False)
    if not map_fn_flip:
        return neural_net.build_cnn(point, info, cpu)[0]

    class MapFnFlip(keras.layers.Layer):
        def call(self, x, training=None):
            # The reference flipped image by image, in training and at test time alike.
            return tf.map_fn(tf.image.random_flip_left_right, x)

    no_flip = neural_net.DatasetInfo(info.name, info.input_shape, info.heads,
                                     horizontal_flip=False)
    model = neural_net.build_cnn(point, no_flip, cpu)[0]
    inputs = keras.Input(info.input_shape)
    flipped = MapFnFlip()(inputs)
    outputs = model(flipped)
    wrapped = keras.Model(inputs, outputs)
    neural_net.compile_model(wrapped, info, "Adam", 0.001, cpu, {"coarse": 0.3})
    return wrapped


def run(variant: str, data: Split, epochs: int, batch_size: int, seed: int) -> float:
    import keras
    keras.utils.set_random_seed(seed)
    timer = EpochTimer()
    point = {**POINT, "batch_size": batch_size}
    model = build(point, map_fn_flip=variant == "map_fn")
    if variant == "bare":
        x = data.x.astype("float32")
        model.fit(x, data.y, batch_size=batch_size, epochs=epochs, callbacks=[timer.callback],
                  verbose=0)
    else:
        budget = training.TrainBudget(epochs=epochs, patience=epochs)
        divergence = training._callbacks("loss", budget, time.monotonic(),
                                         DATASETS["cifar100"])["fail_on_divergence"]
        callbacks = [divergence, timer.callback]
        batches = training.make_dataset(data, batch_size, shuffle=True, seed=seed)
        if variant == "ours+progress":
            reports = []
            callbacks.append(training._progress_callback(reports.append, "loss", batch_size,
                                                         len(data), budget, batches))
        if variant == "numpy":
            from hyperopt_nas.batches import Batches
            batches = Batches(data, batch_size, shuffle=True, seed=seed)
        model.fit(batches, epochs=epochs, callbacks=callbacks, shuffle=False, verbose=0)
    keras.backend.clear_session()
    return timer.images_per_second(len(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=3072)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3,
                        help="alternating rounds; the median of each variant is compared")
    args = parser.parse_args()

    import tensorflow as tf
    rng = np.random.default_rng(0)
    fine = rng.integers(0, 100, args.images)
    data = Split(rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8),
                 {"fine": fine, "coarse": fine // 5})
    device = "GPU" if tf.config.list_physical_devices("GPU") else f"CPU ({os.cpu_count()} cores)"
    print(f"machine: {platform.machine()} {device}; TensorFlow {tf.__version__}; "
          f"{args.images} images 32x32x3, batch {args.batch_size}, {args.epochs} epochs "
          "(first untimed)")
    seen: dict[str, list[float]] = {"ours": [], "ours+progress": [], "numpy": [], "bare": [],
                                    "map_fn": []}
    variants = list(seen)
    for round_ in range(args.repeats):
        # Alternating, and each round in another order, so that drifts of the machine and the
        # place in a round hit all alike.
        shift = round_ % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            ips = run(variant, data, args.epochs, args.batch_size, seed=round_)
            seen[variant].append(ips)
            print(f"  round {round_ + 1} {variant:>13}: {ips:8.1f} images/s")
    median = {variant: float(np.median(values)) for variant, values in seen.items()}
    for variant, value in median.items():
        print(f"{variant:<13} median {value:8.1f} images/s (min {min(seen[variant]):.1f}, "
              f"max {max(seen[variant]):.1f})")
    print(f"ratio ours/bare   = {median['ours'] / median['bare']:.3f} (goal >= 0.95)")
    print(f"ratio ours+progress/ours = {median['ours+progress'] / median['ours']:.3f}")
    print(f"ratio ours/map_fn = {median['ours'] / median['map_fn']:.3f}")
    print(f"ratio ours/numpy = {median['ours'] / median['numpy']:.3f} (the backend's pipeline "
          "against the NumPy batches through a PyDataset)")


if __name__ == "__main__":
    main()
