"""The Python API over data in memory: ``search(space_dict, build_model=..., x=..., y=...)``, as a
notebook (or a script, or code on standard input) calls it.

A search reads a space file, and its trial workers load that file; for data in memory one is
written for the caller in ``<results_dir>/notebook/``:

- ``notebook_space.py``: always the same text; it reads the rest of the folder;
- ``space.pkl``: the space and the budget's defaults; ``code.pkl``: the build function and the
  callbacks, pickled with cloudpickle so that a function defined in a notebook or on standard
  input reaches the workers by value (nothing imports the caller's ``__main__``); it is read
  only in the process that trains, so the search's own process imports no Keras for it;
- ``<part>_x.npy`` / ``<part>_y[.<head>].npy`` for ``train``, ``val`` and ``test``: the arrays,
  memory-mapped by the workers (written once per fingerprint);
- ``arrays.json``: the arrays' fingerprint. A relaunch with the same arrays continues the
  search (its records, resume, an edited space); with other arrays it is refused;
- ``about.json``: the caller's own names (its build function's), which the report shows in
  place of the generated file's.

Everything the command line offers then works on the folder: ``rank``, ``report``, ``retrain``,
``load_model``. The trials train on this machine: a Spark executor elsewhere cannot read the
folder unless it is shared at the same path.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hyperopt_nas.trial_store import RECORD_GLOB, atomic_write

FOLDER = "notebook"
SPACE_FILE = "notebook_space.py"
SPACE_PICKLE = "space.pkl"
CODE_PICKLE = "code.pkl"
FINGERPRINT = "arrays.json"
ABOUT = "about.json"
PARTS = ("train", "val", "test")

SPACE_TEXT = '''"""Written by hyperopt_nas.search() for a search over data in memory: the space,
the build function, the callbacks and the arrays it was given are kept beside this file. Call
search() again with another space to edit the search; this file stays as it is."""
from hyperopt_nas import notebook as _notebook

_given = _notebook.Given(__file__)
SPACE = _given.space
DEFAULTS = _given.defaults


def load_data():
    return _given.load_data()


def build_model(params, input_shape, classes):
    return _given.build_model(params, input_shape, classes)


def CALLBACKS():
    return _given.callbacks()
'''


class Given:
    """What ``search()`` was given, read back from the folder of a generated space file."""

    def __init__(self, space_file: str | Path):
        self.folder = Path(space_file).resolve().parent
        if not (self.folder / SPACE_PICKLE).is_file():
            raise FileNotFoundError(
                f"{self.folder / SPACE_PICKLE} is missing: a search over data in memory reads "
                "its space, code and arrays from its results folder, on this machine (Spark "
                "executors elsewhere need the folder shared at the same path).")
        saved = _load_pickle(self.folder / SPACE_PICKLE)
        self.space, self.defaults = saved["space"], saved["defaults"]

    def _read_code(self) -> dict[str, Any]:
        """The build function and callbacks as the latest ``search()`` call gave them, read for
        each trial: a process that keeps this file loaded (a notebook searching with
        ``isolation="none"``, then again with another build function) never uses stale code."""
        return _load_pickle(self.folder / CODE_PICKLE)

    def load_data(self) -> tuple:
        layout = json.loads((self.folder / FINGERPRINT).read_text())["layout"]

        def array(name: str) -> np.ndarray:
            return np.load(self.folder / name, mmap_mode="r")
        parts = []
        for part in PARTS:
            if part not in layout:
                continue
            files = layout[part]
            y = files["y"]
            parts.append((array(files["x"]),
                          {h: array(n) for h, n in y.items()} if isinstance(y, dict)
                          else array(y)))
        return tuple(parts)

    def build_model(self, params: dict[str, Any], input_shape: tuple, classes: Any):
        build = self._read_code()["build_model"]
        if _positional(build) >= 3:
            return build(params, input_shape, classes)
        return build(params)

    def callbacks(self) -> list:
        """A fresh copy of the callbacks for each trial (a callback keeps state)."""
        return list(self._read_code()["callbacks"] or [])


def _load_pickle(path: Path) -> Any:
    import cloudpickle
    with open(path, "rb") as f:
        return cloudpickle.load(f)


def _positional(function: Callable) -> int:
    """How many positional arguments a function takes (3 for ``*args``)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return 1
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return 3
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def _pair(value: Any, name: str) -> tuple[Any, Any]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"search(): {name} must be a pair (x, y) of arrays, got "
                         f"{type(value).__name__}.")
    return value[0], value[1]


def _arrays(part: str, x: Any, y: Any) -> dict[str, np.ndarray]:
    """One part's arrays by file name; y is an array of labels or a dict of them per head."""
    which = {"train": "x, y", "val": "validation_data", "test": "test_data"}[part]
    x = np.asarray(x)
    if x.ndim < 2 or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"search(): {which}: x must be a numeric array with one row per "
                         f"example, got {x.dtype} with shape {x.shape}.")
    if np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x).all(axis=tuple(range(1, x.ndim)))  # per row
        if bad.any():
            raise ValueError(f"search(): {which}: x holds NaN or infinite values in "
                             f"{int(bad.sum())} of its {len(x)} rows (the first: row "
                             f"{int(np.argmax(bad))}); every network would train on them and "
                             "learn nothing. Remove or impute them first.")
    out = {f"{part}_x.npy": x}
    heads = y if isinstance(y, dict) else {None: y}
    for head, labels in heads.items():
        named = "y" if head is None else f"y[{head!r}]"
        labels = _class_indices(np.asarray(labels), f"search(): {which}: {named}")
        if len(labels) != len(x):
            raise ValueError(f"search(): {which}: x has {len(x)} rows but {named} has "
                             f"{len(labels)} labels; they must match.")
        if np.issubdtype(labels.dtype, np.number) and labels.size and labels.min() < 0:
            raise ValueError(f"search(): {which}: {named} holds the label "
                             f"{labels.min():g}; class labels are 0, 1, 2, ... (one per "
                             "output unit of the network).")
        out[f"{part}_y.npy" if head is None else f"{part}_y.{head}.npy"] = labels
    return out


def _class_indices(labels: np.ndarray, where: str) -> np.ndarray:
    """Labels as class indices: one-hot rows (``keras.utils.to_categorical``) become the index
    of their 1 (the search trains on indices, and a categorical loss on them is made sparse:
    the same values); a column of labels becomes a vector."""
    if labels.ndim == 2 and labels.shape[1] == 1:
        return labels[:, 0]
    if labels.ndim != 2:
        return labels
    if not np.issubdtype(labels.dtype, np.number):
        raise ValueError(f"{where} is a table of {labels.dtype}; give class indices or "
                         "one-hot rows of numbers.")
    ones = np.isclose(labels, 1.0)
    good = (ones.sum(axis=1) == 1) & (ones | np.isclose(labels, 0.0)).all(axis=1)
    if not good.all():
        row = int(np.argmin(good))
        raise ValueError(f"{where} has rows that are not one-hot ({int((~good).sum())} of "
                         f"{len(labels)}; row {row} is {labels[row].tolist()[:10]}): give one "
                         "1 per row (keras.utils.to_categorical), or the class indices.")
    return ones.argmax(axis=1)


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        if a.dtype == object:  # labels as Python objects: their text
            digest.update(repr(a.tolist()).encode())
        elif a.size:
            digest.update(a.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def write_space_file(results_dir: str | Path, space: Any, build_model: Callable, x: Any, y: Any,
                     validation_data: Any = None, validation_split: float | None = None,
                     test_data: Any = None, callbacks: list | None = None) -> Path:
    """Write (or refresh) the generated space file for ``search()``'s arguments; returns its
    path. Raises ``ValueError`` with what to do when they cannot be searched, or when the
    folder holds a search over other arrays."""
    import cloudpickle

    if not isinstance(space, dict) or not space:
        raise ValueError(f"search(): space must be a space file's path or a non-empty dict of "
                         f"hyperopt expressions, got {type(space).__name__}.")
    if not callable(build_model):
        raise ValueError("search(): build_model must be a function of the point (params) that "
                         f"returns a Keras model, got {type(build_model).__name__}.")
    if x is None or y is None:
        raise ValueError("search(): give the training data as x= and y= (arrays in memory).")
    if validation_data is not None and validation_split is not None:
        raise ValueError("search(): give validation_data or validation_split, not both.")
    defaults: dict[str, Any] = {}
    if validation_split is not None:
        if isinstance(validation_split, bool) or not isinstance(
                validation_split, (int, float)) or not 0 < validation_split < 1:
            raise ValueError(f"search(): validation_split must be a number between 0 and 1 "
                             f"(e.g. 0.1), got {validation_split!r}.")
        defaults["validation_fraction"] = float(validation_split)
    if callbacks is not None and (not isinstance(callbacks, (list, tuple)) or not all(
            hasattr(c, "set_model") for c in callbacks)):
        raise ValueError(f"search(): callbacks must be a list of Keras callbacks, got "
                         f"{callbacks!r}.")
    if test_data is None:  # nothing to report: an empty test split
        empty_y = ({h: np.asarray(v)[:0] for h, v in y.items()} if isinstance(y, dict)
                   else np.asarray(y)[:0])
        test_data = (np.asarray(x)[:0], empty_y)
    parts = {"train": (x, y), "test": _pair(test_data, "test_data")}
    if validation_data is not None:
        parts["val"] = _pair(validation_data, "validation_data")
    arrays, layout = {}, {}
    for part, (part_x, part_y) in parts.items():
        arrays.update(_arrays(part, part_x, part_y))
        layout[part] = _layout(part, part_y)
    shape = arrays["train_x.npy"].shape[1:]
    for part in ("val", "test"):
        other = arrays.get(f"{part}_x.npy")
        if other is not None and len(other) and other.shape[1:] != shape:
            which = {"val": "validation_data", "test": "test_data"}[part]
            raise ValueError(f"search(): {which}'s examples have the shape {other.shape[1:]}, "
                             f"x's {shape}; every part must hold examples of one shape.")
    folder = Path(results_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    found = fingerprint(arrays)
    saved = folder / FINGERPRINT
    if saved.is_file() and not _has_trials(Path(results_dir)):
        _remove_arrays(folder)  # a refused or empty run's: the folder is free for these
    if saved.is_file():
        before = json.loads(saved.read_text()).get("fingerprint")
        if before != found:
            raise ValueError(f"search(): {results_dir} holds a search over other arrays; pass "
                             "the same x, y, validation_data and test_data to continue it, or "
                             "give results_dir= a new folder for these.")
    else:
        for name, array in arrays.items():
            _save_array(folder / name, array)
        atomic_write(saved, json.dumps({"fingerprint": found, "layout": layout,
                                        "shapes": {n: list(a.shape) for n, a in arrays.items()}},
                                       indent=1).encode())
    atomic_write(folder / SPACE_PICKLE, cloudpickle.dumps({"space": space,
                                                           "defaults": defaults}))
    atomic_write(folder / CODE_PICKLE, cloudpickle.dumps({"build_model": build_model,
                                                          "callbacks": list(callbacks or [])}))
    atomic_write(folder / ABOUT, json.dumps({"build_model": function_name(build_model)}).encode())
    path = folder / SPACE_FILE
    if not path.is_file() or path.read_text() != SPACE_TEXT:
        atomic_write(path, SPACE_TEXT.encode())
    return path


def function_name(build: Callable) -> str:
    """How the caller named its build function (``build_model``; a wrapper says whose it is
    through ``wraps``), for the report."""
    inner = getattr(build, "wraps", build)
    return getattr(inner, "__name__", None) or type(inner).__name__


def searched_name(space_file: str | Path, results_dir: str | Path) -> str:
    """What a search is called in the report: its space file's name, or for a search over
    arrays in memory the caller's build function (``build_model over arrays in memory``)."""
    path = Path(space_file)
    if path.name != SPACE_FILE:
        return path.name
    try:
        about = json.loads((Path(results_dir) / FOLDER / ABOUT).read_text())
    except (OSError, ValueError):
        return "arrays in memory"
    return f"{about.get('build_model', 'a build function')} over arrays in memory"


def _has_trials(results_dir: Path) -> bool:
    """Whether the folder holds any trial's record (a failed one too)."""
    return any(results_dir.glob(RECORD_GLOB))


def _remove_arrays(folder: Path) -> None:
    """The arrays a search with no trial left behind, and their fingerprint: this module's
    files only (named in the fingerprint's layout)."""
    saved = json.loads((folder / FINGERPRINT).read_text())
    for name in saved.get("shapes", {}):
        (folder / name).unlink(missing_ok=True)
    (folder / FINGERPRINT).unlink()


def _layout(part: str, y: Any) -> dict[str, Any]:
    return {"x": f"{part}_x.npy",
            "y": ({h: f"{part}_y.{h}.npy" for h in y} if isinstance(y, dict)
                  else f"{part}_y.npy")}


def _save_array(path: Path, array: np.ndarray) -> None:
    staging = path.with_name(f".{path.name}.tmp")
    with open(staging, "wb") as f:
        np.save(f, np.ascontiguousarray(array))
    staging.replace(path)
