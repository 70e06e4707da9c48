"""cnnlib.notebook: values glued into a page's prose, one at a time or several in one call."""

from __future__ import annotations

import sys
import types

import pytest

from cnnlib.notebook import glue, glue_all


@pytest.fixture
def glued(monkeypatch) -> list:
    """What myst_nb's glue received, with a stand-in for myst_nb (it needs Sphinx)."""
    calls = []
    fake = types.ModuleType("myst_nb")
    fake.glue = lambda name, value, display=True: calls.append((name, value, display))
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    return calls


def test_glue_all_glues_each_value_in_order_without_showing_it(glued):
    glue_all(acc="97.1%", epochs=12)
    assert glued == [("acc", "97.1%", False), ("epochs", 12, False)]


def test_glue_all_takes_a_dict_for_names_that_are_not_identifiers(glued):
    glue_all({"ch3-acc": "97.1%"}, epochs=12)
    assert glued == [("ch3-acc", "97.1%", False), ("epochs", 12, False)]


def test_glue_all_is_the_same_as_one_glue_per_value(glued):
    glue("acc", "97.1%")
    glue("epochs", 12)
    one_by_one = list(glued)
    glued.clear()
    glue_all(acc="97.1%", epochs=12)
    assert glued == one_by_one


@pytest.mark.parametrize("call, error, message", [
    (lambda: glue_all(), TypeError, "nothing to glue"),
    (lambda: glue_all(["acc", 1]), TypeError, "name=value pairs or one dict"),
    (lambda: glue_all({"acc": 1}, acc=2), ValueError, "'acc' twice"),
    (lambda: glue_all({"": 1}), ValueError, "non-empty string"),
    (lambda: glue_all({3: 1}), ValueError, "non-empty string"),
    (lambda: glue_all({" acc": 1}), ValueError, "letters, digits"),
    (lambda: glue_all({"acc ": 1}), ValueError, "letters, digits"),
    (lambda: glue_all({"a`b": 1}), ValueError, "letters, digits"),
    (lambda: glue_all({"acc:.2f": 1}), ValueError, "letters, digits"),
    (lambda: glue_all({"ok": 1, "a b": 2}), ValueError, "got 'a b'"),
    (lambda: glue_all(values={"acc": "97%"}), TypeError, "pass the dict positionally"),
    (lambda: glue(None, 1), ValueError, "non-empty string"),
    (lambda: glue(3, 1), ValueError, "non-empty string"),
    (lambda: glue("a`b", 1), ValueError, "what the glue:text role can name"),
])
def test_a_mistake_glues_nothing(glued, call, error, message):
    with pytest.raises(error, match=message):
        call()
    assert glued == []


def test_without_myst_nb_glue_all_does_nothing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import myst_nb raises ImportError
    glue_all(acc="97.1%")
    assert capsys.readouterr().out == ""


def test_glue_all_is_where_the_chapters_find_glue():
    import cnnlib
    assert cnnlib.glue_all is glue_all and "glue_all" in cnnlib.__all__


def test_glue_names_take_letters_digits_underscore_dash_and_dot(glued):
    glue_all({"ch3-acc_0.5": 1}, values="a str named values is fine")
    assert [name for name, _, _ in glued] == ["ch3-acc_0.5", "values"]


def test_every_glue_name_in_the_book_passes_the_check():
    """The names that the pages' roles use and that the notebooks glued keep working."""
    import json
    import re
    from pathlib import Path

    from cnnlib.notebook import _NAME
    root = Path(__file__).resolve().parents[1]
    names = set()
    for page in [*root.glob("chapters/*.ipynb"), *root.glob("whiteboard/**/*.ipynb"),
                 *root.glob("book/**/*.md"), *root.glob("book/**/*.ipynb")]:
        text = page.read_text(encoding="utf-8")
        names |= set(re.findall(r"\{glue(?::\w+)?\}`([^`:]*)", text))
        if page.suffix == ".ipynb":
            for cell in json.loads(text)["cells"]:
                for output in cell.get("outputs", []):
                    names.add(output.get("metadata", {}).get("scrapbook", {}).get("name"))
    names.discard(None)
    assert names and [n for n in names if not _NAME.fullmatch(n)] == []
