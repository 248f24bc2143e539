"""Reset a results folder (``delete_results.sh``): remove what this tool wrote there, nothing else.

A folder is reset only if it is a results folder (it holds the marker ``.hyperopt-nas`` that the
tool writes, or, from versions before the marker, a ``results.pkl`` or trial record that this
tool can read) and no search is using it. Then each entry is checked as its own: a trial record
must read as one, ``results.pkl`` must be this tool's, pictures and logs must have the names the
tool gives them, and inside ``tensorboard/``, ``best_models/``, ``checkpoints/``,
``graphs/`` and ``notebook/`` only the runs, models, drawings and files it names are removed;
``compile_cache/`` holds one folder per Keras backend, where the tool had the backend keep its
compiled programs, and those folders go whole. The models ``retrain`` saved (``models/``) are
kept unless ``--models`` is given: each is a deliberate, full training run. Symbolic links are
never followed nor removed. What is left is listed, and the folder is removed only when nothing
is left.

    python -m hyperopt_nas.reset [RESULTS_DIR] [--models]
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
from pathlib import Path

from hyperopt_nas.trial_store import (GRAPHS, LOCK_NAME, MARKER_NAME, PICKLE_NAME, RECORD_GLOB,
                                      SPACE_COPY, SPARK_LOG, STAGING, TENSORFLOW_LOG,
                                      StoreError, TrialRecord, TrialStore, is_leftover)

EXIT_REFUSED = 2
PICTURES = {"search_progress.png", "hyperparameter_effects.png",
            "hyperparameters_scatter_matrix.png", "learning_curves.png", "best_model.png",
            "demo_model.png", "accuracy_vs_size.png"}
FILES = PICTURES | {"report.html", TENSORFLOW_LOG, SPARK_LOG, LOCK_NAME, SPACE_COPY}
RUN = re.compile(r"trial-\d{4,}")  # tensorboard/trial-0007/
MODEL = re.compile(r"trial-\d{4,}\.keras")  # models/, checkpoints/
GRAPH = re.compile(r"trial-\d{4,}\.dot\.gz")  # graphs/ (TrialStore.save_graph)
EVENTS = re.compile(r"events\.out\.tfevents\..+")
# notebook/: the space file, pickles and arrays the Python API writes for data in memory
# (hyperopt_nas.notebook), and the bytecode Python caches for that space file.
CACHES = re.compile(r"tensorflow|jax|torch")  # compile_cache/<backend>/ (engine.COMPILE_CACHE)
NOTEBOOK = re.compile(r"notebook_space\.py|space\.pkl|code\.pkl|arrays\.json|about\.json|"
                      r"__pycache__|"
                      r"(train|val|test)_[xy](\.[^/]+)?\.npy")


def _is_link(path: Path) -> bool:
    return stat.S_ISLNK(os.lstat(path).st_mode)


def _record(path: Path) -> bool:
    try:
        TrialRecord.from_json(path.read_text())
        return True
    except (OSError, ValueError, TypeError, UnicodeDecodeError):
        return False


def _our_pickle(path: Path) -> bool:
    """Whether results.pkl is this tool's (plain hyperopt's is the user's: never removed)."""
    try:
        payload = TrialStore(path.parent).load_trials()
    except StoreError:
        return False
    return payload is not None and not payload.get("foreign")


def is_results_folder(folder: Path) -> bool:
    if (folder / MARKER_NAME).is_file():
        return True
    pickle = folder / PICKLE_NAME
    if pickle.is_file() and not _is_link(pickle) and _our_pickle(pickle):
        return True
    return any(_record(p) for p in folder.glob(RECORD_GLOB) if p.is_file() and not _is_link(p))


def _remove(path: Path, removed: list[Path]) -> None:
    if path.is_dir() and not _is_link(path):
        shutil.rmtree(path)
    else:
        path.unlink()
    removed.append(path)


def _clean_subfolder(folder: Path, wanted: re.Pattern, removed: list[Path],
                     files_too: re.Pattern | None = None) -> None:
    """Inside tensorboard/, models/, checkpoints/: only the entries the tool names."""
    if not folder.is_dir() or _is_link(folder):
        return
    for entry in folder.iterdir():
        if _is_link(entry):
            continue
        if wanted.fullmatch(entry.name) or STAGING.fullmatch(entry.name) or (
                files_too is not None and files_too.fullmatch(entry.name) and entry.is_file()):
            _remove(entry, removed)
    if not any(folder.iterdir()):
        folder.rmdir()


def reset(folder: Path, models: bool = False) -> tuple[list[Path], list[Path]]:
    """Remove what the tool wrote in ``folder`` (``retrain``'s models too only if ``models``);
    returns (removed, kept). Raises StoreError if ``folder`` is not a results folder or a search
    is using it."""
    if not folder.is_dir() or _is_link(folder):
        raise StoreError(f"{folder} is not a folder: nothing deleted.")
    if not is_results_folder(folder):
        raise StoreError(f"{folder} is not a results folder of this tool (it has no "
                         f"{MARKER_NAME} file and no trial this tool can read): nothing "
                         "deleted. Pass the folder a search wrote, e.g. results.")
    if TrialStore(folder).in_use():
        raise StoreError(f"a search is using {folder} now: nothing deleted. Stop it first.")
    removed: list[Path] = []
    for entry in sorted(folder.iterdir()):
        if _is_link(entry):
            continue
        name = entry.name
        if entry.is_file() and (
                name in FILES
                or (name == PICKLE_NAME and _our_pickle(entry))
                or (entry.match(RECORD_GLOB) and _record(entry))):
            _remove(entry, removed)
        elif is_leftover(name):
            _remove(entry, removed)
    _clean_subfolder(folder / "tensorboard", RUN, removed, files_too=EVENTS)
    if models:
        _clean_subfolder(folder / "models", MODEL, removed)
    _clean_subfolder(folder / "best_models", MODEL, removed)
    _clean_subfolder(folder / "checkpoints", MODEL, removed)
    _clean_subfolder(folder / GRAPHS, GRAPH, removed)
    _clean_subfolder(folder / "notebook", NOTEBOOK, removed)
    _clean_subfolder(folder / "compile_cache", CACHES, removed)
    kept = [p for p in sorted(folder.iterdir()) if p.name != MARKER_NAME]
    if not kept:
        (folder / MARKER_NAME).unlink(missing_ok=True)
        folder.rmdir()
    return removed, kept


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    models = "--models" in args
    args = [a for a in args if a != "--models"]
    if len(args) > 1 or (args and args[0].startswith("-")):
        print(__doc__.strip().splitlines()[-1].strip())
        return 0 if args and args[0] in ("-h", "--help") else EXIT_REFUSED
    folder = Path(args[0] if args else "results")
    if not os.path.lexists(folder):
        print(f"nothing to delete: {folder} does not exist")
        return 0
    try:
        removed, kept = reset(folder, models)
    except StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as e:
        print(f"error: could not reset {folder} ({e}); what was not yet removed is still there.",
              file=sys.stderr)
        return EXIT_REFUSED
    retrained = folder / "models"
    if not models and retrained.is_dir() and any(MODEL.fullmatch(p.name)
                                                 for p in retrained.iterdir()):
        print(f"kept the models retrain saved in {retrained} (each a full training run); "
              f"pass --models to delete them too.")
        kept = [p for p in kept if p != retrained]
    if kept:
        names = ", ".join(p.name for p in kept[:5]) + (", ..." if len(kept) > 5 else "")
        print(f"reset {folder}: removed {len(removed)} entries the tool wrote; kept {len(kept)} "
              f"it did not write ({names}), and with them the folder.")
    else:
        print(f"reset {folder}: removed {len(removed)} entries and the folder.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
