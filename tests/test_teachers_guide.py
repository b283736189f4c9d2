"""The teacher's guide: its run-time table and learning goals are read from recorded results and
from the notebooks when the book is staged (never typed by hand), ``execute`` records each
notebook's wall time, and the page links only to chapters of ``_toc.yml``."""
from __future__ import annotations

import json
import posixpath
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from llmbook.book import build as book
from llmbook.book import results as book_results

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / book.TEACHERS_GUIDE

TOC = """format: jb-book
root: book/index
parts:
  - caption: "Part I · Basics"
    chapters:
      - file: notebooks/01_a
      - file: notebooks/02_b
  - caption: "Part II · More"
    chapters:
      - file: notebooks/03_c
  - caption: Back matter
    chapters:
      - file: book/teachers_guide
"""
GOALS_A = """# Chapter A

Some prose.

**Learning goals.** After this chapter you can
- count things;
- smooth counts with add-k and Kneser-Ney, and check that each gives a proper
  distribution;
- read a leaderboard.

**学习目标**
- 会计数。

**Prerequisites.** None.
"""
GOALS_B = "# Chapter B\n\n**Learning goals.**\n\n- derive $\\sqrt{d_k}$ scaling.\n\nMore prose.\n"
GUIDE_TEXT = (f"# Guide\n\n## Goals\n\n{book.LEARNING_GOALS_MARKER}\n\n"
              f"## Times\n\n{book.RUN_TIMES_MARKER}\n")


def _notebook(path: Path, opening: str | None) -> None:
    nb = nbformat.v4.new_notebook()
    cells = [nbformat.v4.new_markdown_cell(opening)] if opening is not None else []
    nb.cells = cells + [nbformat.v4.new_code_cell("x = 1"),
                        nbformat.v4.new_markdown_cell("## Summary")]
    nbformat.write(nb, str(path))


def _results(root: Path, profile: str, stem: str, **extra) -> None:
    folder = root / "_build" / "results" / profile
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"notebook": stem, "profile": profile, "device": "cpu", "results": {}, **extra}
    (folder / f"{stem}.json").write_text(json.dumps(payload), encoding="utf-8")


@pytest.fixture
def tiny_book(tmp_path: Path) -> Path:
    """A book of three chapters: A with goals and a ci and full run, B with goals and a results file
    from before wall times were recorded, C without goals and never run."""
    (tmp_path / "_toc.yml").write_text(TOC, encoding="utf-8")
    (tmp_path / "_config.yml").write_text("title: x\n", encoding="utf-8")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "index.md").write_text("# x\n", encoding="utf-8")
    (tmp_path / "book" / "teachers_guide.md").write_text(GUIDE_TEXT, encoding="utf-8")
    (tmp_path / "notebooks").mkdir()
    chapters = (("01_a", GOALS_A), ("02_b", GOALS_B), ("03_c", "# Chapter C (being written)"))
    for stem, opening in chapters:
        _notebook(tmp_path / "notebooks" / f"{stem}.ipynb", opening)
    _results(tmp_path, "ci", "01_a", wall_seconds=42.3, device_name="CPU, 2 cores")
    _results(tmp_path, "full", "01_a", wall_seconds=754.0, device="cuda", device_name="NVIDIA H200")
    _results(tmp_path, "ci", "02_b")  # an older file: results, no wall time
    return tmp_path


EXPECTED_TIMES = """| chapter | `ci` | `full` |
| --- | --- | --- |
| {doc}`../notebooks/01_a` | 42 s on CPU, 2 cores | 12.6 min on NVIDIA H200 |
| {doc}`../notebooks/02_b` | not run yet | not run yet |
| {doc}`../notebooks/03_c` | not run yet | not run yet |
| **all chapters** | 42 s (1 of 3 chapters) | 12.6 min (1 of 3 chapters) |"""


def test_run_times_come_from_the_results_files_in_toc_order(tiny_book):
    assert book.run_times_table(tiny_book) == EXPECTED_TIMES
    assert book.run_times_table(tiny_book, ("full",)).splitlines()[2] == (
        "| {doc}`../notebooks/01_a` | 12.6 min on NVIDIA H200 |")


def test_run_times_total_and_units_when_every_chapter_ran(tiny_book):
    _results(tiny_book, "ci", "02_b", wall_seconds=100.0, device_name="CPU, 2 cores")
    _results(tiny_book, "ci", "03_c", wall_seconds=7300.0)  # no device_name: the recorded device
    rows = book.run_times_table(tiny_book, ("ci",)).splitlines()
    assert rows[3:] == ["| {doc}`../notebooks/02_b` | 1.7 min on CPU, 2 cores |",
                        "| {doc}`../notebooks/03_c` | 2.0 h on cpu |",
                        "| **all chapters** | 2.1 h |"]


def test_a_corrupt_results_file_or_bad_profiles_are_errors(tiny_book):
    (tiny_book / "_build" / "results" / "ci" / "02_b.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"02_b.json is corrupt .*delete it and execute"):
        book.run_times_table(tiny_book)
    with pytest.raises(ValueError, match="non-empty list of profile folders"):
        book.run_times_table(tiny_book, "ci")


def test_learning_goals_are_read_from_the_opening_cell(tiny_book):
    notebooks = tiny_book / "notebooks"
    assert book.learning_goals(notebooks / "01_a.ipynb") == [
        "count things;",
        "smooth counts with add-k and Kneser-Ney, and check that each gives a proper distribution;",
        "read a leaderboard."]
    assert book.learning_goals(notebooks / "02_b.ipynb") == ["derive $\\sqrt{d_k}$ scaling."]
    assert book.learning_goals(notebooks / "03_c.ipynb") == []
    table = book.learning_goals_table(tiny_book)
    assert table.split("\n\n") == [
        "**Part I · Basics**",
        "- {doc}`../notebooks/01_a`\n  - count things;\n"
        "  - smooth counts with add-k and Kneser-Ney, and check that each gives a proper "
        "distribution;\n"
        "  - read a leaderboard.\n- {doc}`../notebooks/02_b`\n  - derive $\\sqrt{d_k}$ scaling.",
        "**Part II · More**",
        "- {doc}`../notebooks/03_c`\n  - *(learning goals not written yet)*"]
    assert "学习目标" not in table and "Prerequisites" not in table


def test_staging_fills_the_markers_of_the_copy_and_leaves_the_source(tiny_book, monkeypatch):
    executed = tiny_book / "_build" / "executed" / "ci"
    shutil.copytree(tiny_book / "notebooks", executed)
    monkeypatch.setattr(book, "ensure_mathjax", lambda root: tiny_book / "book")
    src = book.stage(tiny_book, "ci")
    staged = (src / "book" / "teachers_guide.md").read_text(encoding="utf-8")
    assert book.RUN_TIMES_MARKER not in staged and book.LEARNING_GOALS_MARKER not in staged
    assert EXPECTED_TIMES in staged  # both profiles, the full one read although ci is built
    assert book.learning_goals_table(tiny_book) in staged
    assert (tiny_book / "book" / "teachers_guide.md").read_text(encoding="utf-8") == GUIDE_TEXT
    page = src / "book" / "index.md"
    assert book.fill_teachers_guide(page, tiny_book) is False  # no markers: the page is left alone
    assert page.read_text(encoding="utf-8") == "# x\n"


WALL_TIME_NOTEBOOK = """import os
from llmbook.book import results, sizes
results.start("walltime", profile, "cpu", dry_run=sizes.dry_run_requested())
results.record("answer", 42)
if os.environ.get("WALLTIME_FAIL") == "1":
    raise RuntimeError("failing after the results file was started")"""


def test_execute_records_the_wall_time_outside_the_results(tmp_path, monkeypatch):
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = 'ci'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(WALL_TIME_NOTEBOOK)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = tmp_path / "walltime.ipynb"
    nbformat.write(nb, str(path))
    monkeypatch.setenv("WALLTIME_FAIL", "0")

    run = book.execute(path, "ci", tmp_path, check=False)
    assert run.error is None
    saved = json.loads((tmp_path / "_build" / "results" / "ci" / "walltime.json").read_text())
    assert saved["wall_seconds"] == round(run.seconds, 1) > 0
    assert saved["device"] == "cpu" and saved["device_name"].startswith("CPU, ")
    assert saved["results"]["answer"]["value"] == 42 and set(saved["results"]) == {"answer"}
    assert book_results.check_bands(saved, {"ci": {"answer": {"min": 42, "max": 42}}}) == []
    (tmp_path / "tests" / "expected").mkdir(parents=True)  # the band check ignores the wall time
    bands = {"ci": {"answer": {"min": 40, "max": 44}}}
    (tmp_path / "tests" / "expected" / "walltime.json").write_text(json.dumps(bands))
    assert book.check_results("walltime", "ci", tmp_path / "_build" / "results" / "ci",
                              tmp_path / "tests" / "expected") == []

    run = book.execute(path, "ci", tmp_path, dry_run=True)  # a dry run records it in <profile>-dry
    dry = json.loads((tmp_path / "_build" / "results" / "ci-dry" / "walltime.json").read_text())
    assert run.error is None and dry["dry_run"] is True
    assert dry["wall_seconds"] == round(run.seconds, 1)

    monkeypatch.setenv("WALLTIME_FAIL", "1")  # a failed run leaves no wall time
    run = book.execute(path, "ci", tmp_path, check=False)
    assert "failing after the results file was started" in run.error
    saved = json.loads((tmp_path / "_build" / "results" / "ci" / "walltime.json").read_text())
    assert "wall_seconds" not in saved and saved["results"]["answer"]["value"] == 42


def test_an_older_results_file_gets_no_wall_time(tmp_path):
    """A notebook that did not start its record in this run leaves an earlier file: not stamped."""
    old = tmp_path / "old.json"
    old.write_text('{"notebook": "old", "profile": "ci", "device": "cpu", "results": {}}')
    assert book._record_wall_time(old, 5.0, started_at=old.stat().st_mtime + 60) is False
    assert "wall_seconds" not in json.loads(old.read_text())
    assert book._record_wall_time(tmp_path / "absent.json", 5.0, started_at=0.0) is False
    assert book._record_wall_time(old, 5.04, started_at=old.stat().st_mtime) is True
    assert json.loads(old.read_text())["wall_seconds"] == 5.0


DOC_LINK = re.compile(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`")


def test_the_guide_has_both_markers_and_links_only_to_chapters_of_the_toc():
    text = GUIDE.read_text(encoding="utf-8")
    assert text.count(book.RUN_TIMES_MARKER) == 1 and text.count(book.LEARNING_GOALS_MARKER) == 1
    toc = set(book.toc_files(ROOT))
    targets = {posixpath.normpath(posixpath.join("book", link)) for link in DOC_LINK.findall(text)}
    assert targets and targets <= toc, f"links to pages not in _toc.yml: {sorted(targets - toc)}"
    chapters = {n.relative_to(ROOT).with_suffix("").as_posix() for n in book.toc_notebooks(ROOT)}
    plan = text.split("## A 14-week plan", 1)[1].split("\n## ", 1)[0]
    missing = [c for c in sorted(chapters) if f"{{doc}}`../{c}`" not in plan]
    assert not missing, f"chapters of _toc.yml missing from the guide's 14-week plan: {missing}"
    assert not re.search(r"\b[Cc]hapters? \d", text), "name chapters by {doc} links, not by number"
    chinese = text.split("## 教学安排概要", 1)[1]
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in chinese) > 300


def test_the_real_books_tables_have_a_row_per_chapter():
    notebooks = book.toc_notebooks(ROOT)
    rows = book.run_times_table(ROOT).splitlines()
    assert len(rows) == 2 + len(notebooks) + 1
    links = [f"| {book._link(ROOT, n)}" for n in notebooks]
    assert [row.split(" | ")[0] for row in rows[2:-1]] == links
    goals = book.learning_goals_table(ROOT)
    for notebook in notebooks:
        nb = nbformat.read(str(notebook), as_version=4)
        opening = next(c.source for c in nb.cells if c.cell_type == "markdown")
        parsed = book.learning_goals(notebook)
        if "**Learning goals.**" in opening:  # a chapter being written may not have them yet
            assert 1 <= len(parsed) <= 6, notebook.name
            assert all(g and "学习目标" not in g for g in parsed), notebook.name
            assert all(f"  - {g}" in goals for g in parsed)


def test_the_device_is_named_for_a_reader():
    import torch

    assert book._device_name("cpu").startswith("CPU, ") and book._device_name("cpu").endswith(" cores")
    assert book._device_name("mps") == "mps"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cuda:0"
    assert book._device_name("cuda:0") == gpu  # without a GPU: what the notebook recorded
