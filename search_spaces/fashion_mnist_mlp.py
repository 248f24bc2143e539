"""Fashion-MNIST, dense network: the Keras Tuner tutorial's MLP experiment.

Bar to beat (the tutorial's published test accuracy): baseline 86.6%, tuned 88.2%.
Hidden layers: a first of 50..350 units (step 50), then 1 or 2 more of 50..100 (step 25), each
with dropout 0, 0.1 or 0.2; Adam or SGD (Nesterov, momentum 0.9); learning rate 0.1, 0.01, 0.001.
"""

from hyperopt import hp
from hyperopt.pyll import scope

DATASET = "fashion_mnist"
MODEL = "mlp"

DEFAULTS = {
    "epochs": 10,
    "validation_fraction": 0.1,
    "patience": 3,
    "max_train_samples": None,
}


def _layer(name, low, high, step):
    return {"units": scope.int(hp.quniform(f"units_{name}", low, high, step)),
            "dropout": hp.choice(f"dropout_{name}", [0.0, 0.1, 0.2])}


SPACE = {
    "hidden_layers": [
        _layer("1", 50, 350, 50),
        hp.choice("more_layers", [
            [_layer("2_of_1", 50, 100, 25)],
            [_layer("2_of_2", 50, 100, 25), _layer("3_of_2", 50, 100, 25)],
        ]),
    ],
    "activation": "relu",
    "optimizer": hp.choice("optimizer", ["Adam", "SGD"]),
    "learning_rate": hp.choice("learning_rate", [0.1, 0.01, 0.001]),
}

DEMO_POINT = {
    "hidden_layers": [{"units": 200, "dropout": 0.1}, [{"units": 75, "dropout": 0.1}]],
    "activation": "relu",
    "optimizer": "Adam",
    "learning_rate": 0.001,
}
