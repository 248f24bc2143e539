"""GPUs as the machine shows them, what a search says when TensorFlow cannot use them, and how
workers are packed onto GPUs (``--trials-per-gpu``), each held to its share of the memory.

This machine has no GPU: a fake ``nvidia-smi`` on PATH lists some, so the paths a user with an
NVIDIA box and a CPU-only TensorFlow takes run here."""

import os
import stat
import sys
import types

import pytest
from conftest import run_cli, write_fashion_mnist, write_space

from hyperopt_nas import gpus
from hyperopt_nas.executors import pool
from hyperopt_nas.outputs import refresher
from hyperopt_nas.runtime import jax as jax_runtime
from hyperopt_nas.runtime import tensorflow as tf_runtime
from hyperopt_nas.runtime import torch as torch_runtime
from hyperopt_nas.trial_runner import gpu_description

LISTING = ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0000)\n"
           "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-0001)\n")
# nvidia-smi --query-gpu=index,name,compute_cap,memory.total --format=csv,noheader,nounits
QUERY = "0, NVIDIA H100 80GB HBM3, 9.0, 81559\n1, NVIDIA H100 80GB HBM3, 9.0, 81559\n"


@pytest.fixture
def fake_nvidia_smi(tmp_path, monkeypatch):
    """``nvidia-smi -L`` lists two GPUs; CUDA_VISIBLE_DEVICES is unset."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text("#!/bin/sh\n"
                      f'case "$*" in *--query-gpu*) printf \'{QUERY}\' ;; '
                      f"*) printf '{LISTING}' ;; esac\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv(gpus.VISIBLE, raising=False)
    return folder


def test_the_machine_lists_its_gpus_and_a_tensorflow_that_sees_none_is_warned_of(
        fake_nvidia_smi, monkeypatch):
    assert gpus.machine_gpus() == gpus.visible_gpus() == ["0", "1"]
    warning = gpus.unused_gpus_warning(0)
    assert warning.startswith("this machine has 2 NVIDIA GPUs but TensorFlow sees none")
    assert "tensorflow[and-cuda]" in warning and "./setup.sh" in warning
    assert gpus.unused_gpus_warning(2) is None  # TensorFlow uses them
    assert gpus.unused_gpus_warning(0, "jax").startswith(
        "this machine has 2 NVIDIA GPUs but JAX sees none")
    assert "pip install 'jax[cuda12]'" in gpus.unused_gpus_warning(0, "jax")
    monkeypatch.setenv(gpus.VISIBLE, "")  # hidden on purpose: a CPU run asked for
    assert gpus.unused_gpus_warning(0) is None and gpus.visible_gpus() == []


def test_no_gpu_no_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi at all
    monkeypatch.delenv(gpus.VISIBLE, raising=False)
    assert gpus.machine_gpus() == [] and gpus.unused_gpus_warning(0) is None


def test_gpu_numbers_count_within_an_existing_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv(gpus.VISIBLE, "2,3")  # e.g. what SLURM gave this job
    assert gpus.resolve_gpu_ids(["1", "0"]) == ["3", "2"]
    with pytest.raises(ValueError, match="lets this process see 2 GPUs, numbered 0 to 1"):
        gpus.resolve_gpu_ids(["2"])
    monkeypatch.delenv(gpus.VISIBLE)
    assert gpus.resolve_gpu_ids(["2"]) == ["2"]


def test_the_drawing_process_is_shown_no_gpu_whatever_the_environment_says(monkeypatch):
    monkeypatch.setenv(gpus.VISIBLE, "0")  # a shell's or a scheduler's
    refresher.hide_gpus()
    assert os.environ[gpus.VISIBLE] == ""


@pytest.fixture
def cli_folder(tmp_path):
    write_fashion_mnist(tmp_path / "data")
    write_space(tmp_path / "tiny.py", epochs=1)
    return tmp_path


@pytest.mark.slow
def test_gpus_asked_for_but_unusable_is_one_error_line_and_nothing_trained(
        fake_nvidia_smi, cli_folder):
    done = run_cli(["--space", "tiny.py", "--data-dir", "data", "--max-evals", "2",
                    "--results-dir", "res", "--gpus", "0", "--no-plot", "--no-tensorboard"],
                   cwd=cli_folder)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [errors[0]] and errors[0].startswith(
        "error: a worker pinned to GPU 0 (--gpus) sees no GPU, so its trials would train on the "
        "CPU.")
    assert "Traceback" not in done.stdout + done.stderr
    assert not list((cli_folder / "res").glob("*trial-*.json"))


@pytest.mark.slow
def test_a_search_on_a_machine_whose_gpus_tensorflow_cannot_use_warns_once_and_goes_on(
        fake_nvidia_smi, cli_folder):
    done = run_cli(["--space", "tiny.py", "--data-dir", "data", "--max-evals", "2",
                    "--results-dir", "res", "--no-plot", "--no-tensorboard"], cwd=cli_folder)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "TensorFlow sees none" in line]
    assert len(warnings) == 1 and "this machine has 2 NVIDIA GPUs" in warnings[0]
    assert len(list((cli_folder / "res").glob("*trial-*.json"))) == 2


def test_the_driver_describes_each_gpu_name_capability_and_memory(fake_nvidia_smi):
    found = gpus.gpu_details()
    assert [(g.index, g.name, g.compute_capability, g.memory_mb) for g in found] == [
        ("0", "NVIDIA H100 80GB HBM3", (9, 0), 81559.0),
        ("1", "NVIDIA H100 80GB HBM3", (9, 0), 81559.0)]
    assert gpus.details_of("1").index == "1" and gpus.details_of("7") is None
    assert gpus.parse_smi_line("0, Tesla K80, [N/A], 11441").compute_capability is None
    assert gpus.parse_smi_line("No devices were found") is None
    described = gpu_description(gpus.details_of("0"), 0.45)
    assert described == {"gpu_name": "NVIDIA H100 80GB HBM3", "gpu_compute_capability": "9.0",
                         "gpu_share": 0.45, "gpu_memory_total_mb": 81559,
                         "gpu_memory_limit_mb": 36702}


def test_n_workers_are_packed_on_each_gpu_and_share_its_memory():
    slots = gpus.worker_slots(["0", "1"], 6)
    assert [g for g, _ in slots] == ["0", "1", "0", "1", "0", "1"]
    assert [share for _, share in slots] == [pytest.approx(gpus.SHARED_MEMORY_USABLE / 3)] * 6
    assert gpus.worker_slots(["0", "1"], 2) == [("0", None), ("1", None)]  # one each: all
    assert gpus.worker_slots(None, 2) == [(None, None), (None, None)]
    workers = pool.WorkerPool(None, workers=4, gpus=["3"]).workers  # nothing started
    assert [(w.gpu, w.share) for w in workers] == [("3", pytest.approx(0.225))] * 4


def test_each_backend_holds_a_worker_to_its_share(fake_nvidia_smi, monkeypatch):
    """What a worker sets before its backend starts, and what each backend makes of it."""
    for name in (gpus.SHARE_ENV, jax_runtime.MEMORY_FRACTION):
        monkeypatch.delenv(name, raising=False)
    pool.pin("1", 0.45)
    assert os.environ[gpus.VISIBLE] == "1" and gpus.share_of_this_process() == 0.45
    # JAX: the allocator grows on demand up to the share of the GPU's memory.
    monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
    jax_runtime.prepare()
    assert os.environ[jax_runtime.MEMORY_FRACTION] == "0.4500"
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    # TensorFlow: a logical device limited to the share of the visible GPU's memory, in MiB.
    assert tf_runtime.memory_limit_mb(gpus.share_of_this_process()) == int(81559 * 0.45)
    assert tf_runtime.memory_limit_mb(None) is None
    # PyTorch: the caching allocator's per-process fraction.
    calls = []
    cuda = types.SimpleNamespace(
        is_available=lambda: True, device_count=lambda: 1,
        set_per_process_memory_fraction=lambda share, device: calls.append((share, device)))
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    torch_runtime.configure("off", "off")
    assert calls == [(0.45, 0)]
    # A worker with a GPU of its own has no share: nothing limits it.
    pool.pin("0", None)
    assert gpus.share_of_this_process() is None
    calls.clear()
    torch_runtime.configure("off", "off")
    assert calls == []


@pytest.mark.slow
def test_trials_per_gpu_needs_gpus_and_agrees_with_workers(cli_folder):
    base = ["--space", "tiny.py", "--data-dir", "data", "--max-evals", "2",
            "--results-dir", "res", "--no-plot", "--no-tensorboard"]
    for extra, said in (
            (["--trials-per-gpu", "2"], "--trials-per-gpu needs the GPUs to pack the trials on"),
            (["--trials-per-gpu", "2", "--gpus", "0", "--workers", "3"],
             "--trials-per-gpu 2 on 1 GPU runs 2 workers, but --workers says 3"),
            (["--trials-per-gpu", "2", "--gpus", "0", "--isolation", "none"],
             "--trials-per-gpu applies only with --isolation process")):
        done = run_cli(base + extra, cwd=cli_folder)
        assert done.returncode == 2, done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and said in lines[0], done.stderr
        assert not (cli_folder / "res").exists() or not list((cli_folder / "res").glob("*.json"))


@pytest.mark.slow
def test_trials_per_gpu_starts_n_workers_per_gpu_and_says_so(fake_nvidia_smi, cli_folder):
    """Two trials on GPU 0 of a machine whose TensorFlow sees no GPU: the banner names the GPU
    and the packing, then the pinned workers refuse to train on the CPU."""
    done = run_cli(["--space", "tiny.py", "--data-dir", "data", "--max-evals", "2",
                    "--results-dir", "res", "--gpus", "0", "--trials-per-gpu", "2", "--no-plot",
                    "--no-tensorboard"], cwd=cli_folder)
    assert done.returncode == 2, done.stderr
    assert ("in 2 worker processes on GPU 0 (NVIDIA H100 80GB HBM3), 2 trials sharing each, "
            "with 45% of its memory apiece") in done.stdout
    # No measurement of this GPU under TensorFlow: float32, and the line says why.
    assert ("in float32 (bfloat16 never measured on the NVIDIA H100 80GB HBM3 (compute "
            "capability 9.0) under tensorflow") in done.stdout
    assert "a worker pinned to GPU 0 (--gpus) sees no GPU" in done.stderr


def test_a_trial_out_of_its_share_of_gpu_memory_says_the_share_and_the_fix():
    from hyperopt_nas.trial_runner import TrialRunner
    runner = TrialRunner.__new__(TrialRunner)  # no backend set-up: the hint alone
    runner.gpu, runner.accelerator = "0", {"gpu_memory_limit_mb": 36702}
    oom = RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 2.1GiB")
    assert runner._memory_hint(oom) == (
        " (this worker may use 36,702 MiB, its share of GPU 0: lower --trials-per-gpu, or the "
        "space's batch sizes or widths)")
    assert runner._memory_hint(ValueError("shapes do not match")) == ""
    runner.accelerator = {}  # a GPU of its own: nothing to blame on sharing
    assert runner._memory_hint(oom) == ""


@pytest.mark.parametrize("backend, said", [
    ("tensorflow", "ResourceExhaustedError: OOM when allocating tensor with shape[256,64,32,32]"),
    ("jax", "JaxRuntimeError: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 2.1G"),
    ("torch", "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"),
])
def test_each_backend_knows_its_words_for_running_out_of_memory(backend, said, monkeypatch):
    from hyperopt_nas import runtime
    monkeypatch.setattr(runtime, "active", lambda: backend)
    name, message = said.split(": ", 1)
    assert runtime.out_of_memory(type(name, (RuntimeError,), {})(message))
    assert not runtime.out_of_memory(ValueError("Incompatible shapes: [32,10] vs. [32,100]"))


def test_nvml_describes_the_gpus_when_the_driver_answers(monkeypatch):
    """NVML first (``nvidia-ml-py``); ``nvidia-smi`` only without it."""
    class FakeNvml:
        def nvmlInit(self):
            pass

        def nvmlDeviceGetCount(self):
            return 2

        def nvmlDeviceGetHandleByIndex(self, i):
            return i

        def nvmlDeviceGetName(self, handle):
            return b"NVIDIA H200" if handle == 0 else "NVIDIA A10"

        def nvmlDeviceGetCudaComputeCapability(self, handle):
            return (9, 0) if handle == 0 else (8, 6)

        def nvmlDeviceGetMemoryInfo(self, handle):
            return types.SimpleNamespace(total=143771 * 2**20)

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    monkeypatch.delenv(gpus.VISIBLE, raising=False)
    assert [(g.index, g.name, g.capability_text) for g in gpus.gpu_details()] == [
        ("0", "NVIDIA H200", "9.0"), ("1", "NVIDIA A10", "8.6")]
    assert gpus.machine_gpus() == ["0", "1"]
    monkeypatch.setenv(gpus.VISIBLE, "1")
    assert gpus.details_of(None).name == "NVIDIA A10"  # the first this process may use
    monkeypatch.setenv(gpus.VISIBLE, "")
    assert gpus.details_of(None) is None  # hidden on purpose
