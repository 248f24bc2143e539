"""TensorFlow's data format: a user's ``tf.data.Dataset`` read into arrays (a space file's
``load_data()`` may return one, under any Keras backend where TensorFlow is installed). Imported
by ``data_loaders`` only when it meets such a dataset."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from hyperopt_nas.errors import DataError


def read_tf_dataset(dataset: Any, which: str, function: str) -> tuple[np.ndarray, Any]:
    """A finite ``tf.data.Dataset`` of ``(x, y)`` elements, batched or not, read into arrays
    ``(x, y)`` (``y`` a dict of label arrays if the dataset's labels are a dict).

    The search needs its examples in memory: it carves a stratified, seeded validation split out
    of the training part, and reads the data once per process for every trial."""
    where = f"{function}: the {which} dataset"
    cardinality = int(dataset.cardinality())
    if cardinality == int(tf.data.INFINITE_CARDINALITY):
        raise DataError(f"{where} is infinite (a .repeat() without a count?); return a finite "
                        "dataset: the search reads it once, into memory.")
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise DataError(f"{where} must yield (x, y) pairs (images, labels), got elements of "
                        f"{spec}.")
    label_spec = spec[1]
    head_specs = label_spec if isinstance(label_spec, dict) else {None: label_spec}
    # Batched when the labels come as vectors (one per example), as image_dataset_from_directory
    # and .batch() give them; one example per element when they are scalars.
    batched = all(s.shape.rank is not None and s.shape.rank >= 1 for s in head_specs.values())
    xs: list[np.ndarray] = []
    ys: dict[Any, list[np.ndarray]] = {head: [] for head in head_specs}
    for x, y in dataset.as_numpy_iterator():
        xs.append(np.asarray(x))
        for head in ys:
            ys[head].append(np.asarray(y[head] if head is not None else y))
    if not xs:
        raise DataError(f"{where} is empty.")
    try:
        x = np.concatenate(xs) if batched else np.stack(xs)
        labels = {head: (np.concatenate(v) if batched else np.stack(v)) for head, v in ys.items()}
    except ValueError as e:
        raise DataError(f"{where}: its elements do not fit together into arrays ({e}); every "
                        "example must have the same shape.") from e
    return x, (labels[None] if None in labels else labels)
