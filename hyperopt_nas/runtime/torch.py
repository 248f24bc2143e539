"""The PyTorch backend's runtime (the interface is in ``__init__.py``).

PyTorch keeps freed GPU memory in its cache: ``release()`` empties it after each trial, so that
the next trial (or another worker on the same GPU) gets it back.
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

OUT_OF_MEMORY = re.compile(r"OutOfMemoryError|CUDA out of memory")  # torch.cuda's


def prepare(deterministic: bool = False) -> None:
    """cuBLAS needs a fixed workspace for deterministic results, read when CUDA starts."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def compile_cache(folder: str) -> None:
    """TorchInductor's cache of ``torch.compile``'s kernels (``--xla on``) in ``folder``."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", folder)


def import_quietly(log_path: Any = None) -> None:
    if "torch" in sys.modules:
        return
    with output_to(log_path, fds=(2,)):
        import torch  # noqa: F401


def import_backend() -> None:
    """Nothing ahead of Keras, which imports PyTorch as it starts."""


def configure(mixed_precision: str | bool | None = "auto", xla: str | bool | None = "auto",
              deterministic: bool = False) -> Accelerator:
    import torch
    prepare(deterministic)
    if deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    share = share_of_this_process()
    if gpus and share is not None:  # a shared GPU: its caching allocator stops at the share
        torch.cuda.set_per_process_memory_fraction(share, 0)
    return decide(gpus, mixed_precision, xla, deterministic, "torch")


def jit_compile(accel: Accelerator) -> bool:
    """``torch.compile`` only when asked (``--xla on``): its compile time is rarely paid back
    by one trial."""
    return accel.xla


def steps_per_execution(accel: Accelerator) -> int:
    """One: several were never measured faster under this backend."""
    return 1


def input_pipeline(split, batch_size: int, *, shuffle: bool, seed: int,
                   on_device: bool = False):
    """NumPy batches through a ``PyDataset`` (``hyperopt_nas.batches``)."""
    from hyperopt_nas.batches import Batches  # imports Keras: only where a model trains
    return Batches(split, batch_size, shuffle=shuffle, seed=seed)


def steps_done(model, feed) -> int:
    """The batches handed out: the optimizer's counter is written back at epoch ends only."""
    return feed.handed_out


def op_determinism() -> bool:
    import torch
    return bool(torch.are_deterministic_algorithms_enabled())


def gpu_memory_mb() -> float | None:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    return torch.cuda.memory_allocated(0) / 2**20


def gpu_peak_mb() -> float | None:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    peak = torch.cuda.max_memory_allocated(0) / 2**20
    torch.cuda.reset_peak_memory_stats(0)
    return peak


def release() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def device_scope(device: str | None):
    if device is None:
        return contextlib.nullcontext()
    import torch
    return torch.cuda.device(int(device.rsplit(":", 1)[1]))
