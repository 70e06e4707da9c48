"""Every import in cnnlib and in every notebook resolves to the standard library, cnnlib, or a
distribution that pyproject.toml declares; so a reader who installs cnnlib has all of it.

The clean room (tools/cleanroom.py, run by ``make test``) proves the same at run time; this is
the fast, static half, which names the file and the import.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for folder in ("chapters", "whiteboard", "book", "practice")
                   for p in (ROOT / folder).glob("*.ipynb"))
# The notebook's kernel brings IPython: every Jupyter front end, Colab included, runs one.
KERNEL = {"IPython"}
# Imported by cnnlib only inside the one function that needs it, and optional: without it that
# function does less (cnnlib.notebook.glue without myst-nb only shows the value).
OPTIONAL = {"myst_nb"}


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}


def top_level_imports(source: str) -> set[str]:
    tree = ast.parse(source)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def notebook_imports(path: Path) -> set[str]:
    cells = nbformat.read(path, as_version=4).cells
    transform = TransformerManager().transform_cell
    return set().union(*(top_level_imports(transform(c.source)) for c in cells
                         if c.cell_type == "code"))


def undeclared(modules: set[str], allowed: set[str] = frozenset()) -> dict[str, list[str]]:
    """Module -> the distributions providing it, for each module that is not allowed."""
    providers = importlib.metadata.packages_distributions()
    wanted = declared()
    bad = {}
    for module in sorted(modules):
        if module in sys.stdlib_module_names or module == "cnnlib" or module in allowed:
            continue
        dists = [canonicalize_name(d) for d in providers.get(module, [])]
        if not any(d in wanted for d in dists):
            bad[module] = dists or ["(not installed here)"]
    return bad


def test_cnnlib_imports_only_what_it_declares():
    modules = set().union(*(top_level_imports(p.read_text())
                            for p in (ROOT / "cnnlib").rglob("*.py")))
    assert {"torch", "torchvision", "numpy"} <= modules  # the scan sees imports at all
    assert undeclared(modules, OPTIONAL) == {}, ("declare these in pyproject.toml, or stop "
                                                 "importing them")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_notebook_imports_only_what_cnnlib_declares(path):
    bad = undeclared(notebook_imports(path), KERNEL)
    assert bad == {}, (f"{path.name} imports {bad}: declare the distribution in pyproject.toml "
                       "(a reader who installs cnnlib must get it), or use cnnlib instead")


def test_an_undeclared_import_is_caught(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import yaml\nfrom sklearn import datasets\n"
                                          "%matplotlib inline\nimport torch")]
    nbformat.write(nb, tmp_path / "n.ipynb")
    bad = undeclared(notebook_imports(tmp_path / "n.ipynb"), KERNEL)
    assert set(bad) == {"yaml", "sklearn"} and bad["yaml"] == ["pyyaml"]


def test_every_declared_dependency_is_used():
    """A declared distribution nothing imports is weight every reader installs for nothing."""
    providers = importlib.metadata.packages_distributions()
    modules = set().union(*(top_level_imports(p.read_text())
                            for p in (ROOT / "cnnlib").rglob("*.py")),
                          *(notebook_imports(p) for p in NOTEBOOKS))
    used = {canonicalize_name(d) for m in modules for d in providers.get(m, [])}
    assert declared() - used == set()


def test_glue_records_the_value_with_myst_nb_and_only_shows_it_without(monkeypatch, capsys):
    import builtins

    import cnnlib

    calls = []
    monkeypatch.setattr("myst_nb.glue", lambda *args, **kw: calls.append((args, kw)))
    cnnlib.glue("acc", "83.66%")
    assert calls == [(("acc", "83.66%"), {"display": False})]
    real_import = builtins.__import__

    def no_myst_nb(name, *args, **kwargs):
        if name.startswith("myst_nb"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_myst_nb)
    cnnlib.glue("acc", "83.66%")
    cnnlib.glue("acc", "83.66%", display=True)
    assert capsys.readouterr().out == "83.66%\n" and len(calls) == 1
