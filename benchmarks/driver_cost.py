"""The driver's cost per trial as a search grows: 100, 1,000 and 5,000 trials, before and after.

A results folder is filled with N finished trials of the ``cifar100.py`` space (random
points, scored by the simulated executor's surrogate, written as the engine writes them; the
first relaunch makes ``results.pkl``). Then the real engine, TPE at its defaults and the trial
store run ``--trials`` more trials on the simulated executor (``--workers`` at a time), and the
driver's real time is measured in each step a finished trial costs it before its worker has new
work: ask (the scheduler, the proposer, the spec), tell (the record, hyperopt's Trials) and save
(``results.pkl``). Printed side by side for each N, in one run:

- ``before``: the store as it was (``results.pkl`` rewritten after every trial, every record's
  save listing the folder) and TPE fed every finished trial;
- ``after``: the defaults (``results.pkl`` a snapshot refreshed every ``DEFAULT_SNAPSHOT_S`` and
  at every exit, TPE's history capped at ``DEFAULT_TPE_HISTORY``, the next proposal asked ahead
  while every worker is busy).

Columns: ``path`` (ask + tell + save) is what a freed worker waits for; ``ahead`` the proposal
made while every worker was busy (several workers only), which delays no worker; ``cpu`` the
two together; ``one pkl`` the cost of one ``results.pkl`` (the one at the exit), which
``after`` pays once a minute rather than after every trial.

    python benchmarks/driver_cost.py [--sizes 100,1000,5000] [--trials 30] [--workers 1,8]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hyperopt import Trials, rand
from hyperopt.base import Domain

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hyperopt_nas import engine  # noqa: E402
from hyperopt_nas.engine import SearchSettings, make_record, run_search  # noqa: E402
from hyperopt_nas.executors.simulated import SimulatedExecutor, Surrogate  # noqa: E402
from hyperopt_nas.proposers import drawn_vals  # noqa: E402
from hyperopt_nas.resume import rebuild_trials  # noqa: E402
from hyperopt_nas.space_files import load_space_file  # noqa: E402
from hyperopt_nas.trial import TrainBudget, TrialSpec, derive_seed  # noqa: E402
from hyperopt_nas.trial_store import TrialStore, to_jsonable  # noqa: E402

SPACE = ROOT / "search_spaces" / "cifar100.py"
SEED = 0


def settings_for(folder: Path, mode: str, workers: int, max_evals: int | None = None
                 ) -> SearchSettings:
    before = mode == "before"
    return SearchSettings(space_path=SPACE, results_dir=folder, seed=SEED, workers=workers,
                          max_evals=max_evals, start_points=False, plot_best=False,
                          plot_search=False, tensorboard=False, progress="off",
                          max_consecutive_failures=10**6,
                          snapshot_every_s=0.0 if before else engine.DEFAULT_SNAPSHOT_S,
                          tpe_history=None if before else engine.DEFAULT_TPE_HISTORY,
                          ask_ahead=not before)


def fill(folder: Path, n: int) -> None:
    """N finished trials of random points, saved as the engine saves them."""
    space_file = load_space_file(SPACE)
    settings = settings_for(folder, "after", 1)
    budget = engine.resolve_budget(space_file, settings)
    store, versions = TrialStore(folder), engine.library_versions()
    simulated = SimulatedExecutor(1, Surrogate(failure_rate=0.02))
    docs = rand.suggest(list(range(n)), Domain(lambda p: None, space_file.space), Trials(), SEED)
    for number, doc in enumerate(docs):
        vals = drawn_vals(doc)
        spec = TrialSpec(number=number, params=space_file.decode(vals),
                         seed=derive_seed(SEED, number), budget=TrainBudget(
                             epochs=int(budget["epochs"]), patience=int(budget["patience"])))
        outcome, _ = simulated._outcome(spec)
        store.save_record(make_record(outcome, to_jsonable(spec.params), to_jsonable(vals),
                                      spec.seed, space_file, budget, settings, versions),
                          new=True)
    restored = rebuild_trials(store.load_records(), space_file)
    store.save_trials(restored.trials, space_file.fingerprint, restored.numbers, {})


def measure(folder: Path, mode: str, n: int, trials: int, workers: int) -> dict:
    """Run ``trials`` more trials; the driver's real milliseconds per trial, by step."""
    spent: dict[str, list[float]] = {"ask": [], "tell": [], "save": [], "ahead": [],
                                     "snapshot": []}
    search_class = engine.Search

    class Timed(search_class):
        def _ask(self):
            t = time.perf_counter()
            spec = super()._ask()
            spent["ask"].append(time.perf_counter() - t)
            return spec

        def _ask_ahead(self):
            t, before = time.perf_counter(), self.ahead
            super()._ask_ahead()
            if self.ahead is not before:  # a point was proposed
                spent["ahead"].append(time.perf_counter() - t)

        def _save_trials(self, final=False):
            t, before = time.perf_counter(), self.snapshot_numbers
            super()._save_trials(final)
            if self.snapshot_numbers != before:  # results.pkl was written
                (spent["snapshot"] if final else spent["save"]).append(time.perf_counter() - t)

        def _tell(self, outcome):
            t = time.perf_counter()
            saves = len(spent["save"])
            super()._tell(outcome)
            save = sum(spent["save"][saves:])
            spent["tell"].append(time.perf_counter() - t - save)

    save_record = TrialStore.save_record
    engine.Search = Timed
    if mode == "before":  # each record's save looked for an earlier record of its number
        TrialStore.save_record = lambda self, record, new=False: save_record(self, record)
    try:
        run_search(settings_for(folder, mode, workers, max_evals=n + trials),
                   say=lambda line: None, executor=SimulatedExecutor(workers))
    finally:
        engine.Search, TrialStore.save_record = search_class, save_record
    # The first asks fill the free slots at once; a finished trial costs one ask, one tell
    # and whatever save it triggered.
    asks = spent["ask"][workers:]
    ms = {k: 1000 * statistics.median(v) if v else 0.0 for k, v in
          (("ask", asks), ("tell", spent["tell"]), ("ahead", spent["ahead"]))}
    ms["save"] = 1000 * sum(spent["save"]) / max(1, len(spent["tell"]))
    ms["path"] = ms["ask"] + ms["tell"] + ms["save"]  # what a freed worker waits for
    ms["cpu"] = ms["path"] + ms["ahead"]  # and what was computed while every worker was busy
    ms["snapshot"] = 1000 * max(spent["snapshot"] + spent["save"])  # one results.pkl
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--trials", type=int, default=30, help="measured trials per search")
    parser.add_argument("--workers", default="1,8")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {SPACE.name}, TPE, "
          f"{args.trials} measured trials per search; real milliseconds per trial (medians; "
          "save: the mean of the snapshots that fell due)", flush=True)
    print(f"{'trials':>7}{'workers':>8}  {'driver':<7}{'ask':>8}{'tell':>8}{'save':>8}"
          f"{'path':>8}{'ahead':>8}{'cpu':>8}{'path ratio':>12}{'cpu ratio':>11}"
          f"{'one pkl':>9}")
    for n in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            filled = Path(tmp) / "filled"
            fill(filled, n)
            for workers in (int(w) for w in args.workers.split(",")):
                totals = {}
                for mode in ("before", "after"):
                    folder = Path(tmp) / f"{mode}-{workers}"
                    shutil.copytree(filled, folder)
                    ms = totals[mode] = measure(folder, mode, n, args.trials, workers)
                    ratios = (f"{ms['path'] / totals['before']['path']:>12.3f}"
                              f"{ms['cpu'] / totals['before']['cpu']:>11.3f}"
                              if mode == "after" else " " * 23)
                    print(f"{n:>7}{workers:>8}  {mode:<7}{ms['ask']:>8.1f}{ms['tell']:>8.1f}"
                          f"{ms['save']:>8.1f}{ms['path']:>8.1f}{ms['ahead']:>8.1f}"
                          f"{ms['cpu']:>8.1f}{ratios}{ms['snapshot']:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
