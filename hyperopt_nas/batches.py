"""A split fed to Keras as NumPy batches, the same way on every backend.

``keras.utils.PyDataset`` is the input every Keras backend reads (``tf.data`` is TensorFlow's
alone). One epoch is a seeded permutation of the split, cut into batches that are gathered
from the uint8 arrays and cast to float32 a whole batch at a time (no per-image Python); the
next epoch draws another permutation from the same seed. Training (``shuffle``) drops the last,
partial batch of each epoch (other images each epoch): a batch of another shape would be
compiled again, once per trial, under JAX and XLA. The batches handed out are counted,
so that a trial's progress can be read mid-epoch on any backend (JAX writes the optimizer's
step counter back only at an epoch's end).

Keras is imported here at the top: only a process that trains imports this module.
"""

from __future__ import annotations

import numpy as np
import keras

from hyperopt_nas.data_loaders import Split


def batch_count(n: int, batch_size: int, drop_partial: bool) -> int:
    """Batches of an epoch of ``n`` examples: the partial last one dropped if asked, unless it is
    the only one."""
    if drop_partial and n >= batch_size:
        return n // batch_size
    return -(-n // batch_size)


def fixed_batch(n: int, preferred: int) -> int:
    """A batch size near ``preferred`` that cuts ``n`` examples into equal batches, so that
    evaluation runs one compiled shape and sees every example once: all ``n`` if they fit in
    two preferred batches, else the divisor of ``n`` between half and twice ``preferred`` that
    is nearest to it, else ``preferred`` (the last batch then partial)."""
    if n <= 2 * preferred:
        return max(n, 1)
    divisors = [d for d in range(max(preferred // 2, 1), 2 * preferred + 1) if n % d == 0]
    return min(divisors, key=lambda d: (abs(d - preferred), -d)) if divisors else preferred


class Batches(keras.utils.PyDataset):
    """``split`` in batches of ``batch_size``, reshuffled every epoch if ``shuffle``."""

    def __init__(self, split: Split, batch_size: int, *, shuffle: bool, seed: int):
        super().__init__()  # one worker, in the training thread: a gather is cheap
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        self.split, self.batch_size, self.shuffle, self.seed = split, batch_size, shuffle, seed
        self.epoch = 0
        self.handed_out = 0  # batches handed out, over every epoch: progress reads it
        self.order = self._order()

    def _order(self) -> np.ndarray | None:
        if not self.shuffle:
            return None
        return np.random.default_rng((self.seed, self.epoch)).permutation(len(self.split))

    def __len__(self) -> int:
        return batch_count(len(self.split), self.batch_size, drop_partial=self.shuffle)

    def __getitem__(self, index: int):
        window = slice(index * self.batch_size, (index + 1) * self.batch_size)
        rows = window if self.order is None else self.order[window]
        self.handed_out += 1
        x = self.split.x[rows].astype(np.float32)
        return x, {head: labels[rows] for head, labels in self.split.y.items()}

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()
