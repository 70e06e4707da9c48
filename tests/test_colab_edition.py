"""The Colab edition (tools/make_colab.py): every notebook a Colab link opens shows no raw MyST
markup and no answer's output, runs the same code as its source, and is up to date."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


sys.path.insert(0, str(ROOT / "tools"))
import book_ref  # noqa: E402
import make_colab  # noqa: E402
import release  # noqa: E402

SOURCES = sorted(p.relative_to(ROOT).as_posix() for folder in make_colab.FOLDERS
                 for p in (ROOT / folder).glob("*.ipynb"))

# What Colab shows raw, written here independently of the tool's own list.
RAW = {
    "a MyST role": re.compile(r"\{[a-z]+(?::[a-z]+)?\}`"),
    "a directive fence": re.compile(r"^[\s>]*(?:```+|:::+)\s*\{[a-z-]+\}", re.M),
    "a label line": re.compile(r"^\s*\([\w.:-]+\)=\s*$", re.M),
    "a directive option": re.compile(r"^[\s>]*:(?:label|class|nonumber|sorted):", re.M),
    "a relative link to a page": re.compile(r"\]\((?![a-z]+://)[^)]*\.(?:md|ipynb)\b"),
    "a substitution": re.compile(r"\{\{[^}]*\}\}"),
    "a quiz box": re.compile(r"<div\b[^>]*\bcnn-quiz\b"),  # quiz.js runs only in the book
}
GLUE_KEY = re.compile(r"\{glue(?::text)?\}`([\w]+)")


@pytest.fixture(scope="module")
def editions():
    """Every source converted now, in memory: relative path -> (source, edition)."""
    sources = make_colab.source_notebooks(ROOT)
    files = make_colab.plan(ROOT, sources)
    out = ROOT / book_ref.EDITION
    return {rel: (sources[rel], nbformat.reads(files[out / rel], as_version=4))
            for rel in sources}


def markdown(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def findings(texts: list[str]) -> list[str]:
    return [f"{what}: {m.group(0)!r}" for text in texts for what, rx in RAW.items()
            for m in rx.finditer(text)]


def test_every_notebook_a_colab_link_opens_has_an_edition():
    assert len(SOURCES) >= 28, SOURCES  # 10 chapters, 7 whiteboard, 1 appendix, 10 practice
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["path_to_book"] == book_ref.EDITION  # the launch buttons
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [e["file"] for part in toc["parts"] for e in part["chapters"]]
    launched = [p for p in pages if (ROOT / f"{p}.ipynb").exists()]
    assert launched and all((ROOT / book_ref.EDITION / f"{p}.ipynb").exists() for p in launched)


def test_the_committed_edition_is_up_to_date(capsys):
    assert make_colab.main(["--check"]) == 0, capsys.readouterr().err


def test_the_raw_markup_check_finds_what_the_sources_hold():
    """The check is not vacuous: the sources hold each kind of markup it looks for."""
    texts = [t for rel in SOURCES for t in markdown(nbformat.read(ROOT / rel, as_version=4))]
    kinds = {f.split(":")[0] for f in findings(texts)}
    assert kinds >= {"a MyST role", "a directive fence", "a label line", "a directive option",
                     "a relative link to a page", "a quiz box"}


@pytest.mark.parametrize("rel", SOURCES)
def test_no_raw_markup_and_no_glued_key_in_the_edition(editions, rel):
    source, edition = editions[rel]
    assert findings(markdown(edition)) == [], rel
    keys = {k for text in markdown(source) for k in GLUE_KEY.findall(text)}
    prose = "\n".join(markdown(edition))
    assert not [k for k in keys if re.search(rf"\b{k}\b", prose)], "a glued key left as text"


@pytest.mark.parametrize("rel", SOURCES)
def test_no_answer_cell_keeps_an_output_and_every_other_cell_keeps_its_own(editions, rel):
    source, edition = editions[rel]
    answers = release.answer_cells(source.cells)  # found by the markers, not by the titles
    kept = {c.id: c for c in edition.cells if c.cell_type == "code"}
    for i, cell in enumerate(source.cells):
        if cell.cell_type != "code":
            continue
        out = kept[cell.id]
        if i in answers:
            assert out.outputs == [] and out.execution_count is None, (rel, cell.id)
        else:
            assert out.outputs == [o for o in cell.outputs
                                   if "scrapbook" not in o.get("metadata", {})], (rel, cell.id)


@pytest.mark.parametrize("rel", SOURCES)
def test_an_edition_runs_the_same_code_as_its_source(editions, rel):
    """Same code cells, in order, with the same sources, ids and tags (nbval's markers)."""
    source, edition = editions[rel]
    code = lambda nb: [(c.id, c.source, c.metadata.get("tags", []))  # noqa: E731
                       for c in nb.cells if c.cell_type == "code"]
    assert code(edition) == code(source)


def test_the_answers_of_the_book_are_counted():
    """The issue counted 80 answer cells with outputs; all of them lose their output."""
    with_output = 0
    for rel in SOURCES:
        nb = nbformat.read(ROOT / rel, as_version=4)
        with_output += sum(bool(nb.cells[i].outputs) for i in release.answer_cells(nb.cells))
    assert with_output >= 80


# --- the conversion, on small pieces of markup ---------------------------------------------

@pytest.fixture(scope="module")
def book():
    return make_colab.read_book(ROOT, make_colab.source_notebooks(ROOT))


def convert(book, text: str, glue=None, rel="chapters/03_lenet5.ipynb") -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(text)]
    return make_colab.edition(nb, rel, book, glue or {}).cells[0].source


def test_glued_values_are_written_in_as_the_book_shows_them(book):
    glue = {"acc": "'92.3%'", "lr": "0.0512"}
    assert convert(book, "got {glue:text}`acc` at {glue:text}`lr:.2f`", glue) == \
        "got 92.3% at 0.05"
    with pytest.raises(make_colab.EditionError, match="no saved output glues 'nope'"):
        convert(book, "{glue:text}`nope`")


def test_terms_citations_and_references_link_into_the_published_book(book):
    base = book_ref.book_url()
    text = convert(book, "a {term}`Kernels <kernel (卷积核)>` and {term}`ReLU (修正线性单元)`; "
                   "{cite:p}`lecun1998gradient,krizhevsky2012imagenet`; "
                   "{cite:t}`hubel1962receptive`; {ref}`loss-nan`; {ref}`ex-lenet-28`; "
                   "{doc}`the intro <../book/intro>`")
    assert f"[Kernels]({base}book/glossary.html#term-kernel)" in text
    assert f"[ReLU (修正线性单元)]({base}book/glossary.html#term-ReLU)" in text
    assert (f"([LeCun et al., 1998]({base}book/references.html); "
            f"[Krizhevsky et al., 2012]({base}book/references.html))") in text
    assert f"[Hubel and Wiesel (1962)]({base}book/references.html)" in text
    assert f"({base}book/when_things_go_wrong.html#loss-nan)" in text
    assert re.search(rf"\[Exercise 3\.\d\]\({re.escape(base)}chapters/03_lenet5\.html"
                     r"#ex-lenet-28\)", text)
    assert f"[the intro]({base}book/intro.html)" in text


def test_links_to_pages_go_to_the_book_and_links_to_notebooks_to_their_edition(book):
    text = convert(book, "[checklist](../book/checklist.md), [Chapter 2](02_convolution.ipynb)"
                   ", [](../whiteboard/drill_lenet5.ipynb), [web](https://pytorch.org)")
    assert f"[checklist]({book_ref.book_url()}book/checklist.html)" in text
    assert "/blob/" in text and "/colab/chapters/02_convolution.ipynb)" in text
    assert "/colab/whiteboard/drill_lenet5.ipynb)" in text and "[](" not in text
    assert "[web](https://pytorch.org)" in text


def test_exercises_are_headed_and_solutions_and_hint_boxes_fold(book):
    text = convert(book, "## Exercises\n\n```{exercise}\n:label: ex-lenet-28\nWhy?\n```\n\n"
                   "```{solution} ex-lenet-28\n:class: dropdown\nBecause $k=5$.\n```\n\n"
                   "```{admonition} Facts (open only if stuck)\n:class: dropdown\nA fact.\n"
                   "```\n\n(sec-x)=\n```{admonition} Symptom\n:class: tip\nLine one.\n\n"
                   "Line two.\n```")
    assert re.search(r"^### Exercise 3\.\d\n\nWhy\?$", text, re.M)
    assert re.search(r"<details>\n<summary>Solution to Exercise 3\.\d</summary>\n\n"
                     r"Because \$k=5\$\.\n\n</details>", text)
    assert "<details>\n<summary>Facts (open only if stuck)</summary>\n\nA fact." in text
    assert "> **Symptom**\n>\n> Line one.\n>\n> Line two." in text
    assert "(sec-x)=" not in text and ":class:" not in text


def test_a_solution_with_code_folds_its_prose_around_the_code_cells():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("```{exercise}\n:label: ex-a\nQ\n```\n\n"
                                      "```{solution-start} ex-a\n:class: dropdown\n```\n\n"
                                      "First the idea."),
        nbformat.v4.new_code_cell("# @title Solution of ex-a\nprint(42)",
                                  outputs=[nbformat.v4.new_output("stream", text="42\n")]),
        nbformat.v4.new_markdown_cell("Then the reading.\n\n```{solution-end}\n```\n\nAfter."),
    ]
    sources = {**make_colab.source_notebooks(ROOT), "chapters/99_x.ipynb": nb}
    book = make_colab.read_book(ROOT, sources)  # a page outside the TOC: numbered alone
    cells = make_colab.edition(nb, "chapters/99_x.ipynb", book, {}).cells
    assert cells[0].source == ("### Exercise 1\n\nQ\n\n<details>\n<summary>Solution to "
                               "Exercise 1</summary>\n\nFirst the idea.\n\n</details>")
    assert cells[1].outputs == []
    assert cells[2].source == ("<details>\n<summary>Solution to Exercise 1 (continued)"
                               "</summary>\n\nThen the reading.\n\n</details>\n\nAfter.")


def test_unknown_markup_is_refused_by_name(book):
    with pytest.raises(make_colab.EditionError, match="does not know the role 'numref'"):
        convert(book, "{numref}`fig-x`")
    with pytest.raises(make_colab.EditionError, match="does not know the directive"):
        convert(book, "```{figure} x.png\n```")
    with pytest.raises(make_colab.EditionError, match="not a term of book/glossary.md"):
        convert(book, "{term}`no such term`")


def test_a_solution_that_is_only_code_gets_a_note_and_only_the_first_says_how():
    nb = nbformat.v4.new_notebook()
    for label in ("ex-a", "ex-b"):
        nb.cells += [
            nbformat.v4.new_markdown_cell(f"```{{exercise}}\n:label: {label}\nQ\n```\n\n"
                                          f"```{{solution-start}} {label}\n:class: dropdown\n```"),
            nbformat.v4.new_code_cell(f"# @title Solution of {label}\nprint(42)"),
            nbformat.v4.new_markdown_cell("```{solution-end}\n```"),
        ]
    sources = {**make_colab.source_notebooks(ROOT), "chapters/99_x.ipynb": nb}
    book = make_colab.read_book(ROOT, sources)
    cells = make_colab.edition(nb, "chapters/99_x.ipynb", book, {}).cells
    notes = [c.source for c in cells if c.cell_type == "markdown"]
    assert len(notes) == 2  # the solution-end cells leave nothing
    assert notes[0].endswith("*Solution to Exercise 1: the folded cell below. Try the exercise "
                             "first; then double-click the cell to see its code, and run "
                             "`cnnlib.colab.show_answers()` once to let it show its output.*")
    assert notes[1] == "### Exercise 2\n\nQ\n\n*Solution to Exercise 2: the folded cell below.*"


def test_a_quiz_box_becomes_a_link_to_the_book_and_the_notebook_way(book):
    """Colab runs no quiz.js: the empty div would show nothing under prose about a box."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(source) for source in (
        '# LeNet-5\n\n<div class="cnn-quiz"></div>',
        '## Practice questions\n\nClick.\n\n<div class="cnn-quiz" data-kinds="chain"></div>',
        '<div class="cnn-quiz" data-kinds="parameters, receptive_field"></div>\n\n'
        '```html\n<div class="cnn-quiz"></div>\n```')]
    cells = make_colab.edition(nb, "practice/03_lenet5.ipynb", book, {}).cells
    page = f"{book_ref.book_url()}chapters/03_lenet5.html"  # a practice copy's: its chapter
    link = "[answer its questions on the page]({})"
    assert link.format(page) in cells[0].source  # before any section: the page's top
    assert cells[0].source.endswith("a code cell with `cnnlib.quiz.ask()` asks the same "
                                    "questions: it prints a new question, reads your answer "
                                    "and shows the derivation.")
    assert cells[1].source.startswith("## Practice questions\n\nClick.\n\n> **Quiz box.**")
    assert link.format(f"{page}#practice-questions") in cells[1].source
    assert '`cnnlib.quiz.ask("chain")` asks the same questions' in cells[1].source
    assert link.format(f"{page}#practice-questions") in cells[2].source  # the same section
    assert ("a code cell with `cnnlib.quiz.ask()` prints a new question" in cells[2].source
            and '`cnnlib.quiz.ask("parameters")` asks one kind (this box\'s kinds: '
            "`parameters`, `receptive_field`)." in cells[2].source)
    assert cells[2].source.endswith('```html\n<div class="cnn-quiz"></div>\n```')  # code
    assert [findings([c.source.split("```")[0]]) for c in cells] == [[], [], []]
    with pytest.raises(make_colab.EditionError, match="a quiz box the edition cannot convert"):
        convert(book, '<div class="cnn-quiz">Try it</div>')
    with pytest.raises(make_colab.EditionError, match=r"\['nope'\] not in cnnlib.quiz.KINDS"):
        convert(book, '<div class="cnn-quiz" data-kinds="nope"></div>')


def test_exercises_outside_the_numbered_parts_carry_no_number_from_the_whole_book():
    """sphinx-exercise numbers the exercises of pages outside the numbered parts across the
    whole book (the drills' had 1-14, the flashcards' 15-34); there they say :nonumber:,
    and the edition calls them 'Exercise' as the book does."""
    book = make_colab.read_book(ROOT, make_colab.source_notebooks(ROOT))
    unnumbered = [doc for doc, numbered in make_colab.toc_order(ROOT) if not numbered]
    found = 0
    for doc in unnumbered:
        path = ROOT / (doc + book.suffixes.get(doc, ".md"))
        texts = (make_colab.markdown_texts(nbformat.read(path, as_version=4))
                 if path.suffix == ".ipynb" else [path.read_text()])
        for label, counted in make_colab.exercise_labels(texts):
            found += 1
            assert not counted, f"{doc}: exercise {label!r} needs :nonumber:"
            assert book.targets[label].text == "Exercise"
    assert found >= 40  # drills, flashcards and the appendix
