"""The web book builds offline from the executed notebooks, loads nothing from the web, and renders.

Runs after tests/test_notebooks.py (alphabetical order), reusing its executed copies; a notebook not yet
executed (this file run alone) is executed first. Every notebook page is opened in headless Chromium and
checked as a reader sees it once MathJax has typeset it: no raw ``$`` outside code, no papermill
parameters cell, no ``<... at 0x...>`` repr in any output.
"""
from __future__ import annotations

import functools
import html as html_module
import http.server
import json
import re
import subprocess
import threading
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import pytest

from llmbook.book import build as book
from conftest import chromium_path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


@pytest.fixture(scope="module")
def html(executed_ci) -> Path:
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


def _search_pages(html: Path, term: str) -> set[str]:
    """The pages the web book's search index lists for ``term`` (as Sphinx indexes it: stemmed English,
    Chinese cut into words)."""
    text = (html / "searchindex.js").read_text(encoding="utf-8")
    index = json.loads(text[text.index("(") + 1:text.rindex(")")])
    pages = set()
    for table in ("terms", "titleterms"):  # a word in a page's title is listed under titleterms only
        hits = index[table].get(term, [])
        pages |= {index["docnames"][i] for i in (hits if isinstance(hits, list) else [hits])}
    return pages


def test_search_finds_chinese_and_english_words(html):
    """Searching 注意力 lands on the attention chapter (its 学习目标 and 本章小结), 分词 on tokenization;
    English words are still found, stemmed."""
    assert "notebooks/03_attention" in _search_pages(html, "注意力")
    assert "notebooks/02_tokenization" in _search_pages(html, "分词")
    assert "notebooks/03_attention" in _search_pages(html, "attent")  # "attention", stemmed
    assert not _search_pages(html, "这个词不在书里")


@pytest.fixture(scope="module")
def served(html):
    class Handler(http.server.SimpleHTTPRequestHandler):
        """The built book, plus the measuring page of :func:`_wide_code_lines` (never written to disk)."""

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/__measure_code_width__":
                return super().do_GET()
            query = urllib.parse.parse_qs(url.query)
            body = WIDTH_PAGE.replace("PAGE", json.dumps(query["page"][0])).replace(
                "WIDTH", str(int(query["width"][0]))).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    handler = functools.partial(Handler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _browser(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


def _dom(url: str, tmp_path: Path) -> str:
    """The page's DOM after its scripts ran (MathJax typesets on load; virtual time lets it finish)."""
    return _browser("--virtual-time-budget=20000", "--dump-dom", url, tmp_path=tmp_path).stdout


# Where a reader sees code or typeset math, a `$` is meant: code, preformatted outputs, MathJax's output.
_NOT_PROSE = {"pre", "code", "kbd", "samp", "script", "style", "noscript", "mjx-container", "template"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
REPR = re.compile(r"<[^<>\n]* at 0x[0-9a-fA-F]+>")  # <matplotlib.legend.Legend at 0x7f...>
# TeX left as text, i.e. math that was not typeset: $...$ (reported once per pair), a lone $, \( or \[.
RAW_MATH = re.compile(r"\$[^$]{0,80}\$|\$|\\\(|\\\[")


class _Reading(HTMLParser):
    """Split the text of a page's article into prose (what a reader reads as text: outside code, outputs
    shown as code, and typeset math) and code (``<pre>`` and friends), and collect the cells' classes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.prose: list[str] = []
        self.code: list[str] = []
        self.cell_classes: list[str] = []
        self._article = 0
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in _VOID:
            return
        classes = dict(attrs).get("class") or ""
        if tag == "article" or self._article:
            self._article += 1
        if "cell docutils container" in classes:
            self.cell_classes.append(classes)
        if tag in _NOT_PROSE:
            self._skip += 1

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        if tag in _NOT_PROSE:
            self._skip = max(0, self._skip - 1)
        if self._article:
            self._article -= 1

    def handle_data(self, data):
        if self._article:
            (self.code if self._skip else self.prose).append(data)


def page_problems(dom: str) -> list[str]:
    """What a reader should not see on a rendered notebook page (``dom``: its DOM after MathJax ran)."""
    reading = _Reading()
    reading.feed(dom)
    prose, code = " ".join(reading.prose), "\n".join(reading.code)
    problems = []
    for match in RAW_MATH.finditer(prose):
        context = " ".join(prose[max(0, match.start() - 60): match.end() + 60].split())
        problems.append(f"raw math {match.group(0)!r} in the text: ...{context}...")
    if any("tag_injected-parameters" in c for c in reading.cell_classes) or re.search(
            r"^# Parameters$", code, re.MULTILINE):
        problems.append("papermill's injected parameters cell (# Parameters) is shown")
    for match in REPR.finditer(prose + "\n" + code):
        problems.append(f"stray repr in an output: {match.group(0)}")
    return problems


NOTEBOOK_PAGES = [entry for entry in book.toc_files(ROOT) if (ROOT / f"{entry}.ipynb").is_file()]


@pytest.mark.slow
@pytest.mark.parametrize("page", NOTEBOOK_PAGES, ids=lambda entry: Path(entry).name)
def test_a_reader_sees_no_raw_math_parameters_cell_or_repr(page, html, served, tmp_path):
    dom = _dom(f"{served}/{page}.html", tmp_path)
    reading = _Reading()
    reading.feed(dom)
    assert len(" ".join(reading.prose)) > 2000 and reading.cell_classes, f"{page}: the article did not render"
    if 'class="math' in (html / f"{page}.html").read_text(encoding="utf-8"):
        assert "mjx-container" in dom, f"{page}: MathJax did not typeset the page's math"
    problems = page_problems(dom)
    assert not problems, f"{page}.html:\n" + "\n".join(problems)


# A page of the same origin that opens a book page in a frame WIDTH pixels wide and lists the longest
# line of every code cell whose box scrolls sideways (its content wider than the box).
WIDTH_PAGE = """<!doctype html><html><body><pre id="wide">not measured</pre><script>
const frame = document.createElement("iframe");
frame.style.width = "WIDTHpx"; frame.style.height = "900px"; frame.src = PAGE;
frame.onload = () => setTimeout(() => {
  const wide = [...frame.contentDocument.querySelectorAll("div.cell_input pre")]
    .filter(pre => pre.scrollWidth > pre.clientWidth + 1)
    .map(pre => pre.textContent.split("\\n").reduce((a, b) => (b.length > a.length ? b : a), ""));
  document.getElementById("wide").textContent = JSON.stringify(wide);
}, 2000);
document.body.appendChild(frame);
</script></body></html>"""
CODE_WINDOW_WIDTH = 1440  # px: a laptop screen; book/_static/llmbook.css sets code so that 100 characters fit


def _wide_code_lines(served: str, page: str, tmp_path: Path, width: int = CODE_WINDOW_WIDTH) -> list[str]:
    """The longest line of each code cell of ``page`` that a reader must scroll sideways to read."""
    query = urllib.parse.urlencode({"page": f"/{page}.html", "width": width})
    dom = _dom(f"{served}/__measure_code_width__?{query}", tmp_path)
    match = re.search(r'<pre id="wide">(.*?)</pre>', dom, re.DOTALL)
    assert match and match.group(1) != "not measured", f"{page}: the code width was not measured"
    return json.loads(html_module.unescape(match.group(1)))


@pytest.mark.slow
@pytest.mark.parametrize("page", NOTEBOOK_PAGES, ids=lambda entry: Path(entry).name)
def test_code_cells_fit_the_page_without_scrolling_sideways(page, served, tmp_path):
    wide = _wide_code_lines(served, page, tmp_path)
    assert not wide, (f"{page}.html: {len(wide)} code cells scroll sideways in a {CODE_WINDOW_WIDTH}px window; "
                      "their longest lines:\n" + "\n".join(f"({len(line)} chars) {line}" for line in wide))


def test_the_page_checks_catch_what_a_reader_should_not_see():
    """The checks above can fail: each problem, as myst-nb renders it, is reported; code and math are not."""
    def page(body: str) -> str:
        return f"<html><body><nav>$nav$</nav><article class='bd-article'>{body}</article></body></html>"

    ok = page("<p>Cost <span class='math'><mjx-container>$C$</mjx-container></span>.</p>"
              "<pre>price = '$5'  # <code>\\(x\\)</code></pre><p>Inline <code>$x</code>.</p>")
    assert page_problems(ok) == []
    raw = page_problems(page("<p>it tries 25 values of $C$ where the grid tries 5 ($C$ = 2.75)</p>"))
    assert len(raw) == 2 and raw[0].startswith("raw math '$C$' in the text: ...it tries 25 values of $C$")
    assert page_problems(page("<p>untypeset \\(C\\)</p>"))[0].startswith("raw math '\\\\('")
    injected = ("<div class='cell docutils container tag_injected-parameters'><div class='highlight'><pre>"
                "<span class='c1'># Parameters</span>\n<span class='n'>profile</span> = 'ci'\n</pre></div></div>")
    assert page_problems(page(injected)) == ["papermill's injected parameters cell (# Parameters) is shown"]
    assert page_problems(page(injected.replace(" tag_injected-parameters", ""))) == [
        "papermill's injected parameters cell (# Parameters) is shown"]
    own = "<div class='cell docutils container tag_parameters'><pre>profile = 'ci'  # or 'full'</pre></div>"
    assert page_problems(page(own)) == []
    legend = "<div class='output text_plain'><pre>&lt;matplotlib.legend.Legend at 0x7fe171796f50&gt;</pre></div>"
    assert page_problems(page(legend)) == ["stray repr in an output: <matplotlib.legend.Legend at 0x7fe171796f50>"]


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


def test_the_pdf_has_every_chapter_and_its_pages_render(html, browser, tmp_path):
    """`make pdf`: one bookmark per page of the toc (the root page first), and a page in the middle
    of the book rendered to an image is not blank and carries text."""
    import numpy as np
    import pypdfium2
    from pypdf import PdfReader

    from llmbook.book import pdf

    out = pdf.build_pdf(ROOT, html, tmp_path / "book.pdf", browser=browser)
    reader = PdfReader(out)
    titles = [item.title for item in reader.outline]
    assert len(titles) == 1 + len(book.toc_files(ROOT)) == len(pdf.book_pages(ROOT, html))
    assert "How to use this book" in titles and "Glossary · 术语表" in titles
    assert len(reader.pages) > len(titles)  # chapters run over several pages
    middle = len(reader.pages) // 2
    assert len(reader.pages[middle].extract_text().strip()) > 100
    document = pypdfium2.PdfDocument(str(out))
    try:
        pixels = np.asarray(document[middle].render(scale=0.5).to_pil().convert("L"), dtype=float)
    finally:
        document.close()
    assert pixels.std() > 10 and (pixels < 128).mean() > 0.005  # ink on the page, not a blank image


def test_every_figure_has_a_text_description(html):
    """Figures reach the page with the alt text llmbook.plot reads from their titles and labels."""
    checked = 0
    for notebook in book.toc_notebooks(ROOT):
        page = (html / "notebooks" / f"{notebook.stem}.html").read_text(encoding="utf-8")
        for img in re.findall(r"<img\b[^>]*>", page):
            if "data:image/png" not in img and "_images/" not in img:
                continue  # the theme's logo and icons
            alt = re.search(r'\balt="([^"]*)"', img)
            # Sphinx's fallback alt is the image's file name: a description has words, not a path
            assert alt and len(alt.group(1).split()) >= 3 and not alt.group(1).endswith(".png"), (
                notebook.stem, img[:160])
            checked += 1
    assert checked >= len(book.toc_notebooks(ROOT))  # most chapters have several figures


def test_every_chart_names_both_axes(executed_ci):
    """Axis labels on every chart (issue: figures for everyone), read from the figures' alt text:
    each panel that is not a diagram or an image names its x and y axis, by a label or, on a
    categorical axis, by its categories."""
    import json

    missing = []
    for notebook in book.toc_notebooks(ROOT):
        cells = json.loads((executed_ci / notebook.name).read_text(encoding="utf-8"))["cells"]
        for index, cell in enumerate(cells):
            for output in cell.get("outputs", []):
                alt = output.get("metadata", {}).get("image/png", {}).get("alt", "")
                for panel in re.split(r"(?<=\.) (?=Panel |A panel)", alt):
                    if not panel.startswith(("Panel ", "A panel")):
                        continue
                    if "it reads:" in panel or "image or heat map" in panel:
                        continue  # a diagram, or an image whose axes are its pixels
                    if "x axis:" not in panel or "y axis:" not in panel:
                        missing.append(f"{notebook.stem}, cell {index}: {panel[:100]}")
    assert not missing, "charts without axis labels:\n" + "\n".join(missing)
