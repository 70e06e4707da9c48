"""One version, one git ref: the launch buttons, every install cell and ``cnnlib.__version__``
agree; the ref is main except on the release commit; the install cell installs exactly that
ref (tested in a faked Colab) and cannot fail quietly; the release command commits and tags."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
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
REF = book_ref.ref()  # main, or the tag on the release commit
NOTEBOOKS = sorted(p for folder in release.NOTEBOOK_FOLDERS for p in (ROOT / folder).glob("*.ipynb"))


# --- (a) everything agrees with the version ------------------------------------------------------

def test_every_place_agrees_with_the_version(capsys):
    """Launch ref, install cells, practice links and copies: `tools/release.py sync` mends them."""
    assert release.main(["check"]) == 0, capsys.readouterr().err


def test_the_version_is_set_once_and_the_ref_is_main_or_its_tag():
    assert book_ref.version() == cnnlib.__version__
    assert REF in (book_ref.MAIN, f"v{cnnlib.__version__}")
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


# --- (b) the install cell, in a faked Colab --------------------------------------------------

URL = "https://github.com/classic-cnns/classic-cnns"
CELL = release.install_cell_source(URL, REF)
NOT_FOUND = ("remote: Repository not found.\n"
             f"fatal: repository '{URL}/' not found\nerror: subprocess-exited-with-error")
NO_LOGIN = ("fatal: could not read Username for 'https://github.com': terminal prompts "
            "disabled\nerror: subprocess-exited-with-error")


class FakeColab:
    """A Colab runtime: ``google.colab`` imported, an empty site-packages as the only place
    holding distributions, and a pip that installs into it what the real one writes (a
    dist-info with ``direct_url.json``), or fails with ``stderr``."""

    def __init__(self, monkeypatch, site: Path, returncode: int = 0, stderr: str = ""):
        self.site, self.returncode, self.stderr, self.calls = site, returncode, stderr, []
        site.mkdir()
        stdlib = [p for p in sys.path if p.startswith(sys.base_prefix) and "packages" not in p]
        monkeypatch.setattr(sys, "path", [str(site), *stdlib])
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
        monkeypatch.delitem(sys.modules, "cnnlib")  # a fresh runtime has none loaded
        monkeypatch.setattr(subprocess, "run", self.run)

    def install(self, repository: str, ref: str | None, version: str = "0.1.0"):
        """What ``pip install "cnnlib @ git+<repository>@<ref>"`` leaves in site-packages."""
        info = self.site / f"cnnlib-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: cnnlib\nVersion: {version}\n")
        vcs = {"vcs": "git", "commit_id": f"{abs(hash(ref)):040x}"[:40]}
        if ref is not None:
            vcs["requested_revision"] = ref
        (info / "direct_url.json").write_text(json.dumps({"url": repository, "vcs_info": vcs}))

    def installed(self):
        found = list(self.site.glob("cnnlib-*.dist-info"))
        return json.loads((found[0] / "direct_url.json").read_text()) if found else None

    def run(self, args, **kwargs):
        self.calls.append((args[3:], kwargs.get("env", {}).get("GIT_TERMINAL_PROMPT")))
        if self.returncode:
            return subprocess.CompletedProcess(args, self.returncode, "", self.stderr)
        if args[3] == "uninstall":
            shutil.rmtree(next(self.site.glob("cnnlib-*.dist-info")))
        elif args[3] == "install":
            repository, ref = args[4].removeprefix("cnnlib @ git+").rsplit("@", 1)
            self.install(repository, ref)
        return subprocess.CompletedProcess(args, 0, "", "")


def run_cell():
    exec(compile(CELL, "install-cell", "exec"), {})


@pytest.fixture
def colab(monkeypatch, tmp_path):
    return FakeColab(monkeypatch, tmp_path / "site-packages")


def test_the_install_cell_does_nothing_outside_colab(monkeypatch):
    calls = []
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    run_cell()
    assert calls == []


def test_a_fresh_runtime_installs_the_ref_and_prints_version_and_commit(colab, capsys):
    run_cell()
    assert colab.calls == [(["install", f"cnnlib @ git+{URL}@{REF}", "--quiet"], "0")]
    assert colab.installed()["vcs_info"]["requested_revision"] == REF
    commit = colab.installed()["vcs_info"]["commit_id"][:7]
    assert capsys.readouterr().out == f"cnnlib 0.1.0 from {URL} at {REF} (commit {commit})\n"


def test_the_same_ref_installed_already_is_kept_without_calling_pip(colab, capsys):
    colab.install(URL, REF)
    run_cell()
    assert colab.calls == []
    assert f"from {URL} at {REF}" in capsys.readouterr().out


@pytest.mark.parametrize("repository, ref", [(URL, "v0.0.9"), (URL, None),
                                             ("https://github.com/someone/fork", REF)],
                         ids=["other ref", "default branch", "other repository"])
def test_a_cnnlib_of_the_same_version_from_elsewhere_is_reinstalled(colab, repository, ref):
    colab.install(repository, ref)  # same version 0.1.0: pip alone would keep it
    run_cell()
    assert [call[0][0] for call in colab.calls] == ["uninstall", "install"]
    assert colab.installed()["url"] == URL
    assert colab.installed()["vcs_info"]["requested_revision"] == REF


def test_an_editable_or_local_install_is_replaced(colab):
    info = colab.site / "cnnlib-0.1.0.dist-info"
    colab.install(URL, REF)
    (info / "direct_url.json").write_text('{"dir_info": {"editable": true}, "url": "file:///x"}')
    run_cell()
    assert [call[0][0] for call in colab.calls] == ["uninstall", "install"]


def test_a_reinstall_under_a_loaded_cnnlib_asks_for_a_restart(colab, monkeypatch):
    colab.install(URL, "v0.0.9")
    monkeypatch.setitem(sys.modules, "cnnlib", cnnlib)  # imported before from the old ref
    with pytest.raises(RuntimeError, match="Restart session"):
        run_cell()
    assert colab.installed()["vcs_info"]["requested_revision"] == REF  # done after restart


@pytest.mark.parametrize("stderr, says", [
    (NOT_FOUND, "GitHub has no repository"),
    (NO_LOGIN, "is private, or missing"),
    ("fatal: Authentication failed for 'https://github.com/classic-cnns/classic-cnns/'",
     "is private, or missing"),
    (f"error: pathspec '{REF}' did not match any file(s) known to git", f"has no {REF}"),
    ("fatal: unable to access: Could not resolve host: github.com", "runtime is online"),
], ids=["missing", "private", "bad login", "no such ref", "offline"])
def test_a_failed_install_stops_the_notebook_saying_why_and_what_to_do(monkeypatch, tmp_path,
                                                                        stderr, says):
    FakeColab(monkeypatch, tmp_path / "site-packages", returncode=1, stderr=stderr)
    with pytest.raises(RuntimeError) as error:
        run_cell()
    message = str(error.value)
    assert f"pip could not install cnnlib from {URL} at {REF}" in message
    assert stderr.splitlines()[0] in message  # pip's own words
    assert says in message
    if says != "runtime is online":
        assert "launch button" in message


# --- (c) sync and check on a small book --------------------------------------------------------

def small_book(root: Path, version: str = "0.3.0") -> Path:
    (root / "cnnlib").mkdir(parents=True)
    (root / "cnnlib" / "_version.py").write_text(f'__version__ = "{version}"\n')
    (root / "_config.yml").write_text("repository:\n  url: https://github.com/o/b\n"
                                      "  branch: v0.0.9\n"
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
    assert "branch: main" in (root / "_config.yml").read_text()  # no git, no tag: main
    assert "git+https://github.com/o/b@main" in (root / "README.md").read_text()
    cells = nbformat.read(root / "chapters" / "09_chapter.ipynb", as_version=4).cells
    assert '"https://github.com/o/b", "main"' in cells[1].source
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
    path.write_text(path.read_text().replace('\\"main\\"', '\\"v0.2.9\\"'))
    assert release.out_of_date(root) == ["chapters/09_chapter.ipynb: not in sync with version "
                                         "0.3.0 at ref main"]


def test_an_archive_without_git_keeps_the_tag_its_config_names_and_nothing_else(tmp_path):
    root = small_book(tmp_path)
    release.sync(root, "v0.3.0")  # an archive of the release commit
    assert book_ref.ref(root) == "v0.3.0" and release.out_of_date(root) == []
    config = root / "_config.yml"
    config.write_text(config.read_text().replace("v0.3.0", "v0.2.9"))  # not its version's tag
    assert book_ref.ref(root) == "main"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_only_the_commit_the_tag_points_at_names_the_tag(tmp_path):
    root = small_book(tmp_path / "book")
    git = lambda *a: subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e.org", *a],
                                    cwd=root, check=True, capture_output=True)  # noqa: E731
    git("init", "--quiet")
    release.sync(root)
    git("add", "-A")
    git("commit", "--quiet", "-m", "main")
    assert book_ref.tags_at_head(root) == set() and book_ref.ref(root) == "main"
    assert release.out_of_date(root) == []
    git("tag", "-a", "v0.3.0", "-m", "release")  # tagged now: main is the wrong ref here
    assert book_ref.ref(root) == "v0.3.0"
    assert release.out_of_date(root)[0].endswith("not in sync with version 0.3.0 at ref v0.3.0")
    release.sync(root)
    assert '"https://github.com/o/b", "v0.3.0"' in (root / "chapters" / "09_chapter.ipynb"
                                                     ).read_text().replace('\\"', '"')
    git("commit", "--quiet", "-am", "after the release, still naming the tag")
    assert book_ref.ref(root) == "main" and release.out_of_date(root)  # check catches it
    assert book_ref.tags_at_head(root / "chapters") is None  # not the checkout's top


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
    assert git("log", "-2", "--format=%s").splitlines() == [
        "After v9.8.7: launch and install refs back to main",
        "Release v9.8.7: version, launch and install refs at v9.8.7, practice copies"]
    assert git("rev-parse", "v9.8.7^{commit}") == git("rev-parse", "HEAD~1")
    assert '__version__ = "9.8.7"' in (clone / "cnnlib" / "_version.py").read_text()
    for ref in ("main", "v9.8.7"):  # main after the release, the tag on the release commit
        git("checkout", "--quiet", ref)
        assert subprocess.run([*tool, "check"], cwd=clone).returncode == 0, ref
        chapter = (clone / "chapters" / "03_lenet5.ipynb").read_text()
        assert f"/blob/{ref}/colab/practice/03_lenet5.ipynb" in chapter
        assert f'\\"https://github.com/classic-cnns/classic-cnns\\", \\"{ref}\\"' in chapter
        assert f"branch: {ref}" in (clone / "_config.yml").read_text()
    git("checkout", "--quiet", "main")
    again = subprocess.run([*tool, "release", "9.8.7"], cwd=clone, env=env, capture_output=True,
                           text=True)
    assert again.returncode != 0 and "exists already" in again.stderr
    bad = subprocess.run([*tool, "release", "1.0"], cwd=clone, env=env, capture_output=True,
                         text=True)
    assert bad.returncode != 0 and "three numbers" in bad.stderr
