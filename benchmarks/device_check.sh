#!/usr/bin/env bash
# GPU check of hyperopt-keras-nas under Keras' JAX backend (the GPU machine lent to this project
# has JAX and PyTorch but no TensorFlow; benchmarks/device_check_tensorflow.sh is the check for a
# machine with TensorFlow). Adapted from ../shared/device_check.sh. Run from the repository root:
#
#   bash benchmarks/device_check.sh [--dry-run]
#
# What the machine lacks travels with the repository (benchmarks/device_check_prepare.sh makes
# both, here, where pip can download): .whl/ (keras, hyperopt, keras-tuner and their small
# dependencies) and .data/fashion-mnist/ (the four official .gz files). Everything is written to
# $OUT (default ./device_check_out): summary.txt, device_check.json, env.txt, logs.tar.gz. The
# whole check stays under BUDGET_S (default 520 s, within one call of at most 9 minutes); each of
# its five parts is capped by what is left (benchmarks/device_check.py says what they measure).
# --dry-run: the same script at tiny sizes, on the CPU where there is no GPU (the test suite).
set -u
REPO=$(pwd)
OUT=${OUT:-$REPO/device_check_out}
mkdir -p "$OUT"
[ -f "$REPO/hyperopt_optimize.py" ] || { echo "run me from the repository root" | tee "$OUT/summary.txt"; exit 2; }
PY=${PY:-python3}
[ -x "$REPO/.venv/bin/python" ] && [ -z "${PY_SET:-}" ] && PY=$REPO/.venv/bin/python
if [ ! -d "$REPO/.venv" ] && [ -d "$REPO/.whl" ] && ls "$REPO"/.whl/*.whl > /dev/null 2>&1; then
  # The device machine: no network, its own Python (JAX with CUDA); the carried wheels go beside.
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$REPO"/.whl/*.whl > "$OUT/pip.log" 2>&1 || { cat "$OUT/pip.log"; exit 1; }
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH}
DATA=${DATA_DIR:-}
for d in "$REPO/.data/fashion-mnist" /usr/share/datasets/fashion-mnist; do
  [ -z "$DATA" ] && [ -f "$d/train-images-idx3-ubyte.gz" ] && DATA=$d
done
[ -n "$DATA" ] || { echo "no Fashion-MNIST: set DATA_DIR to the folder of its four .gz files" | tee "$OUT/summary.txt"; exit 2; }
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
{ date; nproc; free -g 2>/dev/null | head -2
  nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv 2>&1
  "$PY" -c "import jax, keras, hyperopt; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__, 'hyperopt', hyperopt.__version__)" 2>&1 | tail -1
} > "$OUT/env.txt"
# $OUT gets few files (the device tool brings back 8): the summary and the JSON, rewritten as the
# parts end (so a run stopped at its limit still says what it measured), env.txt, and at the end
# every step's log in logs.tar.gz.
LOGS=$(mktemp -d /tmp/device_check_logs.XXXXXX)
"$PY" benchmarks/device_check.py --out "$OUT" --logs "$LOGS" --data-dir "$DATA" \
  --budget-s "${BUDGET_S:-520}" "$@"
STATUS=$?
cp "$OUT/pip.log" "$LOGS/" 2>/dev/null && rm -f "$OUT/pip.log"
tar czf "$OUT/logs.tar.gz" -C "$LOGS" . && rm -rf "$LOGS"
exit $STATUS
