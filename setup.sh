#!/usr/bin/env bash
# Set everything up on a fresh Debian/Ubuntu machine: system packages, then a virtual environment
# in .venv with this project and its test tools. Safe to run again; it only adds what is missing.
#
# Keras' backend is TensorFlow unless HYPEROPT_NAS_BACKEND=jax or =torch says otherwise; it comes
# with its CUDA libraries (the extra <backend>-gpu, e.g. tensorflow[and-cuda], jax[cuda12]) when
# `nvidia-smi -L` lists a GPU, else as the CPU build; HYPEROPT_NAS_BUILD=gpu or =cpu overrides
# that (HYPEROPT_NAS_TENSORFLOW, its old name, still works). --dry-run prints what would be
# installed and installs nothing.
set -euo pipefail
cd "$(dirname "$0")"

DRY_RUN=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY_RUN=1 ;;
        *) echo "setup.sh: unknown option $arg (it takes --dry-run)" >&2; exit 2 ;;
    esac
done
run() {  # run a command, or only say it under --dry-run
    if [ "$DRY_RUN" -eq 1 ]; then echo "would run: $*"; else "$@"; fi
}

BACKEND=${HYPEROPT_NAS_BACKEND:-tensorflow}
case "$BACKEND" in
    tensorflow|jax|torch) ;;
    *) echo "setup.sh: HYPEROPT_NAS_BACKEND must be tensorflow, jax or torch, got '$BACKEND'" >&2
       exit 2 ;;
esac
BUILD=${HYPEROPT_NAS_TENSORFLOW:-auto}  # the old name, for TensorFlow's build
BUILD=${HYPEROPT_NAS_BUILD:-$BUILD}
case "$BUILD" in
    auto)
        if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
            BUILD=gpu
        else
            BUILD=cpu
        fi ;;
    gpu|cpu) ;;
    *) echo "setup.sh: HYPEROPT_NAS_BUILD must be gpu, cpu or auto, got '$BUILD'" >&2
       exit 2 ;;
esac
EXTRAS="test,$BACKEND"
if [ "$BUILD" = gpu ]; then EXTRAS="test,$BACKEND-gpu"; fi
# The test suite trains under JAX too (its CPU wheel is small): with TensorFlow, add it.
if [ "$BACKEND" = tensorflow ]; then EXTRAS="$EXTRAS,jax"; fi
echo "Keras backend: $BACKEND, the $BUILD build (HYPEROPT_NAS_BACKEND=tensorflow|jax|torch and HYPEROPT_NAS_BUILD=gpu|cpu to choose)."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# graphviz: model graphs; dataset-fashion-mnist: the real data of the quick start and the
# integration tests; Java 17: Apache Spark, for --backend spark; chromium: the tests look at
# report.html through a headless browser.
APT_PACKAGES=(graphviz dataset-fashion-mnist openjdk-17-jre-headless chromium)
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
    APT_PACKAGES+=(python3-venv python3-pip)
fi
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    run $SUDO apt-get update -q
    run env DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    run python3 -m venv .venv
fi
run .venv/bin/python -m pip install -q --upgrade pip
run .venv/bin/python -m pip install -q -e ".[$EXTRAS]"
if [ "$DRY_RUN" -eq 0 ]; then
    echo "Set up: .venv holds the project and its dependencies (Keras on $BACKEND, the $BUILD build)."
fi
