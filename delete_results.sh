#!/usr/bin/env bash
# Reset a results folder (default: results/): removes what a search writes there (trials,
# results.pkl, plots, report, TensorBoard logs, saved models, Hyperband checkpoints) and nothing
# else. No prompt; fine when the files, or the folder, are already gone.
set -euo pipefail
dir="${1:-results}"
if [ ! -e "$dir" ]; then
    echo "nothing to delete: $dir does not exist"
    exit 0
fi
if [ ! -d "$dir" ]; then
    echo "error: $dir is not a folder" >&2
    exit 1
fi
shopt -s nullglob dotglob
files=("$dir"/results.pkl "$dir"/results.pkl.* "$dir"/*trial-*.json "$dir"/*.png
       "$dir"/report.html "$dir"/.search.lock "$dir"/.*.tmp)
dirs=("$dir"/tensorboard "$dir"/models "$dir"/checkpoints)
rm -f -- "${files[@]}"
rm -rf -- "${dirs[@]}"
rmdir -- "$dir" 2>/dev/null || echo "kept $dir: it holds files this tool did not write"
echo "reset $dir"
