"""Count the suite's tests and assertions, per file and per test, at two commits.

Tests move between files when the suite is rearranged; an assertion must not be lost on the way.
This reads the test files of each commit (no import, no run), counts per test function its
``assert`` statements and ``pytest.raises`` / ``pytest.warns`` blocks, and prints the counts per
file at each commit, then every test whose count fell or that is gone, wherever it went:

    python benchmarks/test_census.py --before cd04769 --after HEAD
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ("raises", "warns")


def _is_check(node: ast.AST) -> bool:
    """``pytest.raises(...)`` / ``pytest.warns(...)`` as a call or a ``with`` item."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in CHECKS and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "pytest")


def count(tree: ast.AST) -> int:
    return sum(isinstance(node, ast.Assert) or _is_check(node) for node in ast.walk(tree))


def census(files: dict[str, str]) -> tuple[dict[str, Counter], dict[str, int]]:
    """Per file: tests, asserts (in tests and in the file's helpers); per test name: asserts.

    A helper's assertions count once, in its file; a test is keyed by its name (class-qualified
    where it sits in a class), which a move between files keeps."""
    per_file: dict[str, Counter] = {}
    per_test: dict[str, int] = {}
    for name, text in sorted(files.items()):
        tree = ast.parse(text)
        tally = Counter(asserts=count(tree))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name.startswith("test_"):
                        per_test[f"{node.name}.{item.name}"] = count(item)
                        tally["tests"] += 1
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                per_test[node.name] = count(node)
                tally["tests"] += 1
        per_file[name] = tally
    return per_file, per_test


def test_files(rev: str | None) -> dict[str, str]:
    """Every ``tests/**/*.py`` at a commit (``None``: the working tree)."""
    if rev is None:
        return {str(p.relative_to(ROOT)): p.read_text() for p in (ROOT / "tests").rglob("*.py")}
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "tests"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.split()
    return {n: subprocess.run(["git", "show", f"{rev}:{n}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
            for n in names if n.endswith(".py")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="a commit (the suite before)")
    parser.add_argument("--after", default=None, help="a commit (default: the working tree)")
    args = parser.parse_args(argv)
    before_files, before_tests = census(test_files(args.before))
    after_files, after_tests = census(test_files(args.after))
    print(f"{'file':<46} {'tests':>11} {'asserts':>13}")
    for name in sorted(set(before_files) | set(after_files)):
        b, a = before_files.get(name, Counter()), after_files.get(name, Counter())
        print(f"{name:<46} {b['tests']:>5} {a['tests']:>5} {b['asserts']:>6} {a['asserts']:>6}")
    total_b = sum((c for c in before_files.values()), Counter())
    total_a = sum((c for c in after_files.values()), Counter())
    print(f"{'all files':<46} {total_b['tests']:>5} {total_a['tests']:>5} "
          f"{total_b['asserts']:>6} {total_a['asserts']:>6}")
    lost = [(name, n, after_tests.get(name)) for name, n in sorted(before_tests.items())
            if after_tests.get(name, -1) < n]
    for name, n, now in lost:
        print(f"LOST: {name}: {n} assertions before, "
              f"{'gone' if now is None else f'{now} now'}")
    print(f"{len(before_tests)} tests before, {len(after_tests)} after; "
          f"{len(lost)} with fewer assertions or gone")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
