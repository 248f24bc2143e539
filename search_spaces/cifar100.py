"""CIFAR-100 with two heads: 100 fine classes and 20 coarse superclasses (the default search).

A CNN of 2 or 3 conv+reduction stages, optionally with residual units from a chosen stage on,
reductions by max, average, a stride-2 convolution ("all-convolutional") or an inception-style
block; one or two fully connected layers; a softmax head per label set, the coarse loss weighted.
The objective is the fine head's best validation accuracy.

Edit freely: a relaunch keeps every old trial whose values still fit the edited space.
"""

from hyperopt import hp
from hyperopt.pyll import scope

DATASET = "cifar100"
MODEL = "cnn"

# The task's budget; the command line's --epochs and --max-train-samples override these.
DEFAULTS = {
    "epochs": 30,
    "validation_fraction": 0.1,  # stratified share of the training images kept for selection
    "patience": 5,  # epochs without a better validation accuracy before early stopping
    "max_train_samples": None,  # None: all 45,000 training images left after validation
}

SPACE = {
    # Multipliers of the base values in neural_net.py: learning rate 0.001, L2 0.0007.
    "lr_rate_mult": hp.loguniform("lr_rate_mult", -0.5, 0.5),
    "l2_weight_reg_mult": hp.loguniform("l2_weight_reg_mult", -1.3, 1.3),
    "batch_size": scope.int(hp.quniform("batch_size", 100, 450, 5)),
    "optimizer": hp.choice("optimizer", ["Adam", "Nadam", "RMSprop"]),
    "coarse_loss_weight": hp.uniform("coarse_loss_weight", 0.1, 0.7),
    "conv_dropout": hp.uniform("conv_dropout", 0.0, 0.35),
    "fc_dropout": hp.uniform("fc_dropout", 0.0, 0.6),
    "use_batch_norm": hp.choice("use_batch_norm", [False, True]),
    "first_conv": hp.choice("first_conv", [
        None,
        {"kernel_size": hp.choice("first_conv_kernel_size", [3, 4])},
    ]),
    "residual": hp.choice("residual", [
        None,
        {
            "units": hp.uniformint("residual_units", 1, 4),
            "first_stage": hp.uniformint("residual_first_stage", 0, 2),
            "kernel_size": hp.uniformint("residual_kernel_size", 2, 4),
        },
    ]),
    # 40 filters times this in the first stage, doubling at each later stage.
    "filter_mult": hp.loguniform("filter_mult", -0.6, 0.6),
    "n_stages": hp.choice("n_stages", [2, 3]),
    "pooling": hp.choice("pooling", ["max", "avg", "all_conv", "inception"]),
    "conv_kernel_size": hp.uniformint("conv_kernel_size", 2, 4),
    "fc_units_mult": hp.loguniform("fc_units_mult", -0.6, 0.6),  # times 1000 units
    "second_fc": hp.choice("second_fc", [
        None,
        {"units_mult": hp.loguniform("fc2_units_mult", -0.6, 0.6)},  # times 750 units
    ]),
    "activation": hp.choice("activation", ["relu", "elu"]),
}

# A sensible network to look at (`python hyperopt_optimize.py plot` draws it) or to start from.
DEMO_POINT = {
    "lr_rate_mult": 1.0,
    "l2_weight_reg_mult": 1.0,
    "batch_size": 200,
    "optimizer": "Adam",
    "coarse_loss_weight": 0.3,
    "conv_dropout": 0.2,
    "fc_dropout": 0.4,
    "use_batch_norm": True,
    "first_conv": {"kernel_size": 3},
    "residual": {"units": 2, "first_stage": 1, "kernel_size": 3},
    "filter_mult": 1.0,
    "n_stages": 3,
    "pooling": "inception",
    "conv_kernel_size": 3,
    "fc_units_mult": 1.0,
    "second_fc": {"units_mult": 1.0},
    "activation": "relu",
}
