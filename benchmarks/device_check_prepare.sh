#!/usr/bin/env bash
# Prepare what benchmarks/device_check.sh needs on the GPU machine, which has no network and no
# TensorFlow (its Python 3.12 has JAX with CUDA, numpy, scipy, networkx, matplotlib, rich...):
# .whl/ (Keras, hyperopt, Keras Tuner and the small packages they need there, in the versions the
# tests run with here) and .data/fashion-mnist/ (the four official .gz files, from Debian's
# dataset-fashion-mnist). Both are ignored by git (.git/info/exclude) and named in the device
# call's `carry`. Run here, from the repository root, where pip can download. The call:
#   OUT=$OUT bash benchmarks/device_check.sh        (carry .whl and .data; timeout_s 590)
set -eu
[ -f hyperopt_optimize.py ] || { echo "run me from the repository root" >&2; exit 2; }
for path in /.whl/ /.data/; do
  grep -qxF "$path" .git/info/exclude 2>/dev/null || echo "$path" >> .git/info/exclude
done
PY=${PY:-python3}
rm -rf .whl && mkdir -p .whl .data/fashion-mnist
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  keras==3.15.1 namex optree hyperopt==0.3.0 keras-tuner==1.4.8 kt-legacy pydot
cp /usr/share/datasets/fashion-mnist/*-ubyte.gz .data/fashion-mnist/
du -sh .whl .data
