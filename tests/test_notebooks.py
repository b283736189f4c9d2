"""Every notebook listed in _toc.yml runs in the ci profile, in time, with its results inside their bands.

Each notebook is executed exactly once per test run (papermill, kernel python3); the executed copies in
``_build/executed/ci/`` are what the web book is built from (tests/test_webbook.py). nbval then re-runs
the notebooks that mark deterministic cells with ``# NBVAL_CHECK_OUTPUT`` and compares those outputs.
Chapter 1's full profile, whose leaderboard needs a GPU, also runs dry (its shapes, a few steps) so its
code path cannot rot on CPU-only CI.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from llmbook.book import build as book

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


def _has_checked_output(path: Path) -> bool:
    nb = nbformat.read(str(path), as_version=4)
    return any(c.cell_type == "code" and "# NBVAL_CHECK_OUTPUT" in c.source for c in nb.cells)


@pytest.mark.slow
def test_nbval_reproduces_the_checked_outputs(tmp_path):
    executed = ROOT / "_build" / "executed" / "ci"
    targets = [executed / n.name for n in NOTEBOOKS if _has_checked_output(n)]
    assert targets, "at least one notebook marks deterministic output with # NBVAL_CHECK_OUTPUT"
    missing = [t for t in targets if not t.is_file()]
    if missing:
        pytest.skip(f"run the notebook tests first: {[m.name for m in missing]} not executed")
    env = dict(os.environ, LLMBOOK_RESULTS_DIR=str(tmp_path))  # keep the first run's records
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-p", "no:cov",
         "--override-ini=addopts=", "-q", *map(str, targets)],
        cwd=ROOT / "notebooks", env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
