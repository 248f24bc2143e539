"""Training one network: the one function every trial, fold and repeat goes through.

``train_and_evaluate`` builds a point's network (a family of ``neural_net``, or a space's own
``build_model``), trains it on NumPy batches (``batches.py``) with early stopping on the
validation split, and evaluates the restored model on the test split for reporting only. What
differs by Keras backend is asked of ``runtime``. This module imports Keras: a process imports it
once its backend is chosen (``executors.start_runner``, ``retrain``), never the search's own.
"""

from __future__ import annotations

import gc
import html
import inspect
import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import keras
import numpy as np

from hyperopt_nas import runtime
from hyperopt_nas.batches import fixed_batch
from hyperopt_nas.data_loaders import DatasetInfo, Split
from hyperopt_nas.errors import LabelsError
from hyperopt_nas.families import EVAL_BATCH_SIZE, ModelBuilder, metric_key
from hyperopt_nas.objectives import Objective
from hyperopt_nas.runtime import Accelerator
from hyperopt_nas.trial import TrainBudget

logger = logging.getLogger(__name__)


class TrialFailed(RuntimeError):
    """The trial cannot give a result (NaN loss, a model that does not build...); record, go on."""


class OverBudget(Exception):
    """A built network over the size budget (``--max-params``, ``--max-latency-ms``): it is not
    trained. Not a failure: the point is recorded as over budget, with what was measured."""

    def __init__(self, reason: str, measured: dict[str, Any]):
        super().__init__(reason)
        self.reason, self.measured = reason, measured


# Recent Keras 3 releases: clear_session(free_memory=True) runs gc.collect() itself.
CLEAR_SESSION_COLLECTS = "free_memory" in inspect.signature(keras.backend.clear_session).parameters
LATENCY_CALLS = 20  # timed batch-1 predictions, after one that compiles; their median counts


# ---- the backend, as a trial's process sets it up


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
    return {"dtype_policy": model.dtype_policy.name,
            "steps_per_execution": int(getattr(model, "steps_per_execution", 1) or 1),
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


def gpu_peak_mb(accel: Accelerator) -> float | None:
    """The most GPU memory the backend's allocator held at once (since the last trial where
    the backend can reset it), or None without a GPU."""
    if not accel.gpus:
        return None
    return runtime.current().gpu_peak_mb()


@dataclass
class TrainResult:
    metrics: dict[str, dict[str, float]]  # per head
    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int  # 1-based
    stopped_by_time: bool
    objective: float | None  # the objective's best validation value (None: no validation)
    runs: list[dict[str, Any]] = field(default_factory=list)  # per execution / fold, if several
    pruned_at: int | None = None  # the epoch (1-based) a pruning rule stopped it at
    trained_as: dict[str, Any] = field(default_factory=dict)  # dtype policy, ... (trained_as())
    size: dict[str, Any] = field(default_factory=dict)  # model_params, model_bytes, latency_ms...
    notes: list[str] = field(default_factory=list)  # the builder's warnings (build_notes)
    timing: dict[str, Any] = field(default_factory=dict)  # epoch_s, compile_s (EpochClock)
    graph: str | None = None  # the network as Graphviz dot text (graph_text)


GRAPH_DPI = 96
# Layers drawn inside the box of the layer before them (a Conv2D, its BatchNormalization and its
# Activation are one box): the CIFAR-100 demo network's drawing is a third as tall.
FOLDED_LAYERS = ("BatchNormalization", "Activation", "Dropout", "SpatialDropout2D")
_TITLE = re.compile(r"<b>([^<]*)</b></font></td></tr>")
_OUTPUT = re.compile(r"Output shape: <b>([^<]*)</b>")
_ACTIVATION = re.compile(r"Activation: <b>([^<]*)</b>")


def fold_chains(dot) -> None:
    """Draw each layer of ``FOLDED_LAYERS`` in the box of the one before it, where that one
    feeds it alone: the box's title lists both ("Conv2D + BatchNormalization + Activation"),
    its activation is the last one's, its output shape the folded layer's. A label not in the
    form Keras writes is left as it is."""
    nodes = {n.get_name(): n for n in dot.get_nodes()}
    edge_type = type(next(iter(dot.get_edges()), None))  # pydot's Edge, as Keras imported it
    edges = [(e.get_source(), e.get_destination()) for e in dot.get_edges()]
    for name, node in list(nodes.items()):
        title = _TITLE.search(node.get_label() or "")
        into = [src for src, dst in edges if dst == name]
        if not title or title.group(1) not in FOLDED_LAYERS or len(into) != 1:
            continue
        head = nodes.get(into[0])
        if head is None or sum(src == into[0] for src, _ in edges) != 1:
            continue
        label, mine = head.get_label() or "", node.get_label()
        shown, output = _TITLE.search(label), _OUTPUT.search(mine)
        if not shown or not output or not _OUTPUT.search(label):
            continue
        activation = _ACTIVATION.search(mine)
        added = title.group(1)
        if activation and _ACTIVATION.search(label):
            label = _ACTIVATION.sub(f"Activation: <b>{activation.group(1)}</b>", label, count=1)
        elif activation:  # a box without an activation row (Add): named in the title
            added += f" ({activation.group(1)})"
        label = label.replace(shown.group(0), shown.group(0).replace(
            shown.group(1), f"{shown.group(1)} + {added}"), 1)
        label = _OUTPUT.sub(f"Output shape: <b>{output.group(1)}</b>", label, count=1)
        head.set_label(label)
        for src, dst in [e for e in edges if name in e]:
            dot.del_edge(src, dst)
        for dst in [dst for src, dst in edges if src == name]:
            dot.add_edge(edge_type(into[0], dst))
        dot.del_node(name)
        edges = [(e.get_source(), e.get_destination()) for e in dot.get_edges()]
        nodes.pop(name)


def model_dot(model):
    """The network as best_model.png shows it (a pydot graph, with tensor shapes and
    activations, normalisation and dropout in the box of the layer they follow; with several
    outputs, each output layer named after its head, "Dense (fine)"); pydot makes it,
    Graphviz's ``dot`` draws it."""
    dot = keras.utils.model_to_dot(model, show_shapes=True, show_layer_names=False,
                                   show_layer_activations=True, expand_nested=True,
                                   dpi=GRAPH_DPI)
    names = list(getattr(model, "output_names", None) or [])
    for name in names if len(names) > 1 else []:
        try:
            layer = model.get_layer(name)
        except ValueError:  # an output that is not a layer's own name
            continue
        for node in dot.get_node(str(id(layer))):
            kind = f"<b>{type(layer).__name__}</b>"
            node.set_label(node.get_label().replace(
                kind, f"<b>{type(layer).__name__} ({html.escape(name)})</b>", 1))
    try:
        fold_chains(dot)
    except Exception:  # a drawing aid: the graph unfolded rather than none
        logger.debug("the graph's layers were not folded", exc_info=True)
    return dot


def graph_text(model) -> str | None:
    """``model_dot`` as text (about 10 ms, 60 kB for the CIFAR-100 demo network), sent back
    with the trial: the search's drawing process then draws the best network without loading
    Keras or its backend. None where it cannot be made (no pydot, a network Keras cannot
    draw): the drawing process then builds the network again."""
    try:
        return model_dot(model).to_string()
    except Exception:
        logger.debug("no graph of the network", exc_info=True)
        return None


def model_size(model) -> dict[str, int]:
    """A built network's size: its parameters and the bytes its weights take."""
    return {"model_params": int(model.count_params()),
            "model_bytes": int(sum(np.prod(v.shape, dtype=np.int64) * np.dtype(v.dtype).itemsize
                                   for v in model.weights))}


def latency_ms(model, example: np.ndarray, calls: int = LATENCY_CALLS) -> float:
    """Batch-1 inference time of ``model`` on this process's device, in ms: the median of
    ``calls`` predictions of one example, after one that compiles and warms up (each waits for
    its result, as a deployed model's caller does)."""
    model.predict_on_batch(example)
    times = []
    for _ in range(calls):
        began = time.perf_counter()
        model.predict_on_batch(example)
        times.append(time.perf_counter() - began)
    return float(np.median(times)) * 1000.0


def check_outputs(model, info: DatasetInfo) -> None:
    """Refuse a network whose output cannot hold the data's labels (a Dense(10) under labels up
    to 12): every trial would fail with the backend's long error, so the search stops at the
    first network, in one line. One sigmoid unit for two classes is fine."""
    outputs = list(getattr(model, "outputs", None) or [])
    names = list(getattr(model, "output_names", None) or [])
    if len(outputs) == 1 and len(info.heads) == 1:
        pairs = {next(iter(info.heads)): outputs[0]}
    else:
        pairs = {name: out for name, out in zip(names, outputs) if name in info.heads}
    for head, output in pairs.items():
        units, classes = output.shape[-1], info.heads[head]
        if units is None or not (units == 1 and classes > 2 or 1 < units < classes):
            continue
        which = "" if len(info.heads) == 1 else f" of head {head!r}"
        raise LabelsError(
            f"the labels{which} go up to {classes - 1}, but the network's output has {units} "
            f"unit{'s' if units > 1 else ''} (classes 0 to {max(units - 1, 1)}): give its last "
            f"layer {classes} units (Dense({classes}, activation=\"softmax\")), or number the "
            f"classes from 0 to {max(units - 1, 1)}")


def check_budget(model, budget: TrainBudget, example: np.ndarray) -> dict[str, Any]:
    """Measure a built network against the size budget before it trains: its size always, its
    latency where a latency budget asks (only if its parameters fit). Raises ``OverBudget``."""
    measured: dict[str, Any] = model_size(model)
    if budget.max_params is not None and measured["model_params"] > budget.max_params:
        raise OverBudget(f"{measured['model_params']:,} parameters > --max-params "
                         f"{budget.max_params:,}", measured)
    if budget.max_latency_ms is not None:
        measured["latency_ms"] = round(latency_ms(model, example), 4)
        if measured["latency_ms"] > budget.max_latency_ms:
            raise OverBudget(f"{measured['latency_ms']:.3g} ms a prediction > "
                             f"--max-latency-ms {budget.max_latency_ms:g}", measured)
    return measured


def make_dataset(split: Split, batch_size: int, *, shuffle: bool, seed: int,
                 on_device: bool = False):
    """``split`` as the backend's input pipeline: a seeded shuffle per epoch, batches gathered
    and cast a batch at a time, no per-image Python (``runtime``: NumPy batches through a
    ``PyDataset`` under JAX and PyTorch, ``tf.data`` under TensorFlow, where it measured
    faster; ``on_device``: under JAX, the split kept on the accelerator)."""
    return runtime.current().input_pipeline(split, batch_size, shuffle=shuffle, seed=seed,
                                            on_device=on_device)


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


def _callbacks(objective: Objective, head_key: str, budget: TrainBudget, started: float,
               info: DatasetInfo):
    """The search's callbacks, by name; the first (``"objective"``) finds, at the first epoch's
    end, the key under which the model logs the objective and tells early stopping."""

    class ObjectiveKey(keras.callbacks.Callback):
        key = head_key

        def on_epoch_end(self, epoch, logs=None):
            if epoch > budget.initial_epoch or objective.is_default or not logs:
                return
            found = objective.history_key(logs, head_key)
            if found is None:
                logged = sorted(k for k in logs if k.startswith("val_"))
                raise TrialFailed(f"the model logs no {objective.name} on the validation data "
                                  f"(it logs {', '.join(logged) or 'nothing there'}); give "
                                  "--objective one of those, or compile the metric")
            self.key = early.monitor = found

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
            value = (logs or {}).get(key.key)
            if value is None or budget.prune is None:
                return
            self.best = max(self.best, objective.upward(float(value)))
            if budget.prune.should_stop(epoch + 1, self.best):
                self.pruned_at = epoch + 1
                self.model.stop_training = True

    early = keras.callbacks.EarlyStopping(monitor=head_key, mode=objective.direction,
                                          patience=budget.patience, restore_best_weights=True)
    key = ObjectiveKey()
    return {"objective": key, "fail_on_divergence": FailOnDivergence(), "early_stopping": early,
            "time_limit": TimeLimit(), "prune": Prune(), "clock": EpochClock()}


class EpochClock(keras.callbacks.Callback):
    """Each epoch's wall time (training and validation). The first epoch of a run also
    compiles (the training and evaluation steps): what it took beyond the median of the later
    epochs is the run's compilation time, ``compile_s``. Epoch-level hooks only: a per-batch
    hook would slow every step."""

    def __init__(self):
        super().__init__()
        self.epoch_s: list[float] = []
        self._began = None

    def on_epoch_begin(self, epoch, logs=None):
        self._began = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if self._began is not None:
            self.epoch_s.append(time.monotonic() - self._began)

    def timing(self) -> dict[str, Any]:
        out: dict[str, Any] = {"epoch_s": [round(t, 3) for t in self.epoch_s]}
        if len(self.epoch_s) >= 2:
            steady = float(np.median(self.epoch_s[1:]))
            out["compile_s"] = round(max(0.0, self.epoch_s[0] - steady), 3)
        return out


PROGRESS_EVERY_S = 1.0  # a running trial reports its batch at most this often


def _progress_callback(report: Callable[[dict[str, Any]], None], monitor: str, batch_size: int,
                       train_size: int, budget: TrainBudget, feed: Any = None):
    """A callback that tells ``report`` where training is: during an epoch every
    ``PROGRESS_EVERY_S`` (epoch, batch, images/s so far), and at each epoch's end (with the
    epoch's training images/s and validation accuracy).

    Batches are counted by a thread that asks the backend's runtime once a second how many
    steps are done (the optimizer's counter under TensorFlow; the batches ``feed`` handed out
    under JAX, which writes that counter back only at an epoch's end), not by a per-batch hook:
    training runs exactly as without it."""
    steps_done = runtime.current().steps_done

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.began = self.trained = None
            # The model itself, read here: under JAX the callback's ``model`` property syncs
            # the training state into the model, which from the watcher's thread mid-epoch
            # frees arrays the running step still uses ("Array has been deleted").
            self.trained_model = self.model
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
            return steps_done(self.trained_model, feed)

        def _watch(self):
            while not self.stop.wait(PROGRESS_EVERY_S):
                began = self.began
                if began is None or self.trained is not None:
                    continue
                try:
                    step = self._steps_done() - self.first_step
                except Exception:  # the model is being torn down
                    return
                step = min(step, self.params.get("steps") or step)
                images = min(step * batch_size, train_size)
                report(self._where(step, images / max(time.monotonic() - began, 1e-9)))

        def _where(self, step, images_per_s):
            return {"epoch": self.epoch + 1, "epochs": budget.epochs,
                    "first_epoch": budget.initial_epoch + 1, "step": step,
                    "steps": self.params.get("steps"), "images_per_s": images_per_s}

    return Progress()


def train_and_evaluate(builder: ModelBuilder, params: dict[str, Any], info: DatasetInfo,
                       train: Split, validation: Split | None, test: Split, budget: TrainBudget,
                       seed: int, accel: Accelerator, on_model: Callable | None = None,
                       on_progress: Callable[[dict[str, Any]], None] | None = None,
                       user_callbacks: list | None = None) -> TrainResult:
    """Build, train with early stopping on the validation split, evaluate the restored model.

    The test split is evaluated once, after training, for reporting only, and only when the run
    beats ``budget.test_if_loss_below`` (if set): its metrics are then absent. ``on_progress``,
    if given, hears where training is (``_progress_callback``); ``user_callbacks`` (the user's
    own) run after the search's. Without a validation split
    (``retrain``: the training and validation data together) it trains ``budget.epochs``, with
    no early stopping or pruning, and reports the test split only (``objective`` is None).
    """
    started = time.monotonic()
    keras.utils.set_random_seed(seed)
    # Every run sets the policy: the clear_session() that ends a run resets it to float32, and a
    # saved model must be continued in the policy it was saved in (its optimizer's variables).
    keras.mixed_precision.set_global_policy(accel.dtype_policy)
    progress, notes = None, []
    try:
        model, batch_size = builder(params, info, accel)
        notes = list(getattr(model, "build_notes", []))
        if budget.resume_from is not None:  # continue a saved run: its weights and optimizer
            model = keras.models.load_model(budget.resume_from)
        if accel.steps_per_execution > 1:  # read by Keras when fit() makes its train function
            model.steps_per_execution = accel.steps_per_execution
        if on_model is not None:
            on_model(model)
        check_outputs(model, info)
        size = check_budget(model, budget, train.x[:1])  # before any training
        graph = graph_text(model) if validation is not None else None
        used = trained_as(model)
        # Inference needs no gradients: larger batches than training's, same results; equal
        # batches, so that evaluation compiles one shape.
        eval_batch = max(batch_size, EVAL_BATCH_SIZE)
        val_batch = fixed_batch(len(validation), eval_batch) if validation is not None else 0
        test_batch = fixed_batch(len(test), eval_batch)
        primary = info.primary_head
        monitored = "val_" + metric_key(info, primary, "accuracy")
        objective = Objective(budget.objective, budget.direction)
        callbacks = _callbacks(objective, "val_" + metric_key(info, primary, objective.metric),
                               budget, started, info)
        time_limit, prune, clock = callbacks["time_limit"], callbacks["prune"], callbacks["clock"]
        objective_key = callbacks["objective"]
        if validation is None:  # nothing to stop early on or to compare with other trials
            del callbacks["early_stopping"], callbacks["prune"], callbacks["objective"]
        callbacks = list(callbacks.values()) + list(user_callbacks or [])
        device = accel.data_on_device
        train_batches = make_dataset(train, batch_size, shuffle=True, seed=seed, on_device=device)
        if on_progress is not None:
            progress = _progress_callback(on_progress, monitored, batch_size, len(train), budget,
                                          train_batches)
            callbacks.append(progress)
        fit = model.fit(train_batches,
                        validation_data=None if validation is None else make_dataset(
                            validation, val_batch, shuffle=False, seed=seed, on_device=device),
                        epochs=budget.epochs, initial_epoch=budget.initial_epoch,
                        callbacks=callbacks, shuffle=False, verbose=0)
        history = {k: [float(v) for v in vs] for k, vs in fit.history.items()}
        if validation is None:
            return _tested_only(model, info, history, budget, test, test_batch, seed, used,
                                time_limit.stopped, size, clock.timing())
        val_acc = history[objective_key.key]  # the objective's values, epoch by epoch
        best = objective.best_index(val_acc)
        test_logs = None
        if len(test) and (budget.test_if_loss_below is None
                          or objective.loss_of(val_acc[best]) < budget.test_if_loss_below):
            test_logs = model.evaluate(make_dataset(test, test_batch, shuffle=False, seed=seed,
                                                    on_device=device),
                                       verbose=0, return_dict=True)
        save(model, budget, size)
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
                           objective=val_acc[best], pruned_at=prune.pruned_at, trained_as=used,
                           size=size, notes=notes, timing=clock.timing(), graph=graph)
    except Exception as e:  # the builder's warnings often say why (a model training at chance)
        if notes:
            e.build_notes = notes
        raise
    finally:
        if progress is not None:
            progress.close()
        # Free the graph and its memory before the next trial: Keras' clear_session() collects
        # the garbage itself where it takes free_memory (a full collection costs a third of a
        # second in a large process; twice is once too many).
        keras.backend.clear_session()
        if not CLEAR_SESSION_COLLECTS:
            gc.collect()
        runtime.current().release()


def _tested_only(model, info: DatasetInfo, history: dict[str, list[float]],
                 budget: TrainBudget, test: Split, eval_batch: int, seed: int,
                 used: dict[str, Any], stopped_by_time: bool, size: dict[str, Any],
                 timing: dict[str, Any]) -> TrainResult:
    """A run without a validation split: its test metrics (none without test data), its model
    saved if asked."""
    save(model, budget, size)
    metrics: dict[str, dict[str, float]] = {head: {} for head in info.heads}
    if len(test):
        logs = model.evaluate(make_dataset(test, eval_batch, shuffle=False, seed=seed),
                              verbose=0, return_dict=True)
        metrics = {head: {"test_accuracy": float(logs[metric_key(info, head, "accuracy")]),
                          "test_loss": float(logs[metric_key(info, head, "loss")])}
                   for head in info.heads}
    epochs_run = budget.initial_epoch + len(history["loss"])
    return TrainResult(metrics=metrics, history=history, epochs_run=epochs_run,
                       best_epoch=epochs_run, stopped_by_time=stopped_by_time, objective=None,
                       trained_as=used, size=size, timing=timing)


def save(model, budget: TrainBudget, size: dict[str, Any]) -> None:
    """Save the trained model where the budget asks, and note the file's size."""
    if budget.save_to is not None:
        model.save(budget.save_to)
        size["model_file_bytes"] = os.path.getsize(budget.save_to)
