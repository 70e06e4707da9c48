"""Practice copies of the chapters: the same notebook with its code cells emptied.

    python tools/make_practice.py            # write practice/NN_name.ipynb for chapters/*.ipynb
    python tools/make_practice.py --check    # exit 1 if a copy is missing or out of date

Like fastbook's ``clean`` folder: the prose, equations, exercises and figures' captions stay, the
code is yours to write. Two code cells are kept so that a copy runs at all: the Colab install
cell (the first code cell) and the set-up cell (the first that calls ``cnnlib.setup``). Outputs
and execution counts are stripped. The output depends only on the chapter, so ``--check`` (run by
``tests/test_practice.py``) fails when a chapter changed and its copy was not regenerated.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTE = ("*Practice copy of [{name}](../chapters/{name}): the chapter with its code cells empty, "
        "except the install and set-up cells. Write each cell yourself, run it, and compare "
        "with the chapter.*")


def _setup_cell_index(cells) -> int | None:
    """Index of the set-up cell: the first code cell calling ``cnnlib.setup``, else the second."""
    code = [i for i, cell in enumerate(cells) if cell.cell_type == "code"]
    for i in code:
        if "cnnlib.setup(" in cell_source(cells[i]):
            return i
    return code[1] if len(code) > 1 else None


def cell_source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def practice_copy(chapter: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The practice version of ``chapter`` (a notebook read with nbformat), named ``name``."""
    nb = copy.deepcopy(chapter)
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
            cell.source = ""
    note = nbformat.v4.new_markdown_cell(NOTE.format(name=name))
    if nb.nbformat_minor >= 5:
        note.id = "practice-note"  # a fixed id: new_markdown_cell's is random
    else:
        note.pop("id", None)
    nb.cells.insert(0, note)
    nb.metadata.pop("widgets", None)
    return nb


def render(chapter_path: Path) -> str:
    """The practice copy of one chapter as text, exactly as it is written to disk."""
    chapter = nbformat.read(chapter_path, as_version=4)
    return nbformat.writes(practice_copy(chapter, chapter_path.name)) + "\n"


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
        wrong = [f"{path.name}: {'missing' if not path.exists() else 'out of date'}"
                 for path, text in files.items()
                 if text is not None and (not path.exists() or path.read_text() != text)]
        wrong += [f"{path.name}: no chapter of that name any more"
                  for path, text in files.items() if text is None]
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
