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


# The tests are laid out like the package: a module's tests are in tests/<its folder>/
# test_<its name>.py (a package's __init__: tests/<package>/test_<package>.py), so that a change
# to one module has an obvious test file; tests/integration/ holds the tests that cross a real
# process boundary, all of them slow. These modules are tested elsewhere, for the reason given.
TESTED_ELSEWHERE = {
    "hyperopt_nas": "tests/test_api.py: the package's public names and search()",
    "hyperopt_nas.choices": "tests/test_strategies.py: every choice is a strategy that runs",
    "hyperopt_nas.errors": "tests/test_engine.py: FatalError stops a search, a failed trial not",
    "hyperopt_nas.outputs": "an empty package",
    "hyperopt_nas.executors.in_process": "tests/executors/test_executors.py, the contract",
    "hyperopt_nas.executors.simulated": "the stand-in executor of tests/test_driver.py and "
                                        "tests/test_strategies.py",
    "hyperopt_nas.proposers": "tests/test_strategies.py: every proposer by its name",
    "hyperopt_nas.proposers.base": "tests/test_driver.py: the history a proposer reads",
    "hyperopt_nas.schedulers": "tests/test_strategies.py: every scheduler by its name",
    "hyperopt_nas.schedulers.base": "tests/test_strategies.py: the contract of every scheduler",
    "hyperopt_nas.schedulers.checkpoints": "tests/schedulers/test_hyperband.py and "
                                           "test_asha.py: a saved model continued",
    "hyperopt_nas.runtime.tensorflow": "tests/runtime/test_runtime.py, one interface per backend",
    "hyperopt_nas.runtime.jax": "tests/runtime/test_runtime.py, one interface per backend",
    "hyperopt_nas.runtime.torch": "tests/runtime/test_runtime.py (skipped where torch is absent)",
}
# Test files named after no module, and what they test.
OTHER_TEST_FILES = {
    "test_api.py": "hyperopt_nas/__init__.py: the public API",
    "test_driver.py": "engine.py's driver on the simulated executor: its cost per trial",
    "test_strategies.py": "every proposer and scheduler against one contract",
    "test_layout.py": "this layout",
    "test_setup.py": "setup.sh",
}


def file_of_tests(module: str) -> Path:
    parts = module.split(".")
    if parts[0] == "hyperopt_nas":
        parts = parts[1:]
    if module in ("hyperopt_nas.executors", "hyperopt_nas.proposers", "hyperopt_nas.runtime",
                  "hyperopt_nas.schedulers", "hyperopt_nas.outputs"):
        parts = [*parts, parts[-1]]  # a package's __init__: tests/<package>/test_<package>.py
    return ROOT / "tests" / Path(*parts[:-1], f"test_{parts[-1]}.py") if parts else None


def fast_tests(path: Path) -> list[str]:
    """The tests of a file that ``pytest -m "not slow"`` runs (read from the file, not run)."""
    tree = ast.parse(path.read_text())
    if "integration" in path.parts or any(
            isinstance(node, ast.Assign) and "slow" in ast.unparse(node)
            and any(getattr(t, "id", "") == "pytestmark" for t in node.targets)
            for node in tree.body):
        return []
    return [node.name for node in tree.body if isinstance(node, ast.FunctionDef)
            and node.name.startswith("test_")
            and "pytest.mark.slow" not in map(ast.unparse, node.decorator_list)]


def test_every_module_has_its_test_file_and_the_fast_tier_runs_some_of_it():
    missing, no_fast = [], []
    for module in modules():
        if module in TESTED_ELSEWHERE:
            continue
        path = file_of_tests(module)
        if not path.is_file():
            missing.append(f"{module}: {path.relative_to(ROOT)}")
        elif not fast_tests(path):
            no_fast.append(str(path.relative_to(ROOT)))
    assert missing == [], "modules without their test file: " + "; ".join(missing)
    assert no_fast == [], "test files with nothing in the fast tier: " + ", ".join(no_fast)


def test_every_test_file_is_named_after_what_it_tests():
    expected = {file_of_tests(m) for m in modules() if m not in TESTED_ELSEWHERE}
    expected |= {ROOT / "tests" / "benchmarks" / f"test_{p.stem}.py"
                 for p in (ROOT / "benchmarks").glob("*.py")}
    expected |= {ROOT / "tests" / name for name in OTHER_TEST_FILES}
    stray = [str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
             if "integration" not in p.parts and p not in expected]
    assert stray == [], "test files named after no module (rename, or say what they test in " \
        "OTHER_TEST_FILES): " + ", ".join(stray)


def test_the_layout_check_sees_a_module_without_tests(tmp_path):
    assert file_of_tests("hyperopt_nas.outputs.plots") == ROOT / "tests/outputs/test_plots.py"
    assert file_of_tests("hyperopt_nas.schedulers") == ROOT / "tests/schedulers/test_schedulers.py"
    assert file_of_tests("neural_net") == ROOT / "tests/test_neural_net.py"
    only_slow = tmp_path / "test_x.py"
    only_slow.write_text("import pytest\n\n@pytest.mark.slow\ndef test_a():\n    pass\n\n"
                         "def helper():\n    pass\n")
    assert fast_tests(only_slow) == []
    only_slow.write_text(only_slow.read_text() + "\ndef test_b():\n    pass\n")
    assert fast_tests(only_slow) == ["test_b"]
