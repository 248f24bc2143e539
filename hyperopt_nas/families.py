"""The catalogue of the model families, without Keras: their names, the keys each reads from a
point, which take images, and the log names Keras gives their metrics.

The search's own process checks space files against this catalogue and never loads a Keras
backend; ``neural_net.py`` (the families themselves, which import Keras) takes these names from
here, so that processes that only propose, rank or draw pictures stay light.
"""

from __future__ import annotations

from typing import Any, Callable

from hyperopt_nas.data_loaders import DatasetInfo
from hyperopt_nas.runtime import Accelerator

# build(params, info, accel) -> (a compiled Keras model, its training batch size)
ModelBuilder = Callable[[dict[str, Any], DatasetInfo, Accelerator], tuple[Any, int]]

DEFAULT_BATCH_SIZE = 32  # Keras' own default, which the tutorials train with
EVAL_BATCH_SIZE = 256  # validation and test: inference only, so larger batches are cheap

# The keys each model's config reads from a point, so that a space file whose SPACE names a key
# the model would never read (a misspelling trains at a default, silently) is refused at load.
# A set: a dict with those keys; ("layers", set): a list, nested lists, None or dicts of those
# keys; None: a value.
_LEAF = None
MODEL_KEYS: dict[str, dict[str, Any]] = {
    "cnn": {**{k: _LEAF for k in (
        "n_stages", "filter_mult", "lr_rate_mult", "l2_weight_reg_mult", "batch_size",
        "optimizer", "coarse_loss_weight", "conv_dropout", "fc_dropout", "use_batch_norm",
        "pooling", "conv_kernel_size", "fc_units_mult", "activation")},
        "first_conv": {"kernel_size"}, "residual": {"units", "first_stage", "kernel_size"},
        "second_fc": {"units_mult"}},
    "mlp": {"hidden_layers": ("layers", {"units", "dropout", "activation", "repeat"}),
            **{k: _LEAF for k in ("activation", "optimizer", "learning_rate", "batch_size")}},
    "simple_cnn": {"conv_blocks": ("layers", {"filters", "kernel_size", "padding", "dropout",
                                              "repeat"}),
                   **{k: _LEAF for k in ("dense_units", "activation", "optimizer",
                                         "learning_rate", "batch_size")}},
}
MODELS = tuple(MODEL_KEYS)  # the built-in families, by the name a space file's MODEL gives
CONV_MODELS = ("cnn", "simple_cnn")  # the families that take images (height, width, channels)


def metric_key(info: DatasetInfo, head: str, metric: str) -> str:
    """Keras' log name of a head's metric: ``<head>_<metric>``, or plain ``<metric>`` when the
    model has a single head."""
    return f"{head}_{metric}" if len(info.heads) > 1 else metric
