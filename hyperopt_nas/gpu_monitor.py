"""What a GPU does while a trial trains on it: its utilisation and this process's memory, read
through NVML (the ``nvidia-ml-py`` package, ``pynvml``) once a second from a thread of the worker.

The live line shows the latest sample (``GPU 0 57% 3.2 GB``), and the trial's record keeps the
mean utilisation and the most memory the process held (``accelerator.gpu_util_mean``,
``gpu_process_memory_peak_mb``): on a GPU that several trials share, what each one held and how
busy the GPU was. Utilisation is the GPU's, shared by every process on it; memory is this
process's own (its CUDA context and the backend's allocator pool, not only live tensors).
Without NVML or a driver nothing is sampled and nothing is said.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from hyperopt_nas.gpus import nvml

SAMPLE_EVERY_S = 1.0


class GpuSampler:
    """Samples GPU ``gpu`` (its NVML index, the physical id) and process ``pid`` every
    ``every_s`` from a daemon thread between ``start()`` and ``stop()``."""

    def __init__(self, gpu: str, pid: int | None = None, every_s: float = SAMPLE_EVERY_S,
                 nvml: Any = None):
        self.gpu, self.pid, self.every_s = gpu, pid or os.getpid(), every_s
        self.nvml = nvml
        self.handle = None
        self.utils: list[float] = []
        self.memory_mb: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def available(self) -> bool:
        """Whether NVML answers for this GPU (initialised on first use)."""
        if self.handle is not None:
            return True
        if self.nvml is None:
            self.nvml = nvml()
        if self.nvml is None:
            return False
        try:
            self.handle = self.nvml.nvmlDeviceGetHandleByIndex(int(self.gpu))
        except Exception:  # no such GPU, NVML refuses
            return False
        return True

    def sample(self) -> tuple[float | None, float | None]:
        """(the GPU's utilisation in %, this process's GPU memory in MiB) now; None where NVML
        does not say (a process in another PID namespace is not found by its pid)."""
        util = memory = None
        try:
            util = float(self.nvml.nvmlDeviceGetUtilizationRates(self.handle).gpu)
        except Exception:
            pass
        try:
            for proc in self.nvml.nvmlDeviceGetComputeRunningProcesses(self.handle):
                if proc.pid == self.pid and proc.usedGpuMemory is not None:
                    memory = proc.usedGpuMemory / 2**20
        except Exception:
            pass
        return util, memory

    def _record(self) -> None:
        util, memory = self.sample()
        if util is not None:
            self.utils.append(util)
        if memory is not None:
            self.memory_mb.append(memory)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._record()

    def start(self) -> "GpuSampler":
        if self.available():
            self._record()
            self._thread = threading.Thread(target=self._run, name="gpu-sampler", daemon=True)
            self._thread.start()
        return self

    def latest(self) -> dict[str, Any]:
        """The newest sample, for the live line: ``{"gpu": "0", "gpu_util": 57.0,
        "gpu_memory_mb": 3210.0}``; {} before any."""
        out: dict[str, Any] = {}
        if self.utils:
            out["gpu_util"] = self.utils[-1]
        if self.memory_mb:
            out["gpu_memory_mb"] = self.memory_mb[-1]
        return {"gpu": self.gpu, **out} if out else {}

    def stop(self) -> dict[str, Any]:
        """Stop sampling; what the trial's record keeps (mean utilisation, peak memory)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self._record()  # the state at the trial's end
        out: dict[str, Any] = {}
        if self.utils:
            out["gpu_util_mean"] = round(sum(self.utils) / len(self.utils), 1)
        if self.memory_mb:
            out["gpu_process_memory_peak_mb"] = round(max(self.memory_mb), 1)
        return out
