"""Which precision trials train in on a GPU: ``--mixed-precision auto``, decided from measurements.

Half precision computes in bfloat16 on GPUs of compute capability 8.0 and above (Ampere, Hopper:
same range as float32, no loss scaling) and in float16 below (with loss scaling). It is not
faster everywhere: on an H200 under JAX the CIFAR-100 family trained at 0.90x float32's speed at
its batch of 200 and at 1.41x at 450 (``MEASURED``). So ``auto`` chooses half precision only where
a measurement of that GPU, backend and half type says it is faster at the space's batch size, and
float32 otherwise; the search's first line says which and why (``Precision.why``).

``MEASURED`` holds what ``benchmarks/device_check.sh`` (and before it
``benchmarks/gpu_precision_jax.py``) measured, one row per GPU, backend, half type and batch size;
the check prints new rows in this form. The search's process decides (it reads the GPU through
NVML or ``nvidia-smi``, no backend needed) and hands the workers the decision.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from hyperopt_nas.gpus import GpuInfo

# Half precision must be at least this much faster than float32 to be chosen: two runs of the
# same variant agreed within 2 % on the H200 (benchmarks/results/gpu_precision_jax-*.txt).
MIN_SPEEDUP = 1.05
BFLOAT16_FROM = (8, 0)  # compute capability: Ampere (A100) and later compute in bfloat16
SPACE_DRAWS = 200  # points drawn from the space to learn its batch sizes


@dataclass(frozen=True)
class Measurement:
    """Steady training speed of half precision as a ratio to float32, side by side in one run."""

    gpu: str  # the name NVML and nvidia-smi give ("NVIDIA H200")
    backend: str  # Keras backend
    half: str  # float16 or bfloat16
    batch_size: int
    speedup: float  # images/s in mixed precision / images/s in float32
    source: str  # the log it comes from


MEASURED: tuple[Measurement, ...] = (
    # benchmarks/gpu_precision_jax.py, 2026-11-30: the CIFAR-100 family's DEMO_POINT, Keras
    # 3.15.1 on JAX 0.11.2; batch 200 at one step per execution, 450 at 32.
    Measurement("NVIDIA H200", "jax", "bfloat16", 200, 0.90,
                "benchmarks/results/gpu_precision_jax-2026-11-30-h200.txt"),
    Measurement("NVIDIA H200", "jax", "float16", 200, 0.92,
                "benchmarks/results/gpu_precision_jax-2026-11-30-h200.txt"),
    Measurement("NVIDIA H200", "jax", "bfloat16", 450, 1.41,
                "benchmarks/results/gpu_precision_jax-2026-11-30-h200.txt"),
    Measurement("NVIDIA H200", "jax", "float16", 450, 1.38,
                "benchmarks/results/gpu_precision_jax-2026-11-30-h200.txt"),
)


@dataclass(frozen=True)
class Precision:
    """The decision: ``mode`` is what every worker is told (``off``, ``float16``, ``bfloat16``,
    or ``on``), ``why`` one line for the console."""

    mode: str
    why: str | None  # None: nothing to say (no GPU; Spark's executors decide for themselves)

    @property
    def words(self) -> str:
        return {"off": "float32", "on": "mixed float16", "float16": "mixed float16",
                "bfloat16": "mixed bfloat16"}.get(self.mode, self.mode)


def half_for(capability: tuple[int, int] | None) -> str:
    """The half type a GPU of this compute capability computes in fastest."""
    return "bfloat16" if capability is not None and capability >= BFLOAT16_FROM else "float16"


def batch_sizes(space: Any, draws: int = SPACE_DRAWS, seed: int = 0) -> list[int]:
    """The ``batch_size`` values of ``draws`` points drawn from a hyperopt space (any depth);
    [] if its points name none."""
    from hyperopt.pyll import stochastic
    import numpy as np
    rng = np.random.default_rng(seed)
    found: list[int] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "batch_size" and isinstance(inner, (int, float)):
                    found.append(int(inner))
                else:
                    walk(inner)
        elif isinstance(value, (list, tuple)):
            for inner in value:
                walk(inner)

    try:
        for _ in range(draws):
            walk(stochastic.sample(space, rng=rng))
    except Exception:  # a space hyperopt cannot sample outside a search: no batch sizes known
        return []
    return found


def choose(asked: str, gpu: GpuInfo | None, backend: str, batches: list[int],
           measured: tuple[Measurement, ...] | None = None) -> Precision:
    """What ``--mixed-precision asked`` means for trials on ``gpu`` (None: no GPU) under
    ``backend`` in a space whose points train at ``batches`` (``measured``: default
    ``MEASURED``)."""
    measured = MEASURED if measured is None else measured
    if asked != "auto":
        return Precision(asked, f"--mixed-precision {asked}")
    if gpu is None:  # float32, as on any CPU: nothing to explain
        return Precision("off", None)
    half = half_for(gpu.compute_capability)
    own = [m for m in measured if m.gpu == gpu.name and m.backend == backend and m.half == half]
    about = f"{gpu.name} (compute capability {gpu.capability_text})"
    if not own:
        return Precision("off", f"{half} never measured on the {about} under {backend}; "
                                f"--mixed-precision {half} tries it, benchmarks/device_check.sh "
                                "measures it")
    if batches:
        batch = int(statistics.median(batches))
        where = f"the space's median batch of {batch}"
    else:
        batch, where = min(m.batch_size for m in own), "the smallest measured batch (the " \
            "space names no batch_size)"
    nearest = min(own, key=lambda m: (abs(m.batch_size - batch), m.batch_size))
    verdict = (f"{half} measured at {nearest.speedup:.2f}x float32's speed at batch "
               f"{nearest.batch_size} on the {about} under {backend}, for {where}")
    if nearest.speedup >= MIN_SPEEDUP:
        return Precision(half, verdict)
    return Precision("off", verdict)
