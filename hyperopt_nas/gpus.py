"""Which GPUs the machine has, which a process may see, and what to say when the Keras backend
sees none.

Read without any backend (NVML through ``nvidia-ml-py``, else ``nvidia-smi``, and
``CUDA_VISIBLE_DEVICES``), so the search's own process can check GPUs without taking one. Also
how workers are packed onto GPUs (``worker_slots``): several trials on one GPU each get a share of
its memory, which every backend enforces in its own way (``runtime/``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

VISIBLE = "CUDA_VISIBLE_DEVICES"
# What installs each backend's CUDA build (setup.cfg's <backend>-gpu extras).
GPU_BUILDS = {"tensorflow": "tensorflow[and-cuda]", "jax": "jax[cuda12]", "torch": "torch"}
NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}


def setup_hint(backend: str = "tensorflow") -> str:
    return (f"{NAMES.get(backend, backend)} was most likely installed without its CUDA "
            f"libraries: run ./setup.sh again (on a machine with NVIDIA GPUs it installs them) "
            f"or pip install "
            f"'{GPU_BUILDS.get(backend, backend)}'; tensorflow.log in the results folder has "
            f"the backend's own words")


SETUP_HINT = setup_hint()

# The part of a shared GPU's memory given to its workers' allocators together: the rest is left
# to the CUDA context each process opens (some 300-600 MiB apiece) and to the cuDNN and cuBLAS
# workspaces, which no allocator share covers.
SHARED_MEMORY_USABLE = 0.9
# Where a worker finds its share of the GPU's memory (a fraction), set before its backend starts.
SHARE_ENV = "HYPEROPT_NAS_GPU_SHARE"


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as the driver describes it."""

    index: str  # the physical id (nvidia-smi's), what CUDA_VISIBLE_DEVICES names
    name: str  # "NVIDIA H200"
    compute_capability: tuple[int, int] | None  # (9, 0); None if the driver does not say
    memory_mb: float | None

    @property
    def capability_text(self) -> str:
        cc = self.compute_capability
        return "unknown" if cc is None else f"{cc[0]}.{cc[1]}"


def nvml():
    """``pynvml`` (the ``nvidia-ml-py`` package), initialised; None without it or a driver."""
    try:
        import pynvml
        pynvml.nvmlInit()
    except Exception:  # not installed, no driver (NVMLError_LibraryNotFound, ...)
        return None
    return pynvml


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def gpu_details() -> list[GpuInfo]:
    """Every NVIDIA GPU of this machine, by physical id, with its name, compute capability and
    memory (NVML, else ``nvidia-smi --query-gpu``); [] without GPUs or a driver."""
    driver = nvml()
    if driver is not None:
        out = []
        try:
            for i in range(driver.nvmlDeviceGetCount()):
                handle = driver.nvmlDeviceGetHandleByIndex(i)
                try:
                    cc = tuple(int(v) for v in driver.nvmlDeviceGetCudaComputeCapability(handle))
                except Exception:  # an old driver
                    cc = None
                out.append(GpuInfo(str(i), _text(driver.nvmlDeviceGetName(handle)), cc,
                                   driver.nvmlDeviceGetMemoryInfo(handle).total / 2**20))
            return out
        except Exception:
            pass
    return _smi_details()


def _smi_details() -> list[GpuInfo]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,compute_cap,memory.total",
             "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [info for info in map(parse_smi_line, listing.splitlines()) if info is not None]


def parse_smi_line(line: str) -> GpuInfo | None:
    """One line of ``nvidia-smi --query-gpu=index,name,compute_cap,memory.total
    --format=csv,noheader,nounits`` (``0, NVIDIA H200, 9.0, 143771``), or None."""
    parts = [p.strip() for p in line.split(",")]
    if len(parts) != 4 or not parts[0].isdigit():
        return None
    try:
        major, minor = parts[2].split(".")
        cc = (int(major), int(minor))
    except ValueError:  # "[N/A]" from an old driver
        cc = None
    try:
        memory = float(parts[3])
    except ValueError:
        memory = None
    return GpuInfo(parts[0], parts[1], cc, memory)


def details_of(gpu: str | None) -> GpuInfo | None:
    """The GPU with physical id ``gpu`` (None: the first this process may use), or None."""
    found = gpu_details()
    if gpu is None:
        visible = (parse_visible(os.environ[VISIBLE]) if VISIBLE in os.environ
                   else [g.index for g in found])
        gpu = visible[0] if visible else None
    return next((g for g in found if g.index == gpu), None)


def worker_slots(gpus: list[str] | None, workers: int) -> list[tuple[str | None, float | None]]:
    """Each worker's GPU and its share of that GPU's memory: worker ``i`` takes
    ``gpus[i % len(gpus)]``; a GPU that ``k > 1`` workers share gives each
    ``SHARED_MEMORY_USABLE / k`` of its memory, a GPU of its own worker all of it (None)."""
    if not gpus:
        return [(None, None)] * workers
    pinned = [gpus[i % len(gpus)] for i in range(workers)]
    return [(gpu, SHARED_MEMORY_USABLE / pinned.count(gpu) if pinned.count(gpu) > 1 else None)
            for gpu in pinned]


def share_of_this_process() -> float | None:
    """The share of its GPU's memory this worker was given (``worker_slots``), or None."""
    text = os.environ.get(SHARE_ENV)
    try:
        share = float(text) if text else None
    except ValueError:
        return None
    return share if share is not None and 0 < share < 1 else None


def machine_gpus() -> list[str]:
    """The physical ids of this machine's NVIDIA GPUs (``gpu_details``), whatever this process
    may see."""
    return [gpu.index for gpu in gpu_details()]


def hidden_on_purpose() -> bool:
    """Whether ``CUDA_VISIBLE_DEVICES`` hides every GPU (``""`` or ``-1``): a CPU run asked for."""
    return os.environ.get(VISIBLE, "unset").strip() in ("", "-1")


def parse_visible(text: str) -> list[str]:
    """The ids a ``CUDA_VISIBLE_DEVICES`` value lists (``-1``: none)."""
    ids = [g.strip() for g in text.split(",") if g.strip()]
    return [] if ids == ["-1"] else ids


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as physical ids: ``CUDA_VISIBLE_DEVICES`` if set, else
    every GPU the driver lists."""
    if VISIBLE in os.environ:
        return parse_visible(os.environ[VISIBLE])
    return machine_gpus()


def resolve_gpu_ids(wanted: list[str]) -> list[str]:
    """``--gpus`` numbers as the ids to give each worker in ``CUDA_VISIBLE_DEVICES``: under an
    existing ``CUDA_VISIBLE_DEVICES`` (a scheduler's, say) number i is its i-th entry, as CUDA
    itself numbers them; otherwise the physical id."""
    if VISIBLE not in os.environ:
        return list(wanted)
    visible = visible_gpus()
    out = []
    for gpu in wanted:
        if int(gpu) >= len(visible):
            raise ValueError(f"--gpus {gpu}: {VISIBLE}={os.environ[VISIBLE]!r} lets this process "
                             f"see {len(visible)} GPU{'s' if len(visible) != 1 else ''}, "
                             f"numbered 0 to {len(visible) - 1}; use those numbers or --gpus "
                             "all." if visible else
                             f"--gpus {gpu}: {VISIBLE}={os.environ[VISIBLE]!r} hides every "
                             f"GPU; unset it or leave out --gpus.")
        out.append(visible[int(gpu)])
    return out


def pinned_without_gpu(gpu: str, backend: str = "tensorflow") -> str:
    """The error of a worker given GPU ``gpu`` in which the backend sees no GPU."""
    return (f"a worker pinned to GPU {gpu} (--gpus) sees no GPU, so its trials would train on "
            f"the CPU. {setup_hint(backend)}.")


def unused_gpus_warning(backend_gpus: int, backend: str = "tensorflow") -> str | None:
    """A warning when this machine has NVIDIA GPUs, none is hidden on purpose, and the Keras
    backend sees none of them; None otherwise."""
    if backend_gpus or hidden_on_purpose():
        return None
    found = machine_gpus()
    if not found:
        return None
    return (f"this machine has {len(found)} NVIDIA GPU{'s' if len(found) > 1 else ''} but "
            f"{NAMES.get(backend, backend)} sees none, so trials train on the CPU. "
            f"{setup_hint(backend)}. (To train on the CPU on purpose, set {VISIBLE}= to hide "
            "them.)")
