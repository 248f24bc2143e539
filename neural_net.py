"""The model families: the CIFAR CNN with residual units and inception reductions, the dense
and plain convolutional networks of the Keras Tuner tutorials, and a space file's own
``build_model``. Training them is ``hyperopt_nas/training.py``'s; what differs by Keras backend
is ``hyperopt_nas/runtime/``'s.

A sampled point (the dict a space file's ``SPACE`` decodes to) becomes a typed config in exactly
one place (``CNNConfig.from_params``); block functions take explicit arguments. Importing this
module loads no data and touches no GPU; it imports Keras, so a process imports it only once its
Keras backend is chosen (``runtime.choose``). The search's own process, which never loads a
backend, checks space files against the Keras-free catalogue of these families
(``hyperopt_nas/families.py``: their names, the keys they read, their batch sizes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import keras
from keras import layers

from hyperopt_nas import runtime
from hyperopt_nas.data_loaders import DatasetInfo
from hyperopt_nas.families import (CONV_MODELS, DEFAULT_BATCH_SIZE, EVAL_BATCH_SIZE,  # noqa: F401
                                   MODEL_KEYS, MODELS, ModelBuilder)
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
    return keras.regularizers.L2(l2) if l2 > 0 else None


def conv_bn_act(x, filters: int, kernel_size: int, *, strides: int = 1, batch_norm: bool,
                activation: str, l2: float, name: str | None = None):
    """Convolution, then batch norm if asked (the convolution then needs no bias), activation."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                      use_bias=not batch_norm, kernel_regularizer=_regularizer(l2), name=name)(x)
    if batch_norm:
        x = layers.BatchNormalization()(x)
    return layers.Activation(activation)(x)


def residual_unit(x, filters: int, kernel_size: int, *, batch_norm: bool, activation: str,
                  l2: float):
    """Two convolutions added to a 1x1 linear projection of the input."""
    shortcut = layers.Conv2D(filters, 1, padding="same", kernel_regularizer=_regularizer(l2))(x)
    y = conv_bn_act(x, filters, kernel_size, batch_norm=batch_norm, activation=activation, l2=l2)
    y = layers.Conv2D(filters, kernel_size, padding="same", use_bias=not batch_norm,
                      kernel_regularizer=_regularizer(l2))(y)
    if batch_norm:
        y = layers.BatchNormalization()(y)
    return layers.Activation(activation)(layers.Add()([y, shortcut]))


def inception_reduction(x, filters: int, *, batch_norm: bool, activation: str, l2: float):
    """Halve the resolution with parallel branches: 1x1->3x3/2, 1x1->3x3->3x3/2, max-pool/2."""
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
    if pooling == "max":
        return layers.MaxPooling2D(POOL_SIZE, padding="same")(x)
    if pooling == "avg":
        return layers.AveragePooling2D(POOL_SIZE, padding="same")(x)
    if pooling == "all_conv":  # a learned stride-2 convolution instead of a pooling layer
        return conv_bn_act(x, filters, POOL_SIZE + 1, strides=POOL_SIZE, batch_norm=batch_norm,
                           activation=activation, l2=l2)
    return inception_reduction(x, filters, batch_norm=batch_norm, activation=activation, l2=l2)


def dense_bn_act(x, units: int, *, batch_norm: bool, activation: str, l2: float, dropout: float):
    x = layers.Dense(units, use_bias=not batch_norm, kernel_regularizer=_regularizer(l2))(x)
    if batch_norm:
        x = layers.BatchNormalization()(x)
    x = layers.Activation(activation)(x)
    return layers.Dropout(dropout)(x) if dropout > 0 else x


def image_input(info: DatasetInfo):
    """Raw pixel input scaled to [0, 1]; horizontal flips in training where the data allows."""
    inputs = keras.Input(shape=info.input_shape, name="image")
    x = layers.Rescaling(1.0 / 255)(inputs)
    if info.horizontal_flip:
        x = layers.RandomFlip("horizontal")(x)  # active in training only
    return inputs, x


def softmax_heads(x, info: DatasetInfo, l2: float) -> dict[str, Any]:
    # float32 heads keep the softmax stable under mixed precision.
    return {head: layers.Dense(classes, activation="softmax", dtype="float32", name=head,
                               kernel_regularizer=_regularizer(l2))(x)
            for head, classes in info.heads.items()}


def make_optimizer(name: str, learning_rate: float):
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
                  jit_compile=runtime.current().jit_compile(accel))
    return model


def build_cnn(params: dict[str, Any], info: DatasetInfo, accel: Accelerator):
    """The CIFAR family: conv(+residual)+reduction stages, one or two FC layers, a head each."""
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
        dense = []
        for layer in _flatten_layers(p["hidden_layers"]):
            dense.append(DenseLayer(units=int(layer["units"]),
                                    dropout=float(layer.get("dropout", 0.0)),
                                    activation=str(layer.get("activation", shared))))
        config = cls(tuple(dense), str(p.get("optimizer", "Adam")),
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


MODEL_BUILDERS: dict[str, ModelBuilder] = {
    "cnn": build_cnn,
    "mlp": build_mlp,
    "simple_cnn": build_simple_cnn,
}


def custom_builder(build_model: Callable) -> ModelBuilder:
    """A space file's ``build_model(params, input_shape, classes)`` as a model builder.

    ``classes`` is the number of classes, or ``{head: classes}`` for data with several label
    sets; the function returns a Keras model with one output per label set (in the heads'
    order, or a dict keyed by head), compiled or not. It is wrapped so that its outputs are
    named after the heads, as the built-in families' are. A compiled model keeps its loss,
    metrics and optimizer (accuracy is added where its metrics lack it: the search ranks on
    it); an uncompiled one is compiled with sparse categorical cross-entropy and accuracy per
    head and the point's ``optimizer`` (default Adam) at its ``learning_rate`` (default
    0.001). The batch size is the point's ``batch_size`` (default 32). A model whose output is
    not a softmax under a loss that expects probabilities carries a warning in
    ``build_notes``, which the search says once."""

    def build(params: dict[str, Any], info: DatasetInfo, accel: Accelerator):
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
        if isinstance(model, keras.Sequential) and not model.built:
            # Keras Tuner's tutorials build a Sequential without an Input layer: Keras builds
            # it at its first fit; here, from the data's shape, before it is measured.
            model.build((None, *info.input_shape))
        if len(model.outputs) != len(heads):
            raise TypeError(f"build_model's model has {len(model.outputs)} outputs but the data "
                            f"has {len(heads)} label sets ({', '.join(heads)}); give it one "
                            "output per label set.")
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
        compiled = _compile_config(model)
        optimizer = (compiled["optimizer"] if compiled.get("optimizer") is not None else
                     make_optimizer(str(params.get("optimizer", "Adam")),
                                    float(params.get("learning_rate", BASE_LEARNING_RATE))))
        given_loss = _per_head(compiled.get("loss"), heads, "loss") or {}
        loss = ({h: _sparse(v) for h, v in given_loss.items()}
                or {h: "sparse_categorical_crossentropy" for h in heads})
        metrics = _per_head(compiled.get("metrics"), heads, "metrics") or {}
        metrics = {h: _with_accuracy([_sparse(m) for m in _listed(metrics.get(h))])
                   for h in heads}
        wrapped.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                        loss_weights=_per_head(compiled.get("loss_weights"), heads,
                                               "loss_weights"),
                        jit_compile=runtime.current().jit_compile(accel))
        wrapped.build_notes = [note for h, o in zip(heads, model.outputs)
                               if (note := _logits_note(o, loss[h], h, len(heads)))]
        return wrapped, int(params.get("batch_size", DEFAULT_BATCH_SIZE))

    return build


def _compile_config(model) -> dict[str, Any]:
    """What ``model.compile(...)`` was given, {} for a model never compiled."""
    given = getattr(model, "_compile_config", None)
    if not getattr(model, "compiled", False) or given is None:
        return {}
    return dict(getattr(given, "config", {}) or {})


def _per_head(value: Any, heads: list[str], what: str) -> dict[str, Any] | None:
    """A compile argument given for the user's model, keyed by the wrapped model's heads: one
    value for a single head, a list in the heads' order, or a dict keyed by head."""
    if value is None:
        return None
    if isinstance(value, dict):
        if len(heads) == 1 and len(value) == 1:  # keyed by the user's output's name
            return {heads[0]: next(iter(value.values()))}
        if set(heads) - set(value):
            raise TypeError(f"build_model's model was compiled with {what} keyed "
                            f"{sorted(value)}; with several label sets key them by head: "
                            f"{', '.join(heads)}.")
        return {h: value[h] for h in heads}
    if len(heads) == 1:
        if isinstance(value, (list, tuple)) and len(value) == 1 and what != "metrics":
            value = value[0]
        return {heads[0]: value}
    if isinstance(value, (list, tuple)) and len(value) == len(heads):
        return dict(zip(heads, value))
    if what == "metrics":  # the same metrics for every head
        return {h: value for h in heads}
    raise TypeError(f"build_model's model was compiled with one {what} for {len(heads)} "
                    f"label sets; give a list in the heads' order or a dict keyed by head "
                    f"({', '.join(heads)}).")


def _listed(metrics: Any) -> list:
    return list(metrics) if isinstance(metrics, (list, tuple)) else \
        ([] if metrics is None else [metrics])


# The categorical (one-hot) forms of losses and metrics, and the sparse (integer label) forms
# that compute the same: the search keeps labels as integers, one-hot labels included.
SPARSE_NAMES = {"categorical_crossentropy": "sparse_categorical_crossentropy",
                "categorical_accuracy": "sparse_categorical_accuracy",
                "top_k_categorical_accuracy": "sparse_top_k_categorical_accuracy"}
SPARSE_CLASSES = {"CategoricalCrossentropy": ("SparseCategoricalCrossentropy",
                                              ("from_logits", "reduction", "name")),
                  "CategoricalAccuracy": ("SparseCategoricalAccuracy", ("name",)),
                  "TopKCategoricalAccuracy": ("SparseTopKCategoricalAccuracy", ("k", "name"))}


def _sparse(value: Any) -> Any:
    """A loss or metric for one-hot labels as its integer-label form (Keras Tuner's tutorials
    compile with ``categorical_crossentropy`` on ``to_categorical`` labels; the search hands
    the model integer labels): the same values, computed from the class index."""
    if isinstance(value, str):
        return SPARSE_NAMES.get(value, value)
    kind = type(value).__name__
    if kind not in SPARSE_CLASSES or not hasattr(value, "get_config"):
        return value
    if value.get_config().get("label_smoothing"):
        raise TypeError(f"build_model's model was compiled with {kind}(label_smoothing=...), "
                        "which needs one-hot labels: the search trains on class indices, so "
                        "leave label_smoothing out.")
    sparse, kept = SPARSE_CLASSES[kind]
    config = {k: v for k, v in value.get_config().items() if k in kept}
    if kind == "CategoricalCrossentropy":
        return getattr(keras.losses, sparse)(**config)
    return getattr(keras.metrics, sparse)(**config)


def _with_accuracy(metrics: Any) -> list:
    listed = _listed(metrics)
    names = {m if isinstance(m, str) else getattr(m, "name", "") for m in listed}
    return listed if names & {"accuracy", "acc"} else listed + ["accuracy"]


PROBABILITY_LOSSES = {"sparse_categorical_crossentropy", "categorical_crossentropy"}


def _logits_note(output, loss: Any, head: str, heads: int) -> str | None:
    """One line when an output that is not a softmax (a plain Dense layer: logits) is trained
    under a cross-entropy that expects probabilities: such a model trains at chance."""
    history = getattr(output, "_keras_history", None)
    layer = history[0] if history else None
    activation = getattr(layer, "activation", None)
    if activation is None or getattr(activation, "__name__", "") != "linear":
        return None  # softmax, another activation, or not known: nothing to say
    if isinstance(loss, str):
        probabilities = loss in PROBABILITY_LOSSES
    else:
        config = loss.get_config() if hasattr(loss, "get_config") else {}
        probabilities = (type(loss).__name__ in ("SparseCategoricalCrossentropy",
                                                 "CategoricalCrossentropy")
                         and not config.get("from_logits", False))
    if not probabilities:
        return None
    where = f"its output {head!r}" if heads > 1 else "its output"
    return (f"warning: build_model's model ends in a layer without softmax ({layer.name}) but "
            f"{where} is trained with a cross-entropy on probabilities, so it trains at chance; "
            "give that layer activation=\"softmax\", or compile the model with "
            "keras.losses.SparseCategoricalCrossentropy(from_logits=True).")


def model_builder(name: str) -> ModelBuilder:
    if name not in MODEL_BUILDERS:
        raise ValueError(f"unknown MODEL {name!r}; expected one of {sorted(MODEL_BUILDERS)}.")
    return MODEL_BUILDERS[name]


def builder_for(source: Any) -> ModelBuilder:
    """The model builder of a ``Workload`` or a ``SpaceFile`` (anything with ``model`` and
    ``build_model``): its own ``build_model``, else its built-in MODEL's."""
    if source.build_model is not None:
        return custom_builder(source.build_model)
    return model_builder(source.model)
