#!/usr/bin/env bash
# Set everything up on a fresh Debian/Ubuntu machine: system packages, then a virtual environment
# in .venv with this project and its test tools. Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")"

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
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
echo "Set up: .venv holds the project and its dependencies."
