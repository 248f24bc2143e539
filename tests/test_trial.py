"""What a trial is on its way between the engine and an executor (hyperopt_nas/trial.py): its
seed, its spec, and its outcome when it fails."""

import pickle
from datetime import datetime

from hyperopt_nas.trial import TrainBudget, TrialOutcome, TrialSpec, derive_seed, now


def test_a_trials_seed_follows_the_search_seed_and_its_number_only():
    seeds = [derive_seed(11, n) for n in range(50)]
    assert seeds == [derive_seed(11, n) for n in range(50)]  # the same in every process
    assert len(set(seeds)) == 50  # a seed of its own for each trial
    assert set(seeds).isdisjoint(derive_seed(12, n) for n in range(50))
    assert all(0 <= s < 2 ** 31 for s in seeds)  # what every backend's seeding takes


def test_a_spec_travels_whole_and_a_failure_keeps_its_number_and_error():
    spec = TrialSpec(7, {"units": 16}, derive_seed(1, 7), TrainBudget(epochs=3, patience=2))
    assert pickle.loads(pickle.dumps(spec)) == spec  # to a worker process or a Spark task
    failed = TrialOutcome.failure(spec, "ValueError: bad", trace="Traceback ...")
    assert (failed.number, failed.ok, failed.error) == (7, False, "ValueError: bad")
    assert failed.wall_time_s == 0.0 and failed.traceback == "Traceback ..."
    assert datetime.fromisoformat(failed.started_at).tzinfo is not None
    assert datetime.fromisoformat(now()).utcoffset().total_seconds() == 0
