"""What differs by Keras backend, behind one interface, chosen once per process.

Keras 3 trains one model on TensorFlow, JAX or PyTorch (``KERAS_BACKEND``, read when Keras is
first imported). As Keras keeps ``keras/src/backend/{tensorflow,jax,torch}``, each backend here
is one small module exposing the same names, and the training code asks ``current()`` and never
branches on the backend's name:

- ``prepare(deterministic)``: what the backend reads once when it starts (environment: the
  worker's share of a shared GPU, ``gpus.share_of_this_process()``, among it);
- ``import_backend()``: import the backend (as a process that trains does, before Keras), and
  ``import_quietly(log_path)``: the same with its C++ start-up lines sent to the log;
- ``configure(mixed_precision, xla, deterministic) -> Accelerator``: GPUs, memory, determinism,
  the compile and precision defaults (before any tensor is made);
- ``jit_compile(accel)``: what ``model.compile(jit_compile=...)`` gets;
- ``steps_per_execution(accel)``: training steps per call from Keras' loop, where measured
  faster;
- ``input_pipeline(split, batch_size, shuffle, seed, on_device)``: a split as the input
  ``model.fit`` reads fastest on this backend (``on_device``: kept on the GPU, JAX only), and
  ``steps_done(model, feed)``: the steps trained so far, readable from another thread
  mid-epoch (the live progress);
- ``compile_cache(folder)``: keep compiled programs in ``folder`` for later trials, other
  workers and relaunches (before the backend starts);
- ``gpu_memory_mb()``: device memory the backend still holds after a trial (None without GPUs),
  and ``gpu_peak_mb()``: the most it held at once;
- ``release()``: give back what a finished trial held;
- ``device_scope(device)``: train on one device of the process's GPUs;
- ``op_determinism()``: whether deterministic kernels are on now;
- ``OUT_OF_MEMORY``: how the backend says it ran out of device memory (a pattern of its error
  messages; ``out_of_memory(error)`` asks it).

``version()`` and ``out_of_memory(error)`` are this package's, not a backend module's: they read
the chosen backend's ``__version__`` and ``OUT_OF_MEMORY``.

``choose(name)`` sets ``KERAS_BACKEND`` for this process and the processes it starts; it must
come before Keras is imported, and says so in one line if it does not.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import asdict, dataclass, replace
from types import ModuleType
from typing import Any

from hyperopt_nas import gpus as machine
from hyperopt_nas import precision as precisions
from hyperopt_nas.choices import ACCELERATOR_MODES, KERAS_BACKENDS, PRECISION_MODES
from hyperopt_nas.errors import FatalError

ENV = "KERAS_BACKEND"
DEFAULT = "tensorflow"
# The module (and pip package) that each backend needs, and the extra that installs it.
BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


@dataclass(frozen=True)
class Accelerator:
    """How this process trains: its backend, the GPUs the backend sees, and what every training
    run sets up before it builds its model (dtype policy, XLA or jit, deterministic kernels)."""

    gpus: int
    mixed_precision: bool
    xla: bool
    deterministic: bool = False
    keras_backend: str = DEFAULT
    half: str = "float16"  # the half type mixed precision computes in: float16 or bfloat16
    steps_per_execution: int = 1  # training steps per call from Keras' loop (callbacks between)
    data_on_device: bool = False  # splits kept on the accelerator (--data-on-gpu; JAX)

    @property
    def dtype_policy(self) -> str:
        return f"mixed_{self.half}" if self.mixed_precision else "float32"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "backend_version": version()}

    def for_training(self, steps_per_execution: int | None = None,
                     data_on_device: bool = False) -> "Accelerator":
        """As a trial (and ``retrain``) trains with it: ``steps_per_execution`` as asked, else
        the backend's measured default (32 under JAX on a GPU, else 1)."""
        return replace(self, steps_per_execution=(steps_per_execution
                                                  or current().steps_per_execution(self)),
                       data_on_device=data_on_device)


def requested(name: str | None = None) -> str:
    """The backend asked for: ``name``, else ``KERAS_BACKEND``, else TensorFlow."""
    name = name or os.environ.get(ENV) or DEFAULT
    if name not in KERAS_BACKENDS:
        raise FatalError(f"Keras backend {name!r} is not one of {', '.join(KERAS_BACKENDS)}; "
                         f"pass --keras-backend {'|'.join(KERAS_BACKENDS)} (or set {ENV}).")
    return name


def choose(name: str | None = None, this_process: bool = True) -> str:
    """Make ``name`` (default: ``requested()``) the backend of the processes this one starts
    and, if ``this_process``, of this one (refused if Keras already runs on another here)."""
    name = requested(name)
    if this_process and "keras" in sys.modules:
        import keras
        running = keras.backend.backend()
        if running != name:
            raise FatalError(f"Keras is already running on {running} in this process, so it "
                             f"cannot train on {name}: choose the backend before importing "
                             f"Keras ({ENV}={name}), or pass --keras-backend {running}.")
    os.environ[ENV] = name
    return name


def active() -> str:
    """This process's backend: Keras' own once it is imported, else the one asked for."""
    if "keras" in sys.modules:
        import keras
        return keras.backend.backend()
    return requested()


def missing(name: str) -> str | None:
    """Why backend ``name`` cannot be imported here (its install command), or None."""
    if importlib.util.find_spec(BACKEND_MODULES[name]) is not None:
        return None
    return (f"the Keras backend {name} is not installed: pip install "
            f"'hyperopt-keras-nas[{name}]' (or HYPEROPT_NAS_BACKEND={name} ./setup.sh)")


def current() -> ModuleType:
    """The runtime module of this process's backend."""
    return importlib.import_module(f"hyperopt_nas.runtime.{active()}")


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is this process's backend saying it ran out of device memory."""
    return bool(current().OUT_OF_MEMORY.search(f"{type(error).__name__}: {error}"))


def version() -> str | None:
    module = sys.modules.get(BACKEND_MODULES.get(active(), ""))
    return getattr(module, "__version__", None)


def mode(value: str | bool | None, name: str,
         allowed: tuple[str, ...] = ACCELERATOR_MODES) -> str:
    """``auto``/``on``/``off``; True and False (the Python API's) are ``on`` and ``off``."""
    if value is None:
        return "auto"
    if isinstance(value, bool):
        return "on" if value else "off"
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}.")
    return value


def decide(gpus: int, mixed_precision: str | bool | None, xla: str | bool | None,
           deterministic: bool, keras_backend: str) -> Accelerator:
    """The set-up every backend derives the same way from its GPU count: ``auto`` turns XLA on
    with a GPU and off without, and mixed precision on only where a measurement of this GPU says
    it is faster (``precision.choose``; the search decides before its workers start, with the
    space's batch sizes); ``on`` turns them on anyway."""
    precision = mode(mixed_precision, "mixed_precision", PRECISION_MODES)
    xla = mode(xla, "xla")
    on_gpu = gpus > 0
    if precision == "auto":
        precision = precisions.choose("auto", machine.details_of(None) if on_gpu else None,
                                      keras_backend, []).mode
    return Accelerator(
        gpus=gpus,
        mixed_precision=precision in ("on", "float16", "bfloat16"),
        xla=xla == "on" or (xla == "auto" and on_gpu),
        deterministic=bool(deterministic), keras_backend=keras_backend,
        half="bfloat16" if precision == "bfloat16" else "float16")
