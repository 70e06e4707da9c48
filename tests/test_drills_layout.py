"""The layout of cnnlib.drills: ``__init__`` only re-exports, and its modules share no private
names, so each module's underscore names can change without breaking another."""

from __future__ import annotations

import ast
from pathlib import Path

import cnnlib.drills

DRILLS = Path(cnnlib.drills.__file__).resolve().parent


def definitions(source: str) -> list[str]:
    """Functions and classes a module defines itself, at any depth."""
    return [node.name for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def private_imports(source: str) -> list[str]:
    """Underscore names imported from a cnnlib module (relative imports included)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (
                node.level > 0 or (node.module or "").split(".")[0] == "cnnlib"):
            found += [f"{'.' * node.level}{node.module or ''}: {alias.name}"
                      for alias in node.names if alias.name.startswith("_")]
    return found


def imports_in_functions(source: str) -> list[str]:
    """cnnlib modules imported inside a function rather than at the top of the module."""
    found = []
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom) and (
                    node.level > 0 or (node.module or "").split(".")[0] == "cnnlib"):
                found.append(f"{func.name}: from {'.' * node.level}{node.module or ''}")
            elif isinstance(node, ast.Import):
                found += [f"{func.name}: import {a.name}" for a in node.names
                          if a.name.split(".")[0] == "cnnlib"]
    return found


def test_init_only_reexports():
    source = (DRILLS / "__init__.py").read_text()
    assert definitions(source) == []
    for node in ast.parse(source).body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        all_list = isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] \
            == ["__all__"]
        assert docstring or all_list or isinstance(node, (ast.Import, ast.ImportFrom)), \
            f"line {node.lineno} of drills/__init__.py is neither an import nor __all__"


def test_public_api_is_unchanged():
    assert cnnlib.drills.__all__ == [
        "DrillResult", "Reference", "check", "get_reference", "layer_sheet", "list_references",
        "reference_trace", "register_reference", "shape_ladder", "trace"]
    for name in cnnlib.drills.__all__ + ["Trace"]:
        assert getattr(cnnlib.drills, name) is not None


def test_no_module_imports_a_private_name_from_another():
    modules = sorted(DRILLS.glob("*.py"))
    assert len(modules) > 5  # the scan sees the package
    found = {p.name: private_imports(p.read_text()) for p in modules}
    assert {name: names for name, names in found.items() if names} == {}


def test_no_cnnlib_imports_inside_functions():
    found = {p.name: imports_in_functions(p.read_text()) for p in sorted(DRILLS.glob("*.py"))}
    assert {name: names for name, names in found.items() if names} == {}


def test_the_scans_catch_what_they_look_for():
    assert definitions("import os\ndef f():\n    class A: pass\n") == ["f", "A"]
    assert private_imports("from ._trace import Layer, _dims\nfrom os import _exit\n") == \
        ["._trace: _dims"]
    assert private_imports("from cnnlib.drills._trace import _pair\n") == \
        ["cnnlib.drills._trace: _pair"]
    assert imports_in_functions("def f():\n    from .. import models\n    import json\n") == \
        ["f: from .."]
