"""The shape of the package: no import cycles, no imports hidden inside functions, small modules,
and a package map in CONTRIBUTING.md that names every module.

These keep the house visible: a reader can see what depends on what from the top of each file.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cnnlib"
MODULES = sorted(PACKAGE.rglob("*.py"))
LONGEST = 500  # lines; a longer module says at its top why it is one module


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(node: ast.ImportFrom | ast.Import, here: str, is_package: bool) -> list[str]:
    """The cnnlib modules an import statement names (``from . import x`` names ``cnnlib.x``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "cnnlib"]
    if node.level == 0:
        base = node.module or ""
        if base.split(".")[0] != "cnnlib":
            return []
    else:
        parts = here.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join(parts[:keep] + ([node.module] if node.module else []))
    names = []
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        names.append(candidate if candidate in KNOWN else base)
    return names


KNOWN = {module_name(p) for p in MODULES}


def imports(path: Path) -> tuple[set[str], list[str]]:
    """(cnnlib modules imported at module level, imports found inside functions)."""
    here, tree = module_name(path), ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    top, inside = set(), []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            top |= set(resolve(node, here, is_package))
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(func):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and resolve(node, here,
                                                                             is_package):
                    inside.append(f"{here}.{func.name}: line {node.lineno}")
    return {m for m in top if m in KNOWN and m != here}, inside


GRAPH = {module_name(p): imports(p)[0] for p in MODULES}


def test_no_cnnlib_module_is_imported_inside_a_function():
    hidden = [line for p in MODULES for line in imports(p)[1]]
    assert hidden == [], ("import these at the top of the module (a cycle that forces an import "
                          f"into a function is a sign that something is in the wrong module): "
                          f"{hidden}")


def test_the_import_graph_has_no_cycles():
    """A package imports its own modules by re-exporting them; a package's __init__ is skipped
    as a target, so "a module of cnnlib.models imports cnnlib.models" is not a cycle."""
    graph = {m: {t for t in targets if not (m.startswith(t + ".") and t in PACKAGES)}
             for m, targets in GRAPH.items()}
    state, cycles = {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


PACKAGES = {module_name(p) for p in MODULES if p.name == "__init__.py"}


def test_the_graph_sees_real_imports():
    assert {"cnnlib._fit_checks", "cnnlib._fit_state", "cnnlib._fit_checkpoint"} <= \
        GRAPH["cnnlib.train"]
    assert "cnnlib.checkpoint" in GRAPH["cnnlib._fit_checkpoint"]
    assert "cnnlib.history" in GRAPH["cnnlib.checkpoint"]
    assert "cnnlib.train" not in GRAPH["cnnlib.checkpoint"]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_over_500_lines_says_why_at_its_top(path):
    lines = len(path.read_text().splitlines())
    if lines > LONGEST:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert "One module, although long:" in doc, (
            f"{path.name} has {lines} lines: split it by job, or say at the top of its docstring "
            "why it is one module ('One module, although long: ...')")


def test_contributing_maps_every_module():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    section = text.split("## The package map", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z_]+(?:/[a-z_]+)?)(?:\.py|/)`", section))
    modules = {str(p.relative_to(PACKAGE).with_suffix("")).removesuffix("/__init__")
               for p in MODULES if not p.name.startswith("_") or p.name == "__init__.py"}
    modules = {m for m in modules if "/" not in m or not m.split("/")[-1].startswith("_")}
    modules.discard("__init__")
    missing = sorted(m for m in modules if m not in named and m.split("/")[0] not in named)
    assert missing == [], f"CONTRIBUTING.md's package map does not name: {missing}"


SCREEN = 50  # lines: what a laptop shows of a file at once


def test_fits_body_fits_one_screen():
    """train.py promises a training loop a reader can see whole: fit's body (below its
    docstring) stays on one screen; per-epoch work and bookkeeping live in their own functions."""
    tree = next(node for node in ast.parse((PACKAGE / "train.py").read_text()).body
                if isinstance(node, ast.FunctionDef) and node.name == "fit")
    first = tree.body[1] if ast.get_docstring(tree) else tree.body[0]
    lines = tree.end_lineno - first.lineno + 1
    assert lines <= SCREEN, f"fit's body has {lines} lines: move a step into its own function"


def notebook_code(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


READER_NOTEBOOKS = sorted(path for folder in ("chapters", "whiteboard", "book")
                          for path in (ROOT / folder).glob("*.ipynb"))


@pytest.mark.parametrize("path", READER_NOTEBOOKS, ids=lambda p: p.name)
def test_no_notebook_writes_out_a_learning_rate_schedule(path):
    """The optimiser-and-schedule set-up lives in cnnlib.optim.one_cycle (and the recipe); a
    chapter that builds a scheduler itself has a private copy of it."""
    written = [code.splitlines()[0] for code in notebook_code(path) if "lr_scheduler" in code]
    assert written == [], (f"{path.name} builds a learning-rate schedule itself: use "
                           f"cnnlib.one_cycle (cells starting {written})")


def test_fit_hands_its_checkpoint_to_one_owner():
    """fit never looks at the checkpoint path: ``checkpoint`` and ``resume`` appear in its body
    once, as the arguments of FitCheckpoint, which checks, resumes, saves and reports."""
    fit = next(node for node in ast.parse((PACKAGE / "train.py").read_text()).body
               if isinstance(node, ast.FunctionDef) and node.name == "fit")
    uses = [node for node in ast.walk(fit) if isinstance(node, ast.Name)
            and node.id in ("checkpoint", "resume")]
    owner = [call for call in ast.walk(fit) if isinstance(call, ast.Call)
             and getattr(call.func, "id", None) == "FitCheckpoint"]
    assert len(owner) == 1, "fit should make one FitCheckpoint"
    assert sorted(id(node) for node in uses) == sorted(
        id(arg) for arg in owner[0].args if isinstance(arg, ast.Name)
        and arg.id in ("checkpoint", "resume")), (
        "fit uses checkpoint= or resume= itself: hand them to FitCheckpoint only")
