"""The worker pool's head start: a search from Python trains its first trials in its own process
(Keras imported there already) while its worker starts, then hands every trial to the worker."""

from types import SimpleNamespace

import pytest
from helpers import arrays

import hyperopt_nas
from hyperopt_nas.executors import head_start
from hyperopt_nas.executors.head_start import HeadStart
from hyperopt_nas.executors.pool import WorkerPool
from hyperopt_nas.trial import TrialOutcome
from hyperopt_nas.trial_store import TrialStore
from test_pool import _children, _cmdline


class Here:
    """Stands in for the in-process executor: which trials it trained."""

    def __init__(self):
        self.trained, self.runner, self.on_progress, self._spec = [], "a runner", None, None

    def submit(self, spec):
        self._spec = spec

    def collect(self):
        self.trained.append(self._spec)
        return TrialOutcome.failure(self._spec, "stand-in")


class Pool(Here):
    """Stands in for the pool: ready from its ``ready_at``-th question on."""

    slots = 1

    def __init__(self, ready_at):
        super().__init__()
        self.asked, self.ready_at, self.started = 0, ready_at, False

    def start(self):
        self.started = True

    def ready_now(self):
        self.asked += 1
        return self.asked >= self.ready_at

    @property
    def running(self):
        return 0


def test_trials_train_here_until_the_worker_is_ready_then_all_go_there():
    pool, here = Pool(ready_at=3), Here()
    executor = HeadStart(pool, here)
    executor.on_progress = print
    assert pool.on_progress is print and here.on_progress is print
    outcomes = []
    for number in range(5):
        executor.submit(SimpleNamespace(number=number))
        outcomes.append(executor.collect())
    assert [s.number for s in here.trained] == [0, 1]
    assert [s.number for s in pool.trained] == [2, 3, 4]
    assert [o.extra.get("head_start", False) for o in outcomes] == [True] * 2 + [False] * 3
    assert pool.started and pool.asked == 3  # not asked again once handed over
    assert here.runner is None  # its copy of the data is let go


def test_a_head_start_only_with_one_unpinned_worker_and_keras_here(monkeypatch):
    import keras  # noqa: F401  (the caller's own import)
    setup = SimpleNamespace(keras_backend=None)
    monkeypatch.setattr(head_start.machine, "visible_gpus", lambda: [])
    assert head_start.applies(WorkerPool(setup))
    assert not head_start.applies(WorkerPool(setup, workers=2))
    assert not head_start.applies(WorkerPool(setup, gpus=["0"]))
    other = "jax" if keras.backend.backend() != "jax" else "tensorflow"
    assert not head_start.applies(WorkerPool(SimpleNamespace(keras_backend=other)))
    monkeypatch.setattr(head_start.machine, "visible_gpus", lambda: ["0"])
    assert not head_start.applies(WorkerPool(setup))  # a GPU: its memory stays the workers'


def test_a_worker_is_started_only_where_it_can_take_part():
    """Before the first trial, by the count of trials; then by the time left at the pace."""
    for outlook, started in [((None, None), True), ((None, 6), True), ((None, 5), False),
                             ((4.0, 40), False), ((30.0, 2), True), ((30.0, None), True)]:
        pool = Pool(ready_at=99)
        executor = HeadStart(pool, Here())
        executor.outlook = lambda: outlook
        executor.submit(SimpleNamespace(number=0))
        assert pool.started == started, outlook
        assert pool.asked == int(started)  # not asked whether ready before it is started


@pytest.mark.slow
def test_a_small_search_trains_here_without_a_worker_and_a_larger_one_parks_its_worker(
        tmp_path, monkeypatch):
    """Two trials end before a worker could start (TensorFlow's import takes seconds): they
    train here and no worker is started. Six start one, which trains the trials that come after
    it is ready; parked (still starting, likely), it trains the next search's trials."""
    import keras
    from hyperopt import hp
    from hyperopt_nas.executors import pool

    def build(params):
        return keras.Sequential([keras.layers.Flatten(),
                                 keras.layers.Dense(10, activation="softmax")])
    monkeypatch.setattr(head_start.machine, "visible_gpus", lambda: [])  # on a GPU machine too
    (x, y), quiet = arrays(60, 1), dict(plot_best=False, plot_search=False, tensorboard=False,
                                        epochs=1)
    space = {"lr": hp.loguniform("lr", -6, -3)}
    lines = []

    def search(folder, trials, **options):
        hyperopt_nas.search(space, tmp_path / folder, build_model=build, x=x, y=y,
                            max_evals=trials, say=lines.append, **quiet, **options)
        return TrialStore(tmp_path / folder).load_records()

    def workers():
        return [pid for pid in _children() if "spawn_main" in _cmdline(pid)]

    try:
        small = search("small", 2)
        assert [r.extra.get("head_start") for r in small] == [True, True]
        assert not pool._PARKED and workers() == []
        larger = search("larger", 6)
        here = [r.extra.get("head_start", False) for r in larger]
        assert here[0] and here == sorted(here, reverse=True)  # here first, then the worker
        assert all(("worker" in r.extra) != r.extra.get("head_start", False) for r in larger)
        assert pool._PARKED and len(workers()) == 1
        second = search("second", 2)
        done_there = sum(not h for h in here)
        assert [r.extra["worker"]["trial"] for r in second] == [done_there + 1, done_there + 2]
        pool.close_parked()  # a new pool: head_start=False waits for its worker
        [third] = search("third", 1, head_start=False)
        assert third.extra["worker"]["trial"] == 1 and "head_start" not in third.extra
        banners = [line for line in lines if line.startswith("Searching")]
        said = "in 1 worker process (in this process until it has started)"
        assert [said in banner for banner in banners] == [True, True, False, False]
    finally:
        pool.close_parked()
