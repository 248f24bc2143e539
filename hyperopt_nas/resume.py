"""Resuming: hyperopt's Trials as found in the results folder, checked against the space file.

The JSON records are the journal: each is written, durably, the moment its trial ends.
``results.pkl`` is a snapshot of hyperopt's Trials, refreshed on a schedule and at every exit
(``engine.DEFAULT_SNAPSHOT_S``). It is used when it was written for the same space and accounts
for no trial without a record; the records saved after it (a kill since the last snapshot) are
added from the journal. Otherwise the Trials are rebuilt from the records (the truth about every
trial), keeping the trials that still fit an edited space and setting the others aside (kept on
disk, not fed to the search). A search never starts from zero over existing results.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperopt import STATUS_OK, Trials
from hyperopt.base import JOB_STATE_DONE

from hyperopt_nas.proposers import drawn_vals, insert_done
from hyperopt_nas.space_files import SpaceFile, active_labels
from hyperopt_nas.trial_store import (PICKLE_NAME, TAKEN_UP, SizeBudget, StoreError,
                                      TrialRecord, TrialStatus, TrialStore, proposer_loss,
                                      to_jsonable)

logger = logging.getLogger(__name__)

NEVER_TRAINED = ("over the size budget of its run, not over this one's: never trained, so not "
                 "fed to the search")


@dataclass
class Restored:
    """A search as found on disk, ready to continue."""

    trials: Trials
    numbers: list[int]  # the record number of each trial in ``trials``, in order
    set_aside: dict[int, str] = field(default_factory=dict)  # record number -> why
    total_records: int = 0
    source: str = "new"


def add_record(restored: Restored, record: TrialRecord, space_file: SpaceFile,
               size_budget: SizeBudget = SizeBudget()) -> None:
    """Feed one record to the restored Trials if it fits the current space, else set it aside;
    its loss as this run's size budget tells it (``proposer_loss``)."""
    if record.space_fingerprint == space_file.fingerprint:
        vals, why = record.hyperopt_vals, ""
    else:
        vals, why = space_file.encode(record.hyperopt_vals, record.choice_options, record.params)
    if vals is None:
        restored.set_aside[record.number] = why
        return
    loss = proposer_loss(record, size_budget)
    if loss is None and record.status == TrialStatus.OVER_BUDGET:
        # Refused by an earlier, tighter budget, within this one: never trained, so nothing is
        # known of it (TPE would count a failure as worse than any result).
        restored.set_aside[record.number] = NEVER_TRAINED
        return
    insert_done(restored.trials, vals, loss, space_file.params)
    restored.numbers.append(record.number)


def rebuild_trials(records: list[TrialRecord], space_file: SpaceFile,
                   size_budget: SizeBudget = SizeBudget()) -> Restored:
    """hyperopt Trials from the JSON records, keeping the trials that fit the current space."""
    restored = Restored(Trials(), [], total_records=len(records), source="records")
    for record in records:
        add_record(restored, record, space_file, size_budget)
    return restored


def restore(store: TrialStore, space_file: SpaceFile,
            records: list[TrialRecord] | None = None,
            size_budget: SizeBudget = SizeBudget()) -> Restored:
    """Load the search in the results folder; never start from zero over existing results. A
    snapshot told under another size budget is rebuilt from the records (a network over one
    budget may be within the other)."""
    records = store.load_records() if records is None else records
    try:
        payload = store.load_trials()
    except StoreError as e:
        kept = store.set_aside_pickle()
        logger.warning("%s; it was moved to %s. Rebuilding the search from the %d JSON records.",
                       e, kept.name, len(records))
        payload, unreadable = None, True
    else:
        unreadable = False
    numbers_on_disk = {r.number for r in records}
    if payload is not None:
        same_space = payload.get("space_fingerprint") == space_file.fingerprint
        same_budget = size_budget.same_as(payload.get("size_budget"))
        accounted = set(payload.get("numbers", [])) | set(payload.get("set_aside", {}))
        if same_space and same_budget and accounted <= numbers_on_disk:
            restored = Restored(payload["trials"], list(payload["numbers"]),
                                {int(k): v for k, v in payload.get("set_aside", {}).items()},
                                total_records=len(records), source="results.pkl")
            newer = [r for r in records if r.number not in accounted]
            if newer:  # a snapshot: the records saved since are the journal that follows it
                logger.info("results.pkl is a snapshot %d trials behind the JSON records; adding "
                            "them from the records", len(newer))
                restored.source = f"results.pkl and {len(newer)} newer records"
                for record in newer:
                    add_record(restored, record, space_file, size_budget)
            return restored
        if not same_budget:
            logger.info("the size budget changed since results.pkl was written; telling the "
                        "search every recorded network's size against the new one")
        elif not same_space:
            logger.info("the space file changed since results.pkl was written; checking every "
                        "recorded trial against the edited space")
        elif store.unreadable:
            logger.warning("results.pkl counts trials whose records cannot be read now (see "
                           "above); rebuilding the search from the %d readable records",
                           len(records))
        else:
            logger.warning("results.pkl counts trials that have no JSON record in %s (records "
                           "were moved or deleted); rebuilding the search from the %d records",
                           store.dir, len(records))
    elif records and not unreadable:
        logger.warning("no results.pkl, but %d JSON records: rebuilding the search from them",
                       len(records))
    if not records:
        return Restored(Trials(), [])
    return rebuild_trials(records, space_file, size_budget)


def misfit(space_file: SpaceFile, vals: dict[str, Any]) -> str:
    """Why a point drawn elsewhere (plain hyperopt's ``vals``) is not a point of the space
    file's space; "" when it is."""
    for label, value in vals.items():
        h = space_file.params.get(label)
        if h is None:
            return f"{label!r} is not a hyperparameter of {space_file.name}"
        if not h.contains(value):
            return f"{label} = {value!r} {h.why_not(value)}"
    if active_labels(space_file.params, vals) != set(vals):
        return f"its choices draw other hyperparameters than it has in {space_file.name}"
    return ""


def take_up_hyperopt(store: TrialStore, space_file: SpaceFile, first_number: int,
                     fields: dict[str, Any]) -> tuple[list[TrialRecord], Path | None]:
    """A results.pkl that plain hyperopt wrote (the original CIFAR-100 script's ``Trials``):
    each finished trial becomes a record (``extra.taken_up_from = "hyperopt"``, its loss as
    hyperopt was told it; ``fields`` give the rest, as this search's own records have them),
    numbered from ``first_number``, and the pickle is moved aside, never deleted. A point that
    fits the space file's space informs the search; one that does not is set aside when the
    search restores, with the reason. Its loss is another program's: it is never ranked.
    Returns the records and where the pickle went (None: nothing to take up)."""
    try:
        payload = store.load_trials()
    except StoreError:
        return [], None
    if not payload or not payload.get("foreign"):
        return [], None
    records = []
    for doc in payload["trials"].trials:
        if doc.get("state") != JOB_STATE_DONE:
            continue
        vals, result = to_jsonable(drawn_vals(doc)), dict(doc.get("result") or {})
        loss = result.get("loss")
        ok = result.get("status") == STATUS_OK and isinstance(loss, (int, float))
        why = misfit(space_file, vals)
        records.append(TrialRecord(
            number=first_number + len(records),
            status=TrialStatus.OK if ok else TrialStatus.FAILED,
            params={} if why else to_jsonable(space_file.decode(vals)), hyperopt_vals=vals,
            choice_options={} if why else space_file.choice_options(vals),
            loss=float(loss) if ok else None, metrics={}, history={}, epochs_run=0,
            wall_time_s=0.0, space_fingerprint=("taken-up" if why else space_file.fingerprint),
            trial_seed=0, versions={}, accelerator={}, started_at=str(doc.get("book_time") or ""),
            error=None if ok else f"hyperopt's status {result.get('status')!r}",
            extra={TAKEN_UP: "hyperopt", "hyperopt_tid": doc.get("tid"),
                   "hyperopt_result": to_jsonable(result), **({"misfit": why} if why else {})},
            **fields))
    for record in records:
        store.save_record(record, new=True)
    moved = store.dir / f"{PICKLE_NAME}.hyperopt-{time.strftime('%Y%m%d-%H%M%S')}"
    os.replace(store.pickle_path, moved)
    return records, moved
