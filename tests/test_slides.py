"""Slides (``make slides``): which cell starts a slide, MyST roles as text, and every deck opened in
headless Chromium with no request leaving the machine, more than one slide, and its math typeset."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from llmbook.book import build as book
from llmbook.book import slides

ROOT = Path(__file__).resolve().parents[1]


def _cell(kind: str, source: str, tags=()):
    make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    cell = make(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


@pytest.mark.parametrize("kind, source, tags, expected", [
    ("markdown", "# Title\ntext", (), "slide"),
    ("markdown", "## A section", (), "slide"),
    ("markdown", "### A subsection", (), "subslide"),
    ("markdown", "Some prose with a # in it", (), "-"),
    ("code", "x = 1", (), "-"),
    ("code", "# a comment, not a heading", (), "-"),
    ("code", "profile = 'ci'", ("parameters",), "skip"),
    ("code", "check('01.1', 3)", ("solution", "hide-cell"), "skip"),
    ("markdown", "## Skipped on purpose", ("skip",), "skip"),
    ("code", "plot()", ("fragment",), "fragment"),
    ("markdown", "plain text", ("slide",), "slide"),
])
def test_slide_type_follows_tags_then_headings(kind, source, tags, expected):
    assert slides.slide_type(_cell(kind, source, tags)) == expected


def test_two_slide_tags_on_one_cell_are_an_error():
    with pytest.raises(ValueError, match="keep one of"):
        slides.slide_type(_cell("markdown", "x", ("slide", "skip")))


def test_myst_roles_become_plain_text():
    text = ("See {doc}`03_attention`, {doc}`the GPT chapter <04_pretraining>`, the {term}`tokens <token>` "
            "and {term}`perplexity` {cite}`vaswani2017attention, radford2019language`.")
    plain = slides.myst_as_text(text, {"03_attention": "Attention"})
    assert plain == ("See Attention, the GPT chapter, the tokens and perplexity "
                     "[vaswani2017attention, radford2019language].")
    assert "{" not in plain and "`" not in plain


def test_a_chapter_must_open_with_a_slide():
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell("code", "import torch"), _cell("markdown", "# Title")]
    with pytest.raises(ValueError, match="must open a slide"):
        slides.mark_slides(nb)
    nb.cells = nb.cells[::-1]
    assert [c.metadata["slideshow"]["slide_type"] for c in slides.mark_slides(nb).cells] == ["slide", "-"]


def test_slides_need_an_executed_notebook(tmp_path, monkeypatch):
    monkeypatch.setattr(book, "_build_dir", lambda root: tmp_path)
    with pytest.raises(FileNotFoundError, match="has not been executed"):
        slides.build_slides(ROOT, "ci", [ROOT / "notebooks" / "00_how_to_use.ipynb"])


@pytest.fixture(scope="module")
def decks(executed_ci) -> list[Path]:
    return slides.build_slides(ROOT, "ci")


def test_one_deck_per_chapter_with_local_scripts_only(decks):
    assert [d.name.removesuffix(".slides.html") for d in decks] == [n.stem for n in book.toc_notebooks(ROOT)]
    for deck in decks:
        html = deck.read_text(encoding="utf-8")
        assert "_vendor/reveal.js/dist/reveal.js" in html and "_vendor/mathjax/tex-chtml.js" in html
        for cdn in ("unpkg.com", "cdnjs", "jsdelivr", "require.js", "jquery"):
            assert cdn not in html, (deck.name, cdn)


def _local_only(outside: list[str]):
    """A route handler that lets files through and refuses (and notes) any request that would leave
    the machine."""
    def handle(route) -> None:
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    return handle


def test_every_deck_opens_offline_with_slides_and_math(decks, browser):
    """Each deck in headless Chromium: any request that is not for a local file fails the test."""
    with_math = 0
    for deck in decks:
        page = browser.new_page()
        outside: list[str] = []

        page.route("**/*", _local_only(outside))
        page.goto(deck.as_uri())
        page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=30_000)
        assert page.evaluate("Reveal.getTotalSlides()") > 1, deck.name
        source = nbformat.read(ROOT / "notebooks" / deck.name.replace(".slides.html", ".ipynb"), 4)
        if any("$" in cell.source for cell in source.cells if cell.cell_type == "markdown"):
            # MathJax typesets every slide once at start-up; wait for it: the formulas are typeset
            page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise",
                                   timeout=30_000)
            page.evaluate("MathJax.startup.promise")
            assert page.locator("mjx-container").count() > 0, deck.name
            with_math += 1
        assert outside == [], (deck.name, outside[:3])
        page.close()
    assert with_math >= len(decks) // 2  # most chapters have formulas
