"""CIFAR-10, dense networks on flattened pixels: the Keras Tuner tutorial's DNN experiments.

Bar to beat (the tutorial's published test accuracy): about 48% to 50%.
Either 2..4 dense layers of 64..512 units (step 64), each with activation relu, swish or elu, or
the depth-only variant: 2..20 layers of 128 elu units.
"""

from hyperopt import hp
from hyperopt.pyll import scope

DATASET = "cifar10"
MODEL = "mlp"

DEFAULTS = {
    "epochs": 20,
    "validation_fraction": 0.1,
    "patience": 4,
    "max_train_samples": None,
}

_WIDE = [{"units": scope.int(hp.quniform(f"units_{i}", 64, 512, 64)),
          "activation": hp.choice(f"activation_{i}", ["relu", "swish", "elu"])}
         for i in range(1, 5)]

SPACE = {
    "hidden_layers": hp.choice("variant", [
        # width and activation per layer, 2 to 4 layers
        hp.choice("n_layers", [_WIDE[:2], _WIDE[:3], _WIDE[:4]]),
        # depth only: 2 to 20 layers of 128 elu units
        [{"repeat": scope.int(hp.quniform("depth", 2, 20, 1)), "units": 128,
          "activation": "elu"}],
    ]),
    "optimizer": "Adam",
    "learning_rate": 0.001,
}

DEMO_POINT = {
    "hidden_layers": [{"units": 256, "activation": "relu"}, {"units": 128, "activation": "elu"}],
    "optimizer": "Adam",
    "learning_rate": 0.001,
}
