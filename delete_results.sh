#!/usr/bin/env bash
# Reset a results folder (default: results/): removes what a search wrote there (trials,
# results.pkl, plots, report, TensorBoard runs, saved models, Hyperband checkpoints) and nothing
# else. Refuses a folder that is not a results folder, or that a running search is using.
# No prompt; fine when the folder is already gone. hyperopt_nas/reset.py does the checking.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="$here/.venv/bin/python"
[ -x "$python" ] || python="$(command -v python3)"
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec "$python" -m hyperopt_nas.reset "$@"
