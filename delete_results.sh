#!/usr/bin/env bash
# Reset a results folder (default: results/): removes what a search wrote there (trials,
# results.pkl, plots, report, TensorBoard runs, kept best models, Hyperband checkpoints) and
# nothing else; the models `retrain` saved (models/) only with --models.
# Usage: ./delete_results.sh [RESULTS_DIR] [--models]
# Refuses a folder that is not a results folder, or that a running search is using.
# No prompt; fine when the folder is already gone. hyperopt_nas/reset.py does the checking.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="$here/.venv/bin/python"
[ -x "$python" ] || python="$(command -v python3)"
# Without the project's packages this tool's results.pkl cannot be told from another file.
if ! "$python" -c "import hyperopt, numpy" >/dev/null 2>&1; then
    echo "error: $python lacks the project's packages (hyperopt, numpy), so what the tool wrote" \
         "cannot be told from other files: nothing deleted. Run ./setup.sh (it makes .venv," \
         "which this script uses)." >&2
    exit 2
fi
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec "$python" -m hyperopt_nas.reset "$@"
