"""Training speed of the CIFAR-100 family on a GPU by dtype policy and steps per execution,
with Keras 3 on its JAX backend: a stand-in for the TensorFlow run of ``device_check.sh``.

Why JAX: the GPU machine this project is lent has no TensorFlow and no network; TensorFlow's
wheel (about 600 MB) and the CUDA 12 libraries it loads (about 2.5 GB) cannot be carried there,
while Keras (2.4 MB) can, and the machine has JAX with CUDA. The network is the one users train:
``neural_net.build_cnn`` on ``cifar100.py``'s ``DEMO_POINT`` (batch 200), compiled as the search
compiles it, on random uint8 images. What it cannot say: TensorFlow's own speed, memory growth,
or anything of the search's processes. Every variant is XLA-compiled (JAX always is).

    KERAS_BACKEND=jax python benchmarks/gpu_precision_jax.py [--images 60000] [--epochs 3]

Prints one JSON line per run and, at the end, each variant's steady images/s (epochs after the
first, which holds the compilation) as a ratio to float32, measured side by side in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VARIANTS = (  # (dtype policy, steps per execution)
    ("float32", 1),
    ("mixed_float16", 1),
    ("mixed_bfloat16", 1),
    ("mixed_float16", 8),
    ("float32", 8),
)


def demo_point() -> dict:
    """cifar100.py's DEMO_POINT, read without importing hyperopt (not on the GPU machine)."""
    import ast
    tree = ast.parse((Path(__file__).resolve().parent.parent / "search_spaces" /
                      "cifar100.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DEMO_POINT":
            return ast.literal_eval(node.value)
    raise LookupError("cifar100.py has no DEMO_POINT")


# --small (the device check's dry run on a CPU): the same family, its ops and two heads, in one
# stage with one residual unit: a CPU compiles it in seconds, where the demo network takes most
# of a minute per policy. It checks the script, not the speed.
SMALL = {"n_stages": 1, "residual": {"units": 1, "first_stage": 0, "kernel_size": 3},
         "filter_mult": 0.5}


def run_variant(policy: str, steps: int, x, y, epochs: int, batch_size: int | None = None,
                small: bool = False) -> dict:
    import keras
    import numpy as np

    import neural_net
    from hyperopt_nas import data_loaders

    DEMO_POINT = {**demo_point(), **(SMALL if small else {})}

    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    info = data_loaders.dataset_info("cifar100")
    accel = neural_net.Accelerator(gpus=1, mixed_precision=policy != "float32", xla=True)
    model, batch = neural_net.build_cnn(DEMO_POINT, info, accel)
    if steps > 1:  # compile again with several steps per call of the compiled function
        model.compile(optimizer=model.optimizer, loss=model.loss,
                      loss_weights={"fine": 1.0, "coarse": DEMO_POINT["coarse_loss_weight"]},
                      metrics={h: ["accuracy"] for h in info.heads}, jit_compile=True,
                      steps_per_execution=steps)
    batch = batch_size or batch
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    t = time.perf_counter()
    fit = model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0,
                    callbacks=[Clock()])
    per_s = [round(len(x) / s) for s in times]
    result = {"policy": policy, "steps_per_execution": steps, "batch_size": batch,
              "wall_s": round(time.perf_counter() - t, 1),
              "epoch_images_per_s": per_s,
              "steady_images_per_s": round(float(np.mean(per_s[1:]))) if len(per_s) > 1 else None,
              "model_policy": model.dtype_policy.name,
              "optimizer": type(model.optimizer).__name__,
              "loss": [round(v, 4) for v in fit.history["loss"]]}
    try:
        import jax
        stats = jax.devices()[0].memory_stats() or {}
        result["peak_mib"] = round(stats.get("peak_bytes_in_use", 0) / 2**20)
    except Exception:  # not JAX, or no memory statistics
        pass
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--budget-s", type=float, default=330.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="instead of the point's 200")
    parser.add_argument("--only", default=None,
                        help="variants to run, e.g. float32:1,mixed_float16:8 (default: all)")
    parser.add_argument("--small", action="store_true",
                        help="a small network of the family (one stage, one residual unit), "
                             "for a dry run on a CPU")
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
    fine = rng.integers(0, 100, args.images)
    y = {"fine": fine, "coarse": fine // 5}
    header = {"backend": keras.backend.backend(), "keras": keras.__version__}
    try:
        import jax
        header.update(jax=jax.__version__, devices=[str(d) for d in jax.devices()])
    except ImportError:
        pass
    print(json.dumps(header), flush=True)
    started, results = time.monotonic(), []
    variants = VARIANTS if not args.only else [
        (v.split(":")[0], int(v.split(":")[1])) for v in args.only.split(",")]
    for policy, steps in variants:
        if time.monotonic() - started > args.budget_s:
            print(json.dumps({"skipped": [policy, steps], "reason": "budget"}), flush=True)
            continue
        r = run_variant(policy, steps, x, y, args.epochs, args.batch_size, args.small)
        results.append(r)
        print(json.dumps(r), flush=True)
        if args.out:
            args.out.write_text(json.dumps({"header": header, "runs": results}, indent=1))
    for r in results:  # against float32 at the same steps per execution and batch size
        base = next((b["steady_images_per_s"] for b in results if b["policy"] == "float32"
                     and b["steps_per_execution"] == r["steps_per_execution"]
                     and b["batch_size"] == r["batch_size"]), None)
        ratio = (f" = {r['steady_images_per_s'] / base:.2f}x float32"
                 if base and r["steady_images_per_s"] else "")
        print(f"{r['policy']:>15} batch {r['batch_size']} steps/exec {r['steps_per_execution']}: "
              f"steady {r['steady_images_per_s']} images/s{ratio}; first epoch (compiles) "
              f"{r['epoch_images_per_s'][0]} images/s; peak {r.get('peak_mib')} MiB")


if __name__ == "__main__":
    main()
