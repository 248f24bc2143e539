"""JAX's batches kept on the device (hyperopt_nas/runtime/jax_batches.py, --data-on-gpu)."""

import numpy as np
import pytest

from hyperopt_nas import runtime
from hyperopt_nas.data_loaders import Split


@pytest.mark.skipif(runtime.missing("jax") is not None, reason="jax is not installed here")
def test_batches_kept_on_the_device_are_the_host_batches():
    """--data-on-gpu (JAX): the same batches, in the same order, gathered on the device."""
    from hyperopt_nas.batches import Batches
    from hyperopt_nas.runtime.jax_batches import DeviceBatches
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
