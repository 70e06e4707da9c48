"""Releases, and the one git ref that every way into the book's code uses.

    python tools/release.py check            # exit 1 if any place disagrees with the ref
    python tools/release.py sync             # rewrite every place at the ref
    python tools/release.py release 0.2.0    # set the version, sync, practice copies, commit, tag

(``make release VERSION=0.2.0`` runs the last one.) The version lives in ``cnnlib/_version.py``.
The ref is ``main``, except on the release commit, the one the tag ``v<version>`` points at,
which names that tag: ``check`` and ``sync`` ask git whether the checked-out commit carries
the tag (``book_ref.ref``; an archive without git keeps the ref its ``_config.yml`` names if
that is the version's tag). ``sync`` writes the ref into:

* ``repository.branch`` in ``_config.yml``, which the launch buttons open;
* the Colab install cell of every notebook (chapters, drills, appendix, practice copies): it
  installs ``cnnlib`` from the ref unless pip's record (``direct_url.json``) says the installed
  one came from that repository and ref, reinstalls it when it came from another (pip keeps a
  same-version cnnlib from another ref), asks for a restart when an older cnnlib is loaded,
  stops the notebook with what to do when pip fails (a missing or private repository, an
  unknown ref) and prints the version and commit it installed;
* the practice-copy links under each chapter's title (to the copy's Colab edition);
* the Colab form titles that fold answer cells (``cnnlib.colab``): every code cell of a
  solution, and every reference cell (tagged ``hide-output``);
* the install line quoted in the README, CONTRIBUTING and *How to use*;
* the Colab edition of every notebook, ``colab/<path>`` (``tools/make_colab.py``), which the
  launch buttons (``repository.path_to_book``) and the practice links open.

``release`` refuses a dirty working tree or an existing tag. It sets the version, writes the
tag everywhere and commits (the release commit), creates the annotated tag there, then writes
``main`` back everywhere and commits again, so that ``main`` never installs an older library
than its own. Publishing (pushing main and the tag, deploying the book built from the tag) is
left to a person: CONTRIBUTING says how.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import subprocess
import sys
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_ref  # noqa: E402
import make_colab  # noqa: E402
import make_practice  # noqa: E402

sys.path.insert(0, str(book_ref.ROOT))
from cnnlib.colab import is_answer_cell, reference_title, solution_title  # noqa: E402

NOTEBOOK_FOLDERS = ("chapters", "whiteboard", "book", "practice")
TEXT_FILES = ("README.md", "CONTRIBUTING.md", "book/how_to_use.md")
PRACTICE_MARK = "**Practice copy.**"

INSTALL_CELL = '''\
# @title Install the book's library (in Colab only) {{ display-mode: "form" }}
# In Google Colab: install cnnlib from this notebook's git ref. Elsewhere: do nothing.
import importlib
import json
import os
import subprocess
import sys
from importlib import metadata

REPOSITORY, REF = "{repository}", "{ref}"


def cnnlib_source():
    \"\"\"(repository, ref, commit) pip installed cnnlib from; None if none is.\"\"\"
    try:
        dist = metadata.distribution("cnnlib")
    except metadata.PackageNotFoundError:
        return None
    url = json.loads(dist.read_text("direct_url.json") or "{{}}")
    vcs = url.get("vcs_info", {{}})
    return url.get("url"), vcs.get("requested_revision"), vcs.get("commit_id")


def run_pip(*args):
    \"\"\"Run pip (git may not ask for a password); stop saying why it failed.\"\"\"
    pip = subprocess.run([sys.executable, "-m", "pip", *args, "--quiet"],
                         capture_output=True, text=True,
                         env={{**os.environ, "GIT_TERMINAL_PROMPT": "0"}})
    if pip.returncode == 0:
        return
    error = pip.stderr
    launch = "or open the notebook with the published book's launch button."
    if "Repository not found" in error:
        why = f"GitHub has no repository {{REPOSITORY}}: check the address, {{launch}}"
    elif "could not read Username" in error or "Authentication failed" in error:
        why = (f"{{REPOSITORY}} is private, or missing (GitHub asks for a login in "
               "both cases). Colab installs only from a public repository: make it "
               f"public, {{launch}}")
    elif "did not match any" in error or "couldn't find remote ref" in error:
        why = f"{{REPOSITORY}} has no {{REF}}: check the ref, {{launch}}"
    else:
        why = "Check that this runtime is online and run this cell again."
    raise RuntimeError(f"pip could not install cnnlib from {{REPOSITORY}} at {{REF}}:\\n"
                       f"{{error.strip()[-1500:]}}\\n\\n{{why}}")


if "google.colab" in sys.modules:
    found = cnnlib_source()
    if found is None or found[:2] != (REPOSITORY, REF):
        if found is not None:  # pip keeps a same-version cnnlib from another ref
            run_pip("uninstall", "--yes", "cnnlib")
        run_pip("install", f"cnnlib @ git+{{REPOSITORY}}@{{REF}}")
        importlib.invalidate_caches()
        if "cnnlib" in sys.modules:
            raise RuntimeError(f"cnnlib is installed from {{REF}} now, but the old one "
                               "is loaded: choose Runtime > Restart session, then run "
                               "the notebook again.")
    print(f"cnnlib {{metadata.version('cnnlib')}} from {{REPOSITORY}} at {{REF}} "
          f"(commit {{cnnlib_source()[2][:7]}})")'''

PRACTICE_LINK = (f"{PRACTICE_MARK} This chapter with its code cells empty, for writing the "
                 "code yourself: [open it in Colab]({colab}) or [see it on GitHub]({github}).")

SOLUTION_START = re.compile(r"```\{solution-start\}\s+(\S+)")


def cell_source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def install_cell_source(repository: str, ref: str) -> str:
    return INSTALL_CELL.format(repository=repository, ref=ref)


def is_install_cell(cell) -> bool:
    return cell.cell_type == "code" and '"google.colab" in sys.modules' in cell_source(cell)


def practice_link(repository: str, ref: str, chapter_name: str) -> str:
    path = book_ref.edition_path(f"practice/{chapter_name}")  # Colab shows no raw MyST there
    return PRACTICE_LINK.format(colab=book_ref.colab_url(repository, ref, path),
                                github=book_ref.github_url(repository, ref, path))


def names(source: str) -> tuple[set[str], set[str]]:
    """What a code cell binds at the top level, and the names it reads without binding them.

    Static and coarse on purpose: a name bound anywhere in the cell (a local variable, an
    argument) counts as its own, so a read is reported only when the cell cannot have made it.
    """
    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return set(), set()
    top = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
            top.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            top |= {(a.asname or a.name).split(".")[0] for a in stmt.names}
        else:
            top |= {n.id for n in ast.walk(stmt)
                    if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    own = {n.id for n in ast.walk(tree)
           if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    own |= {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
    own |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    reads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
             and isinstance(n.ctx, ast.Load)}
    return top, reads - own - top


def answer_cells(cells) -> dict[int, str | None]:
    """Index -> exercise label (a solution's code) or None (a reference), for every answer cell.

    A code cell between a ``solution-start`` and its ``solution-end`` belongs to that solution
    (a markdown cell can close one solution and open the next: the last marker in it counts).
    A code cell tagged ``hide-output`` is a reference: its output is the answer to check.
    """
    found, label = {}, None
    for i, cell in enumerate(cells):
        text = cell_source(cell)
        if cell.cell_type == "markdown":
            starts = [(m.start(), m.group(1)) for m in SOLUTION_START.finditer(text)]
            ends = [m.start() for m in re.finditer(r"```\{solution-end\}", text)]
            last_start = starts[-1] if starts else (-1, None)
            last_end = ends[-1] if ends else -1
            if last_start[0] > last_end:
                label = last_start[1]
            elif last_end > last_start[0]:
                label = None
        elif cell.cell_type == "code":
            if label is not None:
                found[i] = label
            elif "hide-output" in cell.metadata.get("tags", []):
                found[i] = None
    return found


def needed_later(cells, answers: dict[int, str | None]) -> set[int]:
    """The answer cells that define a name a later cell (not an answer) reads."""
    needed, defined_by = set(), {}
    for i, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        bound, reads = names(cell_source(cell))
        if i in answers:
            for name in bound:
                defined_by[name] = i
            continue
        needed |= {defined_by[name] for name in reads if name in defined_by}
        for name in bound:
            defined_by.pop(name, None)
    return needed


def answer_titles(cells) -> dict[int, str]:
    """Index -> Colab title line, for every answer cell (``cnnlib.colab``)."""
    answers = answer_cells(cells)
    later = needed_later(cells, answers)
    return {i: solution_title(label, i in later) if label is not None
            else reference_title(i in later) for i, label in answers.items()}


def with_title(source: str, title: str) -> str:
    lines = source.split("\n")
    if is_answer_cell(lines):
        lines = lines[1:]
    return "\n".join([title, *lines])


def synced_notebook(nb, repository: str, ref: str, chapter_name: str | None):
    """The notebook with its install cell, practice link and answer titles written from ref."""
    nb = copy.deepcopy(nb)
    cells = nb.cells
    install = next((i for i, cell in enumerate(cells) if is_install_cell(cell)), None)
    if install is None:
        raise ValueError("no Colab install cell (a code cell testing "
                         "'\"google.colab\" in sys.modules')")
    cells[install].source = install_cell_source(repository, ref)
    tags = cells[install].metadata.setdefault("tags", [])
    if "hide-input" not in tags:
        tags.append("hide-input")
    if install == 0 and len(cells) > 1 and cells[1].cell_type == "markdown":
        cells[0], cells[1] = cells[1], cells[0]  # the title first, then the install cell
        install = 1
    if chapter_name is not None:
        link = practice_link(repository, ref, chapter_name)
        at = install + 1
        if at < len(cells) and cell_source(cells[at]).startswith(PRACTICE_MARK):
            cells[at].source = link
        else:
            cell = nbformat.v4.new_markdown_cell(link)
            cell.id = "practice-link"
            cells.insert(at, cell)
    for i, title in answer_titles(cells).items():
        cells[i].source = with_title(cell_source(cells[i]), title)
    return nb


def notebook_text(nb) -> str:
    return nbformat.writes(nb) + "\n"


def synced_files(root: Path, ref: str) -> dict[Path, str]:
    """Every file that sync writes, with the text it should have at ``ref``."""
    repository = book_ref.repository(root)
    wanted: dict[Path, str] = {}
    for folder in ("chapters", "whiteboard", "book"):
        for path in sorted((root / folder).glob("*.ipynb")):
            chapter = path.name if folder == "chapters" else None
            nb = nbformat.read(path, as_version=4)
            wanted[path] = notebook_text(synced_notebook(nb, repository, ref, chapter))
    config = root / "_config.yml"
    wanted[config] = re.sub(r"(?m)^(  branch: ).*$", rf"\g<1>{ref}", config.read_text(), count=1)
    pattern = re.compile(re.escape(f"git+{repository}@") + r"[^\s\"'`)]+")
    for name in TEXT_FILES:
        path = root / name
        wanted[path] = pattern.sub(f"git+{repository}@{ref}", path.read_text())
    return wanted


def practice_texts(root: Path, chapters: dict[Path, str], ref: str) -> dict[Path, str | None]:
    """The practice copies made from the synced chapters (not from the files on disk)."""
    repository = book_ref.repository(root)
    out = root / "practice"
    wanted: dict[Path, str | None] = {}
    for path, text in chapters.items():
        if path.parent == root / "chapters":
            chapter = nbformat.reads(text, as_version=4)
            wanted[out / path.name] = make_practice.render_notebook(
                chapter, path.name, repository, ref)
    for path in sorted(out.glob("*.ipynb")):
        wanted.setdefault(path, None)
    return wanted


def plan(root: Path, ref: str | None = None) -> dict[Path, str | None]:
    """Every file sync writes: the synced sources, the practice copies, the Colab edition,
    at ``ref`` (default ``book_ref.ref(root)``: the tag on the release commit, else main)."""
    ref = ref or book_ref.ref(root)
    files = synced_files(root, ref)
    files.update(practice_texts(root, files, ref))
    notebooks = {str(path.relative_to(root)): nbformat.reads(text, as_version=4)
                 for path, text in files.items() if path.suffix == ".ipynb" and text}
    return {**files, **make_colab.plan(root, notebooks, ref)}


def out_of_date(root: Path) -> list[str]:
    """What disagrees with the version and its ref, one line each; empty when all agree."""
    return book_ref.disagreements(root, plan(root), "a practice copy of no chapter",
                                  f"not in sync with version {book_ref.version(root)} at ref "
                                  f"{book_ref.ref(root)}")


def sync(root: Path, ref: str | None = None) -> list[Path]:
    """Write every file at ``ref`` (default ``book_ref.ref(root)``); return those that changed."""
    return make_colab.write(plan(root, ref))  # the same writer as make colab's


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout


def release(root: Path, new_version: str) -> str:
    """Set the version, sync, commit and tag; return the tag."""
    if not book_ref.RELEASE_VERSION.fullmatch(new_version):
        raise SystemExit(f"VERSION must look like 0.2.0 (three numbers), got {new_version!r}")
    if git(root, "status", "--porcelain").strip():
        raise SystemExit("the working tree has uncommitted changes: commit or stash them first, "
                         "so that the release commit holds only the release")
    tag = book_ref.ref_of(new_version)
    if git(root, "tag", "--list", tag).strip():
        raise SystemExit(f"tag {tag} exists already: choose a new version")
    init = root / book_ref.VERSION_FILE
    init.write_text(book_ref.VERSION_LINE.sub(f'__version__ = "{new_version}"', init.read_text()))
    changed = sync(root, tag)  # the release commit, the only one that names its tag
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m",
        f"Release {tag}: version, launch and install refs at {tag}, practice copies")
    git(root, "tag", "-a", tag, "-m", f"Classic CNNs {tag}")
    back = sync(root, book_ref.MAIN)
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m",
        f"After {tag}: launch and install refs back to {book_ref.MAIN}")
    print(f"version {new_version}: {len(changed)} files written at {tag}, committed and tagged "
          f"{tag}; {len(back)} files written back at {book_ref.MAIN} and committed.\n"
          f"To publish: git push origin HEAD {tag}, then build the book from {tag} and deploy "
          "it (CONTRIBUTING.md, 'Releasing').")
    return tag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="exit 1 if any place disagrees with the version")
    sub.add_parser("sync", help="rewrite every place from the version")
    rel = sub.add_parser("release", help="set the version, sync, commit, tag")
    rel.add_argument("version", help="the new version, e.g. 0.2.0")
    parser.add_argument("--root", type=Path, default=book_ref.ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.command == "check":
        wrong, ref, tag = out_of_date(root), book_ref.ref(root), book_ref.ref_of(
            book_ref.version(root))
        if book_ref.tags_at_head(root) is None:
            where = f"no git checkout: the ref _config.yml names if it is {tag}, else main"
        else:
            where = ("the release commit, tagged" if ref == tag else
                     f"{tag} is no tag of this commit")
        if wrong:
            print(f"not in sync with the version and its ref {ref} ({where}; run "
                  "`python tools/release.py sync`):\n  " + "\n  ".join(wrong), file=sys.stderr)
            return 1
        print(f"everything uses version {book_ref.version(root)} and ref {ref} ({where})")
        return 0
    if args.command == "sync":
        changed = sync(root)
        print(f"{len(changed)} files written" + "".join(f"\n  {p.relative_to(root)}"
                                                      for p in changed))
        return 0
    release(root, args.version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
