"""Search-space files: loading them, describing them, and carrying old trials into an edited space.

A space file (``search_spaces/*.py``) is a small Python module with:

- ``SPACE``: a nested hyperopt space (``hp.choice``, ``hp.uniform``, ...);
- ``DATASET``: a name from ``data_loaders.DATASETS``;
- ``MODEL``: a name from ``families.MODELS``;
- ``DEFAULTS``: the task's budget (``epochs``, ``validation_fraction``, ``patience``,
  ``max_train_samples``, and the size budget ``max_params``, ``max_latency_ms``,
  ``size_weight``), each overridable on the command line;
- optionally ``DEMO_POINT``: one decoded point, plotted as the demo model;
- optionally ``CALLBACKS``: Keras callbacks every trial's ``fit`` also runs (a list, or a
  function of no argument that returns a fresh list for each trial), in the process that trains;
- optionally ``START_POINTS``: decoded points (actual values, as a trial record's ``params``)
  that a search tries first, before its algorithm proposes anything, unless already tried.

Files are loaded with ``importlib`` (never ``exec``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperopt import space_eval
from hyperopt.base import Domain
from hyperopt.exceptions import DuplicateLabel
from hyperopt.pyll import Apply, as_apply

from hyperopt_nas import data_loaders, families
from hyperopt_nas.errors import SpaceFileError  # noqa: F401 (re-export)
from hyperopt_nas.options import DEFAULTS_KEYS, read_default
from hyperopt_nas.trial_store import to_jsonable

REQUIRED_NAMES = ("SPACE", "DATASET", "MODEL")  # DEFAULTS is optional
# DEFAULTS' keys: the options a space file may set (options.OPTIONS: epochs, max_params, ...)
# and two of its own.
BUDGET_KEYS = {"validation_fraction", "patience", *DEFAULTS_KEYS}
NUMERIC_TOLERANCE = 1e-9


# ---------------------------------------------------------------------------------------------
# The hyperparameters of a space, read off its pyll graph
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A hyperparameter lives only where choice ``label`` took option ``index``."""

    label: str
    index: int
    option: str  # a short readable name of that option


@dataclass
class Hyperparameter:
    """One hyperparameter of a space.

    ``label`` is hyperopt's (what ``hp.uniform("label", ...)`` says, the key of a trial's
    ``hyperopt_vals``); ``name`` is where its value lands in the decoded point, the keys joined
    by dots (``conv_blocks.1.filters``): the name every table, plot, report and TensorBoard uses,
    as a record's ``params`` read flattened."""

    label: str
    distribution: str  # choice, uniform, quniform, loguniform, qloguniform, normal, randint...
    args: tuple  # the distribution's numeric arguments (for a choice: its number of options)
    # Each tuple is one path of choices under which the parameter is drawn; it is active when
    # any path holds (a sub-space shared by several options has several paths).
    paths: list[tuple[Condition, ...]] = field(default_factory=lambda: [()])
    options: list[str] = field(default_factory=list)  # choice only: one signature per option
    option_names: list[str] = field(default_factory=list)  # choice only: readable names
    older_options: list[str] = field(default_factory=list)  # as records of earlier versions
    # name them (nested choices' options included, in order)
    name: str = ""

    def contains(self, value: Any) -> bool:
        """Whether ``value`` (as hyperopt stores it in a trial's vals) is drawable here."""
        d, a = self.distribution, self.args
        try:
            v = float(value)
        except (TypeError, ValueError):
            return False
        if d in ("choice", "randint"):
            low, high = (0, a[0]) if len(a) == 1 else (a[0], a[1])
            return v == int(v) and low <= v < high
        if d == "uniform":
            return a[0] - NUMERIC_TOLERANCE <= v <= a[1] + NUMERIC_TOLERANCE
        if d == "quniform":
            return (a[0] - a[2] / 2 - NUMERIC_TOLERANCE <= v <= a[1] + a[2] / 2 + NUMERIC_TOLERANCE
                    and _on_grid(v, a[2]))
        if d == "loguniform":
            return v > 0 and a[0] - NUMERIC_TOLERANCE <= math.log(v) <= a[1] + NUMERIC_TOLERANCE
        if d == "qloguniform":
            top = math.log(max(v - a[2] / 2, 1e-300))
            return v > 0 and _on_grid(v, a[2]) and top <= a[1] + 1e-9
        return True  # unbounded distributions (normal, lognormal, ...) contain every number

    def why_not(self, value: Any, new: bool = False) -> str:
        """Why ``value`` (not ``contains``-ed) cannot be drawn here, in a user's words: out of
        range, or in range but off a quantised distribution's step."""
        where = f"its new range {self.describe()}" if new else self.describe()
        d, a = self.distribution, self.args
        if d in ("quniform", "qloguniform"):
            try:
                v = float(value)
            except (TypeError, ValueError):
                return f"lies outside {where}"
            if not _on_grid(v, a[2]):
                return f"is not on the step {a[2]:g} grid of {where}"
        return f"lies outside {where}"

    def describe(self) -> str:
        d, a = self.distribution, self.args
        if d == "choice":
            return f"choice of {len(self.option_names)}: " + " | ".join(self.option_names)
        if d == "loguniform":
            return (f"loguniform(e^{a[0]:g}, e^{a[1]:g}) = "
                    f"[{math.exp(a[0]):.4g}, {math.exp(a[1]):.4g}]")
        if d == "quniform":  # the grid's ends (hp.Int widens hyperopt's range by half a step)
            low, high = self.grid_ends()
            return f"quniform({low:g}, {high:g}, {a[2]:g})"
        return f"{d}({', '.join(f'{x:g}' for x in a)})"

    def _grid(self) -> tuple[int, int, float]:
        """A quniform's values as steps: the first and last multiple of its step it draws
        (its range's ends rounded to the step), and the step."""
        low, high, q = self.args[:3]
        return int(round(low / q)), int(round(high / q)), q

    def grid_ends(self) -> tuple[float, float]:
        """A quniform's lowest and highest values."""
        first, last, q = self._grid()
        return first * q + 0.0, last * q + 0.0

    def values(self) -> list[Any] | None:
        """Every value hyperopt can store for this parameter, or None if it is continuous."""
        d, a = self.distribution, self.args
        if d == "choice":
            return list(range(int(a[0])))
        if d == "randint":
            low, high = (0, a[0]) if len(a) == 1 else (a[0], a[1])
            return list(range(int(low), int(high)))
        if d == "quniform":
            first, last, q = self._grid()
            return [k * q + 0.0 for k in range(first, last + 1)]
        return None

    def n_values(self) -> int | None:
        """Number of distinct values, or None where the distribution is continuous."""
        d, a = self.distribution, self.args
        if d == "choice":
            return int(a[0])
        if d == "randint":
            return int(a[0]) if len(a) == 1 else int(a[1] - a[0])
        if d == "quniform":
            first, last, _ = self._grid()
            return last - first + 1
        return None


def _on_grid(v: float, q: float) -> bool:
    return abs(v / q - round(v / q)) < 1e-6


def _literal_args(node: Apply) -> tuple:
    values = []
    for arg in node.pos_args:
        if arg.name != "literal":
            raise SpaceFileError(f"a distribution's arguments must be numbers, got {arg.name}")
        values.append(arg.obj)
    values += [arg.obj for _, arg in node.named_args if arg.name == "literal"]
    return tuple(values)


def signature(node: Apply, with_ranges: bool = False, nested_options: bool = False) -> str:
    """A canonical text for a pyll sub-graph.

    Without ranges, a hyperparameter is written by its label alone, and so is a choice nested in
    it (its options are matched on their own, label by label): the signature of a choice's option
    then names *what* the option is, so it survives edits to numeric ranges inside it and a new
    order of the options of a choice nested in it. ``nested_options`` gives the form records
    written before that carry (nested options in their order).
    """
    if node.name == "literal":
        return repr(node.obj)
    if (node.name == "switch" and not with_ranges and not nested_options
            and node.pos_args[0].name == "hyperopt_param"):
        return f"choice(${node.pos_args[0].pos_args[0].obj})"
    if node.name == "hyperopt_param":
        label = node.pos_args[0].obj
        if not with_ranges:
            return f"${label}"
        return f"${label}~{signature(node.pos_args[1], True)}"
    parts = [signature(a, with_ranges, nested_options) for a in node.pos_args]
    parts += [f"{k}={signature(v, with_ranges, nested_options)}"
              for k, v in sorted(node.named_args)]
    return f"{node.name}({', '.join(parts)})"


def _short_name(option: Apply) -> str:
    if option.name == "literal":
        return repr(option.obj) if isinstance(option.obj, str) else str(option.obj)
    if option.name == "dict":
        return "{" + ", ".join(k for k, _ in option.named_args) + "}"
    if option.name == "pos_args":
        return f"[{len(option.pos_args)} items]"
    if option.name == "switch" and option.pos_args[0].name == "hyperopt_param":
        return f"choice {option.pos_args[0].pos_args[0].obj!r}"
    return option.name


def catalog(space: Any) -> dict[str, Hyperparameter]:
    """Every hyperparameter of ``space``, in order of appearance, with the choices it is under
    and its name (its place in the decoded point)."""
    found: dict[str, Hyperparameter] = {}

    def walk(node: Apply, conditions: tuple[Condition, ...], where: str) -> None:
        if node.name == "switch":
            selector = node.pos_args[0]
            param = visit_param(selector, conditions, where)
            options = node.pos_args[1:]
            if param is not None and param.distribution == "choice":
                param.options = [signature(o) for o in options]
                param.older_options = [signature(o, nested_options=True) for o in options]
                param.option_names = [_short_name(o) for o in options]
            for i, option in enumerate(options):
                label = selector.pos_args[0].obj if selector.name == "hyperopt_param" else "?"
                walk(option, conditions + (Condition(label, i, _short_name(option)),), where)
            return
        if node.name == "hyperopt_param":
            visit_param(node, conditions, where)
            return
        if node.name == "dict":  # a key of the decoded point
            for key, arg in node.named_args:
                walk(arg, conditions, f"{where}.{key}" if where else str(key))
            return
        if node.name == "pos_args":  # a list: its items by index
            for i, arg in enumerate(node.pos_args):
                walk(arg, conditions, f"{where}.{i}" if where else str(i))
            return
        for arg in node.pos_args:
            walk(arg, conditions, where)
        for _, arg in node.named_args:
            walk(arg, conditions, where)

    def visit_param(node: Apply, conditions: tuple[Condition, ...],
                    where: str) -> Hyperparameter | None:
        if node.name != "hyperopt_param":
            walk(node, conditions, where)
            return None
        label = node.pos_args[0].obj
        dist = node.pos_args[1]
        if label in found:
            param = found[label]
            if () not in param.paths and conditions not in param.paths:
                param.paths.append(conditions)
            return param
        name = "choice" if dist.name == "randint" and node in switch_selectors else dist.name
        param = Hyperparameter(label, name, _literal_args(dist), [conditions], name=where)
        found[label] = param
        return param

    expr = as_apply(space)
    switch_selectors = {n.pos_args[0] for n in _all_nodes(expr) if n.name == "switch"}
    walk(expr, (), "")
    _unique_names(found)
    return found


def _unique_names(params: dict[str, Hyperparameter]) -> None:
    """Make every name unique: where several hyperparameters land in one place (a choice and a
    parameter as one of its options, two parameters in one expression or in two options of a
    choice), the first (in order of appearance) keeps the name and the others are named
    ``place (label)``; a space that is not a dict names its root by its label."""
    taken: set[str] = set()
    for p in params.values():
        if not p.name:
            p.name = p.label
        elif p.name in taken:
            p.name = f"{p.name} ({p.label})"
        taken.add(p.name)


def _all_nodes(expr: Apply) -> list[Apply]:
    seen, stack, out = set(), [expr], []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        out.append(node)
        stack.extend(node.pos_args)
        stack.extend(v for _, v in node.named_args)
    return out


def fingerprint(space: Any) -> str:
    """A short hash of the whole space, ranges included: any edit that matters changes it."""
    text = signature(as_apply(space), with_ranges=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def point_vals(space: Any, point: Any) -> tuple[dict[str, Any] | None, str]:
    """hyperopt's vals (``{label: value or option index}``) of a decoded point of ``space``.

    Walks the space's graph along the point: a choice takes the first option the rest of the
    point fits, a drawn number the point's value. Returns None and the reason where the point
    does not fit (or goes through an expression that cannot be read backwards).
    """
    def match(node: Apply, value: Any, vals: dict[str, Any], where: str) -> str:
        if node.name == "literal":
            return "" if same_point(to_jsonable(node.obj), to_jsonable(value)) else \
                f"{where} is {value!r}, the space has {node.obj!r} there"
        if node.name == "dict":
            if not isinstance(value, dict) or set(value) != {k for k, _ in node.named_args}:
                return f"{where} should be a dict with keys {sorted(k for k, _ in node.named_args)}"
            for key, arg in node.named_args:
                why = match(arg, value[key], vals, f"{where}[{key!r}]")
                if why:
                    return why
            return ""
        if node.name == "pos_args":
            if not isinstance(value, (list, tuple)) or len(value) != len(node.pos_args):
                return f"{where} should be a list of {len(node.pos_args)} items"
            for i, arg in enumerate(node.pos_args):
                why = match(arg, value[i], vals, f"{where}[{i}]")
                if why:
                    return why
            return ""
        if node.name == "switch" and node.pos_args[0].name == "hyperopt_param":
            label = node.pos_args[0].pos_args[0].obj
            reasons = []
            for i, option in enumerate(node.pos_args[1:]):
                trial_vals = {**vals, label: i}
                why = match(option, value, trial_vals, where)
                if not why:
                    vals.update(trial_vals)
                    return ""
                reasons.append(why)
            return f"no option of {label!r} fits ({'; '.join(reasons)})"
        if node.name in ("float", "int") and len(node.pos_args) == 1:
            return match(node.pos_args[0], value, vals, where)
        if node.name == "hyperopt_param":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{where} should be a number for {node.pos_args[0].obj!r}"
            vals[node.pos_args[0].obj] = value
            return ""
        return f"{where} comes from an expression ({node.name}) that cannot be read backwards"

    vals: dict[str, Any] = {}
    why = match(as_apply(space), point, vals, "the point")
    return (None, why) if why else (vals, "")


def active_labels(params: dict[str, Hyperparameter], vals: dict[str, Any]) -> set[str]:
    """The labels that a point with these choice values draws."""
    return {label for label, p in params.items()
            if any(all(vals.get(c.label) == c.index for c in path) for path in p.paths)}


class TooManyCombinations(ValueError):
    pass


def discrete_points(params: dict[str, Hyperparameter], cap: int) -> list[dict[str, Any]]:
    """Every distinct point of a fully discrete space, as hyperopt vals, in a fixed order.

    A parameter counts only where its choices make it active, so nested spaces are counted
    exactly. Raises ValueError naming the continuous parameters, TooManyCombinations past ``cap``.
    """
    continuous = [f"{p.name} ({p.distribution})" for p in params.values() if p.values() is None]
    if continuous:
        raise ValueError(f"not fully discrete; continuous: {', '.join(continuous)}")
    labels = list(params)  # a choice comes before the parameters nested in its options
    points: list[dict[str, Any]] = []

    def extend(i: int, vals: dict[str, Any]) -> None:
        if i == len(labels):
            points.append(dict(vals))
            if len(points) > cap:
                raise TooManyCombinations(f"more than {cap:,} combinations")
            return
        param = params[labels[i]]
        if labels[i] not in active_labels({labels[i]: param}, vals):
            extend(i + 1, vals)
            return
        for value in param.values():
            vals[labels[i]] = value
            extend(i + 1, vals)
            del vals[labels[i]]

    extend(0, {})
    return points


def _name_of(params: dict[str, Hyperparameter], label: str) -> str:
    return params[label].name if label in params else label


def describe_space(space_file: "SpaceFile", cap: int = 1_000_000) -> str:
    """A table of every hyperparameter: distribution, range or choices, and where it lives."""
    lines = [f"{space_file.path}: dataset {space_file.dataset}, model {space_file.model}, "
             f"{len(space_file.params)} hyperparameters", ""]
    params = space_file.params
    width = max(len(p.name) for p in params.values())
    for p in params.values():
        where = " or ".join(" and ".join(f"{_name_of(params, c.label)}={c.option}" for c in path)
                            for path in p.paths if path)
        condition = f"   [only if {where}]" if where else ""
        lines.append(f"  {p.name:<{width}}  {p.describe()}" + condition)
    try:
        count = f"{len(discrete_points(space_file.params, cap)):,} distinct combinations"
    except TooManyCombinations as e:
        count = str(e)
    except ValueError:
        count = "infinitely many combinations (some hyperparameters are continuous)"
    lines += ["", f"Budget defaults: {space_file.defaults}", count + "."]
    return "\n".join(lines)


def first_difference(trained: Any, now: Any, where: str = "") -> str:
    """Where two decoded points first differ, as ``key: trained -> now``."""
    if isinstance(trained, dict) and isinstance(now, dict):
        for key in sorted(set(trained) | set(now), key=str):
            place = f"{where}.{key}" if where else str(key)
            if key not in trained or key not in now:
                return f"{place}: only in {'the trial' if key in trained else 'this space'}"
            if not same_point(trained[key], now[key]):
                return first_difference(trained[key], now[key], place)
    if (isinstance(trained, (list, tuple)) and isinstance(now, (list, tuple))
            and len(trained) == len(now)):
        for i, (a, b) in enumerate(zip(trained, now)):
            if not same_point(a, b):
                return first_difference(a, b, f"{where}.{i}" if where else str(i))
    return f"{where or 'the point'}: {trained!r} trained, {now!r} here"


def same_point(a: Any, b: Any) -> bool:
    """Equality of two decoded points, allowing float rounding from a JSON round trip."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_point(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_point(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


# ---------------------------------------------------------------------------------------------
# Space files
# ---------------------------------------------------------------------------------------------


@dataclass
class SpaceFile:
    path: Path
    space: Any
    dataset: str
    model: str
    defaults: dict[str, Any]
    demo_point: dict[str, Any] | None
    params: dict[str, Hyperparameter]
    fingerprint: str
    module_name: str = ""  # the name the file was imported under (in sys.modules)
    start_vals: list[dict[str, Any]] = field(default_factory=list)  # START_POINTS, as vals
    load_data: Any = None  # the file's own load_data(), instead of a built-in DATASET
    build_model: Any = None  # the file's own build_model(), instead of a built-in MODEL
    class_names: Any = None  # CLASS_NAMES: a list, or {head: list}
    callbacks: Any = None  # CALLBACKS: Keras callbacks, or a function that returns them

    @property
    def own_data(self) -> bool:
        return self.load_data is not None

    @property
    def runs_own_code(self) -> bool:
        """Whether trials need the file itself: its own data, model or callbacks."""
        return (self.load_data is not None or self.build_model is not None
                or self.callbacks is not None)

    def load(self, data_dir: Path | None = None):
        """The dataset: the file's own, or the built-in DATASET (from ``data_dir``)."""
        if self.load_data is not None:
            dataset = data_loaders.custom_dataset(self.load_data, self.dataset, self.class_names)
            if self.build_model is None and self.model in families.CONV_MODELS:
                data_loaders.check_images(dataset, f"load_data() for MODEL {self.model!r}")
            return dataset
        return data_loaders.load_dataset(self.dataset, data_dir)

    @property
    def name(self) -> str:
        return self.path.name

    def decode(self, vals: dict[str, Any]) -> dict[str, Any]:
        """The decoded point (actual values) of hyperopt vals ``{label: value or index}``."""
        return to_jsonable(space_eval(self.space, vals))

    def choice_options(self, vals: dict[str, Any]) -> dict[str, str]:
        """For each choice a point took, the signature of the option it took."""
        return {label: self.params[label].options[int(v)] for label, v in vals.items()
                if label in self.params and self.params[label].distribution == "choice"}

    def encode(self, vals: dict[str, Any], choice_options: dict[str, str],
               decoded: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """Carry a point recorded in (perhaps) another version of this space into this one.

        Returns the point's vals in this space, or None and the reason it no longer fits. A point
        fits only if every value it took is still drawable and decoding it here gives back
        exactly the values it was trained with, so an option index that now points elsewhere
        can never be misread.
        """
        new_vals, why = self._encode_by_labels(vals, choice_options, decoded)
        if new_vals is not None:
            return new_vals, ""
        # By its values instead: a choice made a constant, a label renamed, a hyperparameter
        # gone whose value the space now fixes. The point fits if this space can draw exactly
        # the values it was trained with.
        by_value, _ = point_vals(self.space, decoded)
        if by_value is not None and all(
                label in self.params and (self.params[label].distribution == "choice"
                                          or self.params[label].contains(value))
                for label, value in by_value.items()):
            try:
                if same_point(self.decode(by_value), decoded):
                    return by_value, ""
            except Exception:  # noqa: BLE001 - any failure to evaluate: it does not fit
                pass
        return None, why

    def _encode_by_labels(self, vals: dict[str, Any], choice_options: dict[str, str],
                          decoded: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """``encode`` label by label: each recorded value, under its label, in this space."""
        new_vals: dict[str, Any] = {}
        gone = [label for label in vals if label not in self.params]
        if gone:  # every one named: a renamed label is among them, whichever comes first
            return None, (f"hyperparameter{'s' if len(gone) > 1 else ''} "
                          f"{', '.join(repr(label) for label in gone)} "
                          f"{'are' if len(gone) > 1 else 'is'} no longer in the space")
        for label, value in vals.items():
            param = self.params[label]
            if param.distribution == "choice":
                wanted = choice_options.get(label)
                if wanted in param.options:
                    new_vals[label] = param.options.index(wanted)
                elif wanted in param.older_options:
                    new_vals[label] = param.older_options.index(wanted)
                else:
                    return None, f"the option it took for {label!r} is no longer offered"
            elif param.contains(value):
                new_vals[label] = value
            else:
                return None, f"{label}={value!r} {param.why_not(value, new=True)}"
        active = active_labels(self.params, new_vals)
        missing = active - new_vals.keys()
        if missing:
            return None, f"new hyperparameters it has no value for: {sorted(missing)}"
        try:
            redecoded = self.decode(new_vals)
        except Exception as e:  # a space edit can break evaluation in many ways
            return None, f"it no longer evaluates in this space ({type(e).__name__}: {e})"
        if not same_point(redecoded, decoded):
            return None, (f"it decodes to other values in this space "
                          f"({first_difference(decoded, redecoded)})")
        return new_vals, ""


_LEAF = object()  # a value the key check does not look into (a number, a string...)


def _alternatives(node: Any):
    """What ``node`` may evaluate to, one level down: each option of a choice, the dict or list
    a node builds, or ``_LEAF``."""
    if isinstance(node, Apply):
        if node.name == "switch":
            for option in node.pos_args[1:]:
                yield from _alternatives(option)
        elif node.name == "literal":
            yield node.obj
        elif node.name in ("dict", "pos_args"):
            yield node
        else:
            yield _LEAF
    else:
        yield node


def _dict_items(value: Any) -> list | None:
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, Apply) and value.name == "dict":
        return list(value.named_args)
    return None


def _list_items(value: Any) -> list | None:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, Apply) and value.name == "pos_args":
        return list(value.pos_args)
    return None


def unknown_keys(node: Any, schema: Any, path: str = "") -> list[tuple[str, list[str]]]:
    """Keys of ``node`` (a space, or part of one) that ``schema`` does not know, with the keys it
    knows there: ``[("hidden_layers[].dropotu", ["activation", "dropout", ...]), ...]``."""
    if schema is None:
        return []
    found: list[tuple[str, list[str]]] = []
    for value in _alternatives(node):
        if isinstance(schema, tuple):  # layers: nested lists, None, dicts of schema[1]'s keys
            items = _list_items(value)
            for item in items or []:
                for alt in _alternatives(item):
                    if _list_items(alt) is not None:
                        found += unknown_keys(alt, schema, path)
                    elif _dict_items(alt) is not None:
                        found += unknown_keys(alt, schema[1], f"{path.rstrip('.')}[].")
            continue
        items = _dict_items(value)
        if items is None:
            continue
        known = schema if isinstance(schema, (set, frozenset)) else set(schema)
        for key, child in items:
            if key not in known:
                found.append((f"{path}{key}", sorted(known)))
            elif isinstance(schema, dict):
                found += unknown_keys(child, schema[key], f"{path}{key}.")
    return found


def check_defaults(defaults: dict[str, Any], path: Path) -> dict[str, Any]:
    """DEFAULTS' values, the budget of every trial, checked before anything is written: an
    option's as the command line reads it (``"50k"`` parameters too; None: not set), and
    ``patience`` and ``validation_fraction``. Returns them as read."""
    read = {}
    for key, value in defaults.items():
        if key in DEFAULTS_KEYS:
            if value is None:
                continue
            try:
                value = read_default(key, value)
            except ValueError as e:
                raise SpaceFileError(f"{path}: DEFAULTS[{key!r}] {e} (or None: not set).") \
                    from None
        read[key] = value
    patience = defaults.get("patience", 1)
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise SpaceFileError(f"{path}: DEFAULTS['patience'] must be a whole number of at least "
                             f"1, got {patience!r}.")
    fraction = defaults.get("validation_fraction", 0.1)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
            or not 0 < fraction < 1:
        raise SpaceFileError(f"{path}: DEFAULTS['validation_fraction'] must be a number between "
                             f"0 and 1 (e.g. 0.1), got {fraction!r}.")
    return read


def load_space_file(path: str | Path) -> SpaceFile:
    """Import a space file and check that it holds what a search needs."""
    path = Path(path)
    if not path.is_file():
        here = Path(__file__).resolve().parent.parent / "search_spaces"
        choices = ", ".join(sorted(p.name for p in here.glob("*.py") if p.name != "__init__.py"))
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise SpaceFileError(f"space file {path} {what}; give a .py file such as the shipped "
                             f"ones in {here}: {choices}.")
    module_name = f"_search_space_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SpaceFileError(f"{path} cannot be imported as a Python file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # pickling the space's functions needs the module
    try:
        spec.loader.exec_module(module)
    except SystemExit as e:  # sys.exit() or exit() in the file: it must not end the tool
        sys.modules.pop(module_name, None)
        raise SpaceFileError(f"{path} called exit({e.code if e.code is not None else ''}) while "
                             "loading; a space file defines SPACE and the rest, it does not "
                             "stop the program.") from None
    except Exception as e:
        sys.modules.pop(module_name, None)
        raise SpaceFileError(f"{path} failed to import: {type(e).__name__}: {e}") from e
    own = {name: getattr(module, function, None)
           for name, function in (("DATASET", "load_data"), ("MODEL", "build_model"))}
    missing = [name for name in REQUIRED_NAMES
               if not hasattr(module, name) and own.get(name) is None]
    if missing:
        raise SpaceFileError(f"{path} must define {', '.join(REQUIRED_NAMES)} (or load_data() "
                             f"instead of DATASET, build_model() instead of MODEL); missing: "
                             f"{', '.join(missing)}. See search_spaces/cifar100.py, or "
                             "search_spaces/own_data_and_model.py for your own data and model.")
    for name, function in (("DATASET", "load_data"), ("MODEL", "build_model")):
        if own[name] is not None:
            if not callable(own[name]):
                raise SpaceFileError(f"{path}: {function} must be a function.")
            if hasattr(module, name):
                raise SpaceFileError(f"{path} defines both {name} and {function}(): keep one "
                                     f"({name} names a built-in one, {function}() is your own).")
        elif not isinstance(getattr(module, name), str):
            raise SpaceFileError(f"{path}: {name} must be a name in quotes, got "
                                 f"{getattr(module, name)!r}.")
    dataset = (data_loaders.CUSTOM_PREFIX + path.stem if own["DATASET"] is not None
               else module.DATASET)
    model = data_loaders.CUSTOM_MODEL if own["MODEL"] is not None else module.MODEL
    if own["DATASET"] is None and dataset not in data_loaders.DATASETS:
        raise SpaceFileError(f"{path}: DATASET {module.DATASET!r} is not one of "
                             f"{sorted(data_loaders.DATASETS)}.")
    if own["MODEL"] is None and model not in families.MODELS:
        raise SpaceFileError(f"{path}: MODEL {module.MODEL!r} is not one of "
                             f"{sorted(families.MODELS)}.")
    unknown = unknown_keys(module.SPACE, families.MODEL_KEYS.get(model))
    if unknown:
        key, known = unknown[0]
        raise SpaceFileError(f"{path}: SPACE has the key {key!r}, which the {model} model "
                             f"does not read (it would be ignored); it reads there: "
                             f"{', '.join(known)}. Fix the spelling or remove the key.")
    if not isinstance(getattr(module, "DEFAULTS", {}), dict):
        raise SpaceFileError(f"{path}: DEFAULTS must be a dict such as {{\"epochs\": 10}}, got "
                             f"{type(module.DEFAULTS).__name__}.")
    defaults = dict(getattr(module, "DEFAULTS", {}))
    unknown = set(defaults) - BUDGET_KEYS
    if unknown:
        raise SpaceFileError(f"{path}: DEFAULTS has unknown keys {sorted(unknown)}; allowed: "
                             f"{sorted(BUDGET_KEYS)}.")
    defaults = check_defaults(defaults, path)
    try:
        params = catalog(module.SPACE)
    except SpaceFileError as e:
        raise SpaceFileError(f"{path}: SPACE is not a hyperopt space: {e}") from e
    if not params:
        raise SpaceFileError(f"{path}: SPACE has no hyperparameter (no hp.* expression).")
    try:
        Domain(lambda point: None, module.SPACE)
    except DuplicateLabel as e:
        raise SpaceFileError(f"{path}: the label {e} is given to two hyperparameters of SPACE; "
                             "each hp.* expression needs a label of its own.") from e
    space_file = SpaceFile(path=path, space=module.SPACE, dataset=dataset,
                           model=model, defaults=defaults,
                           demo_point=getattr(module, "DEMO_POINT", None), params=params,
                           fingerprint=fingerprint(module.SPACE), module_name=module_name,
                           load_data=own["DATASET"], build_model=own["MODEL"],
                           class_names=getattr(module, "CLASS_NAMES", None),
                           callbacks=_callbacks(module, path))
    space_file.start_vals = _start_vals(space_file, getattr(module, "START_POINTS", []))
    return space_file


def _callbacks(module: Any, path: Path) -> Any:
    """CALLBACKS, if the file has any: a list (or tuple) of callbacks, or a function."""
    callbacks = getattr(module, "CALLBACKS", None)
    if callbacks is None or callable(callbacks):
        return callbacks
    if not isinstance(callbacks, (list, tuple)) or not all(
            hasattr(c, "set_model") for c in callbacks):
        raise SpaceFileError(f"{path}: CALLBACKS must be a list of Keras callbacks "
                             "(keras.callbacks.Callback), or a function that returns one, got "
                             f"{callbacks!r}.")
    return list(callbacks)


def _start_vals(space_file: SpaceFile, points: Any) -> list[dict[str, Any]]:
    """The vals of the file's START_POINTS, each checked to lie in the space and decode back."""
    if not isinstance(points, (list, tuple)):
        raise SpaceFileError(f"{space_file.path}: START_POINTS must be a list of points (dicts "
                             f"of actual values, like a trial record's params), got "
                             f"{type(points).__name__}.")
    out = []
    for i, point in enumerate(points):
        vals, why = point_vals(space_file.space, point)
        if vals is not None:
            outside = [f"{k}={v!r} {space_file.params[k].why_not(v)}"
                       for k, v in vals.items() if not space_file.params[k].contains(v)]
            why = "; ".join(outside)
            if not why and not same_point(space_file.decode(vals), to_jsonable(point)):
                why = "it decodes to other values"
        if why:
            raise SpaceFileError(f"{space_file.path}: START_POINTS[{i}] is not a point of SPACE: "
                                 f"{why}. Give actual values, as in a trial record's params.")
        out.append(vals)
    return out
