"""Which cnnlib module may import which: measuring sits on results, figures on neither.

``bench`` and ``recipes`` both measure and share ``results`` (machine, peaks, files) and
``reports`` (tables); neither imports the other, so each can change alone. ``plots`` draws what
it is given and imports no measuring module. Read from the source with ast, imports inside
functions included: an import moved into a function to dodge a cycle still counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cnnlib"
MEASURING = {"bench", "recipes"}


def cnnlib_imports(module: str, package: Path = PACKAGE) -> dict[str, bool]:
    """The cnnlib modules that ``cnnlib/<module>.py`` (or every file of the package
    ``cnnlib/<module>/``) imports (first name below cnnlib), each with whether some import of it
    sits inside a function. A subpackage's imports of its own modules are not counted."""
    if (package / module).is_dir():
        found: dict[str, bool] = {}
        for path in sorted((package / module).glob("*.py")):
            for name, inside in file_imports(path.read_text(), level=2).items():
                found[name] = found.get(name, False) or inside
        return found
    return file_imports((package / f"{module}.py").read_text(), level=1)


def file_imports(source: str, level: int) -> dict[str, bool]:
    """Like cnnlib_imports for one file whose relative imports reach cnnlib at ``level``."""
    tree = ast.parse(source)
    inside = {id(node) for fn in ast.walk(tree)
              if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
              for node in ast.walk(fn)}
    found: dict[str, bool] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and 0 < node.level < level:
            continue  # the package's own modules
        if isinstance(node, ast.ImportFrom) and node.level == level:
            names = [node.module] if node.module else [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cnnlib."):
            names = [node.module.removeprefix("cnnlib.")]
        elif isinstance(node, ast.Import):
            names = [a.name.removeprefix("cnnlib.") for a in node.names
                     if a.name.startswith("cnnlib.")]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            found[top] = found.get(top, False) or id(node) in inside
    return found


def test_bench_and_recipes_do_not_import_each_other():
    assert "recipes" not in cnnlib_imports("bench")
    assert "bench" not in cnnlib_imports("recipes")
    assert {"results", "reports"} <= set(cnnlib_imports("bench"))
    assert {"results", "reports"} <= set(cnnlib_imports("recipes"))


@pytest.mark.parametrize("module", ["plots", "results", "reports"])
def test_figures_results_and_reports_import_no_measuring_module(module):
    assert not MEASURING & set(cnnlib_imports(module))


@pytest.mark.parametrize("module", ["bench", "recipes", "results", "reports", "plots",
                                    "models/_registry"])
def test_cnnlib_modules_are_imported_at_the_top_not_inside_functions(module):
    inside = [name for name, in_function in cnnlib_imports(module).items() if in_function]
    assert inside == [], f"cnnlib/{module}.py imports {inside} inside a function"


def test_the_scan_sees_imports_inside_functions(tmp_path):
    (tmp_path / "probe.py").write_text("from . import train\nimport cnnlib.plots\n\n"
                                       "def f():\n    from .bench import measure\n")
    assert cnnlib_imports("probe", tmp_path) == {"train": False, "plots": False, "bench": True}
