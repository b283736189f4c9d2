"""llmbook.book.build: the table of contents, notebook hygiene (normalized, code width, nbval marks, glossary
links), staging for the web book and the student edition."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from llmbook.book import build as book
from llmbook.book import sizes as profiles

ROOT = Path(__file__).resolve().parents[1]


def test_project_root_is_found_from_a_subfolder():
    assert book.project_root(ROOT / "notebooks") == ROOT


def test_project_root_outside_a_book_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(book, "__file__", str(tmp_path / "llmbook" / "book.py"))
    with pytest.raises(FileNotFoundError, match="no _toc.yml found"):
        book.project_root()


def test_toc_lists_the_front_matter_notebook_and_every_notebook_exists():
    notebooks = book.toc_notebooks(ROOT)
    assert notebooks[0].name == "00_how_to_use.ipynb"
    assert all(n.is_file() for n in notebooks)


def test_every_notebook_in_the_folder_is_in_the_toc():
    listed = {n.name for n in book.toc_notebooks(ROOT)}
    on_disk = {n.name for n in (ROOT / "notebooks").glob("*.ipynb")}
    assert on_disk <= listed, f"not in _toc.yml: {sorted(on_disk - listed)}"


def test_a_toc_entry_without_a_file_is_an_error(tmp_path):
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n  - file: notebooks/missing\n")
    (tmp_path / "index.md").write_text("# x\n")
    with pytest.raises(FileNotFoundError, match="lists 'notebooks/missing' but neither"):
        book.toc_notebooks(tmp_path)


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_committed_notebooks_are_normalized_and_have_no_outputs(notebook):
    """No output is committed that the current code did not produce: notebooks carry none at all."""
    assert book.is_normalized(notebook), f"run: python -m llmbook.book normalize {notebook.relative_to(ROOT)}"
    nb = nbformat.read(str(notebook), as_version=4)
    tags = [set(c.metadata.get("tags", [])) for c in nb.cells]
    assert sum("parameters" in t for t in tags) == 1, "exactly one papermill parameters cell"
    solutions = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert len(solutions) >= 3, "at least three exercises with solutions"
    assert all(c.metadata["jupyter"]["source_hidden"] for c in solutions)
    assert sum("check(" in c.source for c in nb.cells if c.cell_type == "code") >= 6


TOC_NOTEBOOKS = book.toc_notebooks(ROOT)
CODE_LINE_LIMIT = 100  # characters: what the web book's code boxes show without scrolling sideways
NBVAL_MARK = "# NBVAL_CHECK_OUTPUT"


def long_code_lines(nb, limit: int = CODE_LINE_LIMIT) -> list[str]:
    """Every code line of ``nb`` longer than ``limit`` characters, as 'cell C, line L (N chars): text'
    (cells and lines counted from 0 and 1, as Jupyter shows them)."""
    return [f"cell {index}, line {number} ({len(line)} chars): {line.strip()[:60]}..."
            for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for number, line in enumerate(cell.source.splitlines(), start=1) if len(line) > limit]


@pytest.mark.parametrize("notebook", TOC_NOTEBOOKS, ids=lambda p: p.stem)
def test_code_lines_fit_the_page(notebook):
    too_long = long_code_lines(nbformat.read(str(notebook), as_version=4))
    assert not too_long, (f"{notebook.name}: {len(too_long)} code lines over {CODE_LINE_LIMIT} characters:\n"
                          + "\n".join(too_long))


def test_the_line_check_names_cell_and_line():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("x" * 200),
                nbformat.v4.new_code_cell("short = 1\n" + "y = " + "1 + " * 30 + "1")]
    assert long_code_lines(nb) == [f"cell 1, line 2 (125 chars): y = {'1 + ' * 14}..."]


def nbval_checked_cells(nb) -> list[int]:
    """Indices of the code cells whose outputs nbval compares: first line ``# NBVAL_CHECK_OUTPUT``."""
    return [index for index, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and cell.source.lstrip().startswith(NBVAL_MARK)]


@pytest.mark.parametrize("notebook", TOC_NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_marks_outputs_for_nbval(notebook):
    """A re-run must reproduce each notebook's deterministic headline outputs (tests/test_notebooks.py)."""
    nb = nbformat.read(str(notebook), as_version=4)
    assert nbval_checked_cells(nb), (
        f"{notebook.name}: mark 1-3 code cells with deterministic printed output (exact checks, tables of "
        f"recorded results; never timings) by making {NBVAL_MARK!r} their first line")
    misplaced = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and NBVAL_MARK in c.source
                 and i not in nbval_checked_cells(nb)]
    assert not misplaced, f"{notebook.name}: cells {misplaced} carry {NBVAL_MARK!r} but not as their first line"


def glossary_terms(path: Path = ROOT / "book" / "glossary.md") -> list[list[str]]:
    """The entries of the ``{glossary}`` directive in ``path``: each a list of its names (English first)."""
    text = path.read_text(encoding="utf-8")
    body = text.split("```{glossary}\n", 1)[1].split("\n```", 1)[0]
    entries: list[list[str]] = []
    for block in body.strip().split("\n\n"):
        names = [line for line in block.splitlines() if line and not line[0].isspace()]
        entries.append(names)
    return entries


TERM_LINK = re.compile(r"\{term\}`([^`]+)`")


def term_links(text: str) -> list[str]:
    """The glossary terms ``text`` links to: {term}`perplexity` and {term}`shown text <perplexity>`."""
    return [m.group(1).rsplit("<", 1)[1].rstrip(">").strip() if m.group(1).rstrip().endswith(">")
            else m.group(1).strip() for m in TERM_LINK.finditer(text)]


def test_the_glossary_has_an_english_and_a_chinese_name_per_entry_and_no_duplicate():
    entries = glossary_terms()
    assert len(entries) >= 90 and all(len(names) in (1, 2) and names for names in entries)
    assert sum(len(names) == 2 for names in entries) >= len(entries) - 5  # BLEU, ROUGE, chrF: one name
    names = [name.lower() for entry in entries for name in entry]
    assert len(names) == len(set(names)), "a term is defined twice (Sphinx would warn)"
    assert {"perplexity", "困惑度", "kv cache", "recurrent neural network (rnn)", "temperature"} <= set(names)


@pytest.mark.parametrize("page", [*TOC_NOTEBOOKS, *sorted((ROOT / "book").glob("*.md"))], ids=lambda p: p.stem)
def test_every_term_link_names_a_glossary_entry(page):
    """Checked here in a second, before the web book's build would fail on it (-W -n)."""
    if page.suffix == ".ipynb":
        nb = nbformat.read(str(page), as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    else:
        text = page.read_text(encoding="utf-8")
    known = {name.lower() for entry in glossary_terms() for name in entry}
    unknown = [term for term in term_links(text) if term.lower() not in known]
    assert not unknown, f"{page.name}: {{term}} links to names not in book/glossary.md: {unknown}"


def test_term_links_are_read_with_and_without_shown_text():
    assert term_links("a {term}`Perplexity` and {term}`RNNs <recurrent neural network (RNN)>`.") == [
        "Perplexity", "recurrent neural network (RNN)"]


def test_the_web_book_hides_papermills_parameters_cell_and_nbvals_markers():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('profile = "ci"  # or "full"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell('# Parameters\nprofile = "ci"\n',
                                          metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(profile)  # NBVAL_CHECK_OUTPUT stays"),
                nbformat.v4.new_markdown_cell("# NBVAL_CHECK_OUTPUT marks a cell")]
    web = book.for_the_web(nb)
    assert [c.metadata.get("tags", []) for c in web.cells] == [
        ["parameters"], ["injected-parameters", "remove-cell"], [], []]
    assert web.cells[2].source == "print(profile)  # NBVAL_CHECK_OUTPUT stays"
    assert web.cells[3].source == "# NBVAL_CHECK_OUTPUT marks a cell"  # prose is left alone
    assert book.for_the_web(web).cells[1].metadata.tags == ["injected-parameters", "remove-cell"]


def test_an_unfinished_executed_copy_is_not_published(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"papermill": {"status": "completed"}}),
                nbformat.v4.new_code_cell("1 / 0", metadata={"papermill": {"status": "failed"}}),
                nbformat.v4.new_code_cell("y = 2", metadata={"papermill": {"status": "pending"}}),
                nbformat.v4.new_code_cell("z = 3")]  # not run by papermill: nothing to say
    assert book.unfinished_cells(nb) == [1, 2]
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n  - file: notebooks/nb\n")
    (tmp_path / "_config.yml").write_text("title: x\n")
    (tmp_path / "index.md").write_text("# x\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, str(tmp_path / "notebooks" / "nb.ipynb"))
    (tmp_path / "_build" / "executed" / "ci").mkdir(parents=True)
    nbformat.write(nb, str(tmp_path / "_build" / "executed" / "ci" / "nb.ipynb"))
    monkeypatch.setattr(book, "ensure_mathjax", lambda root: tmp_path / "book")
    with pytest.raises(RuntimeError, match=r"executed copy of nb.ipynb is incomplete .*cells \[1, 2\]"):
        book.stage(tmp_path)


def _toy_notebook(tmp_path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("profile = 'ci'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(1)", execution_count=3,
                                  outputs=[nbformat.v4.new_output("stream", text="1\n")]),
        nbformat.v4.new_code_cell("answer = 2", metadata={"tags": ["solution", "hide-cell"], "collapsed": True}),
    ]
    nb.metadata["kernelspec"] = {"name": "other", "display_name": "Other", "language": "python"}
    path = tmp_path / "toy.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_normalize_strips_outputs_sets_kernel_and_collapses_solutions(tmp_path):
    path = _toy_notebook(tmp_path)
    assert not book.is_normalized(path)
    assert book.normalize(path) is True
    assert book.normalize(path) is False  # idempotent
    nb = nbformat.read(str(path), as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.cells[1].outputs == [] and nb.cells[1].execution_count is None
    assert nb.cells[2].metadata == {"tags": ["solution", "hide-cell"], "jupyter": {"source_hidden": True}}


def test_student_edition_drops_solution_cells(tmp_path):
    nb = nbformat.read(str(_toy_notebook(tmp_path)), as_version=4)
    student = book.strip_solutions(nb)
    assert [c.source for c in student.cells] == ["profile = 'ci'", "print(1)"]
    assert len(nb.cells) == 3  # the original is untouched


def test_student_notebooks_have_no_solutions(monkeypatch, tmp_path):
    monkeypatch.setattr(book, "_build_dir", lambda root: tmp_path)
    target = book.student_notebooks(ROOT)
    written = sorted(target.glob("*.ipynb"))
    assert [p.name for p in written] == sorted(n.name for n in book.toc_notebooks(ROOT))
    for path in written:
        nb = nbformat.read(str(path), as_version=4)
        assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)


def test_execute_rejects_an_unknown_profile():
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        book.execute(ROOT / "notebooks" / "00_how_to_use.ipynb", profile="fast")


def test_execute_reports_a_failing_cell_and_missing_bands(tmp_path):
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = 'ci'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("raise ValueError('boom')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    failing = tmp_path / "failing.ipynb"
    nbformat.write(nb, str(failing))
    run = book.execute(failing, "ci", tmp_path)
    assert not run.ok and "raised ValueError: boom" in run.error
    assert run.output.is_file()
    assert book._execute_many(tmp_path, [failing], "ci") is False  # what `python -m llmbook.book execute` reports
    nb.cells = nb.cells[:1]
    passing = tmp_path / "quiet.ipynb"
    nbformat.write(nb, str(passing))
    run = book.execute(passing, "ci", tmp_path)
    assert run.error is None and not run.ok
    assert run.problems == ["no expected bands: create tests/expected/quiet.json"]
    (tmp_path / "tests" / "expected").mkdir(parents=True)
    (tmp_path / "tests" / "expected" / "quiet.json").write_text('{"ci": {}}')
    assert book.check_results("quiet", "ci", tmp_path / "results", tmp_path / "tests" / "expected")[0].startswith(
        "no results recorded for 'quiet'")


def test_a_dry_run_executes_the_full_shapes_without_checks_or_time_limit(tmp_path, monkeypatch):
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = 'ci'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import llmbook\nfrom llmbook.book import results\n"
                                          "run = llmbook.start('01_history', profile)\n"
                                          "results.record('lstm_steps', run.sizes.char['lstm']['train'].max_steps)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "01_history.ipynb"
    nbformat.write(nb, str(path))
    monkeypatch.setenv(profiles.DRY_RUN_ENV, "0")
    run = book.execute(path, "full", tmp_path, dry_run=True)
    assert run.error is None and run.ok and run.time_limit is None and run.problems == []
    assert run.output == tmp_path / "_build" / "executed" / "full-dry" / "01_history.ipynb"
    saved = json.loads((tmp_path / "_build" / "results" / "full-dry" / "01_history.json").read_text())
    assert saved["dry_run"] is True and saved["results"]["lstm_steps"]["value"] == profiles.DRY_RUN_STEPS
    assert os.environ[profiles.DRY_RUN_ENV] == "0"  # the caller's environment is restored
    run = book.execute(path, "full", tmp_path, check=False)  # the real full profile: its sizes, no time limit
    saved = json.loads((tmp_path / "_build" / "results" / "full" / "01_history.json").read_text())
    assert "dry_run" not in saved and saved["results"]["lstm_steps"]["value"] == 4000 and run.time_limit is None
    assert book.execute(path, "ci", tmp_path, check=False).time_limit == book.NOTEBOOK_TIME_LIMIT_S


def test_dry_run_is_refused_where_a_book_would_be_built(capsys):
    for command in ("all", "build", "student"):
        with pytest.raises(SystemExit):
            book.main([command, "--dry-run"])
        assert "--dry-run goes with 'execute' only" in capsys.readouterr().err


def test_command_line_normalize(tmp_path, capsys, monkeypatch):
    path = _toy_notebook(tmp_path)
    monkeypatch.chdir(ROOT)
    assert book.main(["normalize", str(path)]) == 0
    assert book.main(["normalize", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"normalized {path}", f"unchanged  {path}"]
    assert book.is_normalized(path)


def chinese_layer_problems(nb) -> list[str]:
    """What the Chinese layer of a chapter lacks: 学习目标 in the opening cell beside the English goals,
    本章小结 after an English summary, each followed by Chinese bullets."""
    problems = []
    markdown = [cell.source for cell in nb.cells if cell.cell_type == "markdown"]
    opening = markdown[0] if markdown else ""
    for heading, where in (("**学习目标**", "the opening cell"), ("**本章小结**", "a summary cell")):
        cells = [opening] if where == "the opening cell" else markdown
        blocks = [source.split(heading, 1)[1] for source in cells if heading in source]
        if not blocks:
            problems.append(f"no {heading} in {where}")
            continue
        bullets = [line for line in blocks[0].splitlines() if line.startswith("- ")]
        if not bullets or not all(any("\u4e00" <= ch <= "\u9fff" for ch in line) for line in bullets):
            problems.append(f"{heading} needs a list of Chinese bullets")
    if "**Learning goals.**" not in opening:
        problems.append("no English **Learning goals.** in the opening cell")
    return problems


@pytest.mark.parametrize("notebook", TOC_NOTEBOOKS, ids=lambda p: p.stem)
def test_every_chapter_has_the_chinese_layer(notebook):
    """Each chapter opens with its learning goals in English and Chinese (学习目标) and closes with its
    summary in both (本章小结)."""
    problems = chinese_layer_problems(nbformat.read(str(notebook), as_version=4))
    assert not problems, f"{notebook.name}: " + "; ".join(problems)


def test_the_chinese_layer_check_can_fail():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# T\n\n**Learning goals.**\n- a\n\n**学习目标**\n- goals only in English"),
                nbformat.v4.new_markdown_cell("## Summary\n- x\n\n**本章小结**\n- 小结")]
    assert chinese_layer_problems(nb) == ["**学习目标** needs a list of Chinese bullets"]
    nb.cells = nb.cells[:1]
    assert "no **本章小结** in a summary cell" in chinese_layer_problems(nb)
