#!/usr/bin/env bash
# GPU check of hyperopt-keras-nas (adapted from ../shared/device_check.sh: --mixed-precision on|off
# modes, the model's own record of its dtype policy, and the JAX stand-in where TensorFlow is
# missing). Run from the repository root after ./setup.sh, on a machine with
# one NVIDIA GPU (no internet needed). Everything goes to $OUT (default ./device_check_out); the
# whole run stays under ~8 minutes (BUDGET_S, default 440 s; each phase is capped by what is left).
#   pre  what TensorFlow sees: GPU, CUDA/cuDNN libraries, a float16 conv, an XLA function
#   (a)  images/s of one CIFAR-100-family trial (cifar100.py's DEMO_POINT, 20000 random images,
#        4 epochs, the first holding the compilation): mixed precision + XLA on vs off; GPU peak
#        memory; the same trial again (same seed) where time allows: is the GPU deterministic?
#   (b)  GPU memory (nvidia-smi, every second) across 10 consecutive trials of one worker: the
#        search CLI, --workers 1 --gpus 0, a fixed mid-size CNN where only lr/dropouts vary
#   (c)  the same trials with --workers 2 --gpus 0 (two trials sharing the GPU) vs (b)
#   (d)  if time is left: CUDA_VISIBLE_DEVICES=0 exported and plots on: does the drawing process
#        (outputs/refresher.py) take GPU memory?
# CIFAR-100 cannot be downloaded here: random images are written in the official python format.
set -x
REPO=$(pwd)
OUT=${OUT:-$REPO/device_check_out}
mkdir -p "$OUT"
[ -f "$REPO/hyperopt_optimize.py" ] || { echo "run me from the repository root" > "$OUT/summary.txt"; exit 2; }
PY=${PY:-$REPO/.venv/bin/python}
[ -x "$PY" ] || PY=python3
W=$(mktemp -d /tmp/devcheck.XXXXXX)
START=$(date +%s)
BUDGET=${BUDGET_S:-440}
left() { echo $(( START + BUDGET - $(date +%s) )); }
cap() { local l; l=$(left); if [ "$l" -lt "$1" ]; then echo "$l"; else echo "$1"; fi; }
echo "CUDA_VISIBLE_DEVICES at start: ${CUDA_VISIBLE_DEVICES-<unset>}" > "$OUT/env.txt"
unset CUDA_VISIBLE_DEVICES   # (b),(c) pin with --gpus 0; (d) exports it on purpose
export TF_CPP_MIN_LOG_LEVEL=1 PYTHONUNBUFFERED=1 CUDA_CACHE_MAXSIZE=4294967296

if ! "$PY" -c "import tensorflow" > "$OUT/tensorflow_import.log" 2>&1; then
  # A GPU machine without TensorFlow (and without the network to install it): measure the
  # CIFAR-100 family's network under Keras on JAX instead, if JAX is there, and say so.
  { echo "TensorFlow cannot be imported here ($(tail -1 "$OUT/tensorflow_import.log")): nothing of"
    echo "the search was measured. Stand-in: benchmarks/gpu_precision_jax.py (Keras on JAX)."
  } | tee "$OUT/summary.txt"
  if "$PY" -c "import jax, keras" > /dev/null 2>&1; then
    KERAS_BACKEND=jax timeout -k 10 "$(cap 400)" "$PY" benchmarks/gpu_precision_jax.py \
      --budget-s "$(cap 300)" --out "$OUT/gpu_precision_jax.json" 2>&1 \
      | grep -v -E "^(W|I)[0-9]{4}" | tee -a "$OUT/summary.txt"
  fi
  exit 0
fi

{ date; nproc; free -g; nvidia-smi; nvidia-smi -L
  nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv
  "$PY" -m pip list 2>/dev/null | grep -i -E "^(tensorflow|keras|nvidia|hyperopt)"
  ldconfig -p | grep -E "libcudnn\.|libcudart\.|libcublas\." ; command -v ptxas nvcc dot
} >> "$OUT/env.txt" 2>&1

monitor() {  # each second: time,GPU MiB used,util %,pid:MiB;pid:MiB; (per process)
  set +x
  while :; do
    printf '%s,%s,%s\n' "$(date +%s.%N)" \
      "$(nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader,nounits 2>/dev/null | head -1 | tr -d ' ')" \
      "$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null | tr -d ' ' | tr ',\n' ':;')"
    sleep 1
  done
}
settle() {  # wait (5 s at most) until no process holds GPU memory
  for _ in $(seq 5); do
    [ -z "$(nvidia-smi --query-compute-apps=pid --format=csv,noheader 2>/dev/null)" ] && return
    sleep 1
  done
}

# ---------------------------------------------------------------- pre: does TensorFlow see the GPU
cat > "$W/pre.py" <<'EOF'
import json, sys, time
t = time.time()
import tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
r = {"tf": tf.__version__, "gpus": [g.name for g in gpus], "import_s": round(time.time() - t, 1),
     "build": {k: str(v) for k, v in tf.sysconfig.get_build_info().items()}}
if gpus:
    tf.config.experimental.set_memory_growth(gpus[0], True)
    r["details"] = {k: str(v) for k, v in tf.config.experimental.get_device_details(gpus[0]).items()}
    t = time.time()
    y = tf.nn.conv2d(tf.ones((64, 32, 32, 3), tf.float16), tf.ones((3, 3, 3, 16), tf.float16), 1, "SAME")
    r["first_fp16_conv_s"] = (float(tf.reduce_sum(tf.cast(y, tf.float32))), round(time.time() - t, 1))
    t = time.time()
    try:
        f = tf.function(lambda a: tf.reduce_sum(tf.nn.relu(a @ tf.transpose(a))), jit_compile=True)
        r["xla"] = float(f(tf.ones((256, 256))))
    except Exception as e:
        r["xla"] = f"{type(e).__name__}: {str(e)[:600]}"
    r["xla_s"] = round(time.time() - t, 1)
print(json.dumps(r))
json.dump(r, open(sys.argv[1], "w"), indent=1)
sys.exit(0 if gpus else 3)
EOF
timeout -k 10 "$(cap 120)" "$PY" "$W/pre.py" "$OUT/pre.json" > "$OUT/pre.log" 2>&1
PRE=$?
if [ "$PRE" -eq 124 ] || [ "$PRE" -eq 137 ]; then  # slow first GPU use (PTX JIT?): go on, say so
  echo "pre: timed out after $(( $(date +%s) - START )) s (first use of the GPU: PTX JIT?)" >> "$OUT/summary.txt"
elif [ "$PRE" -ne 0 ]; then
  { echo "pre: TensorFlow found no usable GPU (exit $PRE); nothing else measured. setup.sh installs"
    echo "'tensorflow' without the [and-cuda] extra: CUDA 12 + cuDNN 9 must then come from the system."
    grep -i -E "dlopen|cuda|cudnn|gpu|error" "$OUT/pre.log" | head -30; } | tee "$OUT/summary.txt"
  exit 0
fi

# ---------------------------------------------------------------- random CIFAR-100, official format
cat > "$W/data.py" <<'EOF'
import os, pickle, sys
import numpy as np
d = os.path.join(sys.argv[1], "cifar-100-python")
os.makedirs(d, exist_ok=True)
rng = np.random.default_rng(0)
for name, n in (("train", 25000), ("test", 5000)):
    fine = rng.integers(0, 100, n)
    batch = {b"batch_label": name.encode(), b"filenames": [b"r.png"] * n,
             b"fine_labels": fine.tolist(), b"coarse_labels": (fine // 5).tolist(),
             b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}
    with open(os.path.join(d, name), "wb") as f:
        pickle.dump(batch, f, protocol=2)
with open(os.path.join(d, "meta"), "wb") as f:
    pickle.dump({b"fine_label_names": [b"f%d" % i for i in range(100)],
                 b"coarse_label_names": [b"c%d" % i for i in range(20)]}, f, protocol=2)
EOF
"$PY" "$W/data.py" "$W/data" > "$OUT/data.log" 2>&1 || { echo "data generation failed" > "$OUT/summary.txt"; exit 1; }

# ---------------------------------------------------------------- (a) one trial, mixed+XLA on vs off
cat > "$W/a_trial.py" <<'EOF'
import json, os, sys, time
sys.path.insert(0, os.getcwd())
mode, data_dir, out, budget_s = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
t0 = time.time()
import numpy as np
import neural_net
from hyperopt_nas import training
from hyperopt_nas import data_loaders
from search_spaces.cifar100 import DEMO_POINT
data = data_loaders.load_dataset("cifar100", data_dir)
train = data.train.take(np.arange(20000))            # 100 full batches of 200
val = data.train.take(np.arange(20000, 22048))       # 8 full eval batches of 256
mp, xla = {"on": ("on", "on"), "off": ("off", "off"), "mp": ("on", "off"), "xla": ("off", "on")}[mode]
accel = training.configure_accelerator(mixed_precision=mp, xla=xla)
import keras
import tensorflow as tf
res = {"mode": mode, "accelerator": accel.as_dict(), "point": DEMO_POINT, "runs": []}
t = time.time()
n = sum(int(x.shape[0]) for x, _ in training.make_dataset(train, 200, shuffle=True, seed=0))
res["pipeline_only_images_per_s"] = round(n / (time.time() - t))
for rep in range(2):
    if rep and time.time() - t0 > 0.45 * budget_s:
        break
    seen, epochs = {}, []  # train_and_evaluate sets the dtype policy at the start of every run
    def on_model(m):
        seen.update(policy=m.dtype_policy.name, optimizer=type(m.optimizer).__name__,
                    params=m.count_params(), jit_compile=m.jit_compile)
    t = time.time()
    r = training.train_and_evaluate(
        neural_net.build_cnn, DEMO_POINT, data.info, train, val, val,
        training.TrainBudget(epochs=4, patience=10, test_if_loss_below=-1.0), seed=123,
        accel=accel, on_model=on_model,
        on_progress=lambda p: epochs.append(round(p["images_per_s"])) if p.get("epoch_done") else None)
    run = {**seen, **r.trained_as, "wall_s": round(time.time() - t, 1), "epoch_images_per_s": epochs,
           "steady_images_per_s": round(float(np.mean(epochs[1:]))) if len(epochs) > 1 else None,
           "val_loss": r.history["val_loss"], "val_fine_accuracy": r.history["val_fine_accuracy"]}
    if tf.config.list_physical_devices("GPU"):
        run["gpu_peak_mib"] = round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20)
        tf.config.experimental.reset_memory_stats("GPU:0")
    res["runs"].append(run)
    print(json.dumps(run), flush=True)
    json.dump(res, open(out, "w"), indent=1)
EOF
for mode in on off; do
  T=$(cap 85); [ "$T" -ge 35 ] || break
  monitor > "$OUT/a_${mode}_gpu.csv" & MON=$!
  timeout -k 10 "$T" "$PY" "$W/a_trial.py" "$mode" "$W/data" "$OUT/a_$mode.json" "$T" > "$OUT/a_$mode.log" 2>&1
  echo "a_$mode exit $?" >> "$OUT/exits.txt"
  kill "$MON"; settle
done

# ---------------------------------------------------------------- (b), (c), (d): the search CLI
cat > "$W/gpu_fixed_cnn.py" <<'EOF'
"""A fixed mid-size CIFAR-100 CNN (batch 200); only lr, dropouts and the coarse weight vary."""
from hyperopt import hp
DATASET = "cifar100"
MODEL = "cnn"
DEFAULTS = {"epochs": 1, "validation_fraction": 0.1, "patience": 5, "max_train_samples": None}
SPACE = {
    "lr_rate_mult": hp.loguniform("lr_rate_mult", -0.5, 0.5), "l2_weight_reg_mult": 1.0,
    "batch_size": 200, "optimizer": "Adam",
    "coarse_loss_weight": hp.uniform("coarse_loss_weight", 0.1, 0.7),
    "conv_dropout": hp.uniform("conv_dropout", 0.0, 0.35),
    "fc_dropout": hp.uniform("fc_dropout", 0.0, 0.6), "use_batch_norm": True,
    "first_conv": None, "residual": {"units": 1, "first_stage": 0, "kernel_size": 3},
    "filter_mult": 1.0, "n_stages": 2, "pooling": "max", "conv_kernel_size": 3,
    "fc_units_mult": 1.0, "second_fc": None, "activation": "relu",
}
EOF
search() {  # NAME SECONDS ARGS...: one search (same points for every NAME: --algo rand --seed 0)
  local name=$1 t=$2 mon; shift 2
  monitor > "$OUT/${name}_gpu.csv" & mon=$!
  date +%s.%N > "$OUT/${name}_start.txt"
  timeout -k 15 "$t" "$PY" hyperopt_optimize.py --space "$W/gpu_fixed_cnn.py" --data-dir "$W/data" \
    --max-train-samples 4000 --epochs 1 --algo rand --seed 0 --progress off \
    --results-dir "$W/res_$name" "$@" > "$OUT/$name.log" 2>&1
  echo "$name exit $?" >> "$OUT/exits.txt"
  kill "$mon"
  mkdir -p "$OUT/${name}_records"
  cp -p "$W/res_$name"/*trial-*.json "$OUT/${name}_records/" 2>/dev/null
  tail -c 30000 "$W/res_$name/tensorflow.log" > "$OUT/${name}_tensorflow.log" 2>/dev/null
  settle
}
T=$(cap 135); [ "$T" -ge 45 ] && search b "$T" --max-evals 10 --workers 1 --gpus 0 --no-plot --no-tensorboard
T=$(cap 95);  [ "$T" -ge 45 ] && search c "$T" --max-evals 6 --workers 2 --gpus 0 --no-plot --no-tensorboard
T=$(cap 60)
if [ "$T" -ge 40 ]; then
  export CUDA_VISIBLE_DEVICES=0
  search d "$T" --max-evals 2 --workers 1 --gpus 0
  unset CUDA_VISIBLE_DEVICES
fi
for mode in mp xla; do  # extra, only if time is left: which of the two gives the speed
  T=$(cap 70); [ "$T" -ge 50 ] || break
  timeout -k 10 "$T" "$PY" "$W/a_trial.py" "$mode" "$W/data" "$OUT/a_$mode.json" "$T" > "$OUT/a_$mode.log" 2>&1
  echo "a_$mode exit $?" >> "$OUT/exits.txt"; settle
done

# ---------------------------------------------------------------- summary
cat > "$W/summary.py" <<'EOF'
import glob, json, os, re, sys
out = sys.argv[1]
lines = []
say = lines.append
def load(p):
    try:
        return json.load(open(p))
    except Exception:
        return None
def gpu_samples(name):  # [(t, MiB used, util, {pid: MiB})]
    rows, path = [], os.path.join(out, f"{name}_gpu.csv")
    for line in (open(path, errors="replace") if os.path.exists(path) else []):
        f = line.strip().split(",", 3)
        try:
            apps = {}
            for a in (f[3] if len(f) > 3 else "").split(";"):
                if ":" in a:
                    pid, mib = a.split(":", 1)
                    apps[pid] = int(mib) if mib.isdigit() else mib
            rows.append((float(f[0]), int(f[1]), f[2], apps))
        except (ValueError, IndexError):
            pass
    return rows
pre = load(os.path.join(out, "pre.json")) or {}
say(f"pre: TF {pre.get('tf')} GPUs {pre.get('gpus')} {pre.get('details')}; first fp16 conv "
    f"{pre.get('first_fp16_conv_s')} s; XLA {pre.get('xla')} in {pre.get('xla_s')} s; "
    f"TF built for {pre.get('build', {}).get('cuda_compute_capabilities')}")
for mode in ("on", "off", "mp", "xla"):
    a = load(os.path.join(out, f"a_{mode}.json"))
    if not a:
        if os.path.exists(os.path.join(out, f"a_{mode}.log")):
            say(f"(a) {mode}: no result; log tail: " + open(os.path.join(out, f"a_{mode}.log"), errors="replace").read()[-800:])
        continue
    for i, r in enumerate(a["runs"]):
        say(f"(a) {mode} run {i + 1}: {a['accelerator']} policy {r.get('policy')} {r.get('optimizer')} "
            f"{r.get('params')} params: epoch images/s {r['epoch_images_per_s']} (steady "
            f"{r['steady_images_per_s']}), wall {r['wall_s']} s, GPU peak {r.get('gpu_peak_mib')} MiB, "
            f"val_loss {r['val_loss']}")
    if len(a["runs"]) > 1:
        same = a["runs"][0]["val_loss"] == a["runs"][1]["val_loss"]
        say(f"(a) {mode}: same seed twice gives {'IDENTICAL' if same else 'DIFFERENT'} val_loss (determinism)")
    say(f"(a) {mode}: input pipeline alone {a.get('pipeline_only_images_per_s')} images/s")
on, off = load(os.path.join(out, "a_on.json")), load(os.path.join(out, "a_off.json"))
try:
    say(f"(a) speed-up mixed+XLA over float32 without XLA: "
        f"{on['runs'][0]['steady_images_per_s'] / off['runs'][0]['steady_images_per_s']:.2f}x")
except Exception:
    pass
ends = {}
for name in ("b", "c", "d"):
    recs = []
    for p in glob.glob(os.path.join(out, f"{name}_records", "*trial-*.json")):
        r = load(p)
        if r:
            recs.append((os.path.getmtime(p), r))
    if not recs:
        continue
    recs.sort(key=lambda x: x[0])
    start = float(open(os.path.join(out, f"{name}_start.txt")).read())
    samples = gpu_samples(name)
    say(f"({name}) {len(recs)} trials; accelerator of the first record: {recs[0][1].get('accelerator')}")
    prev = start
    for end, r in recs:
        during = [s for s in samples if prev <= s[0] <= end + 0.5]
        held = [s for s in samples if s[0] <= end + 1.5]
        w = (r.get("extra") or {}).get("worker") or {}
        say(f"  trial {r['number']} {r['status']}: ended {end - start:6.1f} s after start, wall "
            f"{r['wall_time_s']:.1f} s, worker {w.get('index')} #{w.get('trial')} rss {w.get('rss_mb')} MiB, "
            f"policy {r['accelerator'].get('dtype_policy')} TF-held GPU MiB {r['accelerator'].get('gpu_memory_mb')}, "
            f"GPU MiB peak {max((s[1] for s in during), default=None)} held after "
            f"{held[-1][1] if held else None} per-process {held[-1][3] if held else None}"
            + (f" ERROR {str(r.get('error'))[:300]}" if r.get('error') else ""))
        prev = end
    ends[name] = [e - start for e, _ in recs]
    pids = {}
    for s in samples:
        for pid, mib in s[3].items():
            if isinstance(mib, int):
                pids[pid] = max(pids.get(pid, 0), mib)
    say(f"({name}) processes that held GPU memory (pid: max MiB): {pids}; GPU MiB max "
        f"{max((s[1] for s in samples), default=None)}")
if "b" in ends and "c" in ends:
    n = min(len(ends["b"]), len(ends["c"]))
    say(f"(c) time to {n} trials: --workers 1 {ends['b'][n - 1]:.1f} s, --workers 2 --gpus 0 "
        f"{ends['c'][n - 1]:.1f} s (both from the command's start)")
for log in sorted(glob.glob(os.path.join(out, "*.log"))):
    text = open(log, errors="replace").read()
    for pat in ("dlopen", "PTX", "ptxas", "ResourceExhausted", "Out of memory", "OOM",
                "Skipping variable", "Traceback", "error:"):
        hits = [l.strip()[:240] for l in text.splitlines() if pat in l]
        if hits:
            say(f"{os.path.basename(log)}: {len(hits)} line(s) with {pat!r}, e.g. {hits[0]}")
open(os.path.join(out, "summary.txt"), "a").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
"$PY" "$W/summary.py" "$OUT" > "$OUT/summary.log" 2>&1
cat "$OUT/exits.txt" "$OUT/summary.txt"
echo "total $(( $(date +%s) - START )) s" | tee -a "$OUT/summary.txt"
rm -rf "$W"
