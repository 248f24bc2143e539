"""The layout the docs describe (docs/layout.md), kept by tests: no import circle among the
project's modules, function-local imports included (one only defers a circle to run time)."""

import ast
from pathlib import Path

from conftest import ROOT


def modules() -> dict[str, Path]:
    paths = [*(ROOT / "hyperopt_nas").rglob("*.py"), ROOT / "neural_net.py",
             ROOT / "hyperopt_optimize.py"]
    found = {}
    for path in paths:
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project's modules that ``name`` imports anywhere in it; a package it lies in is not
    counted (Python imports it first, whatever the module says)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
    return {m for m in found if m in known and m != name and not name.startswith(m + ".")}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle through each module that is on one (depth-first search)."""
    found, done = [], set()

    def visit(node, stack):
        if node in stack:
            found.append(stack[stack.index(node):] + [node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, stack + [node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    return found


def test_no_module_imports_itself_around_a_circle():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert "hyperopt_nas.trial_runner" in graph["hyperopt_nas.executors"]  # function-local, seen
    assert circles(graph) == [], "import circles: " + "; ".join(
        " -> ".join(c) for c in circles(graph))


def test_the_circle_finder_finds_one():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
