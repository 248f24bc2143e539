"""What a trial trains on and with, resolved once: where its data comes from and which function
builds its network, from a search's ``DataSetup`` or from a saved trial record.

Every path that loads a trial's data or builds its network (the trial workers, ``retrain``, the
model drawings) asks a ``Workload``, so the answer (a built-in dataset and model family, or a
space file's own ``load_data()``/``build_model()``) is given in one place. A caller sets
TensorFlow up before it calls ``load()``: a space file's ``tf.data`` dataset touches the GPU.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperopt_nas import data_loaders
from hyperopt_nas.errors import SpaceFileError
from hyperopt_nas.trial_store import TrialStore

_spaces: dict[tuple[str, str], Any] = {}  # per process: the space files of DataSetups


def setup_space(setup: Any):
    """The space file of a ``DataSetup`` with the file's own data or model, loaded once per
    process: from its path if the file there is unchanged, else from the text the setup carries
    (a worker on another machine)."""
    # space_files loads hyperopt (1 s, and pyspark with it): only for a space file's own data
    # or model, never in a worker that trains a built-in family.
    from hyperopt_nas.space_files import load_space_file
    key = (setup.space_path or "", setup.space_source or "")
    if key not in _spaces:
        path = Path(setup.space_path or "space.py")
        if not (path.is_file() and path.read_text() == setup.space_source):
            folder = Path(tempfile.mkdtemp(prefix="hyperopt-nas-space-"))
            path = folder / path.name  # the same file name: the dataset is named after it
            path.write_text(setup.space_source)
        _spaces[key] = load_space_file(path)
    return _spaces[key]


@dataclass(frozen=True)
class Workload:
    """A dataset and a model family by name; ``space_file`` is the file that defines them when
    either is its own (``data_loaders.CUSTOM_PREFIX``, ``CUSTOM_MODEL``)."""

    dataset: str
    model: str
    space_file: Any = None  # space_files.SpaceFile
    data_dir: Path | None = None

    @property
    def own_data(self) -> bool:
        return self.dataset.startswith(data_loaders.CUSTOM_PREFIX)

    @property
    def own_model(self) -> bool:
        return self.model == data_loaders.CUSTOM_MODEL

    def load(self) -> data_loaders.Dataset:
        """The dataset, read (raises ``data_loaders.DataError`` with what to do)."""
        if self.own_data:
            return self.space_file.load()
        return data_loaders.load_dataset(self.dataset, self.data_dir)

    @property
    def build_model(self) -> Any:
        """The space file's own ``build_model``, or None for a built-in family (which
        ``neural_net.builder_for`` turns into the function that builds a point's network)."""
        return self.space_file.build_model if self.own_model else None

    @property
    def callbacks(self) -> list:
        """A fresh list of the space file's ``CALLBACKS`` for one trial ([] if none)."""
        given = getattr(self.space_file, "callbacks", None)
        if given is None:
            return []
        made = given() if callable(given) else given
        if not isinstance(made, (list, tuple)) or not all(hasattr(c, "set_model") for c in made):
            raise TypeError(f"CALLBACKS() must return a list of Keras callbacks, got {made!r}.")
        return list(made)

    @classmethod
    def from_setup(cls, setup: Any) -> "Workload":
        """A search's ``trial.DataSetup``, in whichever process trains its trials."""
        space_file = setup_space(setup) if setup.own_space else None
        return cls(setup.dataset, setup.model, space_file,
                   Path(setup.data_dir) if setup.data_dir else None)

    @classmethod
    def from_record(cls, record: Any, results_dir: str | Path,
                    data_dir: str | Path | None = None) -> "Workload":
        """A saved trial's: its own data or model come from the space file it names, else the
        copy its results folder keeps (raises ``SpaceFileError`` when neither is there)."""
        from hyperopt_nas.space_files import load_space_file  # hyperopt, as above
        workload = cls(record.dataset, record.model, None,
                       Path(data_dir) if data_dir is not None else None)
        if not (workload.own_data or workload.own_model):
            return workload
        path = TrialStore(results_dir).space_path([record])
        if path is None:
            raise SpaceFileError(f"trial {record.number} was made with the space file "
                                 f"{record.space_file}, which is gone, and {results_dir} keeps "
                                 "no copy of it: its own data and model cannot be rebuilt.")
        return cls(record.dataset, record.model, load_space_file(path), workload.data_dir)
