"""A split fed to Keras as NumPy batches (hyperopt_nas/batches.py)."""

import numpy as np

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
