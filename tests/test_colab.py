"""cnnlib.colab: in Colab, answer cells stay folded and do not run under Run all; and a
notebook that skips them still runs (no later cell needs what an answer defines)."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from IPython.core.interactiveshell import InteractiveShell

from cnnlib import colab

spec = importlib.util.spec_from_file_location(
    "release", Path(__file__).resolve().parent.parent / "tools" / "release.py")
release = importlib.util.module_from_spec(spec)
spec.loader.exec_module(release)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted([*ROOT.glob("chapters/*.ipynb"), *ROOT.glob("whiteboard/*.ipynb"),
                    *ROOT.glob("book/*.ipynb")])
ANSWER = f"{colab.solution_title('ex-demo')}\nsecret = 6 * 7\nprint('the answer is', secret)"


@pytest.fixture
def shell(monkeypatch):
    monkeypatch.delenv("CNNLIB_ANSWERS", raising=False)
    monkeypatch.setitem(colab._state, "show", None)
    ip = InteractiveShell.instance()
    yield ip
    if colab._hold in ip.input_transformers_post:
        ip.input_transformers_post.remove(colab._hold)
    ip.user_ns.pop("secret", None)


def in_colab(monkeypatch, yes: bool):
    if yes:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)


def test_in_colab_an_answer_cell_prints_a_note_instead_of_running(shell, monkeypatch, capsys):
    in_colab(monkeypatch, True)
    assert colab.hold_answers(shell)
    shell.run_cell(ANSWER)
    out = capsys.readouterr().out
    assert "secret" not in shell.user_ns and "the answer is" not in out
    assert "Solution of ex-demo: not run" in out and "show_answers()" in out
    shell.run_cell("value = 5")  # other cells run as usual
    assert shell.user_ns["value"] == 5


def test_after_show_answers_the_same_cell_runs(shell, monkeypatch, capsys):
    in_colab(monkeypatch, True)
    colab.hold_answers(shell)
    colab.show_answers()
    shell.run_cell(ANSWER)
    assert shell.user_ns["secret"] == 42 and "the answer is 42" in capsys.readouterr().out


def test_outside_colab_answers_run_unless_asked_to_hold(shell, monkeypatch):
    in_colab(monkeypatch, False)
    colab.hold_answers(shell)
    shell.run_cell(ANSWER)
    assert shell.user_ns.pop("secret") == 42
    monkeypatch.setenv("CNNLIB_ANSWERS", "hold")
    shell.run_cell(ANSWER)
    assert "secret" not in shell.user_ns


def test_a_bad_setting_fails_once_at_setup_with_the_choices(monkeypatch):
    monkeypatch.setenv("CNNLIB_ANSWERS", "yes")
    with pytest.raises(ValueError, match="expected 'hold' or 'run'"):
        colab.hold_answers(InteractiveShell.instance())


def test_installing_twice_adds_one_transformer_and_outside_ipython_is_a_no_op(shell):
    colab.hold_answers(shell)
    colab.hold_answers(shell)
    assert shell.input_transformers_post.count(colab._hold) == 1
    assert colab.hold_answers.__defaults__ == (None,)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_holding_the_answers_leaves_every_other_cell_runnable(path):
    """Colab's Run all skips answer cells: no later cell may need a name only they define.
    (Answers that later cells build on are titled so, and run silently instead.)"""
    skipped_only = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        bound, reads = release.names(cell.source)
        first = cell.source.splitlines()[0] if cell.source else ""
        if colab.is_answer_cell([first]) and colab.NEEDED_LATER not in first:
            skipped_only.update(dict.fromkeys(bound, first))
            continue
        missing = {name: skipped_only[name] for name in reads & set(skipped_only)}
        assert not missing, f"{path.name}: a cell needs {missing}, defined only in held answers"
        for name in bound:
            skipped_only.pop(name, None)


def test_a_silent_answer_defines_its_names_and_shows_nothing(shell, monkeypatch, capsys):
    in_colab(monkeypatch, True)
    colab.hold_answers(shell)
    cell = (f"{colab.solution_title('ex-demo', needed_later=True)}\n"
            "class Model:\n    size = 3\n\nprint('spoiler')")
    shell.run_cell(cell)
    out = capsys.readouterr().out
    assert shell.user_ns.pop("Model").size == 3
    assert "spoiler" not in out and "run without showing its output" in out
