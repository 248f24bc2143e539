"""Helpers several test files share: settings of a small in-process search, a record, a picture's
size, tiny arrays. (``conftest.py`` holds the data files and space files written for a test.)"""

import numpy as np
from conftest import learnable_images

from hyperopt_nas.data_loaders import DATASETS, Split
from hyperopt_nas.engine import SearchSettings, run_search
from hyperopt_nas.executors.simulated import SimulatedExecutor
from hyperopt_nas.trial import TrialOutcome, now
from hyperopt_nas.trial_store import TrialRecord, TrialStatus
import neural_net


def make_settings(tmp_path, space, data_dir, **changes):
    # In-process training, no pictures nor logs: the search itself, at its cheapest.
    settings = SearchSettings(space_path=space, results_dir=tmp_path / "results",
                              data_dir=data_dir, seed=11, max_evals=2, isolation="none",
                              plot_best=False, plot_search=False, tensorboard=False)
    for key, value in changes.items():
        setattr(settings, key, value)
    return settings


def search(settings, executor=None):
    lines = []
    summary = run_search(settings, say=lines.append, executor=executor)
    return summary, "\n".join(lines)


def make_record(number=0, loss=0.25, status=TrialStatus.OK, **changes):
    fields = dict(
        number=number, status=status, params={"lr": 0.01, "opt": "adam", "extra": None},
        hyperopt_vals={"lr": 0.01, "opt": 0}, choice_options={"opt": "'adam'"}, loss=loss,
        metrics={"label": {"best_val_accuracy": 1 - (loss or 0), "test_accuracy": 0.7}},
        history={"val_accuracy": [0.5, 0.75]}, epochs_run=2, wall_time_s=3.5,
        space_file="s.py", space_fingerprint="abc", dataset="mnist", model="mlp", seed=1,
        trial_seed=99, budget={"epochs": 2}, versions={"python": "3"}, accelerator={"gpus": 0},
        started_at="2026-01-01T00:00:00+00:00")
    fields.update(changes)
    return TrialRecord(**fields)


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def recorded_trials(n=16, seed=0):
    """Trials whose score depends on the optimizer (strongly) and lr (weakly); a conditional
    hyperparameter present in half of them; two failures."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        optimizer = ["adam", "sgd"][i % 2]
        lr = float(rng.uniform(0.001, 0.1))
        extra = {"units": int(rng.integers(8, 64))} if i % 4 < 2 else None
        score = (0.8 if optimizer == "adam" else 0.5) + 0.1 * lr + rng.normal(0, 0.01)
        params = {"optimizer": optimizer, "lr": lr, "extra": extra, "fixed": 3}
        history = {"accuracy": list(np.linspace(0.3, score + 0.05, 4)),
                   "val_accuracy": list(np.linspace(0.2, score, 4))}
        if i in (5, 9):
            records.append(make_record(i, None, TrialStatus.FAILED, params=params, history={}))
        else:
            records.append(make_record(i, 1 - score, params=params, history=history))
    return records


def arrays(n: int, seed: int):
    labels = np.random.default_rng(seed).integers(0, 10, n)
    return learnable_images(labels, 28, 1, seed)[..., 0].astype("float32") / 255, labels


CPU = neural_net.Accelerator(gpus=0, mixed_precision=False, xla=False)


CIFAR100 = DATASETS["cifar100"]


def cnn_point(pooling="max", residual=True, first_conv=True, second_fc=True, n_stages=2, **kw):
    """A small member of the CIFAR family (few filters, few units) for fast tests."""
    point = {
        "lr_rate_mult": 1.0, "l2_weight_reg_mult": 1.0, "batch_size": 8, "optimizer": "Adam",
        "coarse_loss_weight": 0.3, "conv_dropout": 0.1, "fc_dropout": 0.2,
        "use_batch_norm": True,
        "first_conv": {"kernel_size": 3} if first_conv else None,
        "residual": {"units": 1, "first_stage": 1, "kernel_size": 2} if residual else None,
        "filter_mult": 0.1, "n_stages": n_stages, "pooling": pooling, "conv_kernel_size": 3,
        "fc_units_mult": 0.016, "second_fc": {"units_mult": 0.016} if second_fc else None,
        "activation": "relu"}
    point.update(kw)
    return point


def tiny_cifar100(n, seed=0):
    rng = np.random.default_rng(seed)
    fine = rng.integers(0, 100, n)
    return Split(learnable_images(fine, 32, 3, seed), {"fine": fine, "coarse": fine // 5})


def cli_search_args(space, results, data_dir, max_evals):
    return ["--space", str(space), "--results-dir", str(results), "--data-dir", str(data_dir),
            "--max-evals", str(max_evals), "--seed", "5"]


class Scripted(SimulatedExecutor):
    """Trials that do not train: the next validation accuracy of ``objectives``; notes the
    loss each trial was told to beat for a test evaluation (``thresholds``)."""

    def __init__(self, objectives, thresholds):
        super().__init__(1)
        self.objectives, self.thresholds = objectives, thresholds

    def _outcome(self, spec):
        self.thresholds.append(spec.budget.test_if_loss_below)
        value = self.objectives[len(self.thresholds) - 1]
        metrics = {"label": {"best_val_accuracy": value, "final_val_accuracy": value}}
        return TrialOutcome(spec.number, True, now(), 1.0,
                            loss=1.0 - value, metrics=metrics,
                            history={"val_accuracy": [value]}, epochs_run=1), 1.0
