"""The JAX backend's runtime (the interface is in ``__init__.py``).

JAX preallocates 75 % of a GPU's memory at its first use unless told not to; several workers on
one GPU need it off (``XLA_PYTHON_CLIENT_PREALLOCATE=false``), set here before JAX starts, and a
worker given a share of its GPU (``--trials-per-gpu``) caps its allocator there
(``XLA_PYTHON_CLIENT_MEM_FRACTION``: without preallocation it is the most the allocator grows
to). Deterministic kernels are XLA flags, also read once when JAX starts. Compiled programs are
kept in JAX's persistent compilation cache (``compile_cache``), so a network compiled once is not
compiled again by a later trial, another worker or a relaunch.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from typing import Any

from hyperopt_nas.gpus import share_of_this_process
from hyperopt_nas.log_files import output_to
from hyperopt_nas.runtime import Accelerator, decide

# XLA's words (a JaxRuntimeError) for device memory it could not allocate.
OUT_OF_MEMORY = re.compile(r"RESOURCE_EXHAUSTED|Out of memory|CUDA_ERROR_OUT_OF_MEMORY")
DETERMINISTIC_XLA_FLAG = "--xla_gpu_deterministic_ops=true"
MEMORY_FRACTION = "XLA_PYTHON_CLIENT_MEM_FRACTION"
# JAX's persistent cache, as its configuration names it (also read from JAX_<NAME> at import):
# every program is kept, however fast it compiled (the default keeps only those over 1 s).
CACHE_SETTINGS = {"jax_compilation_cache_dir": None,
                  "jax_persistent_cache_min_compile_time_secs": 0,
                  "jax_persistent_cache_min_entry_size_bytes": 0}


def prepare(deterministic: bool = False) -> None:
    """What JAX reads once, when it starts: memory on demand (no preallocation) up to this
    worker's share of its GPU if it shares one, and the XLA flag of deterministic GPU kernels
    if asked."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    share = share_of_this_process()
    if share is not None:
        os.environ[MEMORY_FRACTION] = f"{share:.4f}"
    flags = os.environ.get("XLA_FLAGS", "")
    if deterministic and DETERMINISTIC_XLA_FLAG not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_XLA_FLAG}".strip()


def import_quietly(log_path: Any = None) -> None:
    """Import JAX (and find its devices: the CUDA probe's lines go to ``log_path``)."""
    if "jax" in sys.modules:
        return
    prepare()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # XLA logs through the same absl
    with output_to(log_path, fds=(2,)):
        import jax
        jax.devices()


def import_backend() -> None:
    """Nothing ahead of Keras, which imports JAX as it starts (after ``prepare``)."""


def compile_cache(folder: str) -> None:
    """Keep compiled programs in ``folder`` (JAX's persistent compilation cache): a later trial
    of the same network shape, in this process or another, loads them instead of compiling."""
    settings = {**CACHE_SETTINGS, "jax_compilation_cache_dir": folder}
    if "jax" not in sys.modules:  # read when JAX is imported
        for name, value in settings.items():
            os.environ[name.upper()] = str(value)
        return
    import jax
    for name, value in settings.items():
        jax.config.update(name, value)


def _gpus() -> list:
    import jax
    try:
        return jax.devices("gpu")
    except RuntimeError:  # no GPU platform
        return []


def configure(mixed_precision: str | bool | None = "auto", xla: str | bool | None = "auto",
              deterministic: bool = False) -> Accelerator:
    """``prepare``'s settings, which JAX reads when it starts: a process that started JAX
    before (with other flags) cannot get deterministic kernels any more, and says so."""
    if deterministic and DETERMINISTIC_XLA_FLAG not in os.environ.get("XLA_FLAGS", "") \
            and "jax" in sys.modules and _started():
        raise RuntimeError("deterministic kernels under JAX must be asked for before JAX "
                           f"starts: set XLA_FLAGS={DETERMINISTIC_XLA_FLAG}")
    prepare(deterministic)
    return decide(len(_gpus()), mixed_precision, xla, deterministic, "jax")


def _started() -> bool:
    from jax._src import xla_bridge
    return bool(getattr(xla_bridge, "_backends", None))


def jit_compile(accel: Accelerator) -> bool:
    """Always jit: under JAX ``jit_compile=False`` runs every step op by op (3-4x slower), on a
    CPU too, so ``--xla off`` does not turn it off."""
    return True


# On an H200 the CIFAR-100 family at batch 200 trained at 1.21x with 32 steps per execution
# (float32; 1.20x in mixed bfloat16): Keras' loop hands the GPU 32 steps between two rounds of
# callbacks (benchmarks/results/gpu_precision_jax-2026-11-30-h200.txt). Not measured on a CPU.
GPU_STEPS_PER_EXECUTION = 32


def steps_per_execution(accel: Accelerator) -> int:
    return GPU_STEPS_PER_EXECUTION if accel.gpus else 1


def input_pipeline(split, batch_size: int, *, shuffle: bool, seed: int,
                   on_device: bool = False):
    """NumPy batches through a ``PyDataset`` (``hyperopt_nas.batches``), or, ``on_device``, the
    split kept on the accelerator and each batch gathered there (if it fits: at most
    ``DEVICE_DATA_MAX_BYTES``)."""
    from hyperopt_nas import batches  # imports Keras: only where a model trains
    if on_device:
        from hyperopt_nas.runtime import jax_batches  # and JAX
        if jax_batches.split_bytes(split) <= jax_batches.DEVICE_DATA_MAX_BYTES:
            return jax_batches.DeviceBatches(split, batch_size, shuffle=shuffle, seed=seed)
    return batches.Batches(split, batch_size, shuffle=shuffle, seed=seed)


def steps_done(model, feed) -> int:
    """The batches handed out: the optimizer's counter is written back at epoch ends only."""
    return feed.handed_out


def op_determinism() -> bool:
    return DETERMINISTIC_XLA_FLAG in os.environ.get("XLA_FLAGS", "")


def gpu_memory_mb() -> float | None:
    gpus = _gpus()
    if not gpus:
        return None
    stats = gpus[0].memory_stats() or {}
    held = stats.get("bytes_in_use")
    return None if held is None else held / 2**20


def gpu_peak_mb() -> float | None:
    """The most GPU memory JAX's allocator has held at once in this process (JAX cannot reset
    it: the peak of the worker's trials so far), or None."""
    gpus = _gpus()
    if not gpus:
        return None
    peak = (gpus[0].memory_stats() or {}).get("peak_bytes_in_use")
    return None if peak is None else peak / 2**20


def release() -> None:
    """Drop compiled functions and the arrays they kept alive."""
    import jax
    jax.clear_caches()


def device_scope(device: str | None):
    """JAX's default device for ``device`` (``/GPU:1`` or ``gpu:1``), or nothing."""
    if device is None:
        return contextlib.nullcontext()
    import jax
    index = int(device.rsplit(":", 1)[1])
    return jax.default_device(jax.devices("gpu")[index])
