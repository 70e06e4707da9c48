"""The Colab edition: every notebook a Colab link opens, with no markup that Colab shows raw.

    python tools/make_colab.py            # write colab/<path> for every source notebook
    python tools/make_colab.py --check    # exit 1 if an edition is missing or out of date

Colab renders plain Markdown, not MyST. The sources (chapters, whiteboard, the appendix and
the practice copies) are written for the book's build, so in Colab a glued number shows as its
key, a glossary term as ``{term}`...```, an exercise as a grey block starting with
``:label:``, and a solution in full. Like d2l's Colab notebooks, the edition is generated from
the sources (``make colab``; ``tools/release.py`` writes it with everything else it syncs):

* glued values are written in as text, read from the source's saved glue outputs (a practice
  copy's from its chapter), and the glue outputs themselves are dropped;
* ``{term}`` becomes the word linked to the glossary of the published book (``html.baseurl``
  in ``_config.yml``), ``{cite}`` "(Author, Year)" linked to its references page, ``{ref}``,
  ``{doc}`` and links to ``.md`` pages links to the published pages; links to notebooks open
  their edition in Colab; label lines go;
* an exercise becomes a headed section numbered as in the book, a solution and an "open only
  if stuck" box a ``<details>`` block, any other admonition a block quote with its title;
* a quiz box (``<div class="cnn-quiz">``, run by ``_static/quiz.js`` in the HTML book; Colab
  would show nothing) becomes a note linking to the box on the published page, with the
  notebook's way to the same questions, ``cnnlib.quiz.ask()``;
* answer cells (``# @title Solution ...`` or ``# @title Reference ...``, ``cnnlib.colab``)
  keep no saved output, so a reader sees an answer only after running it; every other cell
  keeps its outputs, and every code cell its source and tags, so an edition runs as its source.

The output depends only on the sources, so ``--check`` (``tests/test_colab_edition.py``)
fails when a source changed and its edition was not regenerated.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_ref  # noqa: E402

sys.path.insert(0, str(book_ref.ROOT))
from cnnlib.colab import is_answer_cell  # noqa: E402

ROOT = book_ref.ROOT
FOLDERS = ("chapters", "whiteboard", "book", "practice")  # what Colab links open
PAGES = ("book", "whiteboard")  # Markdown pages: link targets, never opened in Colab

DIRECTIVE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<arg>.*)$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")
CODE_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})")
LABEL_LINE = re.compile(r"^\((?P<label>[^)\s]+)\)=[ \t]*$", re.M)
ROLE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<content>[^`]+)`")
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<text>.+?)[ \t]*$", re.M)
EXTERNAL = ("http://", "https://", "mailto:", "#")
QUIZ_BOX = re.compile(r'<div\b(?P<attrs>[^>]*\bclass="cnn-quiz"[^>]*)>\s*</div>')
QUIZ_KINDS = re.compile(r'\bdata-kinds="(?P<kinds>[^"]*)"')

# Markup that Colab would show as raw text; tests/test_colab_edition.py looks for these.
RAW_MARKUP = {
    "role": re.compile(r"\{[\w:-]+\}`"),
    "directive": re.compile(r"^\s*(?:>\s*)*(?:`{3,}|:{3,})\{[\w:-]+\}", re.M),
    "label line": re.compile(r"^\([^)\s]+\)=\s*$", re.M),
    "directive option": re.compile(r"^\s*(?:>\s*)*:(?:label|class|nonumber):", re.M),
    "link to a source page": re.compile(r"\]\((?!https?://)[^)\s]*\.(?:md|ipynb)\b"),
    "quiz box": re.compile(r"<div\b[^>]*\bcnn-quiz\b"),
}


class EditionError(ValueError):
    """A source holds markup the edition cannot write in plain Markdown."""


def cell_source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


# --- what the whole book knows: pages, numbers, labels, terms, references -----------------


@dataclass
class Target:
    doc: str  # the page's path without suffix, e.g. "chapters/11_failed_experiments"
    anchor: str
    text: str  # what a reference without its own text shows


@dataclass
class Book:
    repository: str
    ref: str
    base_url: str
    titles: dict[str, str] = field(default_factory=dict)  # doc -> title
    suffixes: dict[str, str] = field(default_factory=dict)  # doc -> ".md" or ".ipynb"
    chapter_numbers: dict[str, int] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)  # label -> where it is
    terms: dict[str, str] = field(default_factory=dict)  # term, lower case -> anchor
    citations: dict[str, str] = field(default_factory=dict)  # bib key -> "LeCun et al., 1998"

    def page_url(self, doc: str, anchor: str = "") -> str:
        return f"{self.base_url}{doc}.html" + (f"#{anchor}" if anchor else "")

    def colab_url(self, doc: str) -> str:
        return book_ref.colab_url(self.repository, self.ref,
                                  book_ref.edition_path(f"{doc}.ipynb"))


def markdown_texts(nb) -> list[str]:
    return [cell_source(c) for c in nb.cells if c.cell_type == "markdown"]


def toc_order(root: Path) -> list[tuple[str, bool]]:
    """Every page of ``_toc.yml`` in reading order, with whether its part is numbered."""
    path = root / "_toc.yml"
    if not path.exists():
        return []
    toc = yaml.safe_load(path.read_text())
    pages = [(toc["root"], False)] if "root" in toc else []
    for part in toc.get("parts", []):
        numbered = bool(part.get("numbered"))
        pages += [(entry["file"], numbered) for entry in part.get("chapters", [])]
    return pages


def exercise_labels(texts: list[str]) -> list[tuple[str, bool]]:
    """The labels of a page's exercises, in order (an exercise without a label: ''), each
    with whether it is numbered (sphinx-exercise's ``:nonumber:`` turns that off)."""
    labels = []
    for text in texts:
        for block in blocks(text):
            if isinstance(block, Directive) and block.name == "exercise":
                labels.append((block.options.get("label", ""),
                               "nonumber" not in block.options))
    return labels


def glossary_terms(root: Path) -> dict[str, str]:
    """Each term of ``book/glossary.md`` (lower case) -> its anchor in the built page.

    Sphinx makes a glossary term's id with ``sphinx.util.nodes._make_id`` from ``term-`` and
    the term; the same function gives the same anchors here.
    """
    from sphinx.util.nodes import _make_id

    path = root / "book" / "glossary.md"
    if not path.exists():
        return {}
    terms: dict[str, str] = {}
    for block in blocks(path.read_text()):
        if isinstance(block, Directive) and block.name == "glossary":
            for line in block.body.splitlines():
                if line.strip() and not line[0].isspace() and not OPTION.match(line):
                    anchor = _make_id(f"term-{line.strip()}")
                    if anchor in terms.values():
                        raise EditionError(f"two glossary terms make the anchor {anchor}")
                    terms[line.strip().lower()] = anchor
    return terms


def citation_labels(root: Path) -> dict[str, str]:
    """Bib key -> "Author, Year" as the book's author-year style shows it."""
    from pybtex.database import parse_file
    from pybtex.richtext import Text

    path = root / "book" / "references.bib"
    if not path.exists():
        return {}

    def plain(latex: str) -> str:
        return Text.from_latex(latex).render_as("text")

    labels = {}
    for key, entry in parse_file(str(path)).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [plain(" ".join(p.prelast_names + p.last_names)) for p in people]
        if len(names) > 2:
            who = f"{names[0]} et al."
        elif names:
            who = " and ".join(names)
        else:
            who = f"*{plain(entry.fields.get('title', key))}*"  # as the book shows it
        labels[key] = f"{who}, {plain(entry.fields.get('year', 'n.d.'))}"
    return labels


def read_book(root: Path, sources: dict[str, nbformat.NotebookNode],
              ref: str | None = None) -> Book:
    """What the edition needs to know about every page: titles, numbers, labels, terms.

    ``sources``: relative path -> notebook, for every source notebook (already synced);
    ``ref``: the git ref its links name (default ``book_ref.ref(root)``).
    """
    book = Book(book_ref.repository(root), ref or book_ref.ref(root), book_ref.book_url(root))
    texts: dict[str, list[str]] = {}
    for rel, nb in sources.items():
        if not rel.startswith("practice/"):
            doc = rel.removesuffix(".ipynb")
            texts[doc], book.suffixes[doc] = markdown_texts(nb), ".ipynb"
    for folder in PAGES:
        for path in sorted((root / folder).glob("*.md")):
            doc = f"{folder}/{path.stem}"
            texts[doc], book.suffixes[doc] = [path.read_text()], ".md"
    for doc, page in texts.items():
        found = HEADING.search("\n\n".join(page))
        book.titles[doc] = found.group("text") if found else doc
    order = toc_order(root)
    number, unnumbered_count = 0, 0
    numbers: dict[str, str] = {}  # exercise label -> "10.3" or "15"
    for doc, numbered in order + [(d, False) for d in texts if d not in dict(order)]:
        found = exercise_labels(texts.get(doc, []))
        labels = [label for label, counted in found if counted]
        if numbered:
            number += 1
            book.chapter_numbers[doc] = number
            names = [f"{number}.{i}" for i in range(1, len(labels) + 1)]
        elif doc in dict(order):
            names = [str(unnumbered_count + i) for i in range(1, len(labels) + 1)]
            unnumbered_count += len(labels)
        else:  # a page outside the table of contents: numbered on its own
            names = [str(i) for i in range(1, len(labels) + 1)]
        for label, name in zip(labels, names):
            if label:
                numbers[label] = name
                book.targets[label] = Target(doc, label, f"Exercise {name}")
        for label, counted in found:  # :nonumber: exercises are just "Exercise"
            if label and not counted:
                book.targets[label] = Target(doc, label, "Exercise")
    for doc, page in texts.items():
        for text in page:
            for m in LABEL_LINE.finditer(text):
                heading = HEADING.search(text, m.end())
                title = heading.group("text") if heading else m.group("label")
                book.targets[m.group("label")] = Target(doc, m.group("label"), title)
    book.terms = glossary_terms(root)
    book.citations = citation_labels(root)
    return book


# --- Markdown with MyST directives, as blocks --------------------------------------------


@dataclass
class Directive:
    name: str
    arg: str
    options: dict[str, str]
    body: str


def blocks(text: str) -> list[str | Directive]:
    """Split Markdown into plain text and top-level directives (``` or ::: fences).

    A directive closes at the first line of its fence character at least as long as its
    opening fence, outside code fences nested in it, as MyST closes it.
    """
    lines = text.split("\n")
    out: list[str | Directive] = []
    plain: list[str] = []
    i = 0
    while i < len(lines):
        opening = DIRECTIVE.match(lines[i])
        if not opening:
            code = CODE_FENCE.match(lines[i])
            if code:  # a code block: copied as it is, even if it holds directive syntax
                end = _closing(lines, i + 1, code.group("fence"))
                plain += lines[i:end + 1]
                i = end + 1
                continue
            plain.append(lines[i])
            i += 1
            continue
        if plain:
            out.append("\n".join(plain))
            plain = []
        fence = opening.group("fence")
        end = _closing(lines, i + 1, fence)
        body = lines[i + 1:end]
        options = {}
        while body and OPTION.match(body[0]):
            m = OPTION.match(body[0])
            options[m.group("key")] = m.group("value").strip()
            body = body[1:]
        out.append(Directive(opening.group("name"), opening.group("arg").strip(), options,
                             "\n".join(body).strip("\n")))
        i = end + 1
    if plain:
        out.append("\n".join(plain))
    return out


def _closing(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing ``fence`` (or the last line, as CommonMark allows)."""
    char, size = fence[0], len(fence)
    nested = None
    for j in range(start, len(lines)):
        stripped = lines[j].strip()
        if nested is not None:
            if stripped and set(stripped) == {nested[0]} and len(stripped) >= len(nested):
                nested = None
            continue
        if stripped and set(stripped) == {char} and len(stripped) >= size:
            return j
        inner = CODE_FENCE.match(lines[j].lstrip()) or DIRECTIVE.match(lines[j].lstrip())
        if inner and char == "`" and inner.group("fence")[0] == "`" \
                and len(inner.group("fence")) < size:
            nested = inner.group("fence")
    return len(lines) - 1


# --- one notebook ---------------------------------------------------------------------------


@dataclass
class Page:
    """One notebook being converted: where it is, and what its prose refers to."""
    book: Book
    folder: str  # the folder relative links start from
    glue: dict[str, str]
    doc: str | None  # the chapter it is (or copies), for its number
    solution: str | None = None  # the exercise whose multi-cell solution is open
    parts: int = 0  # how many of its prose parts the edition has written
    level: int = 2  # the level of the last heading seen
    told: bool = False  # whether a note has said how to open a folded solution cell
    section: str = ""  # the anchor of the last heading seen ("": the page's top)
    sections: set[str] = field(default_factory=set)  # every heading anchor seen so far


def glue_values(nb) -> dict[str, str]:
    """name -> the plain text of every value the notebook's saved outputs glue."""
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if scrap:
                values[scrap["name"]] = output["data"][f"{scrap['mime_prefix']}text/plain"]
    return values


def is_glue_output(output) -> bool:
    return bool(output.get("metadata", {}).get("scrapbook"))


def convert_roles(text: str, page: Page) -> str:
    """Every role in ``text`` (outside code blocks) as plain Markdown."""
    parts = re.split(r"(^(?:`{3,}|~{3,}).*?^(?:`{3,}|~{3,})[ \t]*$)", text, flags=re.M | re.S)
    return "".join(part if i % 2 else ROLE.sub(lambda m: _role(m, page), part)
                   for i, part in enumerate(parts))


def _explicit(content: str) -> tuple[str | None, str]:
    m = EXPLICIT.match(content.strip())
    return (m.group("text"), m.group("target").strip()) if m else (None, content.strip())


def _role(m: re.Match, page: Page) -> str:
    role, content, book = m.group("role"), m.group("content"), page.book
    if role in ("glue:text", "glue"):
        from myst_nb.core.variables import format_plain_text

        key, _, spec = content.partition(":")
        if key not in page.glue:
            raise EditionError(f"{{glue:text}}`{content}`: no saved output glues {key!r} "
                               "(execute the notebook, or the chapter of a practice copy)")
        return format_plain_text(page.glue[key], spec)
    if role == "term":
        text, target = _explicit(content)
        anchor = book.terms.get(target.lower())
        if anchor is None:
            raise EditionError(f"{{term}}`{content}`: {target!r} is not a term of "
                               "book/glossary.md")
        return f"[{text or target}]({book.page_url('book/glossary', anchor)})"
    if role in ("cite", "cite:p", "cite:t"):
        keys = [k.strip() for k in content.split(",")]
        unknown = [k for k in keys if k not in book.citations]
        if unknown:
            raise EditionError(f"{{{role}}}`{content}`: {unknown} not in book/references.bib")
        url = book.page_url("book/references")
        if role == "cite:t":
            return "; ".join(f"[{_textual(book.citations[k])}]({url})" for k in keys)
        return "(" + "; ".join(f"[{book.citations[k]}]({url})" for k in keys) + ")"
    if role == "ref":
        text, label = _explicit(content)
        target = book.targets.get(label)
        if target is None:
            raise EditionError(f"{{ref}}`{content}`: no page defines the label {label!r}")
        return f"[{text or target.text}]({book.page_url(target.doc, target.anchor)})"
    if role == "doc":
        text, target = _explicit(content)
        doc = _resolve(page.folder, target)
        if doc not in book.titles:
            raise EditionError(f"{{doc}}`{content}`: no page {doc}")
        return f"[{text or book.titles[doc]}]({book.page_url(doc)})"
    raise EditionError(f"{{{role}}}`{content}`: the Colab edition does not know the role "
                       f"{role!r}; add it to tools/make_colab.py")


def _textual(label: str) -> str:
    who, year = label.rsplit(", ", 1)
    return f"{who} ({year})"


def _resolve(folder: str, target: str) -> str:
    """A relative path from a page's folder, as a path from the root, without suffix."""
    parts: list[str] = []
    for part in PurePosixPath(folder, target).parts:
        if part == "..":
            if not parts:
                raise EditionError(f"{target!r} leads out of the repository")
            parts.pop()
        elif part != ".":
            parts.append(part)
    path = PurePosixPath(*parts)
    return str(path.with_suffix("")) if path.suffix in (".md", ".ipynb") else str(path)


def convert_links(text: str, page: Page) -> str:
    """Relative links: a ``.md`` page to the published book, a notebook to its edition."""

    def link(m: re.Match) -> str:
        target = m.group("target")
        if target.startswith(EXTERNAL):
            return m.group(0)
        path, _, anchor = target.partition("#")
        if not path.endswith((".md", ".ipynb")):
            raise EditionError(f"link {m.group(0)!r}: the edition links only pages (.md) and "
                               "notebooks (.ipynb) of the book")
        doc = _resolve(page.folder, path)
        if doc not in page.book.titles:
            raise EditionError(f"link {m.group(0)!r}: no page {doc}")
        text = m.group("text") or page.book.titles[doc]
        if path.endswith(".md") or anchor:
            return f"[{text}]({page.book.page_url(doc, anchor)})"
        return f"[{text}]({page.book.colab_url(doc)})"

    return LINK.sub(link, text)


def inline(text: str, page: Page) -> str:
    """Roles, links and label lines of plain text."""
    text = LABEL_LINE.sub("", text)
    return convert_links(convert_roles(text, page), page)


def section_anchor(heading: str, page: Page) -> str:
    """The id Sphinx gives the section of a heading, or '' where it cannot be known.

    Sphinx makes it with docutils' ``make_id`` from the title's text; a second section of the
    same title gets a numbered id, so a repeat falls back to the page's top.
    """
    from docutils.nodes import make_id

    text = re.sub(r"[`*]", "", LINK.sub(lambda m: m.group("text"), heading))
    anchor = make_id(text)
    if anchor in page.sections:
        return ""
    page.sections.add(anchor)
    return anchor


def quiz_note(attrs: str, page: Page) -> str:
    """A quiz box as Colab can show it: where the box is, and the notebook's way to it."""
    from cnnlib.quiz import KINDS

    found = QUIZ_KINDS.search(attrs)
    kinds = [k.strip() for k in found.group("kinds").split(",") if k.strip()] if found else []
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise EditionError(f"quiz box: {unknown} not in cnnlib.quiz.KINDS")
    url = page.book.page_url(page.doc, page.section) if page.doc else page.book.base_url
    does = "prints a new question, reads your answer and shows the derivation"
    if len(kinds) > 1:
        names = ", ".join(f"`{k}`" for k in kinds)
        how = (f"a code cell with `cnnlib.quiz.ask()` {does}; "
               f'`cnnlib.quiz.ask("{kinds[0]}")` asks one kind (this box\'s kinds: {names}).')
    else:
        call = f'ask("{kinds[0]}")' if kinds else "ask()"
        how = f"a code cell with `cnnlib.quiz.{call}` asks the same questions: it {does}."
    return (f"> **Quiz box.** The book's page has a quiz box here, which runs in a web "
            f"browser, not in Colab: [answer its questions on the page]({url}). In this "
            f"notebook, {how}")


def convert_quiz_boxes(text: str, page: Page) -> str:
    """Each quiz box of ``text`` (outside code blocks) as a note; headings set its anchor."""
    either = re.compile(f"{HEADING.pattern}|{QUIZ_BOX.pattern}", re.M)

    def one(m: re.Match) -> str:
        if m.group("hashes"):
            level = len(m.group("hashes"))
            page.section = section_anchor(m.group("text"), page) if level > 1 else ""
            return m.group(0)
        return quiz_note(m.group("attrs"), page)

    parts = re.split(r"(^(?:`{3,}|~{3,}).*?^(?:`{3,}|~{3,})[ \t]*$)", text, flags=re.M | re.S)
    parts = [part if i % 2 else either.sub(one, part) for i, part in enumerate(parts)]
    for left in (RAW_MARKUP["quiz box"].search(part) for part in parts[::2]):
        if left:
            raise EditionError(f"a quiz box the edition cannot convert: {left.group(0)!r}... "
                               '(write it as <div class="cnn-quiz" data-kinds="..."></div>)')
    return "".join(parts)


def details(summary: str, body: str) -> str:
    """An HTML ``<details>`` block whose body Colab still reads as Markdown."""
    return f"<details>\n<summary>{summary}</summary>\n\n{body.strip()}\n\n</details>"


def quote(title: str, body: str) -> str:
    lines = [f"**{title}**", ""] + body.strip().split("\n")
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def exercise_name(page: Page, label: str) -> str:
    target = page.book.targets.get(label)
    return target.text if target else "Exercise"


def convert_markdown(text: str, page: Page) -> str:
    """One markdown cell of the source as the edition writes it ('' if nothing is left)."""
    out: list[str] = []
    opened = False
    for block in blocks(text):
        if isinstance(block, str):
            converted = convert_quiz_boxes(inline(block, page), page)
            for m in HEADING.finditer(converted):
                page.level = len(m.group("hashes"))
            if page.solution and converted.strip():  # the prose of a solution with code
                summary = page.solution + (" (continued)" if page.parts else "")
                converted = details(summary, converted)
                page.parts += 1
            out.append(converted)
            continue
        opened = opened or block.name == "solution-start"
        out.append(directive(block, page))
    if opened and page.solution and not page.parts:
        how = ("" if page.told else " Try the exercise first; then double-click the cell to see "
               "its code, and run `cnnlib.colab.show_answers()` once to let it show its output.")
        out.append(f"*{page.solution}: the folded cell below.{how}*")
        page.parts, page.told = 1, True  # the first note of a page says how, the rest only where
    return re.sub(r"\n{3,}", "\n\n", "\n\n".join(p.strip("\n") for p in out if p.strip())
                  ).strip()


def directive(block: Directive, page: Page) -> str:
    name, body = block.name, block.body
    if name == "exercise":
        title = exercise_name(page, block.options.get("label", ""))
        if block.arg:
            title += f": {inline(block.arg, page)}"
        level = min(page.level + 1, 6)
        return f"{'#' * level} {title}\n\n{convert_markdown(body, _inner(page))}"
    if name == "solution":
        label = block.arg
        return details(f"Solution to {exercise_name(page, label)}",
                       convert_markdown(body, _inner(page)))
    if name == "solution-start":
        page.solution, page.parts = f"Solution to {exercise_name(page, block.arg)}", 0
        return ""
    if name == "solution-end":
        page.solution = None
        return ""
    if name in ("admonition", "note", "tip", "warning", "important", "hint", "caution"):
        title = inline(block.arg, page) if name == "admonition" else name.capitalize()
        inner = convert_markdown(body, _inner(page))
        if "dropdown" in block.options.get("class", "").split():
            return details(title, inner)
        return quote(title, inner)
    raise EditionError(f"the Colab edition does not know the directive {{{name}}}; add it "
                       "to tools/make_colab.py")


def _inner(page: Page) -> Page:
    """The same page for a directive's body: no open multi-cell solution inside it."""
    return Page(page.book, page.folder, page.glue, page.doc, None, 0, page.level,
                section=page.section, sections=page.sections)


def number_title(text: str, number: int | None) -> str:
    """``# LeNet-5`` -> ``# 3. LeNet-5`` for a numbered chapter (the book's TOC numbers it)."""
    if number is None:
        return text
    return HEADING.sub(lambda m: f"# {number}. {m.group('text')}" if m.group("hashes") == "#"
                       else m.group(0), text, count=1)


def edition(nb, rel: str, book: Book, glue: dict[str, str] | None = None):
    """The Colab edition of the notebook ``nb`` at ``rel`` (``chapters/03_lenet5.ipynb``).

    ``glue``: the glued values its prose quotes (default: its own saved outputs).
    """
    folder, name = rel.rsplit("/", 1)
    doc = rel.removesuffix(".ipynb")
    if folder == "practice":
        folder, doc = "chapters", f"chapters/{name.removesuffix('.ipynb')}"
    page = Page(book, folder, glue_values(nb) if glue is None else glue, doc)
    nb = copy.deepcopy(nb)
    cells, titled = [], False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            try:
                text = convert_markdown(cell_source(cell), page)
            except EditionError as error:
                raise EditionError(f"{rel}, cell {cell.get('id', '?')}: {error}") from None
            if not titled and HEADING.search(text):
                text, titled = number_title(text, book.chapter_numbers.get(doc)), True
            if not text:
                continue
            cell.source = text
        elif cell.cell_type == "code":
            if is_answer_cell(cell_source(cell).split("\n")[:1]):
                cell.outputs = []
                cell.execution_count = None
            else:
                cell.outputs = [o for o in cell.outputs if not is_glue_output(o)]
        cells.append(cell)
    nb.cells = cells
    return nb


def render(nb, rel: str, book: Book, glue: dict[str, str] | None = None) -> str:
    return nbformat.writes(edition(nb, rel, book, glue)) + "\n"


# --- every notebook -------------------------------------------------------------------------


def source_notebooks(root: Path) -> dict[str, nbformat.NotebookNode]:
    """Relative path -> notebook, for every notebook a Colab link opens."""
    return {str(path.relative_to(root)): nbformat.read(path, as_version=4)
            for folder in FOLDERS for path in sorted((root / folder).glob("*.ipynb"))}


def plan(root: Path, sources: dict[str, nbformat.NotebookNode] | None = None,
         ref: str | None = None) -> dict[Path, str | None]:
    """Every edition file that should exist (with its text) or should go (None).

    ``sources`` (relative path -> notebook) default to the files on disk; the release tool
    passes the notebooks it is about to write, and the ``ref`` it writes them at.
    """
    sources = source_notebooks(root) if sources is None else sources
    book = read_book(root, sources, ref)
    out = root / book_ref.EDITION
    wanted: dict[Path, str | None] = {}
    for rel, nb in sources.items():
        glue = None
        if rel.startswith("practice/"):
            chapter = sources.get(f"chapters/{rel.split('/', 1)[1]}")
            glue = glue_values(chapter) if chapter is not None else {}
        wanted[out / rel] = render(nb, rel, book, glue)
    for path in sorted(out.glob("*/*.ipynb")):
        wanted.setdefault(path, None)
    return wanted


def out_of_date(root: Path, files: dict[Path, str | None]) -> list[str]:
    return book_ref.disagreements(root, files, "an edition of no source notebook",
                                  "out of date")


def write(files: dict[Path, str | None]) -> list[Path]:
    changed = []
    for path, text in files.items():
        if text is None:
            path.unlink()
            changed.append(path)
        elif not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if an edition is missing or out of date")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        files = plan(root)
    except EditionError as error:
        print(f"make_colab: {error}", file=sys.stderr)
        return 1
    if args.check:
        wrong = out_of_date(root, files)
        if wrong:
            print("the Colab edition needs regenerating (run `make colab`):\n  "
                  + "\n  ".join(wrong), file=sys.stderr)
            return 1
        print(f"{len(files)} Colab editions are up to date")
        return 0
    changed = write(files)
    print(f"{sum(t is not None for t in files.values())} Colab editions in "
          f"{root / book_ref.EDITION}, {len(changed)} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
