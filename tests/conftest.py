"""Shared fixtures: tiny datasets written in the official file formats, tiny space files."""

from __future__ import annotations

import gc
import gzip
import io
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_CLASSES = 10
BLOCK = 7  # side of the bright square that marks a synthetic image's class


def write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file exactly as MNIST's: magic 0 0 0x08 ndim, big-endian sizes, then bytes."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def learnable_images(labels: np.ndarray, side: int, channels: int, seed: int) -> np.ndarray:
    """Noise plus a bright square whose position gives the class: a tiny model learns it fast."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(len(labels), side, side, channels), dtype=np.uint8)
    for i, label in enumerate(labels):
        row, col = divmod(int(label) % 9, 3)
        images[i, row * BLOCK:(row + 1) * BLOCK, col * BLOCK:(col + 1) * BLOCK, :] = 230
    return images


def write_fashion_mnist(folder: Path, n_train: int = 300, n_test: int = 100, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, N_CLASSES, size=n).astype(np.uint8)
        images = learnable_images(labels, 28, 1, seed + n)[..., 0]
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


def cifar_rows(images: np.ndarray) -> np.ndarray:
    """Images (n, 32, 32, 3) to the official rows: 1024 red, 1024 green, 1024 blue values."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def write_cifar100(folder: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path = folder / "cifar-100-python.tar.gz"
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for member, n in (("train", n_train), ("test", n_test)):
            fine = rng.integers(0, 100, size=n)
            images = learnable_images(fine, 32, 3, seed + n)
            batch = {b"data": cifar_rows(images), b"fine_labels": fine.tolist(),
                     b"coarse_labels": (fine // 5).tolist(), b"filenames": [b"x.png"] * n}
            raw = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-100-python/{member}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def write_cifar10(folder: Path, per_batch: int = 20, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path = folder / "cifar-10-python.tar.gz"
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for member in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            labels = rng.integers(0, 10, size=per_batch)
            batch = {b"data": cifar_rows(learnable_images(labels, 32, 3, seed)),
                     b"labels": labels.tolist()}
            raw = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{member}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


# A dense network on the synthetic Fashion-MNIST: about a second a trial on two CPU cores.
TINY_SPACE = """
from hyperopt import hp
from hyperopt.pyll import scope

DATASET = "fashion_mnist"
MODEL = "mlp"
DEFAULTS = {{"epochs": {epochs}, "validation_fraction": 0.2, "patience": {epochs},
            "max_train_samples": None}}
SPACE = {{
    "hidden_layers": [{{"units": scope.int(hp.quniform("units", 8, 32, 8)),
                       "dropout": hp.choice("dropout", [0.0, 0.1])}}],
    "activation": hp.choice("activation", {activations}),
    "optimizer": "Adam",
    "learning_rate": hp.loguniform("learning_rate", -6, -3),
    "batch_size": 32,
}}
"""

# A point of TINY_SPACE (with the "relu" activation), for START_POINTS and DEMO_POINT.
TINY_POINT = {"hidden_layers": [{"units": 16, "dropout": 0.1}], "activation": "relu",
              "optimizer": "Adam", "learning_rate": 0.01, "batch_size": 32}


def write_space(path: Path, epochs: int = 2, activations: str = '["relu", "tanh"]',
                text: str | None = None) -> Path:
    path.write_text(textwrap.dedent(text) if text is not None
                    else TINY_SPACE.format(epochs=epochs, activations=activations))
    return path


INTEGRATION = ROOT / "tests" / "integration"


def pytest_collection_modifyitems(items):
    """The tests under ``integration/`` cross a real process boundary (the command line, a
    worker, a kill, Spark, a kernel, a wheel): all of them are ``slow``, out of the fast tier."""
    for item in items:
        if INTEGRATION in Path(item.path).parents:
            item.add_marker(pytest.mark.slow)


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker more than the cores (at most 4). Most slow tests wait on a child
    process (a CLI search, a trial worker, Spark, a kernel) or a timer part of the time; the
    extra worker keeps the cores busy meanwhile."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min((cores or 1) + 1, 4)


@pytest.fixture
def seed() -> int:
    return 1234


@pytest.fixture
def fashion_dir(tmp_path: Path) -> Path:
    return write_fashion_mnist(tmp_path / "data")


@pytest.fixture
def tiny_space(tmp_path: Path) -> Path:
    return write_space(tmp_path / "tiny_space.py")


@pytest.fixture(autouse=True)
def no_warm_workers_left():
    """Each test starts without the workers an earlier test's search kept warm (pool.park):
    they would be taken by its search, or found among its child processes."""
    yield
    pool = sys.modules.get("hyperopt_nas.executors.pool")
    if pool is not None:
        pool.close_parked()


@pytest.fixture(autouse=True)
def frozen_heap():
    """What the suite's process holds before a test (TensorFlow's modules, most of it) is moved
    out of the garbage collector's reach, as a worker does with its own (executors/pool.py):
    the full collection each in-process trial ends with (``clear_session``) then walks only the
    test's objects, in milliseconds instead of about 0.2 s."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def empty_keras_cache(tmp_path_factory, monkeypatch):
    """Tests never read or download into the real Keras cache."""
    from hyperopt_nas import data_loaders
    monkeypatch.setattr(data_loaders, "KERAS_CACHE", tmp_path_factory.mktemp("keras_cache"))


def run_cli(args: list[str], cwd: Path, timeout: float = 300,
            **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_HOME": str(cwd / "keras_home"),
           "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(ROOT / "hyperopt_optimize.py"), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout, **kwargs)


def start_cli(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_HOME": str(cwd / "keras_home"),
           "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(ROOT / "hyperopt_optimize.py"), *args], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
