"""Your own images and your own Keras network: a template to copy and edit.

Instead of naming a built-in DATASET and MODEL, this file defines two functions:

- ``load_data()`` returns ``((x_train, y_train), (x_test, y_test))``: examples as arrays with one
  row each (images: ``(n, height, width, channels)``), labels as whole numbers from 0, one per
  example, or a dict ``{head: labels}`` for several label sets (the first is the one searched
  on), or ``(train_dataset, test_dataset)``: two finite ``tf.data`` datasets of ``(x, y)``,
  batched or not (``keras.utils.image_dataset_from_directory(folder)`` for a folder of images
  with one sub-folder per class), read into memory once. The search carves its validation split
  out of the training part, stratified and seeded; the test part is only reported. CLASS_NAMES
  (optional) names the classes.
- ``build_model(params, input_shape, classes)`` returns a Keras model for one point of SPACE:
  ``classes`` is the number of classes (``{head: classes}`` with several label sets, one softmax
  output per head, in the heads' order or as a dict keyed by head). The search compiles it with
  sparse categorical cross-entropy and accuracy; the optimizer is the one you compiled it with,
  if you did, else the point's ``optimizer`` (default Adam) at its ``learning_rate`` (default
  0.001). The batch size is the point's ``batch_size`` (default 32).

This example reads an .npz file with the arrays ``x_train, y_train, x_test, y_test`` (uint8
images, integer labels), from the environment variable OWN_DATA_NPZ or ``my_images.npz`` beside
this file; make one with ``numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)``.
"""

import os
from pathlib import Path

import numpy as np
from hyperopt import hp
from hyperopt.pyll import scope

DATA_FILE = Path(os.environ.get("OWN_DATA_NPZ", Path(__file__).with_name("my_images.npz")))
CLASS_NAMES = None  # e.g. ["cat", "dog", "bird"]


def load_data():
    with np.load(DATA_FILE) as data:
        return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])


def build_model(params, input_shape, classes):
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1 / 255)(inputs)
    for block in range(params["conv_blocks"]):
        x = layers.Conv2D(params["filters"] * 2 ** block, 3, padding="same",
                          activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(params["dropout"])(x)
    x = layers.Dense(params["units"], activation="relu")(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


DEFAULTS = {"epochs": 5, "validation_fraction": 0.1, "patience": 2}

SPACE = {
    "conv_blocks": hp.choice("conv_blocks", [1, 2]),
    "filters": scope.int(hp.quniform("filters", 8, 32, 8)),
    "dropout": hp.uniform("dropout", 0.0, 0.5),
    "units": scope.int(hp.quniform("units", 32, 128, 32)),
    "learning_rate": hp.loguniform("learning_rate", np.log(1e-4), np.log(1e-2)),
    "optimizer": "Adam",
    "batch_size": 32,
}
