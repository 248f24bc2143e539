"""How long the search pictures take to draw, picture by picture, from a results folder's records.

    python benchmarks/redraw_time.py --results-dir results [--before REV] [--rounds 5]

Each round draws every picture of ``plots.plot_all`` once; with ``--before REV``, the same
pictures are also drawn by ``hyperopt_nas/outputs/plots.py`` as it was at revision REV, in
alternating order, and the ratios of the medians are printed. The background refresh after each
trial draws these (plus the TensorBoard logs and ``best_model.png``), and the end of a search
waits for the last one.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hyperopt_nas.outputs import plots  # noqa: E402
from hyperopt_nas.trial_store import TrialStore  # noqa: E402

PICTURES = ("plot_progress", "plot_effects", "plot_scatter_matrix", "plot_learning_curves")


def module_at(rev: str, folder: Path):
    source = subprocess.run(["git", "-C", str(ROOT), "show",
                             f"{rev}:hyperopt_nas/outputs/plots.py"],
                            check=True, capture_output=True, text=True).stdout
    path = folder / "plots_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("plots_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", type=Path, default=Path("results"))
    parser.add_argument("--before", metavar="REV", help="also draw with plots.py of this revision")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    records = TrialStore(args.results_dir).load_records()
    if not records:
        sys.exit(f"no trial records in {args.results_dir}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {len(records)} records of "
          f"{args.results_dir}; {args.rounds} rounds")
    with tempfile.TemporaryDirectory() as tmp:
        versions = {"now": plots}
        if args.before:
            versions[f"before ({args.before})"] = module_at(args.before, Path(tmp))
        times = {(v, p): [] for v in versions for p in PICTURES}
        for module in versions.values():  # untimed: matplotlib's first import and font cache
            module.plot_all(records, Path(tmp))
        names = list(versions)
        for round_ in range(args.rounds):
            for name in (names if round_ % 2 == 0 else names[::-1]):
                for picture in PICTURES:
                    started = time.perf_counter()
                    getattr(versions[name], picture)(records, Path(tmp) / f"{picture}.png")
                    times[name, picture].append(time.perf_counter() - started)
    totals = {}
    for name in names:
        total = totals[name] = np.median([sum(times[name, p][i] for p in PICTURES)
                                          for i in range(args.rounds)])
        parts = ", ".join(f"{p[len('plot_'):]} {np.median(times[name, p]):.2f}" for p in PICTURES)
        print(f"{name:<22} all pictures {total:.2f} s (median; {parts})")
    if args.before:
        for picture in PICTURES:
            ratio = np.median(times["now", picture]) / np.median(times[names[1], picture])
            print(f"ratio now/before, {picture[len('plot_'):]}: {ratio:.2f}")
        print(f"ratio now/before, all pictures: {totals['now'] / totals[names[1]]:.2f}")


if __name__ == "__main__":
    main()
