"""The quiz box on the book's pages (_static/quiz.js) in a real headless browser: the same
question, answer and derivation as cnnlib.quiz for hundreds of seeds of every kind, the same
verdicts on typed answers, and a box that asks, judges and explains when clicked.

Needs Debian's chromium and Playwright (``make install`` installs both where apt is
reachable); without them the file is skipped and says which is missing.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from cnnlib import quiz

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "_static" / "quiz.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SEEDS_PER_KIND = 300

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed "
                               "(pip install playwright; make install does it)")
if not Path(CHROMIUM).exists():
    pytest.skip("no chromium: apt-get install chromium (make install does it where apt is "
                "reachable)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def open_page(browser, folder: Path):
    """A page with two boxes, one of them offering only two kinds, as a chapter has it."""
    html = folder / "page.html"
    html.write_text('<!doctype html><html><head><meta charset="utf-8"></head><body>'
                    '<div class="cnn-quiz" data-kinds="output_size,parameters"></div>'
                    '<div style="height:2000px"></div><div class="cnn-quiz"></div>'
                    f'<script src="{SCRIPT.as_uri()}"></script></body></html>')
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    page.goto(html.as_uri())
    return page, errors


@pytest.fixture
def page(browser, tmp_path):
    page, errors = open_page(browser, tmp_path)
    yield page
    assert errors == [], errors
    page.close()


@pytest.fixture(scope="module")
def shared(browser, tmp_path_factory):
    """One page for the comparisons, which only call cnnQuiz."""
    page, errors = open_page(browser, tmp_path_factory.mktemp("quiz"))
    yield page
    assert errors == [], errors
    page.close()


def python_side(q: quiz.Question) -> list:
    answer = list(q.answer) if isinstance(q.answer, tuple) else q.answer
    return [q.text, answer, q.explain(), quiz.shown(q)]


@pytest.mark.parametrize("kind", quiz.KINDS)
def test_the_page_asks_the_same_questions_as_cnnlib_quiz(shared, kind):
    seeds = [*range(SEEDS_PER_KIND - 3), 2 ** 31, 123_456_789, 2 ** 32 - 1]
    js = shared.evaluate("""([kind, seeds]) => seeds.map((s) => {
        const q = cnnQuiz.question(kind, s);
        return [q.text, q.answer, q.explain(), cnnQuiz.shown(q)];
    })""", [kind, seeds])
    for seed, got in zip(seeds, js):
        assert got == python_side(quiz.question(kind, seed)), (kind, seed)


@pytest.mark.parametrize("kind", quiz.KINDS)
def test_the_page_judges_typed_answers_as_cnnlib_quiz(shared, kind):
    cases = []
    for seed in range(100):
        q = quiz.question(kind, seed)
        for part in q.parts or (q,):
            shown = quiz.shown(part).removeprefix("about ").removesuffix(" MiB")
            for typed in (shown, str(part.answer + 1), str(part.answer + 0.04), "fifty", ""):
                try:
                    verdict = part.check(typed)
                except ValueError:
                    verdict = None  # not a number: the page says so instead of judging
                cases.append([kind, seed, q.parts.index(part) if q.parts else -1, typed,
                              verdict])
    js = shared.evaluate("""(cases) => cases.map(([kind, seed, part, typed]) => {
        const q = cnnQuiz.question(kind, seed);
        return cnnQuiz.check(part < 0 ? q : q.parts[part], typed);
    })""", cases)
    assert js == [c[-1] for c in cases]


def test_a_wrong_answer_gets_the_verdict_and_the_derivation(page):
    box = page.locator("div.cnn-quiz").nth(1)
    box.locator("select").select_option("output_size")
    box.locator("button.cnn-quiz-new").click()
    seed = int(box.locator(".cnn-quiz-foot").inner_text().split("seed ")[1].split()[0])
    q = quiz.question("output_size", seed)
    assert box.locator("pre.cnn-quiz-text").inner_text() == q.text
    box.locator("input").fill(str(q.answer + 1))
    box.locator("button.cnn-quiz-check").click()
    assert box.locator(".cnn-quiz-verdict").inner_text() == (
        f"Not quite: you said {q.answer + 1}, the answer is {q.answer}.")
    assert "cnn-quiz-wrong" in box.locator(".cnn-quiz-verdict").get_attribute("class")
    assert box.locator("pre.cnn-quiz-why").inner_text() == q.explain()
    box.locator("input").fill(str(q.answer))
    box.locator("input").press("Enter")
    assert box.locator(".cnn-quiz-verdict").inner_text() == f"Right: {q.answer}."


def test_a_link_reproduces_its_question(page):
    box = page.locator("div.cnn-quiz").nth(1)
    page.evaluate("window.location.hash = '#quiz=chain:4242'")
    page.wait_for_function("document.querySelectorAll('pre.cnn-quiz-text')[1].textContent"
                           ".includes('1. The height')")
    q = quiz.question("chain", 4242)
    assert box.locator("pre.cnn-quiz-text").inner_text() == q.text
    assert box.locator("a.cnn-quiz-link").get_attribute("href") == "#quiz=chain:4242"
    for value, field in zip(q.answer, box.locator("input").all()):
        field.fill(f"{value:,}")
    box.locator("button.cnn-quiz-check").click()
    assert box.locator(".cnn-quiz-verdict").inner_text().count("Right") == 4
    box.locator("input").nth(2).fill(str(q.answer[2] + 1))  # three parts of four right
    box.locator("button.cnn-quiz-check").click()
    lines = box.locator(".cnn-quiz-verdict > div")
    assert lines.evaluate_all("(ds) => ds.map((d) => d.className)") == [
        "cnn-quiz-right", "cnn-quiz-right", "cnn-quiz-wrong", "cnn-quiz-right"]
    # the first box offers only output_size and parameters, so it kept its own question
    first = page.locator("div.cnn-quiz").nth(0).locator(".cnn-quiz-foot").inner_text()
    assert first.startswith(("Output size", "Parameters"))


def test_show_the_answer_and_bad_input(page):
    box = page.locator("div.cnn-quiz").nth(0)
    box.locator("input").fill("fifty")
    box.locator("button.cnn-quiz-check").click()
    assert "is not a number; the answer is" in box.locator(".cnn-quiz-verdict").inner_text()
    box.locator("button.cnn-quiz-reveal").click()
    assert box.locator(".cnn-quiz-verdict").inner_text().startswith("The answer is ")
    assert page.evaluate("() => { try { cnnQuiz.question('outputs', 1); } "
                         "catch (e) { return e.message; } }").startswith(
        "unknown question kind outputs; the kinds are: output_size")


BOX = re.compile(r'<div class="cnn-quiz"(?: data-kinds="([^"]*)")?></div>')
BUILT = ROOT / "_build" / "html"


def pages_with_a_box() -> dict[str, list[str] | None]:
    """Each page of the book that asks for a box, with the kinds it offers (None: all)."""
    pages = {}
    for path in sorted([*ROOT.glob("chapters/*.ipynb"), *ROOT.glob("whiteboard/*.*"),
                        *ROOT.glob("book/*.*")]):
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                             if c["cell_type"] == "markdown")
        elif path.suffix == ".md":
            text = path.read_text()
        else:
            continue
        for found in BOX.finditer(text):
            pages[str(path.relative_to(ROOT).with_suffix(""))] = (
                found.group(1).split(",") if found.group(1) else None)
    return pages


PAGES = pages_with_a_box()


def test_the_pages_that_issue_30_named_ask_for_a_box_with_kinds_that_exist():
    assert {"chapters/02_convolution", "chapters/06_vgg", "whiteboard/introduction"} <= set(PAGES)
    for kinds in PAGES.values():
        assert kinds is None or (kinds and set(kinds) <= set(quiz.KINDS)), kinds


@pytest.mark.parametrize("page_name", PAGES)
def test_the_built_page_has_a_box_that_asks_and_judges(browser, page_name):
    """The book as built (make book): the box is on the page, offers the page's kinds, and
    judges an answer. Skipped where the book has not been built since the page changed."""
    html = BUILT / f"{page_name}.html"
    sources = [ROOT / f"{page_name}{ext}" for ext in (".ipynb", ".md")]
    source = next(p for p in sources if p.exists())
    if not html.exists() or html.stat().st_mtime < source.stat().st_mtime:
        pytest.skip(f"{html.relative_to(ROOT)} is missing or older than its source: make book")
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    page.goto(html.as_uri(), wait_until="domcontentloaded")
    box = page.locator("div.cnn-quiz")
    assert box.count() == 1
    kinds = PAGES[page_name] or list(quiz.KINDS)
    options = box.locator("select option").evaluate_all("(os) => os.map((o) => o.value)")
    assert options == ["any", *kinds]
    for kind in kinds:
        box.locator("select").select_option(kind)
        box.locator("button.cnn-quiz-new").click()
        foot = box.locator(".cnn-quiz-foot").inner_text()
        q = quiz.question(kind, int(foot.split("seed ")[1].split()[0]))
        assert box.locator("pre.cnn-quiz-text").inner_text() == q.text
        parts = q.parts or (q,)
        for part, field in zip(parts, box.locator("input").all()):
            field.fill(quiz.shown(part).removeprefix("about ").removesuffix(" MiB"))
        box.locator("button.cnn-quiz-check").click()
        assert box.locator(".cnn-quiz-verdict").inner_text().count("Right") == len(parts)
        assert box.locator("pre.cnn-quiz-why").inner_text() == q.explain()
    # the theme's own scripts may fail on a file:// page (thebe declares a name twice); the
    # quiz's must not
    assert [e for e in errors if "quiz.js" in (e.stack or "")] == [], errors
    page.close()
