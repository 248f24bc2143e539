"""JAX's own input (``--data-on-gpu``): a split kept on the accelerator, each batch gathered and
cast there. Imported only by ``runtime/jax.py``'s ``input_pipeline``, where a model trains (it
imports Keras and JAX)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from hyperopt_nas.batches import Batches
from hyperopt_nas.data_loaders import Split

# A split larger than this stays in host memory even when the data is asked on the device.
DEVICE_DATA_MAX_BYTES = 2 * 2**30


class DeviceBatches(Batches):
    """``Batches`` whose images and labels live on the accelerator (JAX's default device): each
    batch is gathered and cast there from its row indices, so only the indices cross from the
    host (``--data-on-gpu``, JAX only). One compiled gather per batch size: training drops its
    partial batch and evaluation cuts equal ones (``fixed_batch``)."""

    def __init__(self, split: Split, batch_size: int, *, shuffle: bool, seed: int):
        super().__init__(split, batch_size, shuffle=shuffle, seed=seed)
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
    """The jitted gather and cast of a batch's rows, made once per process."""
    @jax.jit
    def gather(x, y, rows):
        return (jnp.take(x, rows, axis=0).astype(jnp.float32),
                {head: jnp.take(labels, rows, axis=0) for head, labels in y.items()})
    return gather
