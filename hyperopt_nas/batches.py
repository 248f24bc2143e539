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

import functools

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


# A split larger than this stays in host memory even when the data is asked on the device.
DEVICE_DATA_MAX_BYTES = 2 * 2**30


class DeviceBatches(Batches):
    """``Batches`` whose images and labels live on the accelerator (JAX's default device): each
    batch is gathered and cast there from its row indices, so only the indices cross from the
    host (``--data-on-gpu``, JAX only). One compiled gather per batch size: training drops its
    partial batch and evaluation cuts equal ones (``fixed_batch``)."""

    def __init__(self, split: Split, batch_size: int, *, shuffle: bool, seed: int):
        super().__init__(split, batch_size, shuffle=shuffle, seed=seed)
        import jax
        self.device_x = jax.device_put(split.x)
        self.device_y = {head: jax.device_put(labels) for head, labels in split.y.items()}

    def __getitem__(self, index: int):
        start = index * self.batch_size
        stop = min(start + self.batch_size, len(self.split))
        rows = np.arange(start, stop) if self.order is None else self.order[start:stop]
        self.handed_out += 1
        return _device_gather()(self.device_x, self.device_y, rows.astype(np.int32))


def split_bytes(split: Split) -> int:
    return int(split.x.nbytes + sum(labels.nbytes for labels in split.y.values()))


@functools.cache
def _device_gather():
    """The jitted gather and cast of a batch's rows, made once per process (JAX imported only
    where the data is asked on the device)."""
    import jax
    import jax.numpy as jnp

    @jax.jit
    def gather(x, y, rows):
        return (jnp.take(x, rows, axis=0).astype(jnp.float32),
                {head: jnp.take(labels, rows, axis=0) for head, labels in y.items()})
    return gather
