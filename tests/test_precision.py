"""``--mixed-precision auto``: bfloat16 or float16 by compute capability, and only where a
measurement of that GPU says half precision is faster at the space's batch sizes."""

from hyperopt import hp
from hyperopt.pyll import scope

from hyperopt_nas import gpus, precision, runtime
from hyperopt_nas.gpus import GpuInfo
from hyperopt_nas.precision import Measurement

H200 = GpuInfo("0", "NVIDIA H200", (9, 0), 143771.0)
T4 = GpuInfo("0", "Tesla T4", (7, 5), 15360.0)


def test_the_half_type_follows_the_compute_capability():
    assert precision.half_for((8, 0)) == precision.half_for((9, 0)) == "bfloat16"
    assert precision.half_for((7, 5)) == precision.half_for(None) == "float16"


def test_auto_uses_half_precision_only_where_it_was_measured_faster():
    # The H200 under JAX (MEASURED): 0.90x at batch 200, 1.41x at 450.
    slow = precision.choose("auto", H200, "jax", [200, 200, 256])
    assert slow.mode == "off" and slow.words == "float32"
    assert "0.90x float32's speed at batch 200" in slow.why and "median batch of 200" in slow.why
    fast = precision.choose("auto", H200, "jax", [450, 400, 500])
    assert fast.mode == "bfloat16" and "1.41x" in fast.why
    # Never measured there: float32, and the line says how to try and how to measure.
    other = precision.choose("auto", H200, "tensorflow", [450])
    assert other.mode == "off" and "bfloat16 never measured on the NVIDIA H200" in other.why
    assert "--mixed-precision bfloat16" in other.why and "device_check.sh" in other.why
    # An older GPU computes in float16, where its own measurement says so.
    t4 = (Measurement("Tesla T4", "tensorflow", "float16", 128, 1.6, "a log"),)
    chosen = precision.choose("auto", T4, "tensorflow", [128], measured=t4)
    assert chosen.mode == "float16" and chosen.words == "mixed float16"
    assert precision.choose("auto", T4, "tensorflow", [128], measured=()).mode == "off"
    # No GPU, or a mode asked for: no measurement consulted.
    assert precision.choose("auto", None, "jax", [450]).mode == "off"
    asked = precision.choose("bfloat16", None, "tensorflow", [])
    assert asked.mode == "bfloat16" and asked.why == "--mixed-precision bfloat16"


def test_the_spaces_batch_sizes_are_read_from_points_drawn_from_it():
    space = {"train": {"batch_size": scope.int(hp.quniform("batch_size", 100, 450, 50))},
             "lr": hp.loguniform("lr", -5, -1)}
    sizes = precision.batch_sizes(space, draws=50)
    assert len(sizes) == 50 and min(sizes) >= 100 and max(sizes) <= 450 and len(set(sizes)) > 2
    assert precision.batch_sizes({"lr": hp.uniform("lr", 0, 1)}, draws=5) == []


def test_the_backend_decides_auto_from_the_measurements_too(monkeypatch):
    """A process set up with ``auto`` (a Spark executor, retrain) and a GPU: float32 on an
    unmeasured GPU, where mixed float16 used to be switched on blindly."""
    monkeypatch.setattr(gpus, "details_of", lambda gpu: H200)
    unmeasured = runtime.decide(1, "auto", "auto", False, "tensorflow")
    assert not unmeasured.mixed_precision and unmeasured.dtype_policy == "float32"
    assert unmeasured.xla  # XLA stays on with a GPU
    monkeypatch.setattr(precision, "MEASURED", (
        Measurement("NVIDIA H200", "tensorflow", "bfloat16", 200, 1.5, "a log"),))
    measured = runtime.decide(1, "auto", "auto", False, "tensorflow")
    assert measured.dtype_policy == "mixed_bfloat16"
    assert runtime.decide(0, "auto", "auto", False, "tensorflow").dtype_policy == "float32"
