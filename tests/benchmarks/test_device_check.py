"""The GPU check (``benchmarks/device_check.sh``), dry-run on the CPU: the same script at tiny
sizes, each of its five parts writing its figures, under Keras' JAX backend and with TensorFlow
made unimportable, as on the GPU machine it is written for."""

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from conftest import ROOT, write_fashion_mnist

from hyperopt_nas import runtime

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    runtime.missing("jax") is not None, reason="jax is not installed here")]


def test_the_device_check_runs_every_part_on_the_cpu(tmp_path):
    fashion_dir = write_fashion_mnist(tmp_path / "fashion", n_train=1000, n_test=200)
    blocker = tmp_path / "no_tensorflow" / "tensorflow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text(
        'raise ImportError("No module named tensorflow (the GPU machine has none)")\n')
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "DATA_DIR": str(fashion_dir),
           "PYTHONPATH": str(blocker.parent), "BUDGET_S": "600"}
    done = subprocess.run(["bash", "benchmarks/device_check.sh", "--dry-run"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    # What the device tool brings back: at most 8 files, the logs in one archive.
    assert sorted(p.name for p in out.iterdir()) == [
        "device_check.json", "env.txt", "logs.tar.gz", "summary.txt"]
    with tarfile.open(out / "logs.tar.gz") as logs:
        names = {Path(n).name for n in logs.getnames()}
    assert {"race.log", "race.jsonl", "packing_1.log", "memory.log", "input.json"} <= names
    result = json.loads((out / "device_check.json").read_text())
    summary = (out / "summary.txt").read_text()
    assert result["dry_run"] and "finished" in result
    # (1) float32 against mixed bfloat16, the ratio and the row precision.MEASURED takes.
    policies = {r["policy"]: r for r in result["precision"]}
    assert set(policies) == {"float32", "mixed_bfloat16"}
    assert policies["mixed_bfloat16"]["vs_float32"] > 0
    assert 'precision.MEASURED row: Measurement(' in summary
    # (1b) host batches against the data on the device, side by side.
    assert result["input"]["device_vs_host"] > 0 and "(1b) host batches" in summary
    # (2) trials per hour with 1 and 2 trials at a time, and the best N.
    packing = {r["trials_per_gpu"]: r for r in result["packing"]}
    assert set(packing) == {1, 2} and all(r["trials_per_hour"] > 0 for r in packing.values())
    assert result["best_trials_per_gpu"] in (1, 2) and result["packing_speedup"] > 0
    assert {w for w in packing[2]["worker"]} == {0, 1}  # two workers side by side
    # (3) compilation: a worker's first trial against its later ones (the cache at work).
    shares = result["compile_share"]
    assert shares["first"] and shares["later"] and "(3) compilation:" in summary
    # (4) one worker's consecutive trials.
    memory = result["memory"]["trials"]
    assert len(memory) == 3 and [m["worker_trial"] for m in memory] == [1, 2, 3]
    # (5) the race: our defaults (and Keras Tuner where it is installed) on the same data.
    searches = {s["tool"]: s for s in result["race"]["searches"]}
    assert searches["ours: defaults"]["trials"] >= 1
    assert searches["ours: defaults"]["selected_test_accuracy"] is not None
    try:
        import keras_tuner  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError:
        assert "our search runs alone" in summary
    else:
        assert searches["keras tuner: bayesian"]["trials"] >= 1
