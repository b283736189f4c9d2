"""Slides: one reveal.js deck per chapter, made from the executed notebook (``make slides``).

A teacher lectures from the same cells the students run, with the outputs of the last run (figures,
tables) in the deck. Which cell starts a slide is decided per cell (:func:`slide_type`):

* a tag ``slide``, ``subslide``, ``fragment``, ``notes`` or ``skip`` on the cell decides;
* otherwise a markdown cell that opens with a ``#`` or ``##`` heading starts a slide and one with a
  ``###`` heading starts a sub-slide (reveal.js's vertical slides);
* the ``parameters`` cell, papermill's injected cell, hidden cells and exercise solutions are skipped;
* every other cell continues the current slide.

MyST roles, which reveal.js cannot render, become plain text: ``{doc}`05_bert_t5``` becomes the
chapter's title, ``{term}`name <target>``` its name and ``{cite}`key``` the key in brackets.

Decks are written to ``_build/slides/`` with reveal.js and MathJax 3 copied beside them into
``_vendor/`` (both installed once from the npm registry into ``.cache/npm``, like the web book's
MathJax), so a deck opens from the disk or a course server without any request leaving the machine.

Command line::

    python -m llmbook.book slides [NOTEBOOK ...] [--profile ci|full]
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from . import build as _book

__all__ = ["SLIDE_TAGS", "slide_type", "mark_slides", "myst_as_text", "ensure_reveal", "build_slides",
           "REVEAL_VERSION"]

REVEAL_VERSION = "5.2.1"
SLIDE_TAGS = ("slide", "subslide", "fragment", "notes", "skip")
_SKIPPED_TAGS = {"parameters", _book.INJECTED_TAG, _book.SOLUTION_TAG, "remove-cell", "hide-cell"}
_HEADING = re.compile(r"^\s*(#{1,6})\s")
# {role}`text`, with an optional explicit target: {term}`tokens <token>`
_ROLE = re.compile(r"\{(doc|term|cite|ref|numref|eq)\}`([^`]*)`")
_TEMPLATES = Path(__file__).with_name("templates")


def slide_type(cell) -> str:
    """The reveal.js ``slide_type`` of one cell: ``slide``, ``subslide``, ``fragment``, ``notes``,
    ``skip`` or ``-`` (continue the current slide)."""
    tags = _book._tags(cell)
    explicit = [tag for tag in tags if tag in SLIDE_TAGS]
    if len(explicit) > 1:
        raise ValueError(f"a cell has the slide tags {explicit}: keep one of {SLIDE_TAGS} per cell")
    if explicit:
        return explicit[0]
    if _SKIPPED_TAGS & set(tags):
        return "skip"
    if cell.cell_type == "markdown":
        heading = _HEADING.match(cell.source)
        if heading:
            return "slide" if len(heading.group(1)) <= 2 else "subslide"
    return "-"


def myst_as_text(source: str, titles: dict[str, str] | None = None) -> str:
    """``source`` with its MyST roles written as plain text (reveal.js renders CommonMark only)."""
    titles = titles or {}

    def plain(match: re.Match) -> str:
        role, text = match.group(1), match.group(2)
        label, _, target = text.partition(" <")
        target = target.rstrip(">") if target else label
        if role == "cite":
            return "[" + ", ".join(key.strip() for key in text.split(",")) + "]"
        if role == "doc":
            stem = Path(target).name
            return label if target != label else titles.get(stem, stem)
        return label

    return _ROLE.sub(plain, source)


def mark_slides(nb, titles: dict[str, str] | None = None):
    """``nb`` with each cell's ``slideshow`` metadata set by :func:`slide_type` and MyST roles as text."""
    for cell in nb.cells:
        cell.setdefault("metadata", {})["slideshow"] = {"slide_type": slide_type(cell)}
        if cell.cell_type == "markdown":
            cell.source = myst_as_text(cell.source, titles)
    if not nb.cells or nb.cells[0].metadata["slideshow"]["slide_type"] in ("-", "skip"):
        raise ValueError("the first cell of a chapter must open a slide: start the notebook with a "
                         "markdown '# Title' cell or tag its first cell 'slide'")
    return nb


def ensure_reveal(root: Path) -> Path:
    """reveal.js, installed once from the npm registry into ``.cache/npm`` (never a CDN)."""
    return _book.npm_package(root, "reveal.js", REVEAL_VERSION, "dist/reveal.js")


def _title(nb, stem: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return stem


def build_slides(root: Path, profile: str = "ci", notebooks: list[Path] | None = None) -> list[Path]:
    """Write one deck per notebook (default: every chapter in the toc) to ``_build/slides``, from the
    executed copies of ``profile``; return the decks' paths."""
    from nbconvert import SlidesExporter

    executed = _book._build_dir(root) / "executed" / profile
    chapters = [Path(n) for n in notebooks] if notebooks else _book.toc_notebooks(root)
    copies = []
    for notebook in chapters:
        copy = executed / notebook.name
        if not copy.is_file():
            raise FileNotFoundError(f"{notebook.name} has not been executed in profile {profile!r}: run "
                                    f"`python -m llmbook.book execute {notebook}` (or `make book`) first")
        copies.append(copy)
    titles = {n.stem: _title(_book._read(n), n.stem) for n in _book.toc_notebooks(root)}

    out = _book._build_dir(root) / "slides"
    vendor = out / "_vendor"
    if vendor.exists():  # ours: rebuilt from the npm cache every time
        shutil.rmtree(vendor)
    reveal = ensure_reveal(root)
    for part in ("dist", "plugin/notes"):
        shutil.copytree(reveal / part, vendor / "reveal.js" / part)
    shutil.copytree(_book.ensure_mathjax(root), vendor / "mathjax")

    exporter = SlidesExporter(extra_template_basedirs=[str(_TEMPLATES)], template_name="llmbook_slides")
    exporter.reveal_url_prefix = "_vendor/reveal.js"
    exporter.reveal_theme = "white"  # its fonts ship with reveal.js; "simple" and others load Google Fonts
    exporter.mathjax_url = "_vendor/mathjax/tex-chtml.js"
    decks = []
    for copy in copies:
        nb = _book._read(copy)
        unfinished = _book.unfinished_cells(nb)
        if unfinished:
            raise RuntimeError(f"the executed copy of {copy.name} is incomplete (cells {unfinished[:5]} did not "
                               "finish): execute it again with `python -m llmbook.book execute`")
        nb = mark_slides(_book.for_the_web(nb), titles)
        html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": titles.get(copy.stem, copy.stem)}})
        deck = out / f"{copy.stem}.slides.html"
        deck.write_text(html, encoding="utf-8")
        decks.append(deck)
    return decks
