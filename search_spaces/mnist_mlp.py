"""MNIST, dense network: the Keras Tuner tutorial's MNIST experiment.

Bar to beat (the tutorial's published test accuracy): 97.1% to 97.5%.
A dense layer of 32..512 units (step 32) followed by dropout 0..0.1, three more of 8..64 (step 8),
one activation (relu, tanh or sigmoid) shared by all; Adam with a log-uniform learning rate in
1e-4..1e-2.
"""

import math

from hyperopt import hp
from hyperopt.pyll import scope

DATASET = "mnist"
MODEL = "mlp"

DEFAULTS = {
    "epochs": 10,
    "validation_fraction": 0.1,
    "patience": 3,
    "max_train_samples": None,
}

SPACE = {
    "hidden_layers": [
        {"units": scope.int(hp.quniform("units_1", 32, 512, 32)),
         "dropout": hp.uniform("dropout", 0.0, 0.1)},
        {"units": scope.int(hp.quniform("units_2", 8, 64, 8))},
        {"units": scope.int(hp.quniform("units_3", 8, 64, 8))},
        {"units": scope.int(hp.quniform("units_4", 8, 64, 8))},
    ],
    "activation": hp.choice("activation", ["relu", "tanh", "sigmoid"]),
    "optimizer": "Adam",
    "learning_rate": hp.loguniform("learning_rate", math.log(1e-4), math.log(1e-2)),
}

DEMO_POINT = {
    "hidden_layers": [{"units": 256, "dropout": 0.05}, {"units": 32}, {"units": 32},
                      {"units": 32}],
    "activation": "relu",
    "optimizer": "Adam",
    "learning_rate": 0.001,
}
