"""GPU utilisation and memory per worker (NVML), in the live line, the record and the report.

No GPU here: a fake NVML answers as the real one does (``pynvml``'s names and shapes)."""

import os
import time
import types

from hyperopt_nas import console
from hyperopt_nas.gpu_monitor import GpuSampler
from hyperopt_nas.outputs import html_report
from hyperopt_nas.trial import TrialProgress
from hyperopt_nas.trial_store import TrialRecord, TrialStatus


class FakeNvml:
    """GPU 0 busy at 40, 60, 80 % ...; this process holding 1, 2, 3 GiB ...; another process
    beside it."""

    def __init__(self):
        self.calls = 0

    def nvmlDeviceGetHandleByIndex(self, index):
        if index != 0:
            raise RuntimeError("NVMLError_InvalidArgument")
        return "handle-0"

    def nvmlDeviceGetUtilizationRates(self, handle):
        self.calls += 1
        return types.SimpleNamespace(gpu=min(20 + 20 * self.calls, 100), memory=10)

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return [types.SimpleNamespace(pid=1, usedGpuMemory=50 * 2**30),
                types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=self.calls * 2**30)]


def test_a_trial_on_a_gpu_is_sampled_and_its_record_keeps_the_mean_and_the_peak():
    sampler = GpuSampler("0", every_s=0.02, nvml=FakeNvml()).start()
    time.sleep(0.15)
    latest = sampler.latest()
    assert latest["gpu"] == "0" and latest["gpu_util"] >= 60
    kept = sampler.stop()
    n = sampler.nvml.calls
    assert n >= 4
    # Utilisation 40, 60, 80, 100, 100...; this process's memory 1..n GiB (not the other's 50).
    assert kept["gpu_process_memory_peak_mb"] == n * 1024
    assert 60 <= kept["gpu_util_mean"] <= 100
    assert not sampler._thread  # stopped


def test_without_nvml_nothing_is_sampled_or_said(monkeypatch):
    from hyperopt_nas import gpus
    monkeypatch.setattr(gpus, "nvml", lambda: None)
    sampler = GpuSampler("0").start()
    assert sampler.latest() == {} and sampler.stop() == {}
    assert GpuSampler("3", nvml=FakeNvml()).start().stop() == {}  # NVML knows no GPU 3


def test_the_live_line_shows_the_gpu_its_utilisation_and_the_trials_memory():
    p = TrialProgress(4, epoch=2, epochs=5, first_epoch=1, step=30, steps=100,
                      images_per_s=21000.0, gpu="0", gpu_util=57.0, gpu_memory_mb=3277.0)
    assert console.describe(p) == ("epoch 2/5 · batch 30/100 · 21,000 img/s · "
                                   "GPU 0 57% 3.2 GB")
    cpu = TrialProgress(4, epoch=2, epochs=5, first_epoch=1, step=30, steps=100,
                        images_per_s=210.0)
    assert "GPU" not in console.describe(cpu)


def _record(number, worker, util, held, compile_s):
    return TrialRecord(
        number=number, status=TrialStatus.OK, params={"lr": 0.01}, hyperopt_vals={"lr": 0.01},
        choice_options={}, loss=0.2, metrics={"fine": {"best_val_accuracy": 0.8}}, history={},
        epochs_run=3, wall_time_s=10.0, space_file="s.py", space_fingerprint="f",
        dataset="cifar100", model="cnn", seed=0, trial_seed=1, budget={}, versions={},
        accelerator={"gpu": "0", "gpu_name": "NVIDIA H200", "gpu_share": 0.45,
                     "gpu_memory_limit_mb": 64697, "gpu_util_mean": util,
                     "gpu_process_memory_peak_mb": held},
        started_at="2026-12-03T00:00:00",
        extra={"worker": {"index": worker, "trial": number // 2 + 1}, "compile_s": compile_s})


def test_the_report_has_a_gpu_section_per_worker(tmp_path):
    records = [_record(0, 0, 70.0, 2100.0, 31.0), _record(1, 1, 72.0, 2050.0, 29.0),
               _record(2, 0, 90.0, 2300.0, 1.5), _record(3, 1, 88.0, 2200.0, 2.5),
               _record(4, 0, 91.0, 2250.0, 1.1)]
    page = html_report.render(records, tmp_path)
    section = page[page.index("<h2>GPUs</h2>"):]
    section = section[:section.index("</table>")]
    rows = section.split("<tr>")[2:]
    assert len(rows) == 2  # one per worker of GPU 0
    cells = [c.split("</td>")[0] for c in rows[0].split('<td class="num">')[1:]]
    # GPU, name, worker, trials, utilisation, memory held, share, compile first, later.
    assert cells == ["0", "NVIDIA H200", "0", "3", "84 %", "2,300", "64,697", "31.0", "1.3"]
    cpu = _record(0, 0, None, None, 2.0)
    cpu.accelerator = {}
    assert "<h2>GPUs</h2>" not in html_report.render([cpu], tmp_path)
