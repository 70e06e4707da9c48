"""One version, one git ref: the launch buttons, every install cell and ``cnnlib.__version__``
agree; the install cell cannot fail quietly; the release command commits and tags."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
import yaml

import cnnlib

ROOT = Path(__file__).resolve().parent.parent


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


release = load_tool("release")
book_ref = load_tool("book_ref")
REF = f"v{cnnlib.__version__}"
NOTEBOOKS = sorted(p for folder in release.NOTEBOOK_FOLDERS for p in (ROOT / folder).glob("*.ipynb"))


# --- (a) everything agrees with the version ------------------------------------------------------

def test_every_place_agrees_with_the_version(capsys):
    """Launch ref, install cells, practice links and copies: `tools/release.py sync` mends them."""
    assert release.main(["check"]) == 0, capsys.readouterr().err


def test_the_version_is_set_once_and_the_ref_is_its_tag():
    assert book_ref.version() == cnnlib.__version__
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["branch"] == REF  # what the launch buttons open
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'attr = "cnnlib._version.__version__"' in pyproject


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_notebook_installs_cnnlib_at_the_books_ref(path):
    nb = nbformat.read(path, as_version=4)
    installs = [cell for cell in nb.cells if release.is_install_cell(cell)]
    assert len(installs) == 1, f"{path.name}: expected one Colab install cell"
    source = installs[0].source
    assert f'REPOSITORY, REF = "{book_ref.repository()}", "{REF}"' in source
    assert nb.cells[0].cell_type == "markdown" and "hide-input" in installs[0].metadata.tags


def test_each_chapter_links_to_its_practice_copy_at_the_same_ref():
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        links = [c.source for c in nb.cells if c.source.startswith(release.PRACTICE_MARK)]
        assert len(links) == 1, path.name
        assert f"/blob/{REF}/colab/practice/{path.name}" in links[0]  # its Colab edition
        assert f"colab.research.google.com/github/" in links[0]
        practice = nbformat.read(ROOT / "practice" / path.name, as_version=4)
        assert f"/blob/{REF}/chapters/{path.name}" in practice.cells[0].source  # absolute back-link


# --- (b) the install cell ----------------------------------------------------------------------

CELL = release.install_cell_source("https://github.com/classic-cnns/classic-cnns", REF)


def run_install_cell(monkeypatch, in_colab: bool, returncode: int = 0, stderr: str = ""):
    calls = []

    def fake_run(args, **kwargs):
        calls.append(args)
        return subprocess.CompletedProcess(args, returncode, stdout="", stderr=stderr)

    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", fake_run)
    exec(compile(CELL, "install-cell", "exec"), {})
    return calls


def test_the_install_cell_does_nothing_outside_colab(monkeypatch):
    assert run_install_cell(monkeypatch, in_colab=False) == []


def test_in_colab_it_installs_at_the_ref_and_prints_the_version(monkeypatch, capsys):
    (call,) = run_install_cell(monkeypatch, in_colab=True)
    assert call[1:5] == ["-m", "pip", "install", "--quiet"]
    assert call[5] == f"cnnlib @ git+https://github.com/classic-cnns/classic-cnns@{REF}"
    assert f"cnnlib {cnnlib.__version__} installed from" in capsys.readouterr().out


def test_a_failed_install_stops_the_notebook_naming_url_ref_and_what_to_do(monkeypatch):
    with pytest.raises(RuntimeError) as error:
        run_install_cell(monkeypatch, in_colab=True, returncode=1,
                         stderr="fatal: couldn't find remote ref v0.1.0")
    message = str(error.value)
    assert "https://github.com/classic-cnns/classic-cnns" in message and REF in message
    assert "couldn't find remote ref" in message  # pip's own words
    assert "run this cell again" in message and "launch button" in message


def test_a_different_cnnlib_already_loaded_is_an_error(monkeypatch):
    monkeypatch.setattr(cnnlib, "__version__", "0.0.1")
    with pytest.raises(RuntimeError, match="Restart session"):
        run_install_cell(monkeypatch, in_colab=True)


# --- (c) sync and check on a small book --------------------------------------------------------

def small_book(root: Path, version: str = "0.3.0") -> Path:
    (root / "cnnlib").mkdir(parents=True)
    (root / "cnnlib" / "_version.py").write_text(f'__version__ = "{version}"\n')
    (root / "_config.yml").write_text("repository:\n  url: https://github.com/o/b\n"
                                      "  branch: main\n"
                                      "html:\n  baseurl: https://o.github.io/b/\n")
    for name in release.TEXT_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text('pip install "cnnlib @ git+https://github.com/o/b@v0.0.9"\n')
    for folder in ("chapters", "whiteboard", "practice"):
        (root / folder).mkdir(exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 9. A chapter"),
        nbformat.v4.new_code_cell('import sys\nif "google.colab" in sys.modules:\n    pass'),
        nbformat.v4.new_code_cell("import cnnlib\nrun = cnnlib.setup()"),
        nbformat.v4.new_markdown_cell("```{exercise}\n:label: ex-a\nQ\n```\n\n"
                                      "```{solution-start} ex-a\n:class: dropdown\n```"),
        nbformat.v4.new_code_cell("answer = 42"),
        nbformat.v4.new_markdown_cell("```{solution-end}\n```\n\n"
                                      "```{solution-start} ex-b\n:class: dropdown\n```"),
        nbformat.v4.new_code_cell("# @title Solution of ex-old { x }\nprint(2)"),
        nbformat.v4.new_markdown_cell("```{solution-end}\n```"),
        nbformat.v4.new_code_cell("print('after the solutions')"),
    ]
    for i, cell in enumerate(nb.cells):
        cell.id = f"c{i}"
    nbformat.write(nb, root / "chapters" / "09_chapter.ipynb")
    return root


def test_check_finds_every_stale_place_and_sync_mends_them(tmp_path):
    root = small_book(tmp_path)
    wrong = release.out_of_date(root)
    assert {w.split(":")[0] for w in wrong} == {
        "chapters/09_chapter.ipynb", "_config.yml", "README.md", "CONTRIBUTING.md",
        "book/how_to_use.md", "practice/09_chapter.ipynb", "colab/chapters/09_chapter.ipynb",
        "colab/practice/09_chapter.ipynb"}
    release.sync(root)
    assert release.out_of_date(root) == []
    assert "branch: v0.3.0" in (root / "_config.yml").read_text()
    assert "git+https://github.com/o/b@v0.3.0" in (root / "README.md").read_text()
    cells = nbformat.read(root / "chapters" / "09_chapter.ipynb", as_version=4).cells
    assert '"https://github.com/o/b", "v0.3.0"' in cells[1].source
    assert cells[2].source.startswith(release.PRACTICE_MARK)
    assert cells[5].source.splitlines()[0].startswith("# @title Solution of ex-a")
    assert cells[7].source.splitlines() == [  # an old title is replaced, not stacked
        '# @title Solution of ex-b { display-mode: "form" }', "print(2)"]
    assert cells[9].source == "print('after the solutions')"  # not an answer
    edition = nbformat.read(root / "colab" / "chapters" / "09_chapter.ipynb", as_version=4)
    assert "## Exercise 1\n\nQ" in edition.cells[4].source  # the Colab edition, by sync
    assert "colab/practice/09_chapter.ipynb" in cells[2].source  # the practice link opens it
    release.sync(root)  # idempotent
    assert release.out_of_date(root) == []


def test_a_hand_edited_install_ref_is_caught(tmp_path):
    root = small_book(tmp_path)
    release.sync(root)
    path = root / "chapters" / "09_chapter.ipynb"
    path.write_text(path.read_text().replace('\\"v0.3.0\\"', '\\"main\\"'))
    assert release.out_of_date(root) == ["chapters/09_chapter.ipynb: not in sync with version "
                                         "0.3.0"]


# --- (d) the release command, in a scratch clone -----------------------------------------------

@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs git and a git checkout")
def test_release_sets_the_version_everywhere_commits_and_tags(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    tool = [sys.executable, str(clone / "tools" / "release.py")]
    done = subprocess.run([*tool, "release", "9.8.7"], cwd=clone, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    git = lambda *a: subprocess.run(["git", *a], cwd=clone, check=True, capture_output=True,
                                    text=True).stdout.strip()  # noqa: E731
    assert "v9.8.7" in git("tag", "--list").split()
    assert git("status", "--porcelain") == ""
    assert git("log", "-1", "--format=%s").startswith("Release v9.8.7")
    assert '__version__ = "9.8.7"' in (clone / "cnnlib" / "_version.py").read_text()
    assert subprocess.run([*tool, "check"], cwd=clone).returncode == 0
    chapter = (clone / "chapters" / "03_lenet5.ipynb").read_text()
    assert "/blob/v9.8.7/colab/practice/03_lenet5.ipynb" in chapter
    again = subprocess.run([*tool, "release", "9.8.7"], cwd=clone, env=env, capture_output=True,
                           text=True)
    assert again.returncode != 0 and "exists already" in again.stderr
    bad = subprocess.run([*tool, "release", "1.0"], cwd=clone, env=env, capture_output=True,
                         text=True)
    assert bad.returncode != 0 and "three numbers" in bad.stderr
