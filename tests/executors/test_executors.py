"""Every executor against one contract (what only the worker pool does: test_pool.py)."""

import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, TINY_POINT

from hyperopt_nas.executors.in_process import InProcessExecutor
from hyperopt_nas.executors.pool import WorkerPool
from hyperopt_nas.trial import DataSetup, TrainBudget, TrialSpec
from hyperopt_nas.trial_store import TrialStore


BAD_POINT = {**TINY_POINT, "activation": "nope"}


def setup_for(fashion_dir, **kw) -> DataSetup:
    return DataSetup("fashion_mnist", "mlp", 0.2, None, 3, str(fashion_dir), **kw)


def spec(number, params=TINY_POINT, seed=7, **kw) -> TrialSpec:
    return TrialSpec(number=number, params=params, seed=seed,
                     budget=TrainBudget(epochs=2, patience=2, **kw))


def make_executor(kind, fashion_dir):
    if kind == "in_process":
        return InProcessExecutor(setup_for(fashion_dir))
    if kind == "pool":
        return WorkerPool(setup_for(fashion_dir), workers=2)
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17 (./setup.sh installs it)")
    from hyperopt_nas.executors.spark import SparkExecutor
    return SparkExecutor(setup_for(fashion_dir), "local[2]", 2)


def run_all(executor, specs):
    """Submit as many as there are slots, collect, submit more: as the engine does."""
    outcomes, waiting = {}, list(specs)
    while waiting or executor.running:
        while waiting and executor.running < executor.slots:
            executor.submit(waiting.pop(0))
        outcome = executor.collect()
        outcomes[outcome.number] = outcome
    return outcomes


@pytest.mark.parametrize("kind", ["in_process", pytest.param("pool", marks=pytest.mark.slow),
                                  pytest.param("spark", marks=pytest.mark.slow)])
def test_every_executor_runs_specs_and_reports_failures_the_same_way(kind, fashion_dir):
    executor = make_executor(kind, fashion_dir)
    heard = []
    executor.on_progress = heard.append
    try:
        executor.start()
        outcomes = run_all(executor, [spec(0), spec(1, BAD_POINT), spec(2),
                                      spec(3, test_if_loss_below=0.0)])
    finally:
        executor.close()
    ok, bad, again, untested = (outcomes[i] for i in range(4))
    assert ok.ok and 0 <= ok.loss <= 1 and ok.epochs_run == 2
    assert ok.loss == pytest.approx(again.loss)  # same spec, same seed: same result
    assert ok.data_sizes == {"train_samples": 240, "validation_samples": 60, "test_samples": 100,
                             "data_source": str(fashion_dir), "input_shape": [28, 28, 1],
                             "heads": {"label": 10}, "primary_head": "label"}
    assert "test_accuracy" in ok.metrics["label"]
    assert "test_accuracy" not in untested.metrics["label"]  # nothing beats a loss of 0
    assert not bad.ok and "activation must be one of" in bad.error
    assert "Traceback" in bad.traceback
    assert sorted(outcomes) == [0, 1, 2, 3]  # each spec came back once, known by its number
    if kind != "spark":  # a Spark task cannot report before it ends
        ends = [(p.number, p.epoch) for p in heard if p.epoch_done]
        assert sorted(ends) == [(n, e) for n in (0, 2, 3) for e in (1, 2)]
        first = next(p for p in heard if p.number == 0 and p.epoch_done)
        assert first.epochs == 2 and first.steps and first.images_per_s > 0
        assert 0 <= first.val_accuracy <= 1


DRIVER = """
import sys
import hyperopt_nas
if __name__ == "__main__":
    hyperopt_nas.search(sys.argv[1], results_dir=sys.argv[2], data_dir=sys.argv[3], max_evals=2,
                        plot_best=False, plot_search=False, tensorboard=False,
                        say=lambda line: None)
    print("tensorflow" in sys.modules)
"""


@pytest.mark.slow
def test_the_search_s_own_process_never_loads_tensorflow(tmp_path, tiny_space, fashion_dir):
    """With trials in worker processes, the driver takes no GPU: it never imports TensorFlow."""
    script = tmp_path / "drive.py"
    script.write_text(DRIVER)
    done = subprocess.run([sys.executable, str(script), str(tiny_space), str(tmp_path / "res"),
                           str(fashion_dir)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert len(TrialStore(tmp_path / "res").load_records()) == 2
