"""Every notebook listed in _toc.yml runs in the ci profile, in time, with its results inside their bands.

Each notebook is executed exactly once per test run (papermill, kernel python3); the executed copies in
``_build/executed/ci/`` are what the web book is built from (tests/test_webbook.py). nbval then re-runs
each executed copy and compares the outputs of the cells marked ``# NBVAL_CHECK_OUTPUT`` (every notebook
marks some: tests/test_book.py) with the first run's: a result that changes between two runs on one
machine fails.
Chapter 1's full profile, whose leaderboard needs a GPU, also runs dry (its shapes, a few steps) so its
code path cannot rot on CPU-only CI.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from llmbook.book import build as book
from llmbook.book.sizes import DRY_RUN_ENV

from conftest import NOTEBOOK_TIMES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = book.toc_notebooks(ROOT)


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_the_ci_profile(notebook: Path):
    run = book.execute(notebook, "ci", ROOT)
    NOTEBOOK_TIMES[notebook.name] = run.seconds
    print(f"{notebook.name}: {run.seconds:.1f} s")
    assert run.error is None, f"{notebook.name}: {run.error} (executed copy: {run.output})"
    assert run.seconds <= book.NOTEBOOK_TIME_LIMIT_S, (
        f"{notebook.name} took {run.seconds:.0f} s, over the {book.NOTEBOOK_TIME_LIMIT_S:.0f} s limit of the ci profile")
    assert not run.problems, f"{notebook.name} results: " + "; ".join(run.problems)


@pytest.mark.slow
def test_the_full_profile_of_chapter_1_runs_dry():
    run = book.execute(ROOT / "notebooks" / "01_history.ipynb", "full", ROOT, dry_run=True)
    assert run.error is None, f"full-profile dry run: {run.error} (executed copy: {run.output})"
    saved = json.loads((ROOT / "_build" / "results" / "full-dry" / "01_history.json").read_text())
    bands = json.loads((ROOT / "tests" / "expected" / "01_history.json").read_text())["full"]
    assert saved["dry_run"] is True and saved["profile"] == "full"
    assert set(saved["results"]) == set(bands)  # the full run records every number that has a full band


NBVAL_MARK = "# NBVAL_CHECK_OUTPUT"


def up_to_the_last_checked_cell(executed: Path, target: Path) -> int:
    """Write to ``target`` the executed notebook cut after its last cell marked ``# NBVAL_CHECK_OUTPUT``;
    return how many cells were cut. The cells after it cannot change a compared output (the first run
    already showed that they run), so nbval's re-run skips them."""
    nb = nbformat.read(str(executed), as_version=4)
    checked = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and NBVAL_MARK in c.source]
    assert checked, f"{executed.name} marks no cell with {NBVAL_MARK!r}: nbval would compare nothing"
    cut = len(nb.cells) - (checked[-1] + 1)
    nb.cells = nb.cells[: checked[-1] + 1]
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target))
    return cut


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_nbval_reproduces_the_checked_outputs(notebook: Path, tmp_path):
    executed = ROOT / "_build" / "executed" / "ci" / notebook.name
    if not executed.is_file():
        pytest.skip(f"run the notebook tests first: {notebook.name} not executed")
    # nbval starts the kernel in the notebook's folder: a folder of the project, as for the first run.
    rerun = ROOT / "_build" / "nbval" / notebook.name
    up_to_the_last_checked_cell(executed, rerun)
    # A second run of its own: the first run's records stay, and a dry-run setting never leaks in.
    env = dict(os.environ, LLMBOOK_RESULTS_DIR=str(tmp_path), **{DRY_RUN_ENV: "0"})
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-p", "no:cov",
         "--override-ini=addopts=", "-q", str(rerun)],
        cwd=ROOT / "notebooks", env=env, capture_output=True, text=True,
    )
    NOTEBOOK_TIMES[f"nbval re-run of {notebook.name}"] = time.perf_counter() - start
    assert result.returncode == 0, f"{notebook.name}:\n" + result.stdout[-4000:] + result.stderr[-2000:]


def test_the_nbval_rerun_stops_after_the_last_checked_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(f"{NBVAL_MARK}\nprint(x)"),
                nbformat.v4.new_markdown_cell("## Exercises"), nbformat.v4.new_code_cell("train_for_an_hour()")]
    nbformat.write(nb, str(tmp_path / "full.ipynb"))
    assert up_to_the_last_checked_cell(tmp_path / "full.ipynb", tmp_path / "cut" / "nb.ipynb") == 2
    assert [c.source for c in nbformat.read(str(tmp_path / "cut" / "nb.ipynb"), as_version=4).cells] == [
        "x = 1", f"{NBVAL_MARK}\nprint(x)"]
    nb.cells = nb.cells[:1]
    nbformat.write(nb, str(tmp_path / "unmarked.ipynb"))
    with pytest.raises(AssertionError, match="marks no cell"):
        up_to_the_last_checked_cell(tmp_path / "unmarked.ipynb", tmp_path / "cut" / "unmarked.ipynb")
