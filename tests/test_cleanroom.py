"""The clean room (tools/cleanroom.py) itself: a notebook that imports an undeclared package
fails there, a notebook that uses only cnnlib passes, and cnnlib comes from the built wheel."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """Both notebooks through one clean room: its exit status and everything it printed."""
    folder = tmp_path_factory.mktemp("notebooks")
    notebook(folder / "uses_yaml.ipynb", "import yaml  # installed here, not declared by cnnlib")
    notebook(folder / "uses_cnnlib.ipynb",
             "import os, cnnlib, skimage\nprint(cnnlib.__version__)",
             "assert 'site-packages' in cnnlib.__file__, cnnlib.__file__\n"
             "assert os.listdir('.') == ['uses_cnnlib.ipynb'], os.listdir('.')\n"
             "from cnnlib import results\n"
             "assert results.load_results(), 'recorded results missing'")
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "cleanroom.py"), str(folder)],
                          capture_output=True, text=True, cwd=ROOT)
    return done.returncode, done.stdout + done.stderr


def test_a_notebook_importing_an_undeclared_package_fails(outcome):
    status, log = outcome
    assert status != 0
    assert "FAILED" in log and "uses_yaml.ipynb::Cell 0" in log
    assert "No module named 'yaml'" in log


def test_a_notebook_using_cnnlib_runs_alone_against_the_installed_wheel(outcome):
    status, log = outcome
    assert "uses_cnnlib.ipynb::" not in log.split("short test summary info")[-1], log[-3000:]
    assert "1 failed, 2 passed" in log  # both cells of uses_cnnlib passed
    assert "wall time per notebook" in log and "uses_cnnlib.ipynb" in log
    table = log.split("wall time per notebook")[-1]
    assert re.search(r"uses_cnnlib\.ipynb +\d+\.\d s  passed$", table, re.M), table
    assert re.search(r"uses_yaml\.ipynb +\d+\.\d s  FAILED$", table, re.M), table


def test_each_notebook_is_counted_as_it_finishes(outcome):
    _, log = outcome
    done = re.findall(r"^\[(\d)/2\] notebooks\d*/(\S+) \.\.\. +\d+\.\d s$", log, re.M)
    assert done == [("1", "uses_cnnlib.ipynb"), ("2", "uses_yaml.ipynb")], log[-3000:]
    assert log.index("building cnnlib's wheel") < log.index("running 2 notebook(s)")


def test_a_notebook_of_the_book_runs_as_its_edition_with_the_compared_outputs_put_back():
    """The clean room runs colab/<path>; the answer cells nbval compares get the source's
    saved outputs back (the edition drops them), so their comparisons still happen."""
    sys.path.insert(0, str(ROOT / "tools"))
    import cleanroom
    import release

    source = ROOT / "chapters" / "03_lenet5.ipynb"
    assert cleanroom.edition_of(source) == ROOT / "colab" / "chapters" / "03_lenet5.ipynb"
    assert cleanroom.edition_of(ROOT / "colab" / "chapters" / "03_lenet5.ipynb") is None
    assert cleanroom.edition_of(ROOT / "tests" / "x.ipynb") is None
    assert cleanroom.stale_editions([source]) == []
    original = nbformat.read(source, as_version=4)
    runs = cleanroom.edition_to_run(source, cleanroom.edition_of(source))
    compared = [i for i in release.answer_cells(original.cells)
                if "nbval-check-output" in original.cells[i].metadata.get("tags", [])]
    assert compared  # the chapter has such cells, so the check below is not vacuous
    by_id = {c.id: c for c in runs.cells if c.cell_type == "code"}
    for i in compared:
        assert by_id[original.cells[i].id].outputs == original.cells[i].outputs
