"""Building the book: run every notebook once, check its results, build the web book offline.

The notebooks are committed without outputs. One run of the book:

1. ``execute``: every notebook listed in ``_toc.yml`` is executed once with papermill (kernel
   ``python3``) in a profile, into ``_build/executed/<profile>/``; its recorded results go to
   ``_build/results/<profile>/`` and are compared with the bands in ``tests/expected/``.
2. ``build``: the executed copies, the prose pages and the configuration are staged in
   ``_build/src/`` (with MathJax copied in from npm so that no page loads anything from the web; without
   papermill's injected parameters cell and nbval's marker lines, see :func:`for_the_web`), and
   Jupyter Book 1.x builds ``_build/html`` from them without executing anything again
   (``-W -n --keep-going``: any warning fails the build).

Command line (``make book`` runs ``all``)::

    python -m llmbook.book all [--profile ci|full]       # execute + build
    python -m llmbook.book execute [NOTEBOOK ...]         # one or more notebooks (default: all in the toc)
    python -m llmbook.book build [--student]             # build from the executed copies
    python -m llmbook.book normalize NOTEBOOK ...         # strip outputs, kernel python3, collapse solutions
    python -m llmbook.book student                        # notebooks without solution cells, for students
    python -m llmbook.book grade PATH ... [--timeout S] [--csv F] [--json F]   # score students' notebooks
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import results as _results
from .sizes import DRY_RUN_ENV, check_profile

__all__ = [
    "project_root",
    "toc_files",
    "toc_notebooks",
    "normalize",
    "is_normalized",
    "strip_solutions",
    "execute",
    "Execution",
    "ensure_mathjax",
    "stage",
    "for_the_web",
    "unfinished_cells",
    "build",
    "NOTEBOOK_TIME_LIMIT_S",
]

NOTEBOOK_TIME_LIMIT_S = 180.0  # per notebook, in the ci profile (full runs as long as its sizes need)
SOLUTION_TAG = "solution"
INJECTED_TAG = "injected-parameters"  # papermill's tag on the cell it adds
NBVAL_MARKER = re.compile(r"^[ \t]*# NBVAL_\w+[ \t]*\n?", re.MULTILINE)  # e.g. # NBVAL_CHECK_OUTPUT
MATHJAX_VERSION = "3.2.2"


def project_root(start: Path | None = None) -> Path:
    """The folder holding ``_toc.yml``: searched upward from ``start`` (default: the current folder),
    then from this package's source (an editable install)."""
    for base in ([Path(start)] if start else []) + [Path.cwd(), Path(__file__).resolve().parent]:
        for folder in [base.resolve(), *base.resolve().parents]:
            if (folder / "_toc.yml").is_file():
                return folder
    raise FileNotFoundError("no _toc.yml found above the current folder: run this from the book's repository")


def toc_files(root: Path) -> list[str]:
    """Every ``file:`` entry of ``_toc.yml`` in reading order (root first), without extension."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    found: list[str] = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(toc)
    return found


def toc_notebooks(root: Path) -> list[Path]:
    """The notebooks (``.ipynb``) listed in ``_toc.yml``, in book order. A listed entry with no file is an error."""
    notebooks = []
    for entry in toc_files(root):
        candidates = [root / f"{entry}{ext}" for ext in (".ipynb", ".md")]
        existing = [c for c in candidates if c.is_file()]
        if not existing:
            raise FileNotFoundError(f"_toc.yml lists {entry!r} but neither {entry}.ipynb nor {entry}.md exists")
        if existing[0].suffix == ".ipynb":
            notebooks.append(existing[0])
    return notebooks


# ------------------------------------------------------------------------- notebook hygiene


def _read(path: Path):
    import nbformat

    return nbformat.read(str(path), as_version=4)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _normalized(nb):
    """A copy of ``nb`` with no outputs, kernel ``python3``, and solution cells collapsed."""
    import copy

    nb = copy.deepcopy(nb)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for cell in nb.cells:
        tags = _tags(cell)
        cell.metadata = {"tags": tags} if tags else {}
        cell.pop("id", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            if SOLUTION_TAG in tags:
                cell.metadata["jupyter"] = {"source_hidden": True}
    nb.nbformat, nb.nbformat_minor = 4, 4
    return nb


def _dumps(nb) -> str:
    import nbformat

    return nbformat.writes(nb, version=4) + "\n"


def normalize(path: Path) -> bool:
    """Rewrite ``path`` normalized (see :func:`_normalized`); return whether it changed."""
    path = Path(path)
    before = path.read_text(encoding="utf-8")
    after = _dumps(_normalized(_read(path)))
    if after != before:
        path.write_text(after, encoding="utf-8")
    return after != before


def is_normalized(path: Path) -> bool:
    path = Path(path)
    return _dumps(_normalized(_read(path))) == path.read_text(encoding="utf-8")


def strip_solutions(nb):
    """A copy of ``nb`` without the cells tagged ``solution`` (the student edition)."""
    import copy

    nb = copy.deepcopy(nb)
    nb.cells = [cell for cell in nb.cells if SOLUTION_TAG not in _tags(cell)]
    return nb


# ------------------------------------------------------------------------- execution


@dataclass
class Execution:
    notebook: Path
    output: Path
    seconds: float
    error: str | None = None
    problems: list[str] = field(default_factory=list)
    time_limit: float | None = NOTEBOOK_TIME_LIMIT_S  # None: no limit (the full profile, a dry run)

    @property
    def over_time(self) -> bool:
        return self.time_limit is not None and self.seconds > self.time_limit

    @property
    def ok(self) -> bool:
        return self.error is None and not self.problems and not self.over_time


def _build_dir(root: Path) -> Path:
    return root / "_build"


def execute(notebook: Path, profile: str = "ci", root: Path | None = None, check: bool = True,
            dry_run: bool = False) -> Execution:
    """Execute ``notebook`` once with papermill in ``profile``; save the executed copy and check its results.

    The executed copy goes to ``_build/executed/<profile>/``, results to ``_build/results/<profile>/``.
    A cell error is reported in ``Execution.error`` (the partial executed copy is still saved).
    ``dry_run`` runs the profile's shapes with training cut to a few steps (``<profile>-dry/`` folders, no
    band check, no time limit): the way to find a crash in the ``full`` code path before renting a GPU.
    """
    import papermill

    check_profile(profile)
    notebook = Path(notebook).resolve()
    root = root or project_root(notebook.parent)
    folder = f"{profile}-dry" if dry_run else profile
    out_dir = _build_dir(root) / "executed" / folder
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / notebook.name
    results_dir = _build_dir(root) / "results" / folder
    names = ("LLMBOOK_RESULTS_DIR", "MPLBACKEND", "PYDEVD_DISABLE_FILE_VALIDATION", DRY_RUN_ENV)
    env_before = {k: os.environ.get(k) for k in names}
    os.environ.update(LLMBOOK_RESULTS_DIR=str(results_dir), MPLBACKEND="module://matplotlib_inline.backend_inline",
                      PYDEVD_DISABLE_FILE_VALIDATION="1", **{DRY_RUN_ENV: "1" if dry_run else "0"})
    error = None
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook), str(output), parameters={"profile": profile}, kernel_name="python3",
            cwd=str(notebook.parent), progress_bar=False, log_output=False,
        )
    except papermill.PapermillExecutionError as exc:
        error = f"cell {exc.cell_index} raised {exc.ename}: {exc.evalue}"
    finally:
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seconds = time.perf_counter() - start
    problems: list[str] = []
    if check and not dry_run and error is None:
        problems = check_results(notebook.stem, profile, results_dir, root / "tests" / "expected")
    time_limit = NOTEBOOK_TIME_LIMIT_S if profile == "ci" and not dry_run else None
    return Execution(notebook, output, seconds, error, problems, time_limit)


def check_results(stem: str, profile: str, results_dir: Path, expected_dir: Path) -> list[str]:
    """Compare a notebook's recorded results with ``tests/expected/<stem>.json``; list the problems."""
    expected_file = expected_dir / f"{stem}.json"
    if not expected_file.is_file():
        return [f"no expected bands: create {expected_file.relative_to(expected_dir.parent.parent)}"]
    saved = os.environ.get(_results.ENV_VAR)
    os.environ[_results.ENV_VAR] = str(results_dir)
    try:
        recorded = _results.load(stem)
    except FileNotFoundError as exc:
        return [str(exc)]
    finally:
        if saved is None:
            os.environ.pop(_results.ENV_VAR, None)
        else:
            os.environ[_results.ENV_VAR] = saved
    if recorded["profile"] != profile:
        return [f"results of {stem} are for profile {recorded['profile']!r}, not {profile!r}"]
    return _results.check_bands(recorded, json.loads(expected_file.read_text(encoding="utf-8")))


# ------------------------------------------------------------------------- the web book


def ensure_mathjax(root: Path) -> Path:
    """MathJax 3's ``es5`` folder, installed once from the npm registry into ``.cache/`` (never a CDN)."""
    cache = root / ".cache" / "npm"
    es5 = cache / "node_modules" / "mathjax" / "es5"
    if not (es5 / "tex-chtml.js").is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed once to fetch MathJax 3 (the book serves it locally): install Node.js")
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", "--loglevel=error", f"mathjax@{MATHJAX_VERSION}"],
            check=True,
        )
    return es5


def stage(root: Path, profile: str = "ci", student: bool = False) -> Path:
    """Assemble the book's sources in ``_build/src`` from the prose pages and the executed notebooks."""
    import nbformat

    src = _build_dir(root) / ("src-student" if student else "src")
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, src / name)
    shutil.copytree(root / "book", src / "book")
    # Not under _static/: Jupyter Book would add every .js file there as a <script> to each page.
    shutil.copytree(ensure_mathjax(root), src / "_vendor" / "mathjax")
    executed = _build_dir(root) / "executed" / profile
    (src / "notebooks").mkdir()
    for notebook in toc_notebooks(root):
        copy = executed / notebook.name
        if not copy.is_file():
            raise FileNotFoundError(f"{notebook.name} has not been executed in profile {profile!r}: run `python -m llmbook.book execute` first")
        nb = _read(copy)
        unfinished = unfinished_cells(nb)
        if unfinished:
            raise RuntimeError(f"the executed copy of {notebook.name} is incomplete (papermill did not finish cells "
                               f"{unfinished[:5]}): execute it again with `python -m llmbook.book execute`")
        nb = for_the_web(nb)
        if student:
            nb = strip_solutions(nb)
        nbformat.write(nb, str(src / "notebooks" / notebook.name))
    return src


def unfinished_cells(nb) -> list[int]:
    """Indices of the code cells papermill did not complete: a run that failed or is still running."""
    return [index for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
            and cell.get("metadata", {}).get("papermill", {}).get("status", "completed") != "completed"]


def for_the_web(nb):
    """``nb`` as the web book shows it: papermill's injected parameters cell (``# Parameters``, tag
    ``injected-parameters``) tagged ``remove-cell``, and nbval's marker lines (``# NBVAL_CHECK_OUTPUT``)
    taken out of the code. The notebook's own ``parameters`` cell, which shows a reader how to switch
    profiles, stays."""
    for cell in nb.cells:
        tags = _tags(cell)
        if INJECTED_TAG in tags and "remove-cell" not in tags:
            cell.setdefault("metadata", {})["tags"] = tags + ["remove-cell"]
        if cell.cell_type == "code" and NBVAL_MARKER.search(cell.source):
            cell.source = NBVAL_MARKER.sub("", cell.source)
    return nb


def build(root: Path, profile: str = "ci", student: bool = False) -> Path:
    """Build the HTML book from the executed notebooks; return the ``html`` folder. Warnings fail the build."""
    src = stage(root, profile, student)
    out = _build_dir(root) / "student" if student else root  # jupyter-book writes <out>/_build/html
    out.mkdir(parents=True, exist_ok=True)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book) if jupyter_book.exists() else "jupyter-book", "build", str(src),
               "--path-output", str(out), "-W", "-n", "--keep-going"]
    subprocess.run(command, check=True)
    return out / "_build" / "html"


def student_notebooks(root: Path) -> Path:
    """Write the student edition of every notebook (solution cells removed) to ``_build/student/notebooks``."""
    import nbformat

    target = _build_dir(root) / "student" / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    for notebook in toc_notebooks(root):
        nbformat.write(strip_solutions(_read(notebook)), str(target / notebook.name))
    return target


# ------------------------------------------------------------------------- command line


def _execute_many(root: Path, notebooks: list[Path], profile: str, dry_run: bool = False) -> bool:
    ok = True
    for notebook in notebooks:
        run = execute(notebook, profile, root, dry_run=dry_run)
        status = "ok" if run.ok else "FAILED"
        print(f"{status:6s} {notebook.name:32s} {run.seconds:7.1f} s  -> {run.output.relative_to(root)}", flush=True)
        if run.error:
            print(f"       error: {run.error}")
        if run.over_time:
            print(f"       took longer than the {run.time_limit:.0f} s limit of the {profile} profile")
        for problem in run.problems:
            print(f"       result: {problem}")
        ok &= run.ok
    return ok


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["grade"]:  # its own options: see llmbook.book.grade
        from .grade import main as grade_main

        return grade_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m llmbook.book", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["all", "execute", "build", "normalize", "student", "grade"])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--profile", default=os.environ.get("PROFILE", "ci"))
    parser.add_argument("--student", action="store_true", help="build the student edition (no solutions)")
    parser.add_argument("--dry-run", action="store_true",
                        help="execute only: the profile's shapes with training cut to a few steps, to catch a crash "
                             "in the full profile on a CPU before spending GPU time (numbers not checked)")
    args = parser.parse_args(argv)
    if args.dry_run and args.command != "execute":
        parser.error("--dry-run goes with 'execute' only: a dry run's numbers mean nothing, so no book is built from them")
    root = project_root()
    if args.command == "normalize":
        for notebook in args.notebooks or toc_notebooks(root):
            print(("normalized " if normalize(notebook) else "unchanged  ") + str(notebook))
        return 0
    if args.command == "student":
        print(f"student notebooks in {student_notebooks(root)}")
        args.student = True
    ok = True
    if args.command in ("all", "execute"):
        ok = _execute_many(root, [n.resolve() for n in args.notebooks] or toc_notebooks(root), args.profile,
                           args.dry_run)
    if args.command in ("all", "build", "student"):
        html = build(root, args.profile, args.student)
        print(f"book: {html / 'index.html'}")
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
