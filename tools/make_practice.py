"""Practice copies of the chapters: the same notebook with its code cells emptied.

    python tools/make_practice.py            # write practice/NN_name.ipynb for chapters/*.ipynb
    python tools/make_practice.py --check    # exit 1 if a copy is missing or out of date

Like fastbook's ``clean`` folder: the prose, equations, exercises and figures' captions stay, the
code is yours to write. Two code cells are kept so that a copy runs at all: the Colab install
cell (the first code cell) and the set-up cell (the first that calls ``cnnlib.setup``). Every
other code cell is replaced by a comment saying what to write (:func:`hint`). Outputs and
execution counts are stripped. The copy links back to its chapter with absolute addresses at
the book's git ref, so the links work in Colab too. The output depends only on the chapter, so ``--check`` (run by
``tests/test_practice.py``) fails when a chapter changed and its copy was not regenerated.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import copy
import sys
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_ref  # noqa: E402

ROOT = book_ref.ROOT
NOTE = ("*Practice copy of [{name}]({github}) ([open the chapter in Colab]({colab})): the "
        "chapter with its code cells empty, except the install and set-up cells. Each empty "
        "cell says what the chapter's cell defines and calls. Write it yourself, run it, and "
        "compare with the chapter.*")
PRACTICE_MARK = "**Practice copy.**"  # the chapter's link to this copy (tools/release.py)
HINT_WIDTH = 88


def _setup_cell_index(cells) -> int | None:
    """Index of the set-up cell: the first code cell calling ``cnnlib.setup``, else the second."""
    code = [i for i, cell in enumerate(cells) if cell.cell_type == "code"]
    for i in code:
        if "cnnlib.setup(" in cell_source(cells[i]):
            return i
    return code[1] if len(code) > 1 else None


def cell_source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def _names(node: ast.AST) -> list[str]:
    """Dotted name of a call target (``cnnlib.summary``), or [] when it is not a plain name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [".".join([node.id, *reversed(parts)])]
    return []


def _listing(label: str, names: list[str]) -> list[str]:
    """``# label: a, b, c`` wrapped to the book's code width."""
    lines, line = [], f"# {label}:"
    for i, name in enumerate(names):
        word = f" {name}" + ("," if i < len(names) - 1 else "")
        if len(line) + len(word) > HINT_WIDTH:
            lines.append(line)
            line = "#  "
        line += word
    return [*lines, line]


def hint(source: str) -> str:
    """What an emptied cell should hold, read off the chapter's code: a comment for the reader.

    The names the cell defines at the top level (variables, functions, classes, imports) and
    the functions it calls, in order of first appearance, and its length. Cell magics and
    shell lines are left to IPython's own parser; code that still does not parse gets a
    plain hint.
    """
    lines = [ln for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return ""
    head = f"# Your code here: the chapter's cell has {len(lines)} line" + \
        ("s." if len(lines) != 1 else ".")
    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return head
    defines: list[str] = []
    for stmt in tree.body:
        targets = []
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        elif isinstance(stmt, (ast.For, ast.With)):
            targets = [stmt.target] if isinstance(stmt, ast.For) else \
                [item.optional_vars for item in stmt.items if item.optional_vars]
        elif isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
            defines.append(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            defines += [(a.asname or a.name).split(".")[0] for a in stmt.names]
        for target in targets:
            defines += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    calls = [name for node in ast.walk(tree) if isinstance(node, ast.Call)
             for name in _names(node.func)]
    skip = (set(dir(builtins)) - {"print"}) | {"get_ipython"}  # the latter: from magics
    calls = [c for c in calls if c not in skip and c not in defines]
    out = [head]
    if defines:
        out += _listing("It defines", list(dict.fromkeys(defines)))
    if calls:
        out += _listing("It calls", list(dict.fromkeys(calls)))
    return "\n".join(out)


def practice_copy(chapter: nbformat.NotebookNode, name: str, repository: str | None = None,
                  ref: str | None = None) -> nbformat.NotebookNode:
    """The practice version of ``chapter`` (a notebook read with nbformat), named ``name``.

    Its links are absolute, at ``ref`` (default: ``book_ref.ref()``), so that they work in
    Colab, where the practice copy opens with nothing of the repository around it.
    """
    repository = repository or book_ref.repository()
    ref = ref or book_ref.ref()
    nb = copy.deepcopy(chapter)
    nb.cells = [cell for cell in nb.cells
                if not (cell.cell_type == "markdown"
                        and cell_source(cell).startswith(PRACTICE_MARK))]
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    keep = {code[0]} if code else set()
    setup = _setup_cell_index(nb.cells)
    if setup is not None:
        keep.add(setup)
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("execution", None)  # timestamps from the last run
        if cell.cell_type != "code":
            continue
        cell.outputs = []
        cell.execution_count = None
        if i not in keep:
            cell.source = hint(cell_source(cell))
    path = f"chapters/{name}"
    note = nbformat.v4.new_markdown_cell(NOTE.format(
        name=name, github=book_ref.github_url(repository, ref, path),
        colab=book_ref.colab_url(repository, ref, book_ref.edition_path(path))))
    if nb.nbformat_minor >= 5:
        note.id = "practice-note"  # a fixed id: new_markdown_cell's is random
    else:
        note.pop("id", None)
    nb.cells.insert(0, note)
    nb.metadata.pop("widgets", None)
    return nb


def render_notebook(chapter: nbformat.NotebookNode, name: str, repository: str | None = None,
                    ref: str | None = None) -> str:
    """The practice copy of a chapter as text, exactly as it is written to disk."""
    return nbformat.writes(practice_copy(chapter, name, repository, ref)) + "\n"


def render(chapter_path: Path) -> str:
    """The practice copy of one chapter file as text."""
    return render_notebook(nbformat.read(chapter_path, as_version=4), chapter_path.name)


def plan(chapters: Path, out: Path) -> dict[Path, str | None]:
    """Every practice file that should exist (with its text) or should go (None)."""
    wanted = {out / path.name: render(path) for path in sorted(chapters.glob("*.ipynb"))}
    stale = {path: None for path in sorted(out.glob("*.ipynb")) if path not in wanted}
    return {**wanted, **stale}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a practice copy is missing or out of date")
    parser.add_argument("--chapters", type=Path, default=ROOT / "chapters")
    parser.add_argument("--out", type=Path, default=ROOT / "practice")
    args = parser.parse_args(argv)
    if not args.chapters.is_dir():
        parser.error(f"no chapters folder at {args.chapters}")
    files = plan(args.chapters, args.out)
    if args.check:
        wrong = book_ref.disagreements(args.out, files, "no chapter of that name any more",
                                       "out of date")
        if wrong:
            print("practice copies need regenerating (run `make practice`):\n  "
                  + "\n  ".join(wrong), file=sys.stderr)
            return 1
        print(f"{len(files)} practice copies are up to date")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        if text is None:
            path.unlink()
        elif not path.exists() or path.read_text() != text:
            path.write_text(text)
    print(f"wrote {sum(text is not None for text in files.values())} practice copies to "
          f"{args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
