"""A split fed to Keras as NumPy batches (hyperopt_nas/batches.py)."""

import numpy as np
import pytest

from hyperopt_nas import runtime
from hyperopt_nas.data_loaders import Split


def test_training_drops_the_partial_batch_and_evaluation_cuts_equal_batches():
    """No batch of another shape: under JAX and XLA each one would be compiled again."""
    from hyperopt_nas.batches import Batches, batch_count, fixed_batch
    assert batch_count(1000, 64, drop_partial=True) == 15  # 40 images wait for the next epoch
    assert batch_count(1000, 64, drop_partial=False) == 16
    assert batch_count(50, 64, drop_partial=True) == 1  # fewer than a batch: all of them
    split = Split(np.zeros((100, 2, 2, 1), np.uint8), {"y": np.arange(100)})
    train = Batches(split, 32, shuffle=True, seed=0)
    assert len(train) == 3 and {len(train[i][0]) for i in range(len(train))} == {32}
    assert len(Batches(split, 32, shuffle=False, seed=0)) == 4  # evaluation sees every image
    # Evaluation: a divisor of the split near the preferred batch, so every batch is equal.
    assert fixed_batch(6000, 256) == 250 and fixed_batch(10000, 256) == 250
    assert fixed_batch(500, 256) == 500  # fits in two batches: one
    assert fixed_batch(1009, 256) == 256  # a prime: no equal cut, the last batch partial
    for n in (6000, 4321, 12000, 777):
        b = fixed_batch(n, 256)
        assert 128 <= b <= 512 or b == n


@pytest.mark.skipif(runtime.missing("jax") is not None, reason="jax is not installed here")
def test_batches_kept_on_the_device_are_the_host_batches():
    """--data-on-gpu (JAX): the same batches, in the same order, gathered on the device."""
    from hyperopt_nas.batches import Batches, DeviceBatches
    rng = np.random.default_rng(0)
    split = Split(rng.integers(0, 256, (1000, 28, 28, 1), dtype=np.uint8),
                  {"label": rng.integers(0, 10, 1000)})
    host = Batches(split, 64, shuffle=True, seed=3)
    device = DeviceBatches(split, 64, shuffle=True, seed=3)
    for epoch in range(2):
        assert len(host) == len(device) == 15
        for i in range(len(host)):
            (hx, hy), (dx, dy) = host[i], device[i]
            assert type(dx).__module__.startswith("jax")  # not a NumPy array from the host
            assert dx.dtype == np.float32 and np.array_equal(hx, np.asarray(dx))
            assert np.array_equal(hy["label"], np.asarray(dy["label"]))
        host.on_epoch_end()
        device.on_epoch_end()
    evaluation = DeviceBatches(split, 250, shuffle=False, seed=0)
    assert len(evaluation) == 4 and evaluation.handed_out == 0
    assert np.array_equal(np.asarray(evaluation[3][0]), split.x[750:].astype(np.float32))
    assert evaluation.handed_out == 1  # the live progress counts batches as on the host
