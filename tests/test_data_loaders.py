import gzip
import tarfile

import numpy as np
import pytest
from conftest import cifar_rows, write_cifar10, write_cifar100, write_fashion_mnist, write_idx

from hyperopt_nas import data_loaders
from hyperopt_nas.data_loaders import DataError, load_dataset, read_idx, stratified_indices


def test_idx_round_trip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)


def test_truncated_idx_says_so(tmp_path):
    write_idx(tmp_path / "a.gz", np.zeros((10, 28, 28), dtype=np.uint8))
    raw = gzip.open(tmp_path / "a.gz").read()
    with gzip.open(tmp_path / "b.gz", "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(DataError, match="truncated or damaged.*7840 bytes"):
        read_idx(tmp_path / "b.gz")


def test_idx_with_bad_magic_says_so(tmp_path):
    with gzip.open(tmp_path / "a.gz", "wb") as f:
        f.write(b"\x89PNG not an idx file")
    with pytest.raises(DataError, match="not an idx file"):
        read_idx(tmp_path / "a.gz")


def test_damaged_gzip_says_so(tmp_path):
    (tmp_path / "a.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError, match="damaged"):
        read_idx(tmp_path / "a.gz")


def test_fashion_mnist_from_data_dir(tmp_path):
    write_fashion_mnist(tmp_path, n_train=50, n_test=20)
    data = load_dataset("fashion_mnist", tmp_path)
    assert data.train.x.shape == (50, 28, 28, 1) and data.test.x.shape == (20, 28, 28, 1)
    assert data.train.x.dtype == np.uint8
    assert set(data.train.y) == {"label"}


def test_mismatched_image_and_label_counts(tmp_path):
    write_fashion_mnist(tmp_path, n_train=50, n_test=20)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(49, dtype=np.uint8))
    with pytest.raises(DataError, match="differ in number"):
        load_dataset("fashion_mnist", tmp_path)


def test_cifar100_archive_keeps_pixel_order_and_both_label_sets(tmp_path):
    path = write_cifar100(tmp_path, n_train=30, n_test=10)
    data = load_dataset("cifar100", tmp_path)
    assert data.info.heads == {"fine": 100, "coarse": 20}
    assert data.train.x.shape == (30, 32, 32, 3)
    np.testing.assert_array_equal(data.train.y["coarse"], data.train.y["fine"] // 5)
    # Read the raw rows back: row i's first 1024 values are image i's red channel.
    with tarfile.open(path) as tar:
        import pickle
        batch = pickle.loads(tar.extractfile("cifar-100-python/train").read(), encoding="bytes")
    np.testing.assert_array_equal(cifar_rows(data.train.x), batch[b"data"])
    np.testing.assert_array_equal(data.train.x[0, :, :, 0].ravel(), batch[b"data"][0, :1024])


def test_cifar100_extracted_folder(tmp_path):
    path = write_cifar100(tmp_path / "archive", n_train=12, n_test=4)
    with tarfile.open(path) as tar:
        tar.extractall(tmp_path / "extracted", filter="data")
    data = load_dataset("cifar100", tmp_path / "extracted")
    assert len(data.train) == 12 and len(data.test) == 4


def test_cifar10_archive(tmp_path):
    write_cifar10(tmp_path, per_batch=8)
    data = load_dataset("cifar10", tmp_path)
    assert data.train.x.shape == (40, 32, 32, 3) and len(data.test) == 8


def test_truncated_cifar_archive_says_so(tmp_path):
    path = write_cifar100(tmp_path, n_train=30, n_test=10)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(DataError, match="damaged or truncated|damaged"):
        load_dataset("cifar100", tmp_path)


def test_cifar_labels_out_of_range_are_refused(tmp_path):
    import io
    import pickle
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for member in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            raw = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 42]})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{member}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    with pytest.raises(DataError, match="outside 0..9"):
        load_dataset("cifar10", tmp_path)


def test_keras_cache_is_searched(tmp_path, monkeypatch):
    monkeypatch.setattr(data_loaders, "KERAS_CACHE", tmp_path)
    write_cifar100(tmp_path, n_train=10, n_test=5)
    assert len(load_dataset("cifar100").train) == 10


def test_absent_and_offline_names_the_file_and_where_to_put_it(tmp_path, monkeypatch):
    import keras

    def offline(**kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.datasets.cifar100, "load_data", offline)
    monkeypatch.setattr(data_loaders, "KERAS_CACHE", tmp_path)
    with pytest.raises(DataError, match=r"Not found: cifar-100-python\.tar\.gz .*--data-dir"):
        load_dataset("cifar100")


def test_a_data_dir_without_the_files_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    """Finding 9 of the hostile test: an empty --data-dir silently read another place."""
    write_fashion_mnist(tmp_path / "debian", n_train=20, n_test=10)
    monkeypatch.setattr(data_loaders, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    (tmp_path / "empty").mkdir()
    for name in ("fashion_mnist", "mnist", "cifar10", "cifar100"):
        with pytest.raises(DataError, match=f"--data-dir {tmp_path / 'empty'} does not hold"):
            load_dataset(name, tmp_path / "empty")
    dataset = load_dataset("fashion_mnist")  # without --data-dir: the Debian folder
    assert dataset.source == str(tmp_path / "debian")


def test_swapped_train_and_test_files_are_refused(tmp_path):
    folder = write_fashion_mnist(tmp_path / "data", n_train=30, n_test=10)
    for kind in ("images-idx3", "labels-idx1"):
        train, test = folder / f"train-{kind}-ubyte.gz", folder / f"t10k-{kind}-ubyte.gz"
        train.rename(folder / "tmp.gz")
        test.rename(train)
        (folder / "tmp.gz").rename(test)
    with pytest.raises(DataError, match="are the train and test files swapped"):
        load_dataset("fashion_mnist", folder)


def test_fashion_mnist_falls_back_to_debian_folder(tmp_path, monkeypatch):
    write_fashion_mnist(tmp_path / "debian", n_train=20, n_test=10)
    monkeypatch.setattr(data_loaders, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    assert len(load_dataset("fashion_mnist").train) == 20


def test_unknown_dataset_and_missing_data_dir():
    with pytest.raises(DataError, match="Unknown dataset 'imagenet'"):
        load_dataset("imagenet")
    with pytest.raises(DataError, match="is not a folder"):
        load_dataset("mnist", "/nonexistent/folder")


def test_stratified_indices_keep_class_shares():
    labels = np.repeat(np.arange(4), [40, 30, 20, 10])
    chosen = stratified_indices(labels, 50, np.random.default_rng(0))
    assert len(chosen) == 50 and len(set(chosen)) == 50
    assert np.bincount(labels[chosen]).tolist() == [20, 15, 10, 5]


def test_validation_split_is_stratified_disjoint_and_seeded(tmp_path):
    write_fashion_mnist(tmp_path, n_train=400, n_test=10)
    train = load_dataset("fashion_mnist", tmp_path).train
    a_train, a_val = data_loaders.train_validation_split(train, 0.25, 7, "label")
    b_train, b_val = data_loaders.train_validation_split(train, 0.25, 7, "label")
    c_train, c_val = data_loaders.train_validation_split(train, 0.25, 8, "label")
    assert len(a_val) == 100 and len(a_train) == 300
    np.testing.assert_array_equal(a_val.x, b_val.x)
    assert not np.array_equal(a_val.x, c_val.x)
    # Class shares of the validation split follow the training data's.
    shares = np.bincount(train.y["label"], minlength=10) / len(train)
    val_shares = np.bincount(a_val.y["label"], minlength=10) / len(a_val)
    assert np.abs(shares - val_shares).max() < 0.02
    # Disjoint: no training image is also a validation image.
    train_rows = {row.tobytes() for row in a_train.x}
    assert not any(row.tobytes() in train_rows for row in a_val.x)


def test_max_train_samples_caps_training_and_scales_validation(tmp_path):
    write_fashion_mnist(tmp_path, n_train=400, n_test=10)
    train = load_dataset("fashion_mnist", tmp_path).train
    small_train, small_val = data_loaders.train_validation_split(train, 0.2, 0, "label", 80)
    assert len(small_train) == 80 and len(small_val) == 20


def test_k_folds_partition_the_data():
    labels = np.repeat(np.arange(3), 10)
    folds = data_loaders.k_fold_indices(labels, 5, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(30))
    assert all(np.bincount(labels[f], minlength=3).tolist() == [2, 2, 2] for f in folds)


@pytest.mark.skipif(not data_loaders.DEBIAN_FASHION_MNIST.is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed (setup.sh installs it)")
def test_real_fashion_mnist_from_debian_package(monkeypatch):
    data = load_dataset("fashion_mnist")
    assert data.train.x.shape == (60000, 28, 28, 1) and data.test.x.shape == (10000, 28, 28, 1)
    assert np.bincount(data.train.y["label"]).tolist() == [6000] * 10
