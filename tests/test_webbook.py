"""The web book builds offline from the executed notebooks, loads nothing from the web, and renders.

Runs after tests/test_notebooks.py (alphabetical order), reusing its executed copies; a notebook not yet
executed (this file run alone) is executed first.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import threading
from html.parser import HTMLParser
from pathlib import Path

import pytest

from llmbook.book import build as book

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


@pytest.fixture(scope="module")
def html() -> Path:
    executed = ROOT / "_build" / "executed" / "ci"
    for notebook in book.toc_notebooks(ROOT):
        if not (executed / notebook.name).is_file():
            run = book.execute(notebook, "ci", ROOT, check=False)
            assert run.error is None, run.error
    out = book.build(ROOT, "ci")  # raises CalledProcessError on any Sphinx warning or error
    assert (out / "index.html").is_file()
    return out


class _Resources(HTMLParser):
    """Collect what a page makes the browser fetch: scripts, stylesheets, fonts, images, iframes."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "video", "audio") and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href") and set((attrs.get("rel") or "").split()) & {
                "stylesheet", "preload", "icon", "modulepreload", "prefetch", "preconnect", "manifest"}:
            self.urls.append(attrs["href"])


EXTERNAL = re.compile(r"^(https?:)?//", re.IGNORECASE)
CSS_EXTERNAL = re.compile(r"(@import\s+(url\()?\s*['\"]?|url\(\s*['\"]?)(https?:)?//", re.IGNORECASE)


def test_every_toc_page_was_built(html):
    for entry in book.toc_files(ROOT):
        assert (html / f"{entry}.html").is_file(), entry


def test_no_page_loads_anything_from_an_external_url(html):
    pages = sorted(html.rglob("*.html"))
    assert len(pages) >= 5
    offenders = []
    for page in pages:
        parser = _Resources()
        parser.feed(page.read_text(encoding="utf-8"))
        offenders += [f"{page.relative_to(html)}: {u}" for u in parser.urls if EXTERNAL.match(u)]
    for sheet in html.rglob("*.css"):
        for match in CSS_EXTERNAL.finditer(sheet.read_text(encoding="utf-8", errors="replace")):
            offenders.append(f"{sheet.relative_to(html)}: {match.group(0)}")
    assert not offenders, "external resources:\n" + "\n".join(offenders)


def test_mathjax_is_served_locally(html):
    page = (html / "notebooks" / "00_how_to_use.html").read_text(encoding="utf-8")
    assert re.search(r'<script[^>]+src="\.\./_static/mathjax/tex-chtml\.js', page)
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def served(html):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _browser(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    chromium = _chromium()
    if chromium is None:
        if os.environ.get("LLMBOOK_REQUIRE_BROWSER"):
            pytest.fail("chromium is required (LLMBOOK_REQUIRE_BROWSER is set) but not installed: apt-get install chromium")
        pytest.skip("chromium is not installed (Debian package `chromium`); CI installs it")
    return subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


def test_math_is_typeset_and_the_theme_applies_in_a_real_browser(served, tmp_path):
    url = f"{served}/notebooks/00_how_to_use.html"
    dom = _browser("--virtual-time-budget=20000", "--dump-dom", url, tmp_path=tmp_path).stdout
    assert "mjx-container" in dom, "MathJax did not typeset the page's math"
    assert 'class="bd-container' in dom or "bd-main" in dom, "the sphinx-book-theme layout is missing"
    assert "sphinx-book-theme.css" in dom
    assert "How to use this book" in dom


def test_screenshot_of_a_chapter(served, tmp_path):
    target = ROOT / "_build" / "screenshot.png"
    target.unlink(missing_ok=True)
    _browser("--virtual-time-budget=20000", "--window-size=1280,1600", "--hide-scrollbars",
             f"--screenshot={target}", f"{served}/notebooks/00_how_to_use.html", tmp_path=tmp_path)
    assert target.is_file() and target.stat().st_size > 20_000  # a rendered page, not a blank image


def test_student_edition_builds_without_solutions(html, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert book.main(["student"]) == 0
    student_html = ROOT / "_build" / "student" / "_build" / "html"
    teacher_page = (html / "notebooks" / "00_how_to_use.html").read_text(encoding="utf-8")
    student_page = (student_html / "notebooks" / "00_how_to_use.html").read_text(encoding="utf-8")
    # myst-nb marks each cell with its tags as classes: tag_solution on the solution cells
    assert teacher_page.count("tag_solution") >= 3 and "tag_solution" not in student_page
    assert student_page.count("cell docutils container") == teacher_page.count("cell docutils container") - teacher_page.count("tag_solution")
    assert "student notebooks in" in capsys.readouterr().out
