"""The contract every proposer and scheduler keeps, on the simulated executor: a search of any
pair, with 1 or 2 workers, interrupted and relaunched, loses no finished trial and runs nothing
twice."""

import json
from collections import Counter

import pytest
from conftest import ROOT

from hyperopt_nas import choices, proposers, schedulers
from hyperopt_nas.engine import FatalError, SearchSettings, run_search
from hyperopt_nas.executors.simulated import SimulatedExecutor, Surrogate
from hyperopt_nas.proposers.base import drawn_vals
from hyperopt_nas.schedulers.pruning import PruneRule
from hyperopt_nas.space_files import load_space_file
from hyperopt_nas.trial_store import TrialStatus, TrialStore, to_jsonable

SPACE = ROOT / "search_spaces" / "fashion_mnist_cnn.py"
PROPOSERS = ["tpe", "rand", "anneal", "grid"]  # atpe: as tpe, with lightgbm (not installed)
SCHEDULERS = ["none", "prune", "hyperband", "asha"]
TOTAL = 24


class Interrupted(SimulatedExecutor):
    """Ctrl-C after ``after`` trials have been handed back."""

    def __init__(self, slots, after, **kwargs):
        super().__init__(slots, **kwargs)
        self.after, self.collected = after, 0

    def collect(self):
        if self.collected == self.after:
            raise KeyboardInterrupt
        self.collected += 1
        return super().collect()


def settings_for(tmp_path, algo, schedule, workers, max_evals):
    return SearchSettings(
        space_path=SPACE, results_dir=tmp_path / "results", algo=algo, seed=3, epochs=9,
        max_evals=max_evals, workers=workers, schedule="none" if schedule == "prune" else schedule,
        prune=PruneRule("median", min_trials=2) if schedule == "prune" else PruneRule(),
        plot_best=False, plot_search=False, tensorboard=False, progress="off", keep_models=2)


def test_every_strategy_is_listed_once_where_the_command_line_reads_it():
    assert set(proposers.PROPOSERS) == set(choices.ALGORITHMS)
    assert set(schedulers.SCHEDULERS) == set(choices.SCHEDULES)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("schedule", SCHEDULERS)
@pytest.mark.parametrize("algo", PROPOSERS)
def test_an_interrupted_search_resumes_and_loses_or_repeats_nothing(
        tmp_path, algo, schedule, workers):
    surrogate = Surrogate(epoch_s=10.0, failure_rate=0.1)
    settings = settings_for(tmp_path, algo, schedule, workers, TOTAL)
    if algo == "grid" and schedule in ("hyperband", "asha"):
        with pytest.raises(FatalError, match="--algo grid"):
            run_search(settings, say=lambda line: None,
                       executor=SimulatedExecutor(workers, surrogate))
        return
    settings.max_consecutive_failures = TOTAL
    summary = run_search(settings, say=lambda line: None,
                         executor=Interrupted(workers, after=9, surrogate=surrogate))
    assert summary.interrupted and summary.completed == 9
    store = TrialStore(settings.results_dir)
    before = {r.number: r.to_json() for r in store.load_records()}
    assert len(before) == 9

    summary = run_search(settings, say=lambda line: None,
                         executor=SimulatedExecutor(workers, surrogate))
    records = store.load_records()
    assert not summary.interrupted and len(records) == TOTAL == summary.total
    after = {r.number: r.to_json() for r in records}
    assert {n: after[n] for n in before} == before  # nothing finished was lost or rewritten
    assert len(after) == len(records)  # no trial number twice

    space = load_space_file(SPACE)
    new_points = [json.dumps(r.hyperopt_vals, sort_keys=True) for r in records
                  if not any(r.extra.get(k, {}).get("rung") for k in ("hyperband", "asha"))]
    start = json.dumps(to_jsonable(space.start_vals[0]), sort_keys=True)
    assert new_points.count(start) == 1  # the start point once, first
    if algo == "grid":
        assert len(set(new_points)) == len(new_points)
    for key in ("hyperband", "asha"):
        runs = Counter((r.extra[key]["config"], r.extra[key]["rung"]) for r in records
                       if key in r.extra)
        assert not runs or max(runs.values()) == 1  # no configuration trained twice at a rung
        if runs and schedule == key:
            assert any(rung > 0 for _, rung in runs)  # something was promoted
    if schedule == "prune":
        assert any(r.status == TrialStatus.PRUNED for r in records)
    trials = store.load_trials()  # results.pkl: one hyperopt trial per run, as the records
    assert sorted(trials["numbers"]) == sorted(after)
    assert len(trials["trials"].trials) == TOTAL
    assert all(drawn_vals(t) for t in trials["trials"].trials)
