"""The book as a whole: every page in the table of contents, every link listed and well-formed,
every chapter committed executed top to bottom, every citation in the bibliography.

These tests read whatever pages exist, so they pass while chapters are still being written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
CONFIG_TEXT = (ROOT / "_config.yml").read_text()
CONFIG = yaml.safe_load(CONFIG_TEXT)
LINKS_PAGE = ROOT / "book" / "links.md"
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))  # chapters/practice/ is not a chapter


def toc_files(node=TOC) -> list[str]:
    """Every ``file:`` (and the root) in _toc.yml, in order, as written (no extension)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("root", "file"):
                found.append(value)
            else:
                found += toc_files(value)
    elif isinstance(node, list):
        for item in node:
            found += toc_files(item)
    return found


def page_path(entry: str) -> Path | None:
    for suffix in (".md", ".ipynb"):
        if (ROOT / f"{entry}{suffix}").exists():
            return ROOT / f"{entry}{suffix}"
    return None


def notebook(path: Path) -> dict:
    return json.loads(path.read_text())


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def markdown_pages() -> dict[str, str]:
    """The text readers see as prose: book/*.md and the markdown cells of every notebook."""
    paths = {*(ROOT / "book").glob("*.md"), *CHAPTERS}
    paths |= {page_path(entry) for entry in toc_files() if page_path(entry)}
    pages = {}
    for path in sorted(paths):
        if path.suffix == ".md":
            pages[str(path.relative_to(ROOT))] = path.read_text()
        else:
            pages[str(path.relative_to(ROOT))] = "\n\n".join(
                source(c) for c in notebook(path)["cells"] if c["cell_type"] == "markdown")
    return pages


# --- (a) the table of contents -----------------------------------------------------------------

@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_titles_carry_no_number_of_their_own(path):
    """The parts are numbered (_toc.yml), so a title such as "6. VGG" would show its number
    twice."""
    title = source(notebook(path)["cells"][0]).splitlines()[0]
    assert not re.match(r"#\s*\d", title), f"{path.name}: {title!r} numbers itself"


def test_every_page_in_the_toc_exists():
    missing = [entry for entry in toc_files() if page_path(entry) is None]
    assert not missing, f"_toc.yml lists pages that do not exist: {missing}"
    assert len(set(toc_files())) == len(toc_files()), "a page is listed twice in _toc.yml"


def test_every_page_is_in_the_toc():
    listed = {str(page_path(e).relative_to(ROOT)) for e in toc_files() if page_path(e)}
    pages = [*(ROOT / "chapters").glob("*.ipynb"), *(ROOT / "book").glob("*.md"),
             *(ROOT / "book").glob("*.ipynb")]
    folders = {Path(e).parts[0] for e in toc_files()} - {"book", "chapters"}
    for folder in folders:  # any other folder the book uses (whiteboard/ ...), top level only
        pages += [*(ROOT / folder).glob("*.md"), *(ROOT / folder).glob("*.ipynb")]
    unlisted = sorted(str(p.relative_to(ROOT)) for p in pages
                      if str(p.relative_to(ROOT)) not in listed)
    assert not unlisted, (f"pages missing from _toc.yml (the build would skip them, as "
                          f"only_build_toc_files is on): {unlisted}")


def test_the_reference_pages_close_the_book_in_order():
    files = toc_files()
    assert files.index("book/when_things_go_wrong") < files.index("book/references")
    assert files[-1] == "book/links" and files[-2] == "book/references"


# --- (b) external links ------------------------------------------------------------------------

URL = re.compile(r"https?://[^\s<>()\[\]{}\"'`|\\]+")
CODE = re.compile(r"^(```|~~~).*?^\1[^\n]*$|`[^`\n]+`", re.S | re.M)


OWN_FILES = (f"{CONFIG['repository']['url']}/blob/",
             "https://colab.research.google.com/github/"
             + CONFIG["repository"]["url"].removeprefix("https://github.com/") + "/blob/")


def urls_in(text: str) -> set[str]:
    """Links in prose; code (fenced blocks, inline code) is left out: it is shown, not linked.
    Links to the book's own notebooks at its ref (practice copies) are not external: they are
    written by tools/release.py and checked by tests/test_release.py."""
    return {url.rstrip(".,;:!?") for url in URL.findall(CODE.sub(" ", text))
            if not url.startswith(OWN_FILES)}


def urls_by_place() -> dict[str, set[str]]:
    places = {name: urls_in(text) for name, text in markdown_pages().items()
              if name != str(LINKS_PAGE.relative_to(ROOT))}
    places["_config.yml"] = set(URL.findall(CONFIG_TEXT))
    return {name: urls for name, urls in places.items() if urls}


def test_every_external_url_is_well_formed():
    places = urls_by_place()
    places["book/links.md"] = urls_in(LINKS_PAGE.read_text())
    for place, urls in places.items():
        for url in urls:
            parts = urlparse(url)
            assert parts.scheme in ("https", "http") and parts.netloc, (place, url)
            assert "." in parts.netloc and " " not in url, (place, url)


def test_every_external_url_is_listed_on_the_links_page():
    listed = urls_in(LINKS_PAGE.read_text())
    used = {url: place for place, urls in urls_by_place().items() for url in urls}
    unlisted = {url: place for url, place in used.items() if url not in listed}
    assert not unlisted, f"add these to book/links.md: {unlisted}"
    stale = listed - set(used)
    assert not stale, f"book/links.md lists URLs no page uses any more: {sorted(stale)}"


# --- (c) notebooks committed executed, top to bottom -------------------------------------------

@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_was_executed_top_to_bottom_without_errors(path):
    cells = [c for c in notebook(path)["cells"] if c["cell_type"] == "code"]
    unrun = [i for i, c in enumerate(cells) if source(c).strip() and c["execution_count"] is None]
    assert not unrun, (f"{path.name}: code cells {unrun} have no execution count; execute the "
                       "notebook top to bottom (tools/execute_notebook.py) before committing")
    counts = [c["execution_count"] for c in cells if c["execution_count"] is not None]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..N: cells were run out of order, "
        "twice, or in a kernel that had run other code first")
    errors = [(i, o.get("ename")) for i, c in enumerate(cells) for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: committed with error outputs in code cells {errors}"


EXECUTED = [*CHAPTERS, ROOT / "book" / "making_it_fast.ipynb",
            *sorted((ROOT / "whiteboard").glob("*.ipynb"))]


def _code_digest():
    import importlib.util
    spec = importlib.util.spec_from_file_location("execute_notebook",
                                                  ROOT / "tools" / "execute_notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.code_digest


@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: p.name)
def test_outputs_were_made_by_the_code_the_notebook_shows(path):
    """A code cell edited after execution leaves outputs its code did not make: the digest that
    tools/execute_notebook.py records must match the code as committed."""
    nb = notebook(path)
    recorded = nb.get("metadata", {}).get("cnnlib", {}).get("code_sha256")
    assert recorded, (f"{path.name} records no code digest: execute it with "
                      "tools/execute_notebook.py")
    assert recorded == _code_digest()(nb), (
        f"{path.name}: a code cell changed after the notebook was executed; execute it again "
        "(tools/execute_notebook.py, in the mode its outputs were made in)")


# --- (d) the Colab cell: tests/test_release.py (one ref everywhere) and tests/test_colab.py ------

# --- (e) citations -----------------------------------------------------------------------------

CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


def test_every_citation_is_in_the_bibliography():
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", bib, re.M))
    assert len(keys) >= 4
    cited = {key.strip(): name for name, text in markdown_pages().items()
             for group in CITE.findall(text) for key in group.split(",")}
    unknown = {key: page for key, page in cited.items() if key not in keys}
    assert not unknown, f"cited but not in book/references.bib: {unknown}"
    assert "krizhevsky2012imagenet" in cited  # the scan does find citations


# --- (f) what readers see in code cells --------------------------------------------------------

NOTEBOOKS = sorted([*CHAPTERS, *(ROOT / "whiteboard").glob("*.ipynb"),
                    *(ROOT / "book").glob("*.ipynb")])
CODE_WIDTH = 88


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_code_cells_fit_the_column_and_carry_no_test_markers(path):
    """Readers see every code cell: lines that scroll sideways, or comments that are there for
    the test runner (nbval reads the cell tag `nbval-check-output` instead), do not belong."""
    long, markers = [], []
    for i, cell in enumerate(notebook(path)["cells"]):
        if cell["cell_type"] != "code":
            continue
        for line in source(cell).splitlines():
            if len(line) > CODE_WIDTH:
                long.append(f"cell {i}: {len(line)} columns: {line[:60]}...")
            if re.search(r"#\s*NBVAL_", line):
                markers.append(f"cell {i}: {line.strip()}")
    assert not markers, f"{path.name}: use the nbval cell tags instead of comments: {markers}"
    assert not long, f"{path.name}: code lines over {CODE_WIDTH} columns:\n" + "\n".join(long)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_figure_is_shown_twice(path):
    """A cell whose last line is a call that returns a figure shows it twice in the page: once
    drawn by matplotlib's inline backend and once as the cell's value. End such a line with
    ``;`` (or assign the figure)."""
    twice = [i for i, cell in enumerate(notebook(path)["cells"]) if cell["cell_type"] == "code"
             for output in cell.get("outputs", [])
             if output.get("output_type") == "execute_result"
             and "image/png" in output.get("data", {})]
    assert not twice, f"{path.name}: cells {twice} show their figure twice: end them with ';'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_glued_cells_are_not_compared_by_nbval(path):
    """A glue output exists only where myst-nb is installed (the book's build), not in the
    clean room, so a cell that glues cannot have its outputs compared there."""
    both = [i for i, cell in enumerate(notebook(path)["cells"])
            if cell["cell_type"] == "code" and "glue(" in source(cell)
            and "nbval-check-output" in cell.get("metadata", {}).get("tags", [])]
    assert not both, f"{path.name}: cells {both} glue and are tagged nbval-check-output"


def test_every_glued_name_in_the_prose_is_glued_by_a_cell():
    for path in NOTEBOOKS:
        cells = notebook(path)["cells"]
        glued = {m for c in cells if c["cell_type"] == "code"
                 for m in re.findall(r"glue\(\s*f?\"((?:\w|\{[^}\"]*\})+)\"", source(c))}
        literal = {g for g in glued if "{" not in g}
        patterns = [re.compile("^" + re.sub(r"\{[^}]+\}", r"\\w+", g) + "$")
                    for g in glued if "{" in g]
        used = {m for c in cells if c["cell_type"] == "markdown"
                for m in re.findall(r"\{glue(?::\w+)?\}`([\w]+)", source(c))}
        missing = [u for u in used if u not in literal and not any(p.match(u) for p in patterns)]
        assert not missing, f"{path.name}: the prose uses glue names no cell glues: {missing}"


def test_every_bibliography_entry_is_cited_somewhere():
    """The references page says each entry is cited in the book; keep it true."""
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", bib, re.M))
    texts = list(markdown_pages().values())
    texts += [source(c) for p in (ROOT / "whiteboard").glob("*.ipynb")
              for c in notebook(p)["cells"] if c["cell_type"] == "markdown"]
    texts += [p.read_text() for p in (ROOT / "whiteboard").glob("*.md")]
    cited = {key.strip() for text in texts for group in CITE.findall(text)
             for key in group.split(",")}
    assert keys - cited == set(), "cite these, or remove them from book/references.bib"
