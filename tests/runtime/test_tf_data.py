"""A user's tf.data datasets read into arrays (hyperopt_nas/runtime/tf_data.py)."""

import numpy as np
import pytest

from hyperopt_nas.errors import DataError


def test_a_batched_or_unbatched_dataset_reads_into_the_same_arrays():
    import tensorflow as tf

    from hyperopt_nas.runtime.tf_data import read_tf_dataset
    x, y = np.arange(40, dtype="float32").reshape(10, 2, 2), np.arange(10) % 3
    one = tf.data.Dataset.from_tensor_slices((x, y))
    for dataset in (one, one.batch(4)):
        got_x, got_y = read_tf_dataset(dataset, "train", "load_data()")
        assert np.array_equal(got_x, x) and np.array_equal(got_y, y)
    heads = tf.data.Dataset.from_tensor_slices((x, {"fine": y, "coarse": y // 2})).batch(3)
    _, labels = read_tf_dataset(heads, "train", "load_data()")
    assert set(labels) == {"fine", "coarse"} and np.array_equal(labels["coarse"], y // 2)


@pytest.mark.parametrize("make, said", [
    (lambda tf, x: tf.data.Dataset.from_tensor_slices((x, x)).repeat(), "is infinite"),
    (lambda tf, x: tf.data.Dataset.from_tensor_slices(x), "must yield (x, y) pairs"),
    (lambda tf, x: tf.data.Dataset.from_tensor_slices((x, x)).take(0), "is empty"),
])
def test_a_dataset_the_search_cannot_hold_is_one_clear_error(make, said):
    import tensorflow as tf

    from hyperopt_nas.runtime.tf_data import read_tf_dataset
    with pytest.raises(DataError, match=f"load_data\\(\\): the test dataset {said}"
                       .replace("(x, y)", r"\(x, y\)")):
        read_tf_dataset(make(tf, np.zeros((4, 2), "float32")), "test", "load_data()")
