"""What a search says on the console between trials: the banner (what it is about to do), what
a relaunch loaded, one line per ended trial, and the note on a validation split too small to
rank by. (The running trials' live lines are ``console.py``'s.)"""

from __future__ import annotations

from typing import Any, Callable

from hyperopt_nas import gpus, runtime
from hyperopt_nas.console import clock_text, duration_text
from hyperopt_nas.objectives import Objective
from hyperopt_nas.outputs.reports import MORE_VALIDATION
from hyperopt_nas.precision import Precision
from hyperopt_nas.resume import NEVER_TRAINED, Restored
from hyperopt_nas.settings import SearchSettings
from hyperopt_nas.space_files import SpaceFile
from hyperopt_nas.trial_store import SizeBudget, TrialRecord, TrialStatus, TrialStore

SMALL_VALIDATION = 200  # images: below this, validation accuracy ranks trials mostly by chance


def warn_small_validation(record: TrialRecord, say: Callable[[str], None]) -> None:
    """Say so when the validation split is too small to rank trials (after a run's first
    trial)."""
    n = record.budget.get("validation_samples")
    if n is not None and 0 < n < SMALL_VALIDATION:
        say(f"note: the validation split holds only {n} images: its accuracy moves in steps of "
            f"{100 / n:.2g} points, so trials are ranked largely by chance: {MORE_VALIDATION}.")


def say_restored(say: Callable[[str], None], restored: Restored, best: TrialRecord | None,
                 store: TrialStore, over_budget: int = 0) -> None:
    if restored.total_records == 0:
        say(f"Starting a new search in {store.dir}.")
        return
    kept = len(restored.numbers)
    line = (f"Loaded {restored.total_records} trials from {store.dir} "
            f"(from {restored.source}); {kept} inform the search")
    if over_budget:
        line += f" ({over_budget} of them over the size budget)"
    if best is not None:
        line += f"; best so far: trial {best.number}, {best.objective.label} {best.score:.4f}"
    say(line + ".")
    unsized = sorted(n for n, why in restored.set_aside.items() if why == NEVER_TRAINED)
    if unsized:
        say(f"{counted(len(unsized), 'trial')} ({', '.join(map(str, unsized[:5]))}"
            f"{', ...' if len(unsized) > 5 else ''}) {'was' if len(unsized) == 1 else 'were'} "
            f"over the size budget of an earlier run and within this one's: never trained, "
            "they are not fed to the search (a point may be proposed again).")
    misfits = {n: why for n, why in restored.set_aside.items() if why != NEVER_TRAINED}
    if misfits:
        say(f"{len(misfits)} trials do not fit the current space and are set aside "
            "(kept on disk, not fed to the search):")
        for number, why in sorted(misfits.items()):
            say(f"  trial {number}: {why}")


def progress_line(record: TrialRecord, best: TrialRecord | None, total: int,
                  max_evals: int | None, elapsed_s: float | None = None,
                  eta_s: float | None = None, schedule_note: str = "", over_budget: int = 0
                  ) -> str:
    """One ended trial. ``total``: the trials that count toward ``max_evals`` (under a size
    budget, those within it); ``over_budget``: the points over it so far, not counted."""
    count = f"{total}/{max_evals}" if max_evals else f"{total}"
    if over_budget:
        count += f", {over_budget} over budget"
    if record.status == TrialStatus.FAILED:
        score = f"FAILED ({record.error_line})"
    elif record.status == TrialStatus.OVER_BUDGET:
        score = f"{record.error}, not trained"
    elif record.status == TrialStatus.PRUNED:
        score = (f"{record.objective.label} {record.score:.4f} (pruned at epoch "
                 f"{record.extra.get('pruned_at_epoch', '?')})")
    else:
        score = f"{record.objective.label} {record.score:.4f}"
    score += schedule_note
    best_part = f"best {best.score:.4f} (trial {best.number})" if best else "best -"
    line = (f"trial {record.number:4d} [{count}] | {score} | {best_part} | "
            f"{record.wall_time_s:.1f} s")
    if elapsed_s is not None:
        line += f" | elapsed {clock_text(elapsed_s)}"
    if eta_s is not None and (max_evals is None or total < max_evals):
        line += f" | ETA {clock_text(eta_s)}"
    return line


def counted(n: int, word: str) -> str:
    """``1 epoch``, ``2 epochs``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def gpu_words(settings: SearchSettings) -> str:
    """`` on GPU 0 (NVIDIA H200), 4 trials sharing it``, or nothing without --gpus."""
    s = settings
    if not s.gpus:
        return ""
    names = sorted({g.name for g in gpus.gpu_details() if g.index in s.gpus})
    named = f" ({', '.join(names)})" if names else ""
    per_gpu = -(-s.workers // len(s.gpus))
    sharing = (f", {per_gpu} trials sharing each, with {gpus.SHARED_MEMORY_USABLE / per_gpu:.0%} "
               "of its memory apiece" if per_gpu > 1 else "")
    return f" on GPU{'s' if len(s.gpus) > 1 else ''} {','.join(s.gpus)}{named}{sharing}"


def banner(settings: SearchSettings, space_file: SpaceFile, budget: dict[str, Any],
           store: TrialStore, precision: Precision | None = None,
           head_start: bool = False) -> str:
    """What the search is about to do, in one line; with a GPU, the precision and why.
    ``head_start``: the first trials train in this process while the worker starts."""
    s = settings
    where = (f"on Spark, {s.parallelism} at a time" if s.backend == "spark" else
             "in this process" if s.isolation == "none" else
             f"in {s.workers} worker process{'es' if s.workers > 1 else ''}" + gpu_words(s)
             + (" (in this process until it has started)" if head_start else ""))
    until = " and ".join(part for part in (
        counted(s.max_evals, "trial") if s.max_evals else "",
        duration_text(s.timeout_s) if s.timeout_s else "") if part) or "Ctrl-C"
    subset = (f", {budget['max_train_samples']} training images"
              if budget.get("max_train_samples") else "")
    size = SizeBudget.of(budget)
    within = (f", networks within {size.text()} (larger ones are measured, not trained"
              + (", nor counted in the trials" if s.max_evals else "") + ")" if size else "")
    objective = Objective(budget["objective"], budget["direction"])
    if not objective.is_default:
        within += f", selecting on {objective.name} ({objective.better} is better)"
    if size.size_weight:
        within += (f", the proposer told validation loss + {size.size_weight:g} x "
                   "ln(parameters)")
    return (f"Searching {space_file.name} ({space_file.dataset}, {space_file.model}) with "
            f"{s.algo}: {counted(budget['epochs'], 'epoch')} per trial{subset}{within}, "
            f"until {until}; "
            f"trials train {where} on Keras' {runtime.requested(s.keras_backend)} backend"
            + (f" in {precision.words} ({precision.why})" if precision and precision.why else "")
            + f"; results in {store.dir}.")
