"""Fashion-MNIST, small CNN: the Keras Tuner tutorial's CNN experiment.

Bar to beat (the tutorial's published test accuracy): baseline 90.8%, tuned 92.0%.
1 or 2 blocks of a 3x3 convolution (32 or 64 filters, padding valid or same), 2x2 max-pool and
dropout 0, 0.1 or 0.2; a dense layer of 25..150 units (step 25); Adam or SGD; learning rate 0.01
or 0.001.
"""

from hyperopt import hp
from hyperopt.pyll import scope

DATASET = "fashion_mnist"
MODEL = "simple_cnn"

DEFAULTS = {
    "epochs": 10,
    "validation_fraction": 0.1,
    "patience": 3,
    "max_train_samples": None,
}


def _block(i):
    return {"filters": hp.choice(f"filters_{i}", [32, 64]),
            "kernel_size": 3,
            "padding": hp.choice(f"padding_{i}", ["valid", "same"]),
            "dropout": hp.choice(f"dropout_{i}", [0.0, 0.1, 0.2])}


SPACE = {
    "conv_blocks": [_block(1), hp.choice("second_block", [None, _block(2)])],
    "dense_units": scope.int(hp.quniform("dense_units", 25, 150, 25)),
    "activation": "relu",
    "optimizer": hp.choice("optimizer", ["Adam", "SGD"]),
    "learning_rate": hp.choice("learning_rate", [0.01, 0.001]),
}

# Tried first (unless already tried): a conventional network of this family, so that even a
# search of a few trials has a sound baseline.
START_POINTS = [
    {"conv_blocks": [{"filters": 32, "kernel_size": 3, "padding": "same", "dropout": 0.1},
                     {"filters": 64, "kernel_size": 3, "padding": "same", "dropout": 0.1}],
     "dense_units": 100, "activation": "relu", "optimizer": "Adam", "learning_rate": 0.001},
]

DEMO_POINT = {
    "conv_blocks": [{"filters": 32, "kernel_size": 3, "padding": "same", "dropout": 0.1},
                    {"filters": 64, "kernel_size": 3, "padding": "same", "dropout": 0.1}],
    "dense_units": 100,
    "activation": "relu",
    "optimizer": "Adam",
    "learning_rate": 0.001,
}
