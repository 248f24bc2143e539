"""The TensorFlow backend's runtime (the interface is in ``__init__.py``)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from typing import Any

from hyperopt_nas.gpus import details_of, share_of_this_process
from hyperopt_nas.log_files import output_to
from hyperopt_nas.runtime import Accelerator, decide

logger = logging.getLogger(__name__)
OUT_OF_MEMORY = re.compile(r"ResourceExhausted|RESOURCE_EXHAUSTED|OOM when allocating|"
                           r"CUDA_ERROR_OUT_OF_MEMORY")
XLA_CACHE_FLAG = "--tf_xla_persistent_cache_directory"


def prepare(deterministic: bool = False) -> None:
    """Nothing to set before TensorFlow starts: ``configure`` sets it all."""


def compile_cache(folder: str) -> None:
    """XLA's persistent cache of TensorFlow's jit-compiled functions (``--xla on``, the default
    on a GPU) in ``folder``; read from ``TF_XLA_FLAGS`` when TensorFlow starts."""
    flags = os.environ.get("TF_XLA_FLAGS", "")
    if XLA_CACHE_FLAG not in flags:
        os.environ["TF_XLA_FLAGS"] = f"{flags} {XLA_CACHE_FLAG}={folder}".strip()


def import_quietly(log_path: Any = None) -> None:
    """Import TensorFlow and find its devices with its C++ start-up lines (oneDNN, CUDA, absl;
    no environment variable silences them all) sent to ``log_path`` (or nowhere), not to the
    console. Once per process; later imports are silent anyway."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with output_to(log_path, fds=(2,)):
        import_backend()
        import tensorflow as tf
        tf.config.list_physical_devices()  # CUDA's probe prints here, not at the first trial


def import_backend() -> None:
    """Import TensorFlow without JAX: where JAX is installed, TensorFlow imports it for
    ``tf.lite``'s conversion of JAX functions (0.5 s of the 4.5 s TensorFlow's import costs a
    worker here), which nothing here uses; JAX stays importable afterwards, for whoever asks."""
    if "tensorflow" in sys.modules:
        return
    hidden = "jax" not in sys.modules
    if hidden:
        sys.modules["jax"] = None  # type: ignore[assignment]  # `import jax`: ImportError
    try:
        import tensorflow  # noqa: F401
    finally:
        if hidden and sys.modules.get("jax", False) is None:
            del sys.modules["jax"]


def configure(mixed_precision: str | bool | None = "auto", xla: str | bool | None = "auto",
              deterministic: bool = False) -> Accelerator:
    """Memory growth on every GPU, so trials and processes can share a card and a finished
    trial hands its memory back; deterministic kernels if asked. Before anything touches a
    device (loading a ``tf.data`` dataset does)."""
    import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)  # retracing notes of one model after another
    gpus = tf.config.list_physical_devices("GPU")
    limit = memory_limit_mb(share_of_this_process())
    for gpu in gpus:
        try:
            if limit is not None:  # a shared GPU: this worker's share, as one logical device
                tf.config.set_logical_device_configuration(
                    gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=limit)])
            else:
                tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as e:  # TensorFlow had already initialised the GPU in this process
            logger.warning("memory growth could not be set on %s, so TensorFlow may hold all of "
                           "its memory (%s). Set TensorFlow up before any data or model is "
                           "made on the GPU.", gpu.name, e)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return decide(len(gpus), mixed_precision, xla, deterministic, "tensorflow")


def memory_limit_mb(share: float | None) -> int | None:
    """This worker's share of its GPU's memory in MiB (TensorFlow takes a limit, not a
    fraction), or None: not shared, or the GPU's memory unknown."""
    if share is None:
        return None
    gpu = details_of(None)
    if gpu is None or gpu.memory_mb is None:
        logger.warning("this worker's share of its GPU could not be applied: the GPU's memory "
                       "is unknown (nvidia-smi does not say)")
        return None
    return int(gpu.memory_mb * share)


def jit_compile(accel: Accelerator) -> bool:
    """XLA as asked: off on a CPU by default (small CPU trials do not pay its compile back)."""
    return accel.xla


def steps_per_execution(accel: Accelerator) -> int:
    """One: several were never measured faster under this backend."""
    return 1


def input_pipeline(split, batch_size: int, *, shuffle: bool, seed: int,
                   on_device: bool = False):
    """tf.data: shuffle, batch, cast, prefetch. Against the NumPy batches every backend reads
    it trained a CIFAR-family network at 1.33x (benchmarks/training_throughput.py, 3 rounds,
    2 cores), so TensorFlow keeps it."""
    import tensorflow as tf
    data = tf.data.Dataset.from_tensor_slices((split.x, split.y))
    if shuffle:
        data = data.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    # Training drops each epoch's partial last batch, as batches.Batches does (XLA compiles
    # every batch shape once per trial).
    data = data.batch(batch_size, drop_remainder=shuffle and len(split) >= batch_size)
    data = data.map(lambda x, y: (tf.cast(x, tf.float32), y),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return data.prefetch(tf.data.AUTOTUNE)


def steps_done(model, feed) -> int:
    """The optimizer's step counter: TensorFlow updates it as training goes."""
    return int(model.optimizer.iterations.numpy())


def op_determinism() -> bool:
    """Whether TensorFlow runs deterministic kernels now (its public API can only turn them on;
    the question is answered by the module behind it)."""
    from tensorflow.python.framework import config
    return bool(config.is_op_determinism_enabled())


def gpu_memory_mb() -> float | None:
    """GPU memory TensorFlow's allocator holds for tensors now (the first GPU it sees: a worker
    is shown one), or None without a GPU."""
    import tensorflow as tf
    if not tf.config.list_physical_devices("GPU"):
        return None
    try:
        return tf.config.experimental.get_memory_info("GPU:0")["current"] / 2**20
    except (ValueError, RuntimeError):  # no such device, or no statistics from its allocator
        return None


def gpu_peak_mb() -> float | None:
    """The most GPU memory TensorFlow held at once since the last call (then reset), or None."""
    import tensorflow as tf
    if not tf.config.list_physical_devices("GPU"):
        return None
    try:
        peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
        tf.config.experimental.reset_memory_stats("GPU:0")
    except (ValueError, RuntimeError):
        return None
    return peak


def release() -> None:
    """Nothing beyond Keras' clear_session(): TensorFlow's allocator keeps its pool."""


def device_scope(device: str | None):
    """TensorFlow's device scope for ``device`` (``/GPU:1``), or nothing."""
    if device is None:
        return contextlib.nullcontext()
    import tensorflow as tf
    return tf.device(device)
