"""tools/make_practice.py: practice copies exist, are current, and empty exactly the right cells."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("make_practice", ROOT / "tools" / "make_practice.py")
make_practice = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_practice)


def test_practice_copies_of_the_chapters_are_up_to_date(capsys):
    """Fails when a chapter changed without `make practice`: the message names the chapter."""
    status = make_practice.main(["--check"])
    assert status == 0, capsys.readouterr().err


def chapter() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    colab = nbformat.v4.new_code_cell('import sys\nif "google.colab" in sys.modules:\n    pass')
    title = nbformat.v4.new_markdown_cell("# 9. A chapter\n\nSome prose.")
    setup = nbformat.v4.new_code_cell("import cnnlib\nrun = cnnlib.setup()")
    work = nbformat.v4.new_code_cell("x = 1 + 1\nprint(x)", execution_count=3,
                                     outputs=[nbformat.v4.new_output("stream", text="2\n")])
    work.metadata["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00Z"}
    work.metadata["tags"] = ["hide-input"]
    nb.cells = [colab, title, setup, work]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
    return nb


@pytest.fixture
def folders(tmp_path):
    chapters, out = tmp_path / "chapters", tmp_path / "practice"
    chapters.mkdir()
    nbformat.write(chapter(), chapters / "09_chapter.ipynb")
    return chapters, out


def run(folders, *flags) -> int:
    chapters, out = folders
    return make_practice.main(["--chapters", str(chapters), "--out", str(out), *flags])


def test_a_copy_keeps_the_install_and_setup_cells_and_the_prose_and_empties_the_rest(folders):
    assert run(folders) == 0
    copy = nbformat.read(folders[1] / "09_chapter.ipynb", as_version=4)
    nbformat.validate(copy)
    note, colab, title, setup, work = copy.cells
    ref = make_practice.book_ref.ref()  # main, or the tag on the release commit
    github = f"https://github.com/classic-cnns/classic-cnns/blob/{ref}/"
    assert f"Practice copy of [09_chapter.ipynb]({github}" in note.source  # absolute: Colab
    assert f"colab.research.google.com/github/classic-cnns/classic-cnns/blob/{ref}/" in note.source
    assert "google.colab" in colab.source and "cnnlib.setup()" in setup.source
    assert title.source.startswith("# 9. A chapter")
    assert work.source == ("# Your code here: the chapter's cell has 2 lines.\n"
                           "# It defines: x\n# It calls: print")
    assert work.outputs == [] and work.execution_count is None
    assert "execution" not in work.metadata and work.metadata["tags"] == ["hide-input"]


def test_hints_name_what_a_cell_defines_and_calls_and_wrap_at_the_code_width():
    text = make_practice.hint("import torch\nfrom torch import nn\n%matplotlib inline\n"
                              "model = get_model('lenet5')\nfor i, (x, y) in enumerate(data):\n"
                              "    total += model(x).sum()\n"
                              "class Net(nn.Module):\n    pass\n"
                              + "".join(f"value_{i} = function_number_{i}(1)\n"
                                        for i in range(8)))
    lines = text.splitlines()
    assert lines[0] == "# Your code here: the chapter's cell has 16 lines."
    assert lines[1].startswith("# It defines: torch, nn, model, i, x, y, Net, value_0,")
    assert all(len(line) <= make_practice.HINT_WIDTH for line in lines)
    assert "function_number_7" in text and "enumerate" not in text  # built-ins are left out
    assert make_practice.hint("# a comment only\n") == ""
    assert make_practice.hint("x = (\n") == "# Your code here: the chapter's cell has 1 line."


def test_output_is_deterministic_and_check_passes_after_writing(folders):
    assert run(folders, "--check") == 1          # nothing written yet: missing
    assert run(folders) == 0
    first = (folders[1] / "09_chapter.ipynb").read_bytes()
    assert run(folders) == 0
    assert (folders[1] / "09_chapter.ipynb").read_bytes() == first
    assert run(folders, "--check") == 0


def test_check_fails_when_a_chapter_changes_or_disappears(folders, capsys):
    chapters, out = folders
    assert run(folders) == 0
    nb = nbformat.read(chapters / "09_chapter.ipynb", as_version=4)
    nb.cells[1].source += "\nMore prose."
    nbformat.write(nb, chapters / "09_chapter.ipynb")
    assert run(folders, "--check") == 1
    assert "09_chapter.ipynb: out of date" in capsys.readouterr().err
    assert run(folders) == 0 and run(folders, "--check") == 0
    (chapters / "09_chapter.ipynb").rename(chapters / "10_renamed.ipynb")
    assert run(folders, "--check") == 1
    assert "no chapter of that name" in capsys.readouterr().err
    assert run(folders) == 0
    assert sorted(p.name for p in out.iterdir()) == ["10_renamed.ipynb"]


def test_editing_a_practice_copy_is_caught(folders):
    assert run(folders) == 0
    path = folders[1] / "09_chapter.ipynb"
    path.write_text(path.read_text().replace("Some prose.", "Some prose, edited."))
    assert run(folders, "--check") == 1
