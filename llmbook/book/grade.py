"""Grading students' notebooks: run each one with the book's kernel and score its exercises.

``python -m llmbook.book grade PATH... [--timeout SECONDS] [--csv FILE] [--json FILE]``

PATH is a notebook or a folder of them (searched recursively, checkpoints skipped). Each notebook is run
once, like the book runs it: papermill injects ``profile = "ci"`` after its parameters cell, the kernel is
``python3`` and the working folder is the notebook's own. The run goes on past a cell that raises, so one
broken exercise does not hide the others; the notebook's cells together get ``--timeout`` seconds
(default 600, counted from the kernel being ready), and a notebook past it is reported as timed out with
the exercises it finished before.

The grader sets ``$LLMBOOK_GRADE_LOG`` for the kernel, and every ``check(exercise_id, answer)`` appends
its outcome there (:mod:`llmbook.book.exercises`). The notebook's chapters are those of the exercise ids
its ``check("CC.N", ...)`` calls name (and of its file name, ``05_...``); each exercise registered for
those chapters gets one status:

* ``pass`` — a ``check()`` for it returned True during the run;
* ``fail`` — checked with an answer, never passed (the check's message and hint are kept);
* ``error`` — no answer to it was checked, and a cell that checks it raised (or was still running at
  the limit, or killed the kernel);
* ``not attempted`` — never checked, or checked only with ``None``;
* ``not run`` — the run stopped (time limit, dead kernel) before reaching it.

Cells are numbered from 1 as they stand in the student's file, markdown cells included. The score
is the number of exercises that pass. The report is a table (one row per notebook, one column
per exercise: ✅ pass, ❌ fail or error, – not attempted or not run), then each notebook's problems; CSV
(a grade book: one row per notebook, one column per exercise) and JSON (everything, messages included)
on request. The exit status is 0 whatever the students scored; 2 for a usage error (no such path, no
notebooks).

Grading trusts the kernel: it runs the students' code, so run it where that code can do no harm, and a
student who writes to the log file directly can fake a pass.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sys
import tempfile
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import exercises
from .sizes import DRY_RUN_ENV

__all__ = ["grade", "grade_notebook", "find_notebooks", "NotebookGrade", "ExerciseResult", "table", "write_csv",
           "write_json", "main", "DEFAULT_TIMEOUT_S", "KERNEL", "PROFILE"]

DEFAULT_TIMEOUT_S = 600.0
KERNEL = "python3"
PROFILE = "ci"
STATUSES = ("pass", "fail", "error", "not attempted", "not run")
SYMBOLS = {"pass": "✅", "fail": "❌", "error": "❌", "not attempted": "–", "not run": "–"}
CHECK_CALL = re.compile(r"""\bcheck\(\s*(['"])(\d+\.\d+)\1""")
CHAPTER_FILE = re.compile(r"^(\d\d)_")


@dataclass
class ExerciseResult:
    status: str  # one of STATUSES
    message: str = ""


@dataclass
class NotebookGrade:
    notebook: str  # as shown in the report: the path as given, or below the folder given
    status: str  # "completed", "timed out", "kernel died" or "could not run"
    seconds: float
    exercises: dict[str, ExerciseResult] = field(default_factory=dict)
    cell_errors: list[str] = field(default_factory=list)  # "cell 7: NameError: name 'x' is not defined"
    message: str = ""

    @property
    def score(self) -> int:
        return sum(r.status == "pass" for r in self.exercises.values())

    @property
    def total(self) -> int:
        return len(self.exercises)

    def to_dict(self) -> dict:
        return {"notebook": self.notebook, "status": self.status, "seconds": round(self.seconds, 2),
                "score": self.score, "total": self.total, "message": self.message, "cell_errors": self.cell_errors,
                "exercises": {i: asdict(r) for i, r in self.exercises.items()}}


# ------------------------------------------------------------------------- finding notebooks


def find_notebooks(paths: list[Path | str]) -> list[tuple[str, Path]]:
    """``(name shown, path)`` of every notebook under ``paths`` (files or folders, recursively, without
    ``.ipynb_checkpoints``), each once, in the order given. A missing path or no notebook at all is a
    ``FileNotFoundError``; a file that is not ``.ipynb`` is a ``ValueError``."""
    found: list[tuple[str, Path]] = []
    seen: set[Path] = set()
    for given in map(Path, paths):
        if not given.exists():
            raise FileNotFoundError(f"no such file or folder: {given}")
        if given.is_dir():
            candidates = [(str(given / p.relative_to(given)), p) for p in sorted(given.rglob("*.ipynb"))
                          if ".ipynb_checkpoints" not in p.relative_to(given).parts]
        elif given.suffix == ".ipynb":
            candidates = [(str(given), given)]
        else:
            raise ValueError(f"not a notebook (.ipynb) or a folder: {given}")
        for name, path in candidates:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                found.append((name, path))
    if not found:
        raise FileNotFoundError(f"no notebooks (*.ipynb) in {', '.join(map(str, paths))}")
    return found


# ------------------------------------------------------------------------- running one notebook


def _exercise_ids(source: str) -> list[str]:
    return [m.group(2) for m in CHECK_CALL.finditer(source)]


def _run(nb, cwd: Path, timeout: float, env: dict[str, str]) -> tuple[str, int | None, bool]:
    """Execute ``nb`` in place, cell by cell, errors allowed, within ``timeout`` seconds of cell time.
    Returns (status, index of the cell where the run stopped or None, whether that cell was running)."""
    from papermill.clientwrap import PapermillNotebookClient  # nbclient's NotebookClient, as papermill runs it
    from papermill.engines import NotebookExecutionManager

    client = PapermillNotebookClient(
        NotebookExecutionManager(nb, progress_bar=False), kernel_name=KERNEL, allow_errors=True,
        raise_on_iopub_timeout=False, startup_timeout=120, shutdown_kernel="immediate",
        resources={"metadata": {"path": str(cwd)}})
    with client.setup_kernel(env=env):
        start = time.perf_counter()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            remaining = timeout - (time.perf_counter() - start)
            if remaining <= 0:
                return "timed out", index, False
            client.timeout = max(1, math.ceil(remaining))  # nbclient: a cell's limit in whole seconds, 0 = none
            try:
                client.execute_cell(cell, index)
            except TimeoutError:  # nbclient's CellTimeoutError: the cell ran past the time left
                return "timed out", index, True
            except RuntimeError as exc:  # nbclient's DeadKernelError (named: nbclient comes with papermill)
                if type(exc).__name__ != "DeadKernelError":
                    raise
                return "kernel died", index, True
    return "completed", None, False


def _read_log(path: Path) -> list[dict]:
    outcomes = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                outcome = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a killed kernel
                continue
            if isinstance(outcome, dict) and {"exercise", "status"} <= outcome.keys():
                outcomes.append(outcome)
    return outcomes


def grade_notebook(path: Path | str, timeout: float = DEFAULT_TIMEOUT_S, name: str | None = None) -> NotebookGrade:
    """Run one notebook (see the module's docstring) and grade its exercises. Never raises for a
    student's mistake: an unreadable notebook or a kernel that does not start is ``"could not run"``."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    path = Path(path)
    name = name or str(path)
    exercises._load_all()
    started = time.perf_counter()
    try:
        nb = load_notebook_node(str(path))  # papermill's reader: with its metadata, every cell with tags
        nb = parameterize_notebook(nb, {"profile": PROFILE}, kernel_name=KERNEL, language="python")
    except Exception as exc:  # not JSON, not a notebook
        return NotebookGrade(name, "could not run", 0.0, {}, [],
                             f"cannot read the notebook: {type(exc).__name__}: {exc}")
    # The notebook's own cells, numbered from 1 as they stand in the student's file (markdown included);
    # the injected parameters cell is not one of them.
    own = {}  # index in nb -> number in the student's notebook
    for index, cell in enumerate(nb.cells):
        if "injected-parameters" not in cell.get("metadata", {}).get("tags", []):
            own[index] = len(own) + 1

    status, stopped, running, message = "could not run", None, False, ""
    with tempfile.TemporaryDirectory(prefix="llmbook-grade-") as tmp:
        log = Path(tmp) / "checks.jsonl"
        env = {**os.environ, exercises.GRADE_LOG_ENV: str(log), "LLMBOOK_RESULTS_DIR": str(Path(tmp) / "results"),
               "MPLBACKEND": "module://matplotlib_inline.backend_inline", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
               DRY_RUN_ENV: "0"}
        try:
            status, stopped, running = _run(nb, path.resolve().parent, timeout, env)
        except Exception as exc:  # the kernel did not start, or nbclient failed: report it, grade the others
            status, message = "could not run", f"{type(exc).__name__}: {exc}"
        outcomes = _read_log(log)
    seconds = time.perf_counter() - started

    # Which cells check which exercise, and which cells raised.
    cells_of: dict[str, list[int]] = {}
    raised: dict[int, str] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or index not in own:
            continue
        for exercise_id in _exercise_ids(cell.source):
            cells_of.setdefault(exercise_id, []).append(index)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                raised[index] = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
    if stopped is not None:
        where = f"cell {own[stopped]}" if stopped in own else "the parameters cell"
        message = (f"the kernel died in {where}" if status == "kernel died" else
                   f"{where} was still running at the {timeout:g} s limit" if running else
                   f"the {timeout:g} s limit was reached before {where}")
        if running and stopped in own:
            raised[stopped] = "timed out" if status == "timed out" else "killed the kernel"
    cell_errors = [f"cell {own[i]}: {text}" for i, text in sorted(raised.items())]

    chapters = {exercises.chapter_of(i) for i in cells_of} | {exercises.chapter_of(o["exercise"]) for o in outcomes}
    match = CHAPTER_FILE.match(path.name)
    if match and exercises.chapter_exercises(match.group(1)):
        chapters.add(match.group(1))
    ids = [i for chapter in sorted(chapters) for i in exercises.chapter_exercises(chapter)]

    results: dict[str, ExerciseResult] = {}
    for exercise_id in ids:
        mine = [o for o in outcomes if o["exercise"] == exercise_id]
        by_status = {s: [o.get("message", "") for o in mine if o["status"] == s]
                     for s in ("pass", "fail", "not attempted")}
        cells = cells_of.get(exercise_id, [])
        errors = [f"cell {own[i]} raised {raised[i]}" if i != stopped else f"cell {own[i]} {raised[i]}"
                  for i in cells if i in raised]
        not_reached = stopped is not None and (not cells or min(cells) >= stopped)
        if by_status["pass"]:
            result = ExerciseResult("pass")
        elif by_status["fail"]:
            result = ExerciseResult("fail", by_status["fail"][-1])
        elif errors:
            result = ExerciseResult("error", errors[0])
        elif by_status["not attempted"]:
            result = ExerciseResult("not attempted", by_status["not attempted"][-1])
        elif not_reached or status == "could not run":
            result = ExerciseResult("not run", f"the run stopped before it ({status})")
        else:
            result = ExerciseResult("not attempted", f'no check("{exercise_id}", ...) call ran')
        results[exercise_id] = result
    return NotebookGrade(name, status, seconds, results, cell_errors, message)


def grade(paths: list[Path | str], timeout: float = DEFAULT_TIMEOUT_S, echo: bool = False) -> list[NotebookGrade]:
    """Grade every notebook under ``paths`` (see :func:`find_notebooks`), one after the other."""
    found = find_notebooks(paths)
    return [grade_notebook(path, timeout, name) for name, path in (_announce(found) if echo else found)]


def _announce(found):
    for number, (name, path) in enumerate(found, 1):
        print(f"[{number}/{len(found)}] running {name} ...", file=sys.stderr, flush=True)
        yield name, path


# ------------------------------------------------------------------------- reports


def _all_ids(grades: list[NotebookGrade]) -> list[str]:
    ids = {i for g in grades for i in g.exercises}
    return sorted(ids, key=exercises._id_key)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _short(text: str, limit: int = 200) -> str:
    """One line of at most ``limit`` characters (the JSON report keeps the whole message)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def table(grades: list[NotebookGrade]) -> str:
    """The report: a table of notebooks by exercises, then each notebook's problems."""
    ids = _all_ids(grades)
    header = ["notebook", *ids, "score", "status", "time"]
    rows = [[g.notebook, *[SYMBOLS[g.exercises[i].status] if i in g.exercises else "" for i in ids],
             f"{g.score}/{g.total}", g.status, f"{g.seconds:.0f} s"] for g in grades]
    widths = [max(_width(row[c]) for row in [header, *rows]) for c in range(len(header))]
    lines = ["  ".join(_pad(cell, w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    details = []
    for g in grades:
        problems = [f"    {i}  {r.status}: {_short(r.message)}" for i, r in g.exercises.items() if r.status != "pass"]
        if g.message:
            problems.insert(0, f"    {g.status}: {_short(g.message)}")
        if problems:
            details += [f"  {g.notebook}", *problems]
    if details:
        lines += ["", "✅ pass  ❌ fail or error  – not attempted or not run", "", "Problems:", *details]
    return "\n".join(lines)


def write_csv(grades: list[NotebookGrade], path: Path | str) -> Path:
    """A grade book: one row per notebook (score, total, status, seconds), one column per exercise (its status)."""
    path = Path(path)
    ids = _all_ids(grades)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["notebook", "score", "total", "status", "seconds", *ids])
        for g in grades:
            writer.writerow([g.notebook, g.score, g.total, g.status, f"{g.seconds:.1f}",
                             *[g.exercises[i].status if i in g.exercises else "" for i in ids]])
    return path


def write_json(grades: list[NotebookGrade], path: Path | str, timeout: float | None = None) -> Path:
    """Everything: per notebook its status, score and each exercise's status and message."""
    path = Path(path)
    payload = {"profile": PROFILE, "timeout_s": timeout, "exercises": _all_ids(grades),
               "notebooks": [g.to_dict() for g in grades]}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llmbook.book grade",
        description="Run students' notebooks with the book's kernel and score their exercises (a report: "
                    "the exit status is 0 whatever the scores).")
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="a notebook or a folder of notebooks")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                        help=f"time limit of each notebook's cells (default {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write a grade book (one row per notebook)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every status and message as JSON")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be a positive number of seconds")
    try:
        found = find_notebooks(args.paths)
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))  # exits with status 2
    grades = [grade_notebook(path, args.timeout, name) for name, path in _announce(found)]
    print(table(grades))
    if args.csv:
        print(f"grade book: {write_csv(grades, args.csv)}")
    if args.json:
        print(f"details: {write_json(grades, args.json, args.timeout)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
