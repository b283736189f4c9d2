"""A printable book (``make pdf``): every page of the web book printed by headless Chromium, in the
order of ``_toc.yml``, merged into one PDF with one bookmark per page.

Printing the web book (rather than a second LaTeX build) keeps one source of truth: the PDF shows the
same executed outputs, the same figures and the same MathJax-typeset formulas as the web pages. The
pages are opened from the disk (``file://``), so nothing is fetched from the web; each is printed once
MathJax has finished typesetting it.

Command line (after ``python -m llmbook.book build``)::

    python -m llmbook.book pdf [--out _build/pdf/llmbook.pdf]
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from . import build as _book

__all__ = ["book_pages", "build_pdf"]

_WAIT_FOR_MATH = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  await document.fonts.ready;
  return true;
}"""


# On paper nothing scrolls: long code lines and outputs wrap instead of being cut at the margin.
_PRINT_CSS = "@media print { pre, .highlight pre, .output pre { white-space: pre-wrap; overflow-wrap: anywhere; } }"


def book_pages(root: Path, html: Path) -> list[Path]:
    """The web book's HTML pages in reading order: the root page, then every ``_toc.yml`` entry."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    pages = [html / f"{toc['root']}.html"] + [html / f"{entry}.html" for entry in _book.toc_files(root)]
    missing = [str(page) for page in pages if not page.is_file()]
    if missing:
        raise FileNotFoundError(f"the web book lacks {missing[:3]}: build it first with "
                                "`python -m llmbook.book build` (or `make book`)")
    return pages


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        raise RuntimeError("the PDF is printed by headless Chromium: install it (Debian: apt-get install "
                           "chromium fonts-wqy-zenhei)")
    return found


def _print_pages(browser, pages: list[Path], tmp: Path, writer) -> None:
    """Print each page to a PDF in ``tmp`` and append it to ``writer`` with a bookmark."""
    from pypdf import PdfReader

    page = browser.new_page()
    try:
        for number, source in enumerate(pages):
            page.goto(source.as_uri(), wait_until="load")
            page.evaluate(_WAIT_FOR_MATH)
            page.add_style_tag(content=_PRINT_CSS)
            title = page.evaluate("(document.querySelector('main h1') || document.querySelector('h1'))"
                                  "?.innerText.replace(/[#¶]\\s*$/, '').trim()") or source.stem
            part = tmp / f"{number:03d}.pdf"
            page.pdf(path=str(part), format="A4", print_background=True,
                     margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"})
            first = len(writer.pages)
            writer.append(PdfReader(str(part)))
            writer.add_outline_item(title=title, page_number=first)
    finally:
        page.close()


def build_pdf(root: Path, html: Path | None = None, out: Path | None = None, browser=None) -> Path:
    """Print every page of the web book in ``html`` (default ``_build/html``) and merge them into
    ``out`` (default ``_build/pdf/llmbook.pdf``), one bookmark per page; return ``out``. ``browser``:
    a Playwright Chromium already running (one process may hold only one Playwright), else one is
    started and closed here."""
    from playwright.sync_api import sync_playwright
    from pypdf import PdfWriter

    root = Path(root)
    html = Path(html) if html else _book._build_dir(root) / "html"
    out = Path(out) if out else _book._build_dir(root) / "pdf" / "llmbook.pdf"
    pages = book_pages(root, html)
    writer = PdfWriter()
    with tempfile.TemporaryDirectory() as tmp:
        if browser is None:
            with sync_playwright() as playwright:
                chromium = playwright.chromium.launch(executable_path=_chromium(),
                                                      args=["--no-sandbox", "--disable-gpu"])
                try:
                    _print_pages(chromium, pages, Path(tmp), writer)
                finally:
                    chromium.close()
        else:
            _print_pages(browser, pages, Path(tmp), writer)
    writer.add_metadata({"/Title": "Large Language Models: From Theory to Practice"})
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")  # a failed run leaves no half-written book behind
    with open(partial, "wb") as f:
        writer.write(f)
    partial.replace(out)
    return out
