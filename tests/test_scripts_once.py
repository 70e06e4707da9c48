"""_ext/scripts_once.py: a page writes each inline script once (sphinx-thebe's configuration,
``const THEBE_JS_URL = ...``, came twice and the second was an error in the browser)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
scripts_once = pytest.importorskip("scripts_once")
_JavaScript = pytest.importorskip("sphinx.builders.html._assets")._JavaScript


def test_a_repeated_inline_script_is_written_once_and_files_are_kept():
    thebe = 'const THEBE_JS_URL = "https://unpkg.com/thebe@0.8.2/lib/index.js"'
    scripts = [_JavaScript(None, body=thebe), _JavaScript("_static/sphinx-thebe.js"),
               _JavaScript("", body=thebe), _JavaScript("", body="let x = 1;"),
               _JavaScript("_static/sphinx-thebe.js")]
    context = {"script_files": scripts}
    scripts_once.drop_repeated_inline_scripts(None, "page", "page.html", context, None)
    assert context["script_files"] is scripts  # changed in place, as the builder expects
    assert scripts == [_JavaScript(None, body=thebe), _JavaScript("_static/sphinx-thebe.js"),
                       _JavaScript("", body="let x = 1;"),
                       _JavaScript("_static/sphinx-thebe.js")]


def test_the_book_loads_it():
    config = (ROOT / "_config.yml").read_text()
    assert "local_extensions:\n    scripts_once: _ext\n" in config
