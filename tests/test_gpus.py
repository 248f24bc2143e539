"""GPUs as the machine shows them, and what a search says when TensorFlow cannot use them.

This machine has no GPU: a fake ``nvidia-smi`` on PATH lists some, so the paths a user with an
NVIDIA box and a CPU-only TensorFlow takes run here."""

import os
import stat

import pytest
from conftest import run_cli, write_fashion_mnist, write_space

from hyperopt_nas import gpus
from hyperopt_nas.outputs import refresher

LISTING = ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0000)\n"
           "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-0001)\n")


@pytest.fixture
def fake_nvidia_smi(tmp_path, monkeypatch):
    """``nvidia-smi -L`` lists two GPUs; CUDA_VISIBLE_DEVICES is unset."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\nprintf '{LISTING}'\n")
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


def test_a_search_on_a_machine_whose_gpus_tensorflow_cannot_use_warns_once_and_goes_on(
        fake_nvidia_smi, cli_folder):
    done = run_cli(["--space", "tiny.py", "--data-dir", "data", "--max-evals", "2",
                    "--results-dir", "res", "--no-plot", "--no-tensorboard"], cwd=cli_folder)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "TensorFlow sees none" in line]
    assert len(warnings) == 1 and "this machine has 2 NVIDIA GPUs" in warnings[0]
    assert len(list((cli_folder / "res").glob("*trial-*.json"))) == 2
