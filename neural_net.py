"""The model families and the one training function every trial goes through.

A sampled point (the dict a space file's ``SPACE`` decodes to) becomes a typed config in exactly
one place (``CNNConfig.from_params``); block functions take explicit arguments. Importing this
module loads no data and touches no GPU: TensorFlow is configured by ``configure_accelerator``,
which the search calls once.

TensorFlow and Keras are imported inside the functions that build, train or configure (about
thirty places): the search's own process imports this module (through the space files and the
schedulers) and never loads TensorFlow; only the processes that train do.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from hyperopt_nas import runtime
from hyperopt_nas.choices import ACCELERATOR_MODES
from hyperopt_nas.data_loaders import DatasetInfo, Split
from hyperopt_nas.runtime import Accelerator

logger = logging.getLogger(__name__)

# The reference design's base values; the space samples multipliers of them.
BASE_LEARNING_RATE = 0.001
BASE_L2 = 0.0007
BASE_FILTERS = 40
BASE_FC_UNITS = 1000
BASE_FC2_UNITS = 750
POOL_SIZE = 2
INCEPTION_KERNEL = 3
OPTIMIZERS = ("Adam", "Nadam", "RMSprop", "SGD")
ACTIVATIONS = ("relu", "elu", "tanh", "sigmoid", "swish")
POOLINGS = ("max", "avg", "all_conv", "inception")


class TrialFailed(RuntimeError):
    """The trial cannot give a result (NaN loss, a model that does not build...); record, go on."""


# ---------------------------------------------------------------------------------------------
# Accelerator set-up
# ---------------------------------------------------------------------------------------------


MODES = ACCELERATOR_MODES  # --xla (and --mixed-precision, which also takes float16/bfloat16)


def import_backend_quietly(log_path: Any = None) -> None:
    """Import this process's Keras backend with its C++ start-up lines (oneDNN, CUDA, absl)
    sent to ``log_path`` (or nowhere), not to the console."""
    runtime.current().import_quietly(log_path)


import_tensorflow_quietly = import_backend_quietly  # the name before other backends


def configure_accelerator(mixed_precision: str | bool | None = "auto",
                          xla: str | bool | None = "auto", deterministic: bool = False
                          ) -> Accelerator:
    """Set this process's backend up once, before anything touches a device: GPU memory shared
    between trials and processes, deterministic kernels if asked (``hyperopt_nas/runtime/``).

    ``auto`` turns mixed precision and XLA on with a GPU and off without: float16 is slow on a
    CPU and XLA's compile time is not paid back by small CPU trials (JAX always jits: without
    it every step runs op by op). ``on`` turns them on anyway (slow on a CPU, but the GPU's
    code paths run). The dtype policy is set again by every training run
    (``train_and_evaluate``): ``keras.backend.clear_session()`` resets it.
    """
    return runtime.current().configure(mixed_precision, xla, deterministic)


def jit_compile(accel: Accelerator) -> bool:
    """``model.compile(jit_compile=...)`` for this process's backend and set-up."""
    return runtime.current().jit_compile(accel)


def trained_as(model) -> dict[str, Any]:
    """What a built model really trains with, for its record: read from the model and its
    optimizer, not from the set-up that asked for it."""
    import keras
    return {"dtype_policy": model.dtype_policy.name,
            "loss_scale": isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer),
            "jit_compile": bool(model.jit_compile),
            "op_determinism": runtime.current().op_determinism(),
            "keras_backend": keras.backend.backend()}


def gpu_memory_mb(accel: Accelerator) -> float | None:
    """GPU memory the backend holds for tensors in this process now (the first GPU it sees: a
    worker is shown one), or None without a GPU."""
    if not accel.gpus:
        return None
    return runtime.current().gpu_memory_mb()


# ---------------------------------------------------------------------------------------------
# The CNN family: residual units, inception-style reductions, two heads
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CNNConfig:
    """One network of the CNN family, with every derived size already computed."""

    learning_rate: float
    l2: float
    batch_size: int
    optimizer: str
    coarse_loss_weight: float
    conv_dropout: float
    fc_dropout: float
    batch_norm: bool
    first_conv_kernel: int | None
    residual_units: int  # 0: no residual units
    first_residual_stage: int
    residual_kernel: int
    filters: tuple[int, ...]  # one per stage
    pooling: str
    conv_kernel: int
    fc_units: int
    fc2_units: int | None
    activation: str

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> "CNNConfig":
        """The only place where a sampled point is cast and turned into sizes."""
        residual = p.get("residual") or {}
        first_conv = p.get("first_conv") or {}
        second_fc = p.get("second_fc") or {}
        n_stages = int(p["n_stages"])
        base = BASE_FILTERS * float(p["filter_mult"])
        config = cls(
            learning_rate=BASE_LEARNING_RATE * float(p["lr_rate_mult"]),
            l2=BASE_L2 * float(p["l2_weight_reg_mult"]),
            batch_size=int(p["batch_size"]),
            optimizer=str(p["optimizer"]),
            coarse_loss_weight=float(p.get("coarse_loss_weight", 0.0)),
            conv_dropout=float(p["conv_dropout"]),
            fc_dropout=float(p["fc_dropout"]),
            batch_norm=bool(p["use_batch_norm"]),
            first_conv_kernel=int(first_conv["kernel_size"]) if first_conv else None,
            residual_units=int(residual.get("units", 0)),
            first_residual_stage=int(residual.get("first_stage", 0)),
            residual_kernel=int(residual.get("kernel_size", 3)),
            filters=tuple(max(1, round(base * 2 ** s)) for s in range(n_stages)),
            pooling=str(p["pooling"]),
            conv_kernel=int(p["conv_kernel_size"]),
            fc_units=max(1, round(BASE_FC_UNITS * float(p["fc_units_mult"]))),
            fc2_units=(max(1, round(BASE_FC2_UNITS * float(second_fc["units_mult"])))
                       if second_fc else None),
            activation=str(p["activation"]),
        )
        config.check()
        return config

    def check(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}.")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}.")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}.")
        for name in ("conv_dropout", "fc_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}.")


def _regularizer(l2: float):
    import keras
    return keras.regularizers.L2(l2) if l2 > 0 else None


def conv_bn_act(x, filters: int, kernel_size: int, *, strides: int = 1, batch_norm: bool,
                activation: str, l2: float, name: str | None = None):
    """Convolution, then batch norm if asked (the convolution then needs no bias), activation."""
    from keras import layers
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                      use_bias=not batch_norm, kernel_regularizer=_regularizer(l2), name=name)(x)
    if batch_norm:
        x = layers.BatchNormalization()(x)
    return layers.Activation(activation)(x)


def residual_unit(x, filters: int, kernel_size: int, *, batch_norm: bool, activation: str,
                  l2: float):
    """Two convolutions added to a 1x1 linear projection of the input."""
    from keras import layers
    shortcut = layers.Conv2D(filters, 1, padding="same", kernel_regularizer=_regularizer(l2))(x)
    y = conv_bn_act(x, filters, kernel_size, batch_norm=batch_norm, activation=activation, l2=l2)
    y = layers.Conv2D(filters, kernel_size, padding="same", use_bias=not batch_norm,
                      kernel_regularizer=_regularizer(l2))(y)
    if batch_norm:
        y = layers.BatchNormalization()(y)
    return layers.Activation(activation)(layers.Add()([y, shortcut]))


def inception_reduction(x, filters: int, *, batch_norm: bool, activation: str, l2: float):
    """Halve the resolution with parallel branches: 1x1->3x3/2, 1x1->3x3->3x3/2, max-pool/2."""
    from keras import layers
    half = max(1, filters // 2)
    quarter = max(1, filters // 4)
    kw = dict(batch_norm=batch_norm, activation=activation, l2=l2)
    a = conv_bn_act(x, quarter, 1, **kw)
    a = conv_bn_act(a, half, INCEPTION_KERNEL, strides=POOL_SIZE, **kw)
    b = conv_bn_act(x, quarter, 1, **kw)
    b = conv_bn_act(b, quarter, INCEPTION_KERNEL, **kw)
    b = conv_bn_act(b, half, INCEPTION_KERNEL, strides=POOL_SIZE, **kw)
    c = layers.MaxPooling2D(INCEPTION_KERNEL, strides=POOL_SIZE, padding="same")(x)
    return layers.Concatenate()([a, b, c])


def reduce_resolution(x, pooling: str, filters: int, *, batch_norm: bool, activation: str,
                      l2: float):
    from keras import layers
    if pooling == "max":
        return layers.MaxPooling2D(POOL_SIZE, padding="same")(x)
    if pooling == "avg":
        return layers.AveragePooling2D(POOL_SIZE, padding="same")(x)
    if pooling == "all_conv":  # a learned stride-2 convolution instead of a pooling layer
        return conv_bn_act(x, filters, POOL_SIZE + 1, strides=POOL_SIZE, batch_norm=batch_norm,
                           activation=activation, l2=l2)
    return inception_reduction(x, filters, batch_norm=batch_norm, activation=activation, l2=l2)


def dense_bn_act(x, units: int, *, batch_norm: bool, activation: str, l2: float, dropout: float):
    from keras import layers
    x = layers.Dense(units, use_bias=not batch_norm, kernel_regularizer=_regularizer(l2))(x)
    if batch_norm:
        x = layers.BatchNormalization()(x)
    x = layers.Activation(activation)(x)
    return layers.Dropout(dropout)(x) if dropout > 0 else x


def image_input(info: DatasetInfo):
    """Raw pixel input scaled to [0, 1]; horizontal flips in training where the data allows."""
    import keras
    from keras import layers
    inputs = keras.Input(shape=info.input_shape, name="image")
    x = layers.Rescaling(1.0 / 255)(inputs)
    if info.horizontal_flip:
        x = layers.RandomFlip("horizontal")(x)  # active in training only
    return inputs, x


def softmax_heads(x, info: DatasetInfo, l2: float) -> dict[str, Any]:
    from keras import layers
    # float32 heads keep the softmax stable under mixed precision.
    return {head: layers.Dense(classes, activation="softmax", dtype="float32", name=head,
                               kernel_regularizer=_regularizer(l2))(x)
            for head, classes in info.heads.items()}


def make_optimizer(name: str, learning_rate: float):
    import keras
    if name == "SGD":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)
    return getattr(keras.optimizers, name)(learning_rate)


def compile_model(model, info: DatasetInfo, optimizer: str, learning_rate: float,
                  accel: Accelerator, head_weights: dict[str, float] | None = None):
    """Categorical losses (integer labels) and accuracy for every head."""
    heads = list(info.heads)
    weights = {h: 1.0 for h in heads}
    weights.update(head_weights or {})
    model.compile(optimizer=make_optimizer(optimizer, learning_rate),
                  loss={h: "sparse_categorical_crossentropy" for h in heads},
                  loss_weights=weights,
                  metrics={h: ["accuracy"] for h in heads},
                  jit_compile=jit_compile(accel))
    return model


def build_cnn(params: dict[str, Any], info: DatasetInfo, accel: Accelerator):
    """The CIFAR family: conv(+residual)+reduction stages, one or two FC layers, a head each."""
    import keras
    from keras import layers
    c = CNNConfig.from_params(params)
    kw = dict(batch_norm=c.batch_norm, activation=c.activation, l2=c.l2)
    inputs, x = image_input(info)
    if c.first_conv_kernel is not None:
        x = conv_bn_act(x, c.filters[0], c.first_conv_kernel, **kw)
    for stage, filters in enumerate(c.filters):
        x = conv_bn_act(x, filters, c.conv_kernel, **kw)
        if c.residual_units and stage >= c.first_residual_stage:
            for _ in range(c.residual_units):
                x = residual_unit(x, filters, c.residual_kernel, **kw)
        x = reduce_resolution(x, c.pooling, filters, **kw)
        if c.conv_dropout > 0:
            x = layers.Dropout(c.conv_dropout)(x)
    x = layers.Flatten()(x)
    x = dense_bn_act(x, c.fc_units, dropout=c.fc_dropout, **kw)
    if c.fc2_units is not None:
        x = dense_bn_act(x, c.fc2_units, dropout=c.fc_dropout, **kw)
    model = keras.Model(inputs, softmax_heads(x, info, c.l2), name="cnn")
    head_weights = {"coarse": c.coarse_loss_weight} if "coarse" in info.heads else None
    compile_model(model, info, c.optimizer, c.learning_rate, accel, head_weights)
    return model, c.batch_size


# ---------------------------------------------------------------------------------------------
# Small families of the Keras Tuner tutorials: dense networks and plain conv blocks
# ---------------------------------------------------------------------------------------------

DEFAULT_BATCH_SIZE = 32  # Keras' own default, which the tutorials train with
EVAL_BATCH_SIZE = 256  # validation and test: inference only, so larger batches are cheap


@dataclass(frozen=True)
class DenseLayer:
    units: int
    dropout: float
    activation: str


@dataclass(frozen=True)
class MLPConfig:
    """A flattened image through dense layers. ``hidden_layers`` lists ``{"units", "dropout"?,
    "activation"?}``; a layer without its own activation takes the shared ``activation``."""

    layers: tuple[DenseLayer, ...]
    optimizer: str
    learning_rate: float
    batch_size: int

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> "MLPConfig":
        shared = str(p.get("activation", "relu"))
        layers = []
        for layer in _flatten_layers(p["hidden_layers"]):
            layers.append(DenseLayer(units=int(layer["units"]),
                                     dropout=float(layer.get("dropout", 0.0)),
                                     activation=str(layer.get("activation", shared))))
        config = cls(tuple(layers), str(p.get("optimizer", "Adam")),
                     float(p.get("learning_rate", BASE_LEARNING_RATE)),
                     int(p.get("batch_size", DEFAULT_BATCH_SIZE)))
        for layer in config.layers:
            if layer.units < 1:
                raise ValueError(f"a dense layer needs at least 1 unit, got {layer.units}.")
            if not 0.0 <= layer.dropout < 1.0:
                raise ValueError(f"dropout must lie in [0, 1), got {layer.dropout}.")
            if layer.activation not in ACTIVATIONS:
                raise ValueError(f"activation must be one of {ACTIVATIONS}, "
                                 f"got {layer.activation!r}.")
        if config.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {config.optimizer!r}.")
        return config


def _flatten_layers(layers: Any) -> list[dict[str, Any]]:
    """Spaces nest optional layers (``[first, [more...]]``, ``None`` for an absent one) and may
    repeat one (``{"repeat": n, "units": ...}``); the network wants a flat list."""
    flat: list[dict[str, Any]] = []
    for item in layers:
        if isinstance(item, (list, tuple)):
            flat.extend(_flatten_layers(item))
        elif isinstance(item, dict) and "repeat" in item:
            layer = {k: v for k, v in item.items() if k != "repeat"}
            flat.extend(dict(layer) for _ in range(int(item["repeat"])))
        elif item is not None:
            flat.append(item)
    return flat


def build_mlp(params: dict[str, Any], info: DatasetInfo, accel: Accelerator):
    import keras
    from keras import layers
    c = MLPConfig.from_params(params)
    inputs, x = image_input(info)
    x = layers.Flatten()(x)
    for layer in c.layers:
        x = layers.Dense(layer.units, activation=layer.activation)(x)
        if layer.dropout > 0:
            x = layers.Dropout(layer.dropout)(x)
    model = keras.Model(inputs, softmax_heads(x, info, l2=0.0), name="mlp")
    compile_model(model, info, c.optimizer, c.learning_rate, accel)
    return model, c.batch_size


@dataclass(frozen=True)
class ConvBlock:
    filters: int
    kernel_size: int
    padding: str
    dropout: float


@dataclass(frozen=True)
class SimpleCNNConfig:
    """Blocks of conv + 2x2 max-pool + dropout, then one dense layer (the tutorials' CNN)."""

    blocks: tuple[ConvBlock, ...]
    dense_units: int
    activation: str
    optimizer: str
    learning_rate: float
    batch_size: int

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> "SimpleCNNConfig":
        blocks = tuple(ConvBlock(int(b["filters"]), int(b.get("kernel_size", 3)),
                                 str(b.get("padding", "valid")), float(b.get("dropout", 0.0)))
                       for b in _flatten_layers(p["conv_blocks"]))
        for b in blocks:
            if b.padding not in ("valid", "same"):
                raise ValueError(f"padding must be 'valid' or 'same', got {b.padding!r}.")
        return cls(blocks, int(p["dense_units"]), str(p.get("activation", "relu")),
                   str(p.get("optimizer", "Adam")),
                   float(p.get("learning_rate", BASE_LEARNING_RATE)),
                   int(p.get("batch_size", DEFAULT_BATCH_SIZE)))


def build_simple_cnn(params: dict[str, Any], info: DatasetInfo, accel: Accelerator):
    import keras
    from keras import layers
    c = SimpleCNNConfig.from_params(params)
    inputs, x = image_input(info)
    for block in c.blocks:
        x = layers.Conv2D(block.filters, block.kernel_size, padding=block.padding,
                          activation=c.activation)(x)
        x = layers.MaxPooling2D(POOL_SIZE)(x)
        if block.dropout > 0:
            x = layers.Dropout(block.dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(c.dense_units, activation=c.activation)(x)
    model = keras.Model(inputs, softmax_heads(x, info, l2=0.0), name="simple_cnn")
    compile_model(model, info, c.optimizer, c.learning_rate, accel)
    return model, c.batch_size


ModelBuilder = Callable[[dict[str, Any], DatasetInfo, Accelerator], tuple[Any, int]]

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

CONV_MODELS = ("cnn", "simple_cnn")  # the families that take images (height, width, channels)

MODEL_BUILDERS: dict[str, ModelBuilder] = {
    "cnn": build_cnn,
    "mlp": build_mlp,
    "simple_cnn": build_simple_cnn,
}


def custom_builder(build_model: Callable) -> ModelBuilder:
    """A space file's ``build_model(params, input_shape, classes)`` as a model builder.

    ``classes`` is the number of classes, or ``{head: classes}`` for data with several label
    sets; the function returns a Keras model with one softmax output per label set (in the
    heads' order, or a dict keyed by head). It is wrapped so that its outputs are named after
    the heads, as the built-in families' are, and compiled with sparse categorical
    cross-entropy and accuracy per head; the optimizer is the one it was compiled with, else the
    point's ``optimizer`` (default Adam) at its ``learning_rate`` (default 0.001). The batch
    size is the point's ``batch_size`` (default 32)."""

    def build(params: dict[str, Any], info: DatasetInfo, accel: Accelerator):
        import keras
        from keras import layers
        heads = list(info.heads)
        classes: Any = info.heads[heads[0]] if len(heads) == 1 else dict(info.heads)
        try:
            model = build_model(params, info.input_shape, classes)
        except ValueError as e:
            if len(info.input_shape) != 2:
                raise
            raise TypeError(f"build_model failed for examples of shape {info.input_shape} "
                            f"({e}); if they are grey images, load_data should add a channel "
                            "axis (x[..., None]) so that they are (height, width, 1).") from e
        if not isinstance(model, keras.Model):
            raise TypeError(f"build_model must return a keras.Model, got "
                            f"{type(model).__name__}.")
        if len(model.outputs) != len(heads):
            raise TypeError(f"build_model's model has {len(model.outputs)} outputs but the data "
                            f"has {len(heads)} label sets ({', '.join(heads)}); give it one "
                            "softmax output per label set.")
        if tuple(model.inputs[0].shape[1:]) != tuple(info.input_shape):
            raise TypeError(f"build_model's model takes inputs of shape "
                            f"{tuple(model.inputs[0].shape[1:])}, but the data's examples have "
                            f"shape {tuple(info.input_shape)}.")
        inputs = keras.Input(shape=info.input_shape, name="input")
        out = model(inputs)
        if isinstance(out, dict):
            if sorted(out) != sorted(heads):
                raise TypeError(f"build_model's outputs are keyed {sorted(out)}; with several "
                                f"label sets key them by head: {', '.join(heads)}.")
            outs = [out[h] for h in heads]
        else:
            outs = list(out) if isinstance(out, (list, tuple)) else [out]
        named = {h: layers.Activation("linear", dtype="float32", name=h)(o)
                 for h, o in zip(heads, outs)}
        wrapped = keras.Model(inputs, named, name=model.name)
        optimizer = (model.optimizer if getattr(model, "compiled", False)
                     and getattr(model, "optimizer", None) is not None else
                     make_optimizer(str(params.get("optimizer", "Adam")),
                                    float(params.get("learning_rate", BASE_LEARNING_RATE))))
        wrapped.compile(optimizer=optimizer,
                        loss={h: "sparse_categorical_crossentropy" for h in heads},
                        metrics={h: ["accuracy"] for h in heads}, jit_compile=jit_compile(accel))
        return wrapped, int(params.get("batch_size", DEFAULT_BATCH_SIZE))

    return build


def model_builder(name: str) -> ModelBuilder:
    if name not in MODEL_BUILDERS:
        raise ValueError(f"unknown MODEL {name!r}; expected one of {sorted(MODEL_BUILDERS)}.")
    return MODEL_BUILDERS[name]


# ---------------------------------------------------------------------------------------------
# Training: one function for every trial
# ---------------------------------------------------------------------------------------------


@dataclass
class TrainBudget:
    epochs: int
    patience: int
    time_limit_s: float | None = None  # stop at the first epoch end past it
    prune: Any = None  # a pruning.PruneRule: stop when clearly behind earlier trials
    initial_epoch: int = 0  # epochs already trained (continuing a saved model)
    resume_from: str | None = None  # a saved .keras model to continue instead of building one
    save_to: str | None = None  # save the trained model (with optimizer state) here
    # Evaluate the test split only if the run's loss (1 - best validation accuracy) is below this,
    # i.e. it beats the best earlier trial; None: always.
    test_if_loss_below: float | None = None


@dataclass
class TrainResult:
    metrics: dict[str, dict[str, float]]  # per head
    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int  # 1-based
    stopped_by_time: bool
    objective: float  # primary head's best validation accuracy
    runs: list[dict[str, Any]] = field(default_factory=list)  # per execution / fold, if several
    pruned_at: int | None = None  # the epoch (1-based) a pruning rule stopped it at
    trained_as: dict[str, Any] = field(default_factory=dict)  # dtype policy, ... (trained_as())


def make_dataset(split: Split, batch_size: int, *, shuffle: bool, seed: int):
    """``split`` as NumPy batches that every Keras backend reads (``hyperopt_nas.batches``):
    a seeded permutation per epoch, gathered and cast a batch at a time."""
    from hyperopt_nas.batches import Batches  # imports Keras: only where a model trains
    return Batches(split, batch_size, shuffle=shuffle, seed=seed)


# A loss this many times the loss of guessing (log(classes) per head, weighted) after an epoch
# is a diverged run: a softmax pushed to its clipped extremes, wrong with certainty, on every
# backend (under JAX and PyTorch such a run keeps a finite loss, so a NaN check alone misses it).
DIVERGED_LOSS_MULTIPLE = 3.0


def diverged(logs: dict[str, Any], regularization: float, info: DatasetInfo) -> str | None:
    """Why an epoch's training logs say the run diverged (None if they do not): a loss that is
    not finite, or a head's cross-entropy far above that of guessing (log of its classes). A
    model with several heads logs each head's loss; one head's is the loss less the weights'
    penalty."""
    loss = logs.get("loss")
    if loss is not None and not math.isfinite(float(loss)):
        return f"the training loss became {float(loss)}"
    for head, classes in info.heads.items():
        key = f"{head}_loss" if len(info.heads) > 1 else "loss"
        if key not in logs:
            continue
        value = float(logs[key]) - (regularization if key == "loss" else 0.0)
        chance = math.log(max(classes, 2))
        if not math.isfinite(value):
            return f"the training loss of {head} became {value}"
        if value > DIVERGED_LOSS_MULTIPLE * chance:
            return (f"the training loss{'' if key == 'loss' else ' of ' + head} exploded to "
                    f"{value:.4g}, over {DIVERGED_LOSS_MULTIPLE:g}x the {chance:.3g} of "
                    "guessing")
    return None


def regularization_loss(model) -> float:
    """The weights' penalty (L2...) in the model's loss now, read from its variables."""
    try:
        losses = model.losses
    except Exception:  # a layer whose penalty cannot be read outside training
        return 0.0
    return float(sum(float(np.asarray(value)) for value in losses)) if losses else 0.0


def _callbacks(monitor: str, budget: TrainBudget, started: float, info: DatasetInfo):
    import keras

    class FailOnDivergence(keras.callbacks.Callback):
        # Checked at epoch ends: a NaN stays in the epoch's mean loss, and a per-batch check
        # would make Keras hand every batch's logs back to Python, slowing training.
        def on_epoch_end(self, epoch, logs=None):
            why = diverged(logs or {}, regularization_loss(self.model), info)
            if why is not None:
                raise TrialFailed(f"{why} in epoch {epoch + 1}; try a smaller learning rate")

    class TimeLimit(keras.callbacks.Callback):
        stopped = False

        def on_epoch_end(self, epoch, logs=None):
            if budget.time_limit_s is not None and time.monotonic() - started > budget.time_limit_s:
                self.stopped = True
                self.model.stop_training = True

    class Prune(keras.callbacks.Callback):
        pruned_at = None
        best = -math.inf

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(monitor)
            if value is None or budget.prune is None:
                return
            self.best = max(self.best, float(value))
            if budget.prune.should_stop(epoch + 1, self.best):
                self.pruned_at = epoch + 1
                self.model.stop_training = True

    early = keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=budget.patience,
                                          restore_best_weights=True)
    return {"fail_on_divergence": FailOnDivergence(), "early_stopping": early,
            "time_limit": TimeLimit(), "prune": Prune()}


PROGRESS_EVERY_S = 1.0  # a running trial reports its batch at most this often


def _progress_callback(report: Callable[[dict[str, Any]], None], monitor: str, batches,
                       budget: TrainBudget):
    """A callback that tells ``report`` where training is: during an epoch every
    ``PROGRESS_EVERY_S`` (epoch, batch, images/s so far), and at each epoch's end (with the
    epoch's training images/s and validation accuracy).

    Batches are counted by a thread that reads, once a second, how many batches the training
    input (``batches``, a ``hyperopt_nas.batches.Batches``) has handed out, not by a per-batch
    hook: training runs exactly as without it, and the count is the same on every backend
    (JAX writes the optimizer's step counter back only at an epoch's end)."""
    batch_size, train_size = batches.batch_size, len(batches.split)
    import keras

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.began = self.trained = None
            self.stop = threading.Event()
            self.watcher = threading.Thread(target=self._watch, name="progress", daemon=True)
            self.watcher.start()

        def on_train_end(self, logs=None):
            self.close()

        def close(self):
            """Stop the watcher (also when training ended by an exception)."""
            if getattr(self, "watcher", None) is not None:
                self.stop.set()
                self.watcher.join()
                self.watcher = None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.first_step = epoch, self._steps_done()
            self.began, self.trained = time.monotonic(), None

        def on_test_begin(self, logs=None):  # the epoch's validation: its training is done
            if self.began is not None and self.trained is None:
                self.trained = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            trained = (self.trained or time.monotonic()) - self.began
            self.began = None
            value = (logs or {}).get(monitor)
            report({**self._where(self.params.get("steps"), train_size / max(trained, 1e-9)),
                    "epoch_done": True,
                    "val_accuracy": float(value) if value is not None else None})

        def _steps_done(self) -> int:
            return batches.handed_out

        def _watch(self):
            while not self.stop.wait(PROGRESS_EVERY_S):
                began = self.began
                if began is None or self.trained is not None:
                    continue
                step = min(self._steps_done() - self.first_step, len(batches))
                images = min(step * batch_size, train_size)
                report(self._where(step, images / max(time.monotonic() - began, 1e-9)))

        def _where(self, step, images_per_s):
            return {"epoch": self.epoch + 1, "epochs": budget.epochs,
                    "first_epoch": budget.initial_epoch + 1, "step": step,
                    "steps": self.params.get("steps"), "images_per_s": images_per_s}

    return Progress()


def train_and_evaluate(builder: ModelBuilder, params: dict[str, Any], info: DatasetInfo,
                       train: Split, validation: Split, test: Split, budget: TrainBudget,
                       seed: int, accel: Accelerator, on_model: Callable | None = None,
                       on_progress: Callable[[dict[str, Any]], None] | None = None
                       ) -> TrainResult:
    """Build, train with early stopping on the validation split, evaluate the restored model.

    The test split is evaluated once, after training, for reporting only, and only when the run
    beats ``budget.test_if_loss_below`` (if set): its metrics are then absent. ``on_progress``,
    if given, hears where training is (``_progress_callback``).
    """
    import keras
    started = time.monotonic()
    keras.utils.set_random_seed(seed)
    # Every run sets the policy: the clear_session() that ends a run resets it to float32, and a
    # saved model must be continued in the policy it was saved in (its optimizer's variables).
    keras.mixed_precision.set_global_policy(accel.dtype_policy)
    progress = None
    try:
        model, batch_size = builder(params, info, accel)
        if budget.resume_from is not None:  # continue a saved run: its weights and optimizer
            model = keras.models.load_model(budget.resume_from)
        if on_model is not None:
            on_model(model)
        used = trained_as(model)
        # Inference needs no gradients: larger batches than training's, same results.
        eval_batch = max(batch_size, EVAL_BATCH_SIZE)
        primary = info.primary_head
        monitored = "val_" + metric_key(info, primary, "accuracy")
        callbacks = _callbacks(monitored, budget, started, info)
        time_limit, prune = callbacks["time_limit"], callbacks["prune"]
        callbacks = list(callbacks.values())
        train_batches = make_dataset(train, batch_size, shuffle=True, seed=seed)
        if on_progress is not None:
            progress = _progress_callback(on_progress, monitored, train_batches, budget)
            callbacks.append(progress)
        fit = model.fit(train_batches,
                        validation_data=make_dataset(validation, eval_batch, shuffle=False,
                                                     seed=seed),
                        epochs=budget.epochs, initial_epoch=budget.initial_epoch,
                        callbacks=callbacks, shuffle=False, verbose=0)
        history = {k: [float(v) for v in vs] for k, vs in fit.history.items()}
        val_acc = history[monitored]
        best = int(np.argmax(val_acc))
        test_logs = None
        if budget.test_if_loss_below is None or 1.0 - val_acc[best] < budget.test_if_loss_below:
            test_logs = model.evaluate(make_dataset(test, eval_batch, shuffle=False, seed=seed),
                                       verbose=0, return_dict=True)
        if budget.save_to is not None:
            model.save(budget.save_to)
        metrics = {}
        for head in info.heads:
            acc, loss = metric_key(info, head, "accuracy"), metric_key(info, head, "loss")
            metrics[head] = {
                "best_val_accuracy": history[f"val_{acc}"][best],
                "best_val_loss": history[f"val_{loss}"][best],
                "final_val_accuracy": history[f"val_{acc}"][-1],
                "final_val_loss": history[f"val_{loss}"][-1],
            }
            if test_logs is not None:
                metrics[head]["test_accuracy"] = float(test_logs[acc])
                metrics[head]["test_loss"] = float(test_logs[loss])
        return TrainResult(metrics=metrics, history=history,
                           epochs_run=budget.initial_epoch + len(val_acc),
                           best_epoch=budget.initial_epoch + best + 1,
                           stopped_by_time=time_limit.stopped,
                           objective=val_acc[best], pruned_at=prune.pruned_at, trained_as=used)
    finally:
        if progress is not None:
            progress.close()
        # Free the graph and its memory before the next trial.
        keras.backend.clear_session()
        gc.collect()
        runtime.current().release()


def metric_key(info: DatasetInfo, head: str, metric: str) -> str:
    """Keras' log name of a head's metric: ``<head>_<metric>``, or plain ``<metric>`` when the
    model has a single head."""
    return f"{head}_{metric}" if len(info.heads) > 1 else metric
