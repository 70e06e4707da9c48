"""``import cnnlib`` is quick: submodules, matplotlib and torchvision load on first use, every
exported name and module is still reachable, and ``python -m`` starts without runpy's warning."""

from __future__ import annotations

import subprocess
import sys

import pytest

import cnnlib

HEAVY = ("matplotlib", "torchvision", "cnnlib.plots", "cnnlib.bench", "cnnlib.recipes",
         "cnnlib.drills", "cnnlib.folders", "cnnlib.train")


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)


def test_import_cnnlib_loads_nothing_heavy():
    loaded = python("import sys, cnnlib; print(' '.join(m for m in "
                    f"{HEAVY!r} if m in sys.modules))")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == []


def test_setup_does_not_load_matplotlib_either():
    loaded = python("import sys, cnnlib; cnnlib.setup(quiet=True); "
                    "print('matplotlib' in sys.modules)")
    assert loaded.stdout.strip() == "False", loaded.stderr


@pytest.mark.parametrize("name", [*cnnlib.__all__, *cnnlib._MODULES])
def test_every_exported_name_and_module_is_reachable(name):
    assert getattr(cnnlib, name) is not None
    assert name in dir(cnnlib)


def test_summary_stays_the_function_when_its_module_is_imported_first():
    out = python("import importlib, cnnlib; m = importlib.import_module('cnnlib.summary'); "
                 "import cnnlib.drills; "
                 "print(callable(cnnlib.summary), cnnlib.summary is m.summary)")
    assert out.stdout.split() == ["True", "True"], out.stderr


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'fitt'"):
        cnnlib.fitt  # noqa: B018


@pytest.mark.parametrize("module", ["cnnlib.bench", "cnnlib.recipes", "cnnlib.experiments"])
def test_python_m_starts_without_runpys_warning(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "RuntimeWarning" not in done.stderr and "sys.modules" not in done.stderr
