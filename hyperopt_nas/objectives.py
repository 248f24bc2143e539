"""What a search selects on (``--objective``, ``search(objective=...)``): a metric the model logs on
the validation data, and whether higher or lower is better.

The default, ``val_accuracy`` of the primary head, is what every record before this option held.
Any other name the model logs on the validation data works (``val_loss``, ``val_auc``, a metric
of the user's compile), with its direction given or inferred from its name (losses and errors:
lower; accuracies, AUC, precision, recall, F1: higher). Selection, ranking, TPE, pruning, ASHA,
Hyperband, the kept networks and the report all read it through one number per trial, the
record's ``loss`` (lower is better):

- ``val_accuracy``: 1 - accuracy (as always);
- any other metric: its best value where lower is better, minus it where higher is.

``score`` is the metric itself (accuracy, or the loss the user chose to minimise). A record says
which objective it was made under (``budget["objective"]``, ``budget["direction"]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

DEFAULT = "val_accuracy"
DIRECTIONS = ("max", "min")
LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "crossentropy")
HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall", "f1", "iou", "top")


@dataclass(frozen=True)
class Objective:
    name: str = DEFAULT
    direction: str = "max"

    @classmethod
    def parse(cls, name: str | None, direction: str | None = None) -> "Objective":
        """The objective a user asked for; raises ValueError with what to write instead."""
        name = DEFAULT if name is None else str(name).strip()
        if not name.startswith("val_") or name == "val_":
            raise ValueError(
                f"the objective must be a metric of the validation data, named as Keras logs it "
                f"(val_accuracy, val_loss, val_<metric>), got {name!r}: models are selected on "
                "validation data, never on training or test data.")
        if direction is not None and direction not in DIRECTIONS:
            raise ValueError(f"the objective's direction must be 'max' or 'min', got "
                             f"{direction!r}.")
        inferred = infer_direction(name)
        if direction is None and inferred is None:
            raise ValueError(f"cannot tell whether a higher or lower {name} is better; give its "
                             "direction (--direction max|min, direction=\"max\"|\"min\").")
        return cls(name, direction or inferred)

    @classmethod
    def of(cls, budget: dict[str, Any] | None) -> "Objective":
        """A record's (its budget's) objective; records from before the option: the default."""
        budget = budget or {}
        return cls(budget.get("objective") or DEFAULT, budget.get("direction") or "max")

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT and self.direction == "max"

    @property
    def metric(self) -> str:
        """The metric's name without ``val_``: ``accuracy``, ``loss``..."""
        return self.name[len("val_"):]

    @property
    def words(self) -> str:
        """The score in words: "validation accuracy", or the objective's own name."""
        return "validation accuracy" if self.is_default else self.name

    @property
    def better(self) -> str:
        """Which way is better, in words: "higher" or "lower"."""
        return "higher" if self.direction == "max" else "lower"

    @property
    def label(self) -> str:
        """How tables and the console name it."""
        return "val acc" if self.is_default else self.name

    def loss_of(self, value: float) -> float:
        """The loss a search minimises for a trial whose best validation value is ``value``."""
        if self.is_default:
            return 1.0 - value
        return value if self.direction == "min" else -value

    def value_of(self, loss: float) -> float:
        if self.is_default:
            return 1.0 - loss
        return loss if self.direction == "min" else -loss

    def upward(self, value: float) -> float:
        """``value`` as a number where higher is better (pruning compares those)."""
        return value if self.direction == "max" else -value

    def best_index(self, values: list[float]) -> int:
        """The epoch (0-based) with the best value; the earliest on a tie."""
        chosen = max if self.direction == "max" else min
        return values.index(chosen(values))

    def history_key(self, keys: Iterable[str], head_key: str) -> str | None:
        """Where it is in a Keras history (or an epoch's logs): its own name (the whole model's
        ``val_loss``, a metric of a one-output model), else the primary head's
        (``head_key``: ``val_<head>_<metric>``)."""
        keys = set(keys)
        for key in (self.name, head_key):
            if key in keys:
                return key
        return None


def infer_direction(name: str) -> str | None:
    lowered = name.lower()
    if any(word in lowered for word in LOWER_IS_BETTER):
        return "min"
    if any(word in lowered for word in HIGHER_IS_BETTER):
        return "max"
    return None
