"""Which GPUs the machine has, which a process may see, and what to say when the Keras backend
sees none.

Read without any backend (``nvidia-smi -L`` and ``CUDA_VISIBLE_DEVICES``), so the search's own
process can check GPUs without taking one.
"""

from __future__ import annotations

import os
import shutil
import subprocess

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


def machine_gpus() -> list[str]:
    """The NVIDIA GPUs of this machine (``nvidia-smi -L``), whatever this process may see."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                 timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]


def hidden_on_purpose() -> bool:
    """Whether ``CUDA_VISIBLE_DEVICES`` hides every GPU (``""`` or ``-1``): a CPU run asked for."""
    return os.environ.get(VISIBLE, "unset").strip() in ("", "-1")


def parse_visible(text: str) -> list[str]:
    """The ids a ``CUDA_VISIBLE_DEVICES`` value lists (``-1``: none)."""
    ids = [g.strip() for g in text.split(",") if g.strip()]
    return [] if ids == ["-1"] else ids


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as physical ids: ``CUDA_VISIBLE_DEVICES`` if set, else
    every GPU ``nvidia-smi -L`` lists."""
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
