"""The worker pool's head start: a search from Python trains its first trials in its own process
(Keras imported there already) while its worker starts, then hands every trial to the worker."""

from types import SimpleNamespace

from helpers import arrays

import hyperopt_nas
from hyperopt_nas.executors import head_start
from hyperopt_nas.executors.head_start import HeadStart
from hyperopt_nas.executors.pool import WorkerPool
from hyperopt_nas.trial import TrialOutcome
from hyperopt_nas.trial_store import TrialStore


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
    executor.start()
    executor.on_progress = print
    assert pool.started and pool.on_progress is print and here.on_progress is print
    outcomes = []
    for number in range(5):
        executor.submit(SimpleNamespace(number=number))
        outcomes.append(executor.collect())
    assert [s.number for s in here.trained] == [0, 1]
    assert [s.number for s in pool.trained] == [2, 3, 4]
    assert [o.extra.get("head_start", False) for o in outcomes] == [True] * 2 + [False] * 3
    assert pool.asked == 3  # not asked again once handed over
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


def test_a_search_starts_here_and_the_next_one_takes_its_worker(tmp_path, monkeypatch):
    """The first search's trials end before its worker has started (TensorFlow's import takes
    seconds): they train here, and the worker, parked still starting, is taken by the next
    search, whose trials it trains."""
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
    try:
        hyperopt_nas.search(space, tmp_path / "first", build_model=build, x=x, y=y,
                            max_evals=2, say=lines.append, **quiet)
        first = TrialStore(tmp_path / "first").load_records()
        assert [r.extra.get("head_start") for r in first] == [True, True]
        assert all("worker" not in r.extra for r in first) and pool._PARKED
        hyperopt_nas.search(space, tmp_path / "second", build_model=build, x=x, y=y,
                            max_evals=2, say=lines.append, **quiet)
        second = TrialStore(tmp_path / "second").load_records()
        assert [r.extra["worker"]["trial"] for r in second] == [1, 2]
        assert all("head_start" not in r.extra for r in second)
        pool.close_parked()  # a new pool: head_start=False waits for its worker
        hyperopt_nas.search(space, tmp_path / "third", build_model=build, x=x, y=y,
                            max_evals=1, head_start=False, say=lines.append, **quiet)
        [third] = TrialStore(tmp_path / "third").load_records()
        assert third.extra["worker"]["trial"] == 1 and "head_start" not in third.extra
        banners = [line for line in lines if line.startswith("Searching")]
        said = "in 1 worker process (in this process until it has started)"
        assert [said in banner for banner in banners] == [True, False, False]
    finally:
        pool.close_parked()
