"""tools/execute_notebook.py: it reads the mode a notebook's outputs were made in from
the banner, refuses to replace full-mode outputs with a quick-mode run unless
--allow-quick, runs the kernel in the mode it checked, and not over unencrypted TCP."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
BANNER = ("cnnlib 0.1.0 | torch 2.14.1+cu130 | torchvision 0.29.1+cu130 | "
          "python 3.11.7 | device cpu (1 thread) | mode {} | seed 0")


def load_tool():
    path = ROOT / "tools" / "execute_notebook.py"
    spec = importlib.util.spec_from_file_location("execute_notebook", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = load_tool()


def notebook(path: Path, mode: str | None, source: str = "x = 1") -> Path:
    """A notebook whose code cell printed the banner of ``mode`` (none if None)."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    if mode:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                               text=BANNER.format(mode) + "\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# mode full | seed"), cell]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("mode", ["quick", "full", None])
def test_the_saved_mode_is_read_from_the_banner(tmp_path, mode):
    nb = nbformat.read(notebook(tmp_path / "a.ipynb", mode), as_version=4)
    assert tool.saved_mode(nb) == mode  # markdown that looks like a banner is not one
    if mode:  # the banner as a cell's value (text/plain, a list of lines) counts too
        nb.cells[1].outputs = [nbformat.v4.new_output(
            "execute_result", data={"text/plain": ["'", BANNER.format(mode), "'"]},
            execution_count=1)]
        assert tool.saved_mode(nb) == mode


def test_every_committed_notebook_that_calls_setup_has_a_banner_to_read():
    """If the banner's wording changed, the refusal would silently stop working."""
    found = []
    paths = sorted(ROOT.glob("chapters/*.ipynb"))
    paths += sorted(ROOT.glob("whiteboard/*.ipynb"))
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
        if any("cnnlib.setup(" in source for source in code):
            found.append(path.name)
            assert tool.saved_mode(nb) in ("quick", "full"), path.name
    assert len(found) >= 10


@pytest.fixture
def executed(monkeypatch):
    """execute() replaced by a recorder: which notebooks would run, in which mode."""
    calls = []
    monkeypatch.setattr(tool, "execute",
                        lambda path, mode: calls.append((path.name, mode)) or 0.0)
    return calls


def test_quick_mode_does_not_replace_full_mode_outputs(tmp_path, monkeypatch, capsys,
                                                       executed):
    monkeypatch.setenv("CNNLIB_MODE", "quick")
    full = notebook(tmp_path / "full.ipynb", "full")
    quick = notebook(tmp_path / "quick.ipynb", "quick")
    before = full.read_bytes()
    assert tool.main([str(quick), str(full)]) == 2
    assert executed == [] and full.read_bytes() == before  # none runs, not even quick
    message = capsys.readouterr().err
    assert "full.ipynb: its saved outputs come from a full-mode run" in message
    assert "quick.ipynb" not in message
    assert "CNNLIB_MODE=full" in message and "--allow-quick" in message
    assert tool.main([str(quick), str(full), "--allow-quick"]) == 0
    assert executed == [("quick.ipynb", "quick"), ("full.ipynb", "quick")]


def test_the_default_mode_on_a_cpu_is_refused_too(tmp_path, monkeypatch, capsys,
                                                   executed):
    monkeypatch.delenv("CNNLIB_MODE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert tool.main([str(notebook(tmp_path / "full.ipynb", "full"))]) == 2
    assert "quick mode (default on this machine)" in capsys.readouterr().err


@pytest.mark.parametrize("env, saved, expected", [
    ("full", "full", "full"), ("full", "quick", "full"), ("quick", "quick", "quick"),
    ("quick", None, "quick")])
def test_runs_that_replace_nothing_better_go_ahead(tmp_path, monkeypatch, executed,
                                                    env, saved, expected):
    monkeypatch.setenv("CNNLIB_MODE", env)
    assert tool.main([str(notebook(tmp_path / "a.ipynb", saved))]) == 0
    assert executed == [("a.ipynb", expected)]


def test_a_real_run_uses_the_checked_mode_and_no_tcp(tmp_path):
    """One kernel, for real: the mode reaches it, the digest is recorded, and
    ipykernel's warning about unencrypted TCP is not printed (local sockets, removed
    after)."""
    path = notebook(tmp_path / "run.ipynb", "quick",
                    "import os\nprint(os.environ['CNNLIB_MODE'])")
    env = {**os.environ, "CNNLIB_MODE": "quick"}
    command = [sys.executable, str(ROOT / "tools" / "execute_notebook.py"), str(path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "without encryption" not in done.stdout + done.stderr
    assert "(mode quick, CNNLIB_MODE)" in done.stdout
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[1].outputs[0]["text"] == "quick\n"
    assert nb.metadata["cnnlib"]["code_sha256"] == tool.code_digest(nb)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ipynb"]


def test_cells_runs_the_setup_and_the_named_cells_and_keeps_every_other_output(tmp_path):
    nb = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell(
        "import types\ncnnlib = types.SimpleNamespace(setup=lambda: 41)\n"
        "run = cnnlib.setup()")
    chosen = nbformat.v4.new_code_cell("print(run + 1)")
    kept = nbformat.v4.new_code_cell("print('made by a long run')")
    for cell, text in ((setup, "banner\n"), (chosen, "stale\n"), (kept, "long run\n")):
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        cell.execution_count = 7
    nb.cells = [setup, nbformat.v4.new_markdown_cell("text"), kept, chosen]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    assert tool.main([str(path), "--cells", chosen.id]) == 0
    done = nbformat.read(path, as_version=4)
    texts = [c.outputs[0].text for c in done.cells if c.cell_type == "code"]
    assert texts == ["banner\n", "long run\n", "42\n"]  # only the named cell's changed
    assert [c.execution_count for c in done.cells if c.cell_type == "code"] == [1, 2, 3]
    assert done.metadata["cnnlib"]["code_sha256"] == tool.code_digest(done)


def test_cells_refuses_an_unknown_id_or_a_markdown_cell_before_running(tmp_path, capsys):
    path = notebook(tmp_path / "a.ipynb", None, "run = cnnlib.setup()")
    markdown = nbformat.read(path, as_version=4).cells[0].id
    for ids in ("nope", markdown):
        with pytest.raises(SystemExit):
            tool.main([str(path), "--cells", ids])
        assert "--cells names code cells" in capsys.readouterr().err


def test_cells_keeps_tags_refuses_repeats_and_keeps_the_full_mode_guard(tmp_path, capsys,
                                                                         monkeypatch):
    nb = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell(
        "import types\ncnnlib = types.SimpleNamespace(setup=lambda: 1)\nrun = cnnlib.setup()"
        "  # cnnlib.setup() in a comment elsewhere does not count")
    raises = nbformat.v4.new_code_cell("1 / 0", metadata={"tags": ["raises-exception"]})
    comment = nbformat.v4.new_code_cell("# then call cnnlib.setup() again\nx = 2")
    nb.cells = [setup, raises, comment]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    monkeypatch.setenv("CNNLIB_MODE", "quick")
    # a tagged cell that raises on purpose runs as in a whole-notebook run
    assert tool.main([str(path), "--cells", f"{raises.id}, {comment.id}"]) == 0
    done = nbformat.read(path, as_version=4)
    assert done.cells[1].outputs[0].output_type == "error"
    with pytest.raises(SystemExit):  # a repeated id would run the cell twice
        tool.main([str(path), "--cells", f"{comment.id},{comment.id}"])
    assert "more than once" in capsys.readouterr().err
    # a notebook whose outputs come from a full run is refused in quick mode
    done.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                    text=BANNER.format("full") + "\n")]
    nbformat.write(done, path)
    assert tool.main([str(path), "--cells", comment.id]) == 2
    assert "saved outputs come from a full-mode run" in capsys.readouterr().err
