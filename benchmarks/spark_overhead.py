"""What one Spark job per trial costs the driver, and whether tasks reuse their Python workers.

``--backend spark`` runs each trial as a one-task Spark job, submitted from a driver thread
(``executors/spark.py``). This runs that same path, ``parallelize([spec], 1).map(f).collect()``
under a job group, with a task that does not train (it returns its process id and its own
duration at once), ``--jobs`` times from ``--parallelism`` threads, on ``local[P]`` and on a
standalone cluster on loopback (a master and P one-core workers, as the tests start one). It
prints, per cluster:

- the driver's cost of one job: its wall time (submit to result, median and 95th percentile)
  less the task's own time; and jobs per second with P running at once;
- the Python workers that ran the tasks: with Spark's ``spark.python.worker.reuse`` (the
  default) a worker process serves many tasks, so TensorFlow and the data are loaded once per
  worker, not once per trial (SPARK-26549 was a case where reuse silently did not happen).

    python benchmarks/spark_overhead.py [--jobs 200] [--parallelism 2] [--clusters local,standalone]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hyperopt_nas.executors.spark import spark_session  # noqa: E402
from hyperopt_nas.trial import TrainBudget, TrialSpec  # noqa: E402

SPEC = TrialSpec(number=0, params={"filters": [32, 64], "dropout": 0.25, "lr": 1e-3}, seed=1,
                 budget=TrainBudget(epochs=10, patience=3))  # the size of a real trial's spec


def task(spec: TrialSpec) -> tuple[int, float]:
    started = time.perf_counter()
    return os.getpid(), time.perf_counter() - started + 0 * spec.number


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def standalone(workers: int, folder: Path) -> tuple[str, list[subprocess.Popen]]:
    """A master and ``workers`` one-core workers on loopback."""
    import pyspark
    spark_class = str(Path(pyspark.__file__).parent / "bin" / "spark-class")
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    log = folder / "master.log"
    procs = [subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host",
                               "127.0.0.1", "--port", str(port), "--webui-port",
                               str(free_port())], stdout=open(log, "w"),
                              stderr=subprocess.STDOUT, start_new_session=True)]
    for i in range(workers):
        work = folder / f"worker{i}"
        work.mkdir()
        procs.append(subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
             "--cores", "1", "--memory", "1g", "--webui-port", str(free_port()), "--work-dir",
             str(work), url], stdout=open(folder / f"worker{i}.log", "w"),
            stderr=subprocess.STDOUT, start_new_session=True))
    deadline = time.time() + 120
    while log.read_text().count("Registering worker") < workers:
        if time.time() > deadline:
            raise RuntimeError("the standalone workers did not register")
        time.sleep(0.5)
    return url, procs


def run_jobs(context, jobs: int, parallelism: int) -> dict:
    """``jobs`` one-task jobs, ``parallelism`` at a time, each as executors/spark.py runs one."""
    walls, task_s, pids, lock = [], [], [], threading.Lock()
    numbers = iter(range(jobs))

    def one_thread():
        for number in numbers:
            started = time.perf_counter()
            context.setJobGroup(f"trial-{number}", f"trial {number}", interruptOnCancel=True)
            ((pid, inside),) = context.parallelize([SPEC], 1).map(task).collect()
            with lock:
                walls.append(time.perf_counter() - started)
                task_s.append(inside)
                pids.append(pid)

    started = time.perf_counter()
    threads = [threading.Thread(target=one_thread) for _ in range(parallelism)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cost = sorted(w - s for w, s in zip(walls, task_s))
    return {"median_ms": 1000 * statistics.median(cost),
            "p95_ms": 1000 * cost[int(0.95 * (len(cost) - 1))],
            "jobs_per_s": jobs / elapsed, "workers": len(set(pids)),
            "most_tasks": max(pids.count(p) for p in set(pids))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--clusters", default="local,standalone")
    args = parser.parse_args()
    import pyspark
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; pyspark {pyspark.__version__}; "
          f"{args.jobs} one-task jobs per cluster, {args.parallelism} at a time; the task does "
          "not train", flush=True)
    print(f"{'cluster':<34}{'job cost median ms':>20}{'p95 ms':>9}{'jobs/s':>9}"
          f"{'python workers':>16}{'most tasks/worker':>19}")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    for cluster in args.clusters.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            procs: list[subprocess.Popen] = []
            if cluster == "standalone":
                master, procs = standalone(args.parallelism, Path(tmp))
                name = f"standalone, {args.parallelism} one-core workers"
            else:
                master, name = f"local[{args.parallelism}]", f"local[{args.parallelism}]"
            session, _ = spark_session(master, args.parallelism, Path(tmp) / "spark.log")
            try:
                run_jobs(session.sparkContext, 2 * args.parallelism, args.parallelism)  # warm
                r = run_jobs(session.sparkContext, args.jobs, args.parallelism)
            finally:
                session.stop()
                for proc in procs:  # each in its own group, with its executors
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            print(f"{name:<34}{r['median_ms']:>20.1f}{r['p95_ms']:>9.1f}{r['jobs_per_s']:>9.1f}"
                  f"{r['workers']:>16}{r['most_tasks']:>19}", flush=True)


if __name__ == "__main__":
    main()
