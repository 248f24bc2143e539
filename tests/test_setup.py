"""setup.sh picks the Keras backend's build by the machine: with CUDA libraries where NVIDIA GPUs
are.

Run with --dry-run (it installs nothing) and a fake nvidia-smi on PATH."""

import os
import stat
import subprocess

import pytest
from conftest import ROOT


def dry_run(tmp_path, gpus: bool, **env):
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    script = folder / "nvidia-smi"
    listing = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0000)" if gpus else ""
    # Without GPUs, nvidia-smi fails as it does on a machine with the tool but no driver.
    script.write_text(f"#!/bin/sh\necho '{listing}'\n" if gpus else
                      "#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return subprocess.run(["bash", str(ROOT / "setup.sh"), "--dry-run"], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}",
                               **env})


def pip_line(done):
    return next(line for line in done.stdout.splitlines() if "pip install -q -e" in line)


def test_a_machine_with_nvidia_gpus_gets_the_backend_with_its_cuda_libraries(tmp_path):
    done = dry_run(tmp_path, gpus=True)
    assert done.returncode == 0, done.stderr
    assert "Keras backend: tensorflow, the gpu build" in done.stdout
    assert pip_line(done).endswith("pip install -q -e .[test,tensorflow-gpu,jax]")
    jax = dry_run(tmp_path, gpus=True, HYPEROPT_NAS_BACKEND="jax")
    assert pip_line(jax).endswith("pip install -q -e .[test,jax-gpu]")
    setup_cfg = (ROOT / "setup.cfg").read_text()
    assert "tensorflow-gpu =\n    tensorflow[and-cuda]" in setup_cfg
    assert "jax-gpu =\n    jax[cuda12]" in setup_cfg


def test_a_machine_without_gpus_gets_the_cpu_build_and_the_choice_can_be_forced(tmp_path):
    done = dry_run(tmp_path, gpus=False)
    assert done.returncode == 0, done.stderr
    assert pip_line(done).endswith("pip install -q -e .[test,tensorflow,jax]")
    forced = dry_run(tmp_path, gpus=True, HYPEROPT_NAS_BUILD="cpu")
    assert pip_line(forced).endswith("pip install -q -e .[test,tensorflow,jax]")
    forced = dry_run(tmp_path, gpus=False, HYPEROPT_NAS_TENSORFLOW="gpu")  # the old name
    assert pip_line(forced).endswith("pip install -q -e .[test,tensorflow-gpu,jax]")
    torch = dry_run(tmp_path, gpus=False, HYPEROPT_NAS_BACKEND="torch")
    assert pip_line(torch).endswith("pip install -q -e .[test,torch]")


@pytest.mark.parametrize("variable, value, line", [
    ("HYPEROPT_NAS_BUILD", "cuda", "HYPEROPT_NAS_BUILD must be gpu, cpu or auto, got 'cuda'"),
    ("HYPEROPT_NAS_BACKEND", "mxnet",
     "HYPEROPT_NAS_BACKEND must be tensorflow, jax or torch, got 'mxnet'"),
])
def test_a_bad_choice_is_one_line_and_exit_2(tmp_path, variable, value, line):
    done = dry_run(tmp_path, gpus=False, **{variable: value})
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [f"setup.sh: {line}"]
    assert "would run" not in done.stdout
