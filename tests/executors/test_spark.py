"""Trials on Apache Spark: local[2], and a real standalone cluster on loopback that loses a worker.

These start Java (Spark's JVM): they are skipped only where Java is missing; ./setup.sh installs it.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, TINY_POINT, write_space

from hyperopt_nas.executors import spark as spark_backend
from hyperopt_nas.trial import derive_seed
from hyperopt_nas.trial_store import TrialStatus, TrialStore

needs_java = pytest.mark.skipif(
    shutil.which("java") is None,
    reason="Spark needs Java 17: sudo apt-get install openjdk-17-jre-headless (./setup.sh does)")

SPARK_ENV = {"SPARK_LOCAL_IP": "127.0.0.1", "TF_CPP_MIN_LOG_LEVEL": "2",
             "PYTHONUNBUFFERED": "1", "PYSPARK_PYTHON": sys.executable}


def spark_args(space, results, data_dir, max_evals, *extra):
    return [sys.executable, str(ROOT / "hyperopt_optimize.py"), "--space", str(space),
            "--results-dir", str(results), "--data-dir", str(data_dir), "--max-evals",
            str(max_evals), "--seed", "3", "--executor", "spark", "--parallelism", "2",
            "--no-plot", "--max-consecutive-failures", "6", *extra]


def start(args, cwd, log):
    """A process in its own process group (so its JVM children go with it), output to a file."""
    env = {**os.environ, **SPARK_ENV, "KERAS_HOME": str(cwd / "keras_home")}
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def records(results):
    return TrialStore(results).load_records() if results.exists() else []


@pytest.fixture
def spark_space(tmp_path):
    return write_space(tmp_path / "space.py", epochs=3)


def test_a_failed_spark_job_is_told_in_one_line():
    error = RuntimeError("An error occurred while calling o42.collectAndServe.\n"
                         "org.apache.spark.SparkException: Job aborted due to stage failure\n"
                         "Traceback (most recent call last):\n"
                         "  File \"x.py\", line 1, in <module>\n"
                         "ValueError: activation must be one of relu, tanh\n"
                         "\tat org.apache.spark.api.python.BasePythonRunner")
    assert spark_backend.task_error(error) == "ValueError: activation must be one of relu, tanh"
    assert spark_backend.task_error(RuntimeError("Executor lost")) == "Executor lost"


@pytest.mark.slow
@needs_java
def test_local_spark_search_saves_each_trial_and_resumes_after_a_killed_driver(
        tmp_path, fashion_dir):
    """local[2]; half the space's points fail (an unknown activation) and are recorded; the
    space's start point is tried once, not again after the relaunch."""
    spark_space = write_space(tmp_path / "space.py", epochs=3,
                              activations='["relu", "no_such_activation"]')
    spark_space.write_text(spark_space.read_text() + f"\nSTART_POINTS = [{TINY_POINT!r}]\n")
    results = tmp_path / "results"
    driver = start(spark_args(spark_space, results, fashion_dir, 6), tmp_path, tmp_path / "1.log")
    try:
        wait_for(lambda: len(records(results)) >= 2, 300, "two saved trials")
    finally:
        kill_group(driver)  # kill -9 of the driver and its JVM, mid-search
    saved = records(results)
    assert 2 <= len(saved) < 6
    # results.pkl is a snapshot (at most once a minute): it holds no trial without a record,
    # and the relaunch adds the records saved after it.
    snapshot = TrialStore(results).load_trials()["numbers"]
    assert set(snapshot) <= {r.number for r in saved}

    again = start(spark_args(spark_space, results, fashion_dir, 6), tmp_path, tmp_path / "2.log")
    try:
        assert again.wait(timeout=400) == 0, (tmp_path / "2.log").read_text()[-3000:]
    finally:
        kill_group(again)
    log = (tmp_path / "2.log").read_text()
    assert f"Loaded {len(saved)} trials" in log
    if len(snapshot) < len(saved):
        assert f"from results.pkl and {len(saved) - len(snapshot)} newer records" in log
    # Spark's JVM, log4j and the executors' TensorFlow write to spark.log, not the console:
    words = ("WARN", "log4j", "WARNING", "I0000", "E0000", "Spark's default", "setLogLevel",
             "pandas")
    noise = [line for line in log.splitlines() if any(word in line for word in words)]
    assert noise == [], noise
    assert "log4j" in (results / "spark.log").read_text()
    final = records(results)
    # Numbers are given when a trial starts and never reused: a trial running at the kill
    # leaves its number unused.
    assert len(final) == 6 and {r.number for r in saved} <= {r.number for r in final}
    numbers = TrialStore(results).load_trials()["numbers"]
    assert numbers[:len(saved)] == [r.number for r in saved]
    assert sorted(numbers) == [r.number for r in final]
    failed = [r for r in final if r.status == TrialStatus.FAILED]
    assert failed and len(failed) < 6  # the seeded draws hold both activations
    for r in final:
        bad = r.params["activation"] == "no_such_activation"
        assert (r in failed) == bad
        assert ("no_such_activation" in r.error and "Traceback" in r.traceback) if bad \
            else r.loss is not None
    assert {r.number: r.to_json() for r in saved} == \
        {r.number: r.to_json() for r in final if r.number in {s.number for s in saved}}
    for r in final:
        assert r.trial_seed == derive_seed(3, r.number) and r.budget["epochs"] == 3
    assert len(TrialStore(results).load_trials()["trials"].trials) == 6
    assert {r.extra["tpe_startup_trials"] for r in final} == {3}  # a quarter of 6, at least 3
    tagged = [r for r in final if "start_point" in r.extra]
    assert [(r.extra["start_point"], r.params) for r in tagged] == [(0, TINY_POINT)]
    assert len(list((results / "tensorboard").glob("trial-*"))) == 6
    # Spark reuses an executor's Python worker: TensorFlow and the data are loaded once there.
    assert max(r.accelerator["process_trials"] for r in final) > 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@needs_java
def test_a_spark_that_cannot_start_is_one_line_naming_its_log(tmp_path, fashion_dir):
    results = tmp_path / "results"
    space = write_space(tmp_path / "space.py")
    out = subprocess.run(spark_args(space, results, fashion_dir, 1, "--spark-master",
                                    "nonsense://nowhere"),
                         cwd=tmp_path, env={**os.environ, **SPARK_ENV}, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-3000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Spark did not start: "), lines
    assert lines[0].endswith(f"; Spark's own messages are in {results / 'spark.log'}.")
    assert "Traceback" not in out.stdout + out.stderr
    assert "Master must either be" in (results / "spark.log").read_text()  # the JVM's words


@pytest.mark.slow
@needs_java
def test_standalone_cluster_survives_a_lost_worker(tmp_path, spark_space, fashion_dir):
    """A master and two one-core workers on loopback; one worker is killed mid-search."""
    import pyspark
    spark_home = Path(pyspark.__file__).parent
    spark_class = str(spark_home / "bin" / "spark-class")
    port = free_port()
    master_url = f"spark://127.0.0.1:{port}"
    cluster = [start([spark_class, "org.apache.spark.deploy.master.Master", "--host",
                      "127.0.0.1", "--port", str(port), "--webui-port", str(free_port())],
                     tmp_path, tmp_path / "master.log")]
    results = tmp_path / "results"
    driver = None
    try:
        for i in range(2):
            work = tmp_path / f"worker{i}"
            work.mkdir()
            cluster.append(start([spark_class, "org.apache.spark.deploy.worker.Worker",
                                  "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                                  "--webui-port", str(free_port()), "--work-dir", str(work),
                                  master_url], tmp_path, tmp_path / f"worker{i}.log"))
        wait_for(lambda: (tmp_path / "master.log").read_text().count("Registering worker") >= 2,
                 120, "two workers registered with the master")
        driver = start(spark_args(spark_space, results, fashion_dir, 6, "--spark-master",
                                  master_url), tmp_path, tmp_path / "driver.log")
        wait_for(lambda: len(records(results)) >= 1, 300, "a first saved trial")
        kill_group(cluster[-1])  # a worker and its executor die mid-search
        assert driver.wait(timeout=400) == 0, (tmp_path / "driver.log").read_text()[-3000:]
        wait_for(lambda: not group_alive(driver.pid), 60, "the driver's JVM to exit with it")
        # Spark told of the lost executor in its log, not on the console.
        assert "Lost executor" in (results / "spark.log").read_text()
        assert "Lost executor" not in (tmp_path / "driver.log").read_text()
    finally:
        for proc in ([driver] if driver else []) + cluster:
            kill_group(proc)
    final = records(results)
    assert [r.number for r in final] == list(range(6))
    assert all(r.status == TrialStatus.OK for r in final)
    assert sorted(TrialStore(results).load_trials()["numbers"]) == list(range(6))
    for proc in cluster:
        wait_for(lambda: not group_alive(proc.pid), 60, "no Spark process left behind")


def test_each_task_trains_on_the_gpu_spark_gave_it():
    """A reused Python worker sees every GPU of its executor; a task's own GPU is a device."""
    from hyperopt_nas.errors import FatalError
    task_device = spark_backend.task_device
    assert task_device([], None) is None
    assert task_device(["3"], None) == "/GPU:3"  # TensorFlow numbers them as CUDA does
    assert task_device(["6"], "4,6") == "/GPU:1"  # under the executor's CUDA_VISIBLE_DEVICES
    with pytest.raises(FatalError, match="GPU 2, which this executor's CUDA_VISIBLE_DEVICES"):
        task_device(["2"], "0,1")
