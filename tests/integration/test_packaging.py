"""The package as a user installs it: a wheel built from the source holds every module, and a
search runs from the installed wheel alone, away from the source tree (setup.cfg listed the
packages by hand, and a wheel left hyperopt_nas.proposers out)."""

import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT, write_fashion_mnist, write_space

SOURCE_PACKAGES = ["hyperopt_nas", "search_spaces"]


def _modules_in_source():
    names = {"hyperopt_optimize", "neural_net"}
    for package in SOURCE_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.slow
def test_a_wheel_holds_every_module_and_searches_without_the_source(tmp_path):
    wheels, source = tmp_path / "wheels", tmp_path / "source"
    # Built from a copy: setuptools writes build/ and the egg-info beside the sources.
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", "results", ".pytest_cache"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(wheels), str(source)],
                           capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    [wheel] = wheels.glob("hyperopt_keras_nas-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        files = {n for n in archive.namelist() if n.endswith(".py")}
    in_wheel = {n[:-3].replace("/", ".").removesuffix(".__init__") for n in files}
    assert _modules_in_source() <= in_wheel, sorted(_modules_in_source() - in_wheel)

    target = tmp_path / "installed"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                           "--target", str(target), str(wheel)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    data = write_fashion_mnist(work / "data")
    space = write_space(work / "space.py")
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2",
           "HOME": str(work)}
    imports = ("import importlib, hyperopt_nas\n"
               f"names = {sorted(_modules_in_source())!r}\n"
               "for name in names:\n"
               "    module = importlib.import_module(name)\n"
               f"    assert module.__file__.startswith({str(target)!r}), module.__file__\n"
               "print(len(names), 'modules')\n")
    imported = subprocess.run([sys.executable, "-c", imports], capture_output=True, text=True,
                              timeout=300, cwd=work, env=env)
    assert imported.returncode == 0, imported.stderr
    search = subprocess.run([sys.executable, "-m", "hyperopt_optimize", "--space", str(space),
                             "--results-dir", "results", "--data-dir", str(data),
                             "--max-evals", "2", "--no-plot"], capture_output=True, text=True,
                            timeout=600, cwd=work, env=env)
    assert search.returncode == 0, search.stdout + search.stderr
    assert "trial    1 [2/2]" in search.stdout
    assert len(list((work / "results").glob("0*_trial-000*.json"))) == 2
