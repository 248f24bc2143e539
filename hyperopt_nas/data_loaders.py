"""Datasets: where to find them, how to read their official files, how to split them.

Every dataset is described once in ``DATASETS`` (input shape and output heads), so a search-space
file only names its dataset and the model's input and heads follow. Nothing is read at import time.

Files are looked for, in order, in ``--data-dir``, in Keras' cache (``~/.keras/datasets``), in the
Debian package's folder (Fashion-MNIST only), and only then downloaded through ``keras.datasets``.
Keras and TensorFlow are imported inside the functions that download, or (``runtime/tf_data.py``)
read a ``tf.data`` dataset: the search's own process imports this module and must not load them.
"""

from __future__ import annotations

import gzip
import logging
import os
import pickle
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hyperopt_nas.errors import DataError

logger = logging.getLogger(__name__)

KERAS_CACHE = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DOWNLOADED = f"downloaded by Keras into {KERAS_CACHE}"

IDX_UBYTE = 0x08  # idx type code of unsigned bytes, the only one these datasets use
CIFAR_SIDE = 32
CIFAR_CHANNELS = 3


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset: its input and its output heads.

    ``heads`` maps head name to number of classes; the first head is the primary one, on which
    the search objective (validation accuracy) is measured.
    """

    name: str
    input_shape: tuple[int, ...]
    heads: dict[str, int]
    horizontal_flip: bool = False  # whether mirrored images are still valid examples

    @property
    def primary_head(self) -> str:
        return next(iter(self.heads))


@dataclass
class Split:
    """Images as uint8 ``(n, height, width, channels)`` and one int label array per head."""

    x: np.ndarray
    y: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.x)

    def take(self, index: np.ndarray) -> "Split":
        return Split(self.x[index], {head: labels[index] for head, labels in self.y.items()})

    @staticmethod
    def concatenate(splits: list["Split"]) -> "Split":
        return Split(np.concatenate([s.x for s in splits]),
                     {head: np.concatenate([s.y[head] for s in splits]) for head in splits[0].y})


@dataclass
class Dataset:
    info: DatasetInfo
    train: Split
    test: Split  # may hold no example (the notebook API without test_data): nothing reported
    source: str = ""  # where the files were read: a path, or DOWNLOADED
    validation: Split | None = None  # given apart; else carved out of train (the seed's split)


# ---------------------------------------------------------------------------------------------
# Official file formats
# ---------------------------------------------------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (MNIST's format), gzipped or not, checking its header against its size."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path} could not be read ({e}); the file is damaged: delete it and "
                        "fetch it again.") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != IDX_UBYTE:
        raise DataError(f"{path} is not an idx file of unsigned bytes (bad magic number "
                        f"{raw[:4].hex() or 'empty'}); expected one of the official "
                        "MNIST-format files.")
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(f"{path} is truncated: its header is incomplete.")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected = int(np.prod(shape)) if shape else 0
    data = np.frombuffer(raw, dtype=np.uint8, offset=header_size)
    if data.size != expected:
        raise DataError(f"{path} is truncated or damaged: its header announces shape {shape} "
                        f"({expected} bytes) but it holds {data.size} bytes of data.")
    return data.reshape(shape)


def _unpickle_cifar(raw: bytes, where: str) -> dict:
    try:
        batch = pickle.loads(raw, encoding="bytes")
    except Exception as e:  # pickle raises many types on damaged input
        raise DataError(f"{where} is not a readable CIFAR batch ({type(e).__name__}: {e}); "
                        "the archive is damaged: delete it and fetch it again.") from e
    if not isinstance(batch, dict) or b"data" not in batch:
        raise DataError(f"{where} is not a CIFAR batch (no b'data' entry).")
    return batch


def _cifar_images(batch: dict, where: str) -> np.ndarray:
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    per_image = CIFAR_SIDE * CIFAR_SIDE * CIFAR_CHANNELS
    if data.ndim != 2 or data.shape[1] != per_image:
        raise DataError(f"{where}: b'data' has shape {data.shape}, expected (n, {per_image}).")
    # Official layout: each row is 1024 red, 1024 green, 1024 blue values, row-major.
    return data.reshape(-1, CIFAR_CHANNELS, CIFAR_SIDE, CIFAR_SIDE).transpose(0, 2, 3, 1)


def _cifar_labels(batch: dict, key: bytes, n: int, where: str) -> np.ndarray:
    if key not in batch:
        raise DataError(f"{where} has no {key!r} entry.")
    labels = np.asarray(batch[key], dtype=np.int64)
    if labels.shape != (n,):
        raise DataError(f"{where}: {key!r} has {labels.size} labels for {n} images.")
    return labels


class _CifarSource:
    """Reads members of a CIFAR archive, from the tar.gz or from its extracted folder."""

    def __init__(self, path: Path, folder: str):
        self.path = path
        self.folder = folder

    def read(self, member: str) -> tuple[bytes, str]:
        where = f"{self.path}:{self.folder}/{member}"
        if self.path.is_dir():
            file = self.path / self.folder / member
            try:
                return file.read_bytes(), str(file)
            except OSError as e:
                raise DataError(f"{file} could not be read ({e}).") from e
        try:
            with tarfile.open(self.path, "r:gz") as tar:
                handle = tar.extractfile(f"{self.folder}/{member}")
                if handle is None:
                    raise KeyError(member)
                return handle.read(), where
        except KeyError as e:
            raise DataError(f"{self.path} has no member {self.folder}/{member}; is it the "
                            "official archive?") from e
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DataError(f"{self.path} is not a readable tar.gz archive ({e}); it is damaged "
                            "or truncated: delete it and fetch it again.") from e


def read_cifar100(source: _CifarSource) -> tuple[Split, Split]:
    splits = []
    for member in ("train", "test"):
        raw, where = source.read(member)
        batch = _unpickle_cifar(raw, where)
        x = _cifar_images(batch, where)
        y = {"fine": _cifar_labels(batch, b"fine_labels", len(x), where),
             "coarse": _cifar_labels(batch, b"coarse_labels", len(x), where)}
        splits.append(Split(x, y))
    return splits[0], splits[1]


def read_cifar10(source: _CifarSource) -> tuple[Split, Split]:
    def read_batches(members: list[str]) -> Split:
        xs, ys = [], []
        for member in members:
            raw, where = source.read(member)
            batch = _unpickle_cifar(raw, where)
            x = _cifar_images(batch, where)
            xs.append(x)
            ys.append(_cifar_labels(batch, b"labels", len(x), where))
        return Split(np.concatenate(xs), {"label": np.concatenate(ys)})

    return read_batches([f"data_batch_{i}" for i in range(1, 6)]), read_batches(["test_batch"])


MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def read_mnist_idx(folder: Path) -> tuple[Split, Split]:
    x_train, y_train, x_test, y_test = (read_idx(folder / name) for name in MNIST_FILES)
    for x, y, name in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if len(x) != len(y):
            raise DataError(f"{folder}: {name} images ({len(x)}) and labels ({len(y)}) differ "
                            "in number; one of the files is from another dataset.")
    return (Split(x_train[..., None], {"label": y_train.astype(np.int64)}),
            Split(x_test[..., None], {"label": y_test.astype(np.int64)}))


def read_mnist_npz(path: Path) -> tuple[Split, Split]:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise DataError(f"{path} is not a readable mnist.npz ({e}): delete it and fetch it "
                        "again.") from e
    return (Split(arrays["x_train"][..., None], {"label": arrays["y_train"].astype(np.int64)}),
            Split(arrays["x_test"][..., None], {"label": arrays["y_test"].astype(np.int64)}))


# ---------------------------------------------------------------------------------------------
# Where each dataset's files may be
# ---------------------------------------------------------------------------------------------


def _search_folders(data_dir: Path | None, extra: tuple[Path, ...] = ()) -> list[Path]:
    """Where to look: --data-dir only, when it is given (never another place behind the user's
    back); else Keras' cache."""
    return [data_dir] if data_dir is not None else [KERAS_CACHE, *extra]


def _find_cifar(data_dir: Path | None, archive: str, folder: str,
                keras_target: str) -> _CifarSource | None:
    for base in _search_folders(data_dir, (KERAS_CACHE / keras_target,)):
        if (base / folder).is_dir():
            return _CifarSource(base, folder)
        if (base / archive).is_file():
            return _CifarSource(base / archive, folder)
    return None


def _keras_download(loader: Callable[[], tuple], wanted: str, data_dir: Path | None) -> tuple:
    if data_dir is not None:
        raise DataError(f"--data-dir {data_dir} does not hold {wanted}: put the official files "
                        "there, or leave out --data-dir to use Keras' cache (~/.keras/datasets) "
                        "or a download.")
    try:
        return loader()
    except Exception as e:  # offline: keras raises several exception types
        places = ", ".join(str(p) for p in _search_folders(data_dir))
        raise DataError(
            f"Not found: {wanted} (looked in {places}), and the download failed "
            f"({type(e).__name__}: {e}). Put {wanted} in one of those folders, or pass "
            "--data-dir FOLDER where it lies.") from e


def load_cifar100(data_dir: Path | None) -> tuple[Split, Split, str]:
    source = _find_cifar(data_dir, "cifar-100-python.tar.gz", "cifar-100-python",
                         "cifar-100-python-target")
    if source is not None:
        return (*read_cifar100(source), str(source.path))
    import keras  # only a download needs it

    def download():
        fine = keras.datasets.cifar100.load_data(label_mode="fine")
        coarse = keras.datasets.cifar100.load_data(label_mode="coarse")
        return fine, coarse

    ((xf, yf), (xt, yt)), ((_, yc), (_, ytc)) = _keras_download(
        download, "cifar-100-python.tar.gz", data_dir)
    return (Split(xf, {"fine": yf.ravel().astype(np.int64), "coarse": yc.ravel().astype(np.int64)}),
            Split(xt, {"fine": yt.ravel().astype(np.int64),
                       "coarse": ytc.ravel().astype(np.int64)}), DOWNLOADED)


def load_cifar10(data_dir: Path | None) -> tuple[Split, Split, str]:
    source = _find_cifar(data_dir, "cifar-10-python.tar.gz", "cifar-10-batches-py",
                         "cifar-10-batches-py-target")
    if source is not None:
        return (*read_cifar10(source), str(source.path))
    import keras

    (x, y), (xt, yt) = _keras_download(keras.datasets.cifar10.load_data,
                                       "cifar-10-python.tar.gz", data_dir)
    return (Split(x, {"label": y.ravel().astype(np.int64)}),
            Split(xt, {"label": yt.ravel().astype(np.int64)}), DOWNLOADED)


def _find_idx_folder(folders: list[Path]) -> Path | None:
    for folder in folders:
        if all((folder / name).is_file() for name in MNIST_FILES):
            return folder
    return None


def load_mnist(data_dir: Path | None) -> tuple[Split, Split, str]:
    for base in _search_folders(data_dir):
        if (base / "mnist.npz").is_file():
            return (*read_mnist_npz(base / "mnist.npz"), str(base / "mnist.npz"))
    folder = _find_idx_folder(_search_folders(data_dir, (KERAS_CACHE / "mnist",)))
    if folder is not None:
        return (*read_mnist_idx(folder), str(folder))
    import keras

    (x, y), (xt, yt) = _keras_download(keras.datasets.mnist.load_data, "mnist.npz", data_dir)
    return (Split(x[..., None], {"label": y.astype(np.int64)}),
            Split(xt[..., None], {"label": yt.astype(np.int64)}), DOWNLOADED)


def load_fashion_mnist(data_dir: Path | None) -> tuple[Split, Split, str]:
    folders = ([data_dir, data_dir / "fashion-mnist"] if data_dir is not None
               else [KERAS_CACHE / "fashion-mnist", DEBIAN_FASHION_MNIST])
    folder = _find_idx_folder(folders)
    if folder is not None:
        return (*read_mnist_idx(folder), str(folder))
    import keras

    (x, y), (xt, yt) = _keras_download(keras.datasets.fashion_mnist.load_data,
                                       "the four Fashion-MNIST idx .gz files", data_dir)
    return (Split(x[..., None], {"label": y.astype(np.int64)}),
            Split(xt[..., None], {"label": yt.astype(np.int64)}), DOWNLOADED)


DATASETS: dict[str, DatasetInfo] = {
    "cifar100": DatasetInfo("cifar100", (32, 32, 3), {"fine": 100, "coarse": 20},
                            horizontal_flip=True),
    "cifar10": DatasetInfo("cifar10", (32, 32, 3), {"label": 10}, horizontal_flip=True),
    "mnist": DatasetInfo("mnist", (28, 28, 1), {"label": 10}),
    "fashion_mnist": DatasetInfo("fashion_mnist", (28, 28, 1), {"label": 10}),
}

_LOADERS: dict[str, Callable[[Path | None], tuple[Split, Split, str]]] = {
    "cifar100": load_cifar100,
    "cifar10": load_cifar10,
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
}


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise DataError(f"Unknown dataset {name!r}; expected one of {sorted(DATASETS)}.")
    return DATASETS[name]


def record_info(record: Any) -> DatasetInfo:
    """The DatasetInfo a trial record was made with: the built-in dataset's, or the one its
    budget records (a space file's own data)."""
    if record.dataset in DATASETS:
        return DATASETS[record.dataset]
    budget = record.budget
    if "input_shape" not in budget or "heads" not in budget:
        raise DataError(f"trial {record.number} of {record.dataset} does not record its data's "
                        "shape and classes.")
    return DatasetInfo(record.dataset, tuple(budget["input_shape"]), dict(budget["heads"]))


def load_dataset(name: str, data_dir: str | Path | None = None) -> Dataset:
    """Load a dataset by name, checking that what was read matches its description."""
    info = dataset_info(name)
    data_dir = Path(data_dir).expanduser() if data_dir is not None else None
    if data_dir is not None and not data_dir.is_dir():
        raise DataError(f"--data-dir {data_dir} is not a folder.")
    train, test, source = _LOADERS[name](data_dir)
    if len(test) > len(train):
        raise DataError(f"{name}: the test files hold more images ({len(test)}) than the "
                        f"training files ({len(train)}); are the train and test files swapped?")
    for split_name, split in (("train", train), ("test", test)):
        if split.x.shape[1:] != info.input_shape:
            raise DataError(f"{name} {split_name} images have shape {split.x.shape[1:]}, "
                            f"expected {info.input_shape}.")
        for head, classes in info.heads.items():
            labels = split.y[head]
            if labels.size and (labels.min() < 0 or labels.max() >= classes):
                raise DataError(f"{name} {split_name} labels of head {head!r} lie outside "
                                f"0..{classes - 1}; the file is damaged or from another dataset.")
    logger.info("loaded %s: %d training and %d test images", name, len(train), len(test))
    return Dataset(info, train, test, source)


# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------


def stratified_indices(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Pick ``size`` indices so that each class keeps its share (largest remainders first)."""
    if not 0 < size <= len(labels):
        raise ValueError(f"a stratified subset needs 0 < size <= {len(labels)}, got {size=}.")
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * size / len(labels)
    per_class = np.floor(exact).astype(int)
    shortfall = size - per_class.sum()
    per_class[np.argsort(-(exact - per_class), kind="stable")[:shortfall]] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), n, replace=False)
              for c, n in zip(classes, per_class) if n]
    return np.sort(np.concatenate(chosen))


def min_train_samples(classes: int, validation_fraction: float) -> int:
    """The smallest ``max_train_samples`` whose validation split (as ``train_validation_split``
    sizes it) holds at least one image of each class: below it, a validation accuracy cannot
    select anything."""
    m = 1
    while round(round(m / (1.0 - validation_fraction)) * validation_fraction) < classes:
        m += 1
    return m


def check_budget(max_train_samples: int | None, classes: int, validation_fraction: float,
                 option: str = "--max-train-samples") -> None:
    """Refuse a training subset too small for a validation split of every class."""
    if max_train_samples is None:
        return
    least = min_train_samples(classes, validation_fraction)
    if max_train_samples < least:
        raise DataError(f"{option} {max_train_samples} leaves a validation split too small to "
                        f"hold one image of each of the {classes} classes; use at least {least} "
                        f"(with validation_fraction {validation_fraction:g}).")


def train_validation_split(train: Split, validation_fraction: float, seed: int,
                           primary_head: str, max_train_samples: int | None = None
                           ) -> tuple[Split, Split]:
    """Carve a stratified, seeded validation split out of the training data.

    With ``max_train_samples`` the pool is first cut (stratified) to what that many training
    images plus their share of validation images need, so small budgets stay honest and small.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must lie in (0, 1), got {validation_fraction}.")
    rng = np.random.default_rng(seed)
    labels = train.y[primary_head]
    pool = np.arange(len(train))
    if max_train_samples is not None:
        if max_train_samples < 1:
            raise ValueError(f"max_train_samples must be positive, got {max_train_samples}.")
        check_budget(max_train_samples, len(np.unique(labels)), validation_fraction,
                     "max_train_samples")
        pool_size = min(len(train), round(max_train_samples / (1.0 - validation_fraction)))
        pool = stratified_indices(labels, pool_size, rng)
    n_val = max(1, round(len(pool) * validation_fraction))
    val_in_pool = stratified_indices(labels[pool], n_val, rng)
    is_val = np.zeros(len(pool), dtype=bool)
    is_val[val_in_pool] = True
    return train.take(pool[~is_val]), train.take(pool[is_val])


def training_splits(dataset: Dataset, validation_fraction: float, seed: int,
                    max_train_samples: int | None = None) -> tuple[Split, Split]:
    """A search's training and validation splits of ``dataset``, the one preparation every
    trial, fold, repeat and ``retrain`` uses: validation given apart is kept as it is (the
    training data, cut to ``max_train_samples`` if asked, is all for training); else carved
    out of the training data, seeded (``train_validation_split``)."""
    if dataset.validation is None:
        return train_validation_split(dataset.train, validation_fraction, seed,
                                      dataset.info.primary_head, max_train_samples)
    train = dataset.train
    if max_train_samples is not None and max_train_samples < len(train):
        labels = train.y[dataset.info.primary_head]
        train = train.take(stratified_indices(labels, max_train_samples,
                                              np.random.default_rng(seed)))
    return train, dataset.validation


def k_fold_indices(labels: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """Stratified, seeded fold assignment: returns k index arrays that partition ``labels``."""
    if k < 2:
        raise ValueError(f"cross-validation needs k >= 2 folds, got {k}.")
    rng = np.random.default_rng(seed)
    folds: list[list[np.ndarray]] = [[] for _ in range(k)]
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        for i, part in enumerate(np.array_split(members, k)):
            folds[(i + c) % k].append(part)
    return [np.sort(np.concatenate(f)) for f in folds]


# ---------------------------------------------------------------------------------------------
# A space file's own data (``load_data()`` in the space file)
# ---------------------------------------------------------------------------------------------

CUSTOM_PREFIX = "custom:"  # the dataset name of a space file's own data: custom:<file stem>
CUSTOM_MODEL = "custom"  # the model name of a space file's own build_model()
DEFAULT_HEAD = "label"


def _labels(values: Any, where: str) -> np.ndarray:
    labels = np.asarray(values)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where} must be whole-number class labels, one per image (shape (n,)), "
                        f"got an array of {labels.dtype} with shape {labels.shape}.")
    if labels.size and labels.min() < 0:
        raise DataError(f"{where} holds a negative label ({labels.min()}); classes are numbered "
                        "from 0.")
    return labels.astype(np.int64)


def is_tf_dataset(value: Any) -> bool:
    """A ``tf.data.Dataset``, told without importing TensorFlow."""
    return (type(value).__module__.startswith("tensorflow")
            and hasattr(value, "element_spec") and hasattr(value, "as_numpy_iterator"))


def _split(pair: Any, which: str, function: str) -> Split:
    if is_tf_dataset(pair):
        from hyperopt_nas.runtime import tf_data  # TensorFlow: only for a tf.data dataset
        pair = tf_data.read_tf_dataset(pair, which, function)
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise DataError(f"{function} must return ((x_train, y_train), (x_test, y_test)) or "
                        f"(train_dataset, test_dataset); its {which} part is "
                        f"{type(pair).__name__}, not a pair (x, y) or a tf.data.Dataset.")
    x, y = np.asarray(pair[0]), pair[1]
    if x.ndim < 2 or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"{function}: x_{which} must be a numeric array with one row per example "
                        f"(e.g. images (n, height, width, channels)), got {x.dtype} with shape "
                        f"{x.shape}.")
    heads = y if isinstance(y, dict) else {DEFAULT_HEAD: y}
    if not heads or not all(isinstance(k, str) for k in heads):
        raise DataError(f"{function}: y_{which} must be an array of labels, or a dict of them "
                        "with one string key per output head.")
    labels = {head: _labels(values, f"{function}: y_{which}" +
                            (f"[{head!r}]" if isinstance(y, dict) else ""))
              for head, values in heads.items()}
    for head, values in labels.items():
        if len(values) != len(x):
            raise DataError(f"{function}: x_{which} has {len(x)} rows but y_{which}"
                            f"{f'[{head!r}]' if isinstance(y, dict) else ''} has {len(values)} "
                            "labels; they must match.")
    return Split(x, labels)


def check_images(dataset: Dataset, where: str) -> None:
    """Refuse data a built-in model family cannot take: it wants images (n, height, width,
    channels)."""
    for which, split in (("train", dataset.train), ("test", dataset.test)):
        shape = tuple(split.x.shape)
        if len(shape) != 4:
            hint = (" For grey images add the channel axis: x[..., None]." if len(shape) == 3
                    else "")
            raise DataError(f"{where}: x_{which} has shape {shape}, but the model takes images "
                            f"of shape (n, height, width, channels).{hint}")


def custom_dataset(load_data: Callable[[], Any], name: str,
                   class_names: dict[str, list[str]] | list[str] | None = None) -> Dataset:
    """A space file's ``load_data()`` as a Dataset, checked: two pairs of arrays (or a dict of
    label arrays per head) or two ``tf.data`` datasets of such pairs (read into arrays), the same
    example shape and heads in both, labels from 0; or three, the middle one the validation
    data (then no validation split is carved out of the training data). Without
    ``class_names``, the names a dataset carries (``image_dataset_from_directory``'s
    ``class_names``) are used."""
    function = "load_data()"
    try:
        returned = load_data()
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{function} of the space file failed: {type(e).__name__}: {e}") from e
    if not isinstance(returned, (tuple, list)) or len(returned) not in (2, 3):
        raise DataError(f"{function} must return ((x_train, y_train), (x_test, y_test)), "
                        "((x_train, y_train), (x_val, y_val), (x_test, y_test)) or "
                        f"(train_dataset, test_dataset), got {type(returned).__name__}.")
    if class_names is None:
        class_names = getattr(returned[0], "class_names", None)
    whiches = ("train", "test") if len(returned) == 2 else ("train", "val", "test")
    parts = {which: _split(part, which, function) for part, which in zip(returned, whiches)}
    train, test, validation = parts["train"], parts["test"], parts.get("val")
    for which, part in parts.items():
        words = "test" if which == "test" else "validation"
        if part.x.shape[1:] != train.x.shape[1:]:
            raise DataError(f"{function}: training examples have shape {train.x.shape[1:]} but "
                            f"{words} examples {part.x.shape[1:]}; they must match.")
        if list(part.y) != list(train.y):
            raise DataError(f"{function}: the training labels have heads {list(train.y)} but "
                            f"the {words} labels {list(part.y)}; they must match.")
    names = class_names if isinstance(class_names, dict) else (
        {next(iter(train.y)): list(class_names)} if class_names is not None else {})
    heads = {}
    for head in train.y:
        seen = int(max(p.y[head].max(initial=0) for p in parts.values())) + 1
        heads[head] = max(seen, len(names.get(head, [])))
        if names.get(head) and seen > len(names[head]):
            raise DataError(f"{function}: head {head!r} has labels up to {seen - 1} but "
                            f"CLASS_NAMES names only {len(names[head])} classes.")
    info = DatasetInfo(name, tuple(int(d) for d in train.x.shape[1:]), heads)
    return Dataset(info, train, test, f"{function} of {name[len(CUSTOM_PREFIX):]}", validation)
