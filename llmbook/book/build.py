"""Building the book: run every notebook once, check its results, build the web book offline.

The notebooks are committed without outputs. One run of the book:

1. ``execute``: every notebook listed in ``_toc.yml`` is executed once with papermill (kernel
   ``python3``) in a profile, into ``_build/executed/<profile>/``; its recorded results go to
   ``_build/results/<profile>/`` and are compared with the bands in ``tests/expected/``.
2. ``build``: the executed copies, the prose pages and the configuration are staged in
   ``_build/src/`` (with MathJax copied in from npm so that no page loads anything from the web; without
   papermill's injected parameters cell and nbval's marker lines, see :func:`for_the_web`), and
   Jupyter Book 1.x builds ``_build/html`` from them without executing anything again
   (``-W -n --keep-going``: any warning fails the build). The teacher's guide
   (``book/teachers_guide.md``) gets its tables there: each chapter's run time in ``ci`` and
   ``full`` (the ``wall_seconds`` that ``execute`` writes into the results file) and each chapter's
   learning goals, read from the notebooks (:func:`run_times_table`, :func:`learning_goals_table`),
   so that no number or goal is typed twice.

Command line (``make book`` runs ``all``)::

    python -m llmbook.book all [--profile ci|full]       # execute + build
    python -m llmbook.book execute [NOTEBOOK ...]         # one or more notebooks (default: all in the toc)
    python -m llmbook.book build [--student]             # build from the executed copies
    python -m llmbook.book normalize NOTEBOOK ...         # strip outputs, kernel python3, collapse solutions
    python -m llmbook.book student                        # notebooks without solution cells, for students
    python -m llmbook.book grade PATH ... [--timeout S] [--csv F] [--json F]   # score students' notebooks
    python -m llmbook.book slides [NOTEBOOK ...]         # reveal.js decks in _build/slides (llmbook.book.slides)
    python -m llmbook.book pdf                            # the web book as one PDF (llmbook.book.pdf)
"""
from __future__ import annotations

import argparse
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import results as _results
from .sizes import DRY_RUN_ENV, PROFILES, check_profile

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
    "npm_package",
    "stage",
    "for_the_web",
    "unfinished_cells",
    "build",
    "image_descriptions",
    "describe_images",
    "run_times_table",
    "learning_goals",
    "learning_goals_table",
    "fill_teachers_guide",
    "NOTEBOOK_TIME_LIMIT_S",
    "TEACHERS_GUIDE",
    "RUN_TIMES_MARKER",
    "LEARNING_GOALS_MARKER",
]

NOTEBOOK_TIME_LIMIT_S = 180.0  # per notebook, in the ci profile (full runs as long as its sizes need)
SOLUTION_TAG = "solution"
INJECTED_TAG = "injected-parameters"  # papermill's tag on the cell it adds
NBVAL_MARKER = re.compile(r"^[ \t]*# NBVAL_\w+[ \t]*\n?", re.MULTILINE)  # e.g. # NBVAL_CHECK_OUTPUT
MATHJAX_VERSION = "3.2.2"
TEACHERS_GUIDE = "book/teachers_guide.md"  # from the root; the staged copy gets its markers filled
RUN_TIMES_MARKER = "<!-- llmbook:run-times -->"
LEARNING_GOALS_MARKER = "<!-- llmbook:learning-goals -->"
LEARNING_GOALS_HEADING = "**Learning goals.**"  # in each chapter's opening markdown cell
NOT_RUN = "not run yet"


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
    After a run without error, the notebook's wall time goes into its results file as a top-level
    ``"wall_seconds"`` (beside ``"device"``, with ``"device_name"``, e.g. the GPU's model), outside
    ``"results"``, so the band check never sees it; the teacher's guide shows it
    (:func:`run_times_table`).
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
    started_at = time.time()  # wall clock, to tell this run's results file from an older one
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
    if error is None:
        _record_wall_time(results_dir / f"{notebook.stem}.json", seconds, started_at)
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


def _device_name(device: str) -> str:
    """What ``device`` (as the notebook recorded it: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``)
    is on this machine, for a reader: the GPU's model, or how many CPU cores the run could use."""
    if device.startswith("cuda"):
        try:
            import torch

            index = int(device.split(":", 1)[1]) if ":" in device else 0
            return torch.cuda.get_device_name(index)
        except Exception:  # no driver in this process: say what we know rather than fail the run
            return device
    if device == "cpu":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return f"CPU, {cores} cores"
    return device


def _record_wall_time(results_file: Path, seconds: float, started_at: float) -> bool:
    """Add ``"wall_seconds"`` and ``"device_name"`` to ``results_file`` if this run wrote it (a
    notebook that never called ``llmbook.start`` leaves an older file, which is not touched); return
    whether it did. Written atomically, like :mod:`.results` writes it."""
    if not results_file.is_file():
        return False
    if results_file.stat().st_mtime < started_at - 2.0:  # 2 s of slack: coarse file-system clocks
        return False
    try:
        payload = json.loads(results_file.read_text(encoding="utf-8"))
    except ValueError:  # unreadable: the band check (check_results) reports it with its fix
        return False
    payload["wall_seconds"] = round(seconds, 1)
    payload["device_name"] = _device_name(str(payload.get("device", "")))
    fd, tmp = tempfile.mkstemp(dir=results_file.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
    os.replace(tmp, results_file)
    return True


# ------------------------------------------------------------------------- the teacher's guide


def _toc_parts(root: Path) -> list[tuple[str | None, list[Path]]]:
    """The notebooks of ``_toc.yml`` by part: ``[(caption or None, [notebook, ...]), ...]``."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    notebooks = {n.relative_to(root).with_suffix("").as_posix(): n for n in toc_notebooks(root)}
    groups: list[tuple[str | None, list[Path]]] = []

    def entries(node) -> list[str]:
        found = [node["file"]] if isinstance(node, dict) and "file" in node else []
        for key in ("chapters", "sections"):
            for child in (node.get(key) or []) if isinstance(node, dict) else []:
                found += entries(child)
        return found

    for part in toc.get("parts") or [{"caption": None, "chapters": toc.get("chapters") or []}]:
        listed = [notebooks[e] for e in entries(part) if e in notebooks]
        if listed:
            groups.append((part.get("caption"), listed))
    return groups


def _link(root: Path, notebook: Path, page: str = TEACHERS_GUIDE) -> str:
    """A ``{doc}`` link to ``notebook`` from ``page`` (both relative to ``root``)."""
    target = notebook.resolve().relative_to(root.resolve()).with_suffix("").as_posix()
    return f"{{doc}}`{posixpath.relpath(target, posixpath.dirname(page))}`"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _run_time(results_file: Path) -> tuple[str, float | None]:
    """A table cell for one recorded run (``"95 s on CPU, 2 cores"``) and its seconds; or
    ``"not run yet"`` and None."""
    if not results_file.is_file():
        return NOT_RUN, None
    try:
        payload = json.loads(results_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"the results file {results_file} is corrupt ({exc}): delete it and "
                         f"execute the notebook again (python -m llmbook.book execute)") from exc
    seconds = payload.get("wall_seconds")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return NOT_RUN, None
    device = payload.get("device_name") or payload.get("device") or "an unrecorded device"
    dry = " (dry run)" if payload.get("dry_run") else ""
    return f"{_duration(seconds)} on {device}{dry}".replace("|", "\\|"), float(seconds)


def run_times_table(root: Path, profiles: Sequence[str] = PROFILES,
                    results_root: Path | None = None) -> str:
    """A Markdown table of each chapter's wall time: one row per notebook of ``_toc.yml`` (book
    order), one column per profile, read from ``<results_root>/<profile>/<stem>.json`` (default
    ``_build/results``; the ``wall_seconds`` that :func:`execute` writes), then a total row.
    A chapter without a recorded time reads ``"not run yet"``. Links are relative to the teacher's
    guide (``book/``)."""
    root = Path(root)
    results_root = Path(results_root) if results_root else _build_dir(root) / "results"
    if isinstance(profiles, str) or not profiles:
        raise ValueError(f"profiles must be a non-empty list of profile folders such as "
                         f"('ci', 'full'), got {profiles!r}")
    notebooks = toc_notebooks(root)
    rows = [["chapter", *[f"`{p}`" for p in profiles]], ["---"] * (1 + len(profiles))]
    totals: dict[str, list[float]] = {p: [] for p in profiles}
    for notebook in notebooks:
        row = [_link(root, notebook)]
        for profile in profiles:
            cell, seconds = _run_time(results_root / profile / f"{notebook.stem}.json")
            row.append(cell)
            if seconds is not None:
                totals[profile].append(seconds)
        rows.append(row)
    total_row = ["**all chapters**"]
    for profile in profiles:
        done = totals[profile]
        if not done:
            total_row.append(NOT_RUN)
        elif len(done) == len(notebooks):
            total_row.append(_duration(sum(done)))
        else:
            total_row.append(f"{_duration(sum(done))} ({len(done)} of {len(notebooks)} chapters)")
    rows.append(total_row)
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def learning_goals(notebook: Path) -> list[str]:
    """The English learning-goal bullets of ``notebook``: the ``- `` items after
    ``**Learning goals.**`` in its first markdown cell, each joined onto one line (empty if the
    chapter has none yet)."""
    nb = _read(notebook)
    opening = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    if LEARNING_GOALS_HEADING not in opening:
        return []
    goals: list[str] = []
    for line in opening.split(LEARNING_GOALS_HEADING, 1)[1].splitlines()[1:]:
        if line.startswith("- "):
            goals.append(line[2:].strip())
        elif goals and line[:1].isspace() and line.strip():  # the continuation of a bullet
            goals[-1] += " " + line.strip()
        elif goals or line.strip():  # the list ended (a blank line, 学习目标, prose)
            break
    return goals


def learning_goals_table(root: Path) -> str:
    """Every chapter's learning goals, read from its notebook (:func:`learning_goals`), grouped by
    the parts of ``_toc.yml``: a bold part caption, then one item per chapter (a ``{doc}`` link)
    with its goals as sub-items."""
    root = Path(root)
    blocks = []
    for caption, notebooks in _toc_parts(root):
        lines = [f"**{caption}**", ""] if caption else []
        for notebook in notebooks:
            goals = learning_goals(notebook) or ["*(learning goals not written yet)*"]
            lines.append(f"- {_link(root, notebook)}")
            lines += [f"  - {goal}" for goal in goals]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def fill_teachers_guide(page: Path, root: Path, profiles: Sequence[str] = PROFILES) -> bool:
    """Replace the markers in ``page`` (a staged copy of the teacher's guide) with the run-times
    table and the learning goals; return whether the page had a marker. The source page keeps its
    markers."""
    text = page.read_text(encoding="utf-8")
    if RUN_TIMES_MARKER not in text and LEARNING_GOALS_MARKER not in text:
        return False
    if RUN_TIMES_MARKER in text:
        text = text.replace(RUN_TIMES_MARKER, run_times_table(root, profiles))
    if LEARNING_GOALS_MARKER in text:
        text = text.replace(LEARNING_GOALS_MARKER, learning_goals_table(root))
    page.write_text(text, encoding="utf-8")
    return True


# ------------------------------------------------------------------------- the web book


def npm_package(root: Path, name: str, version: str, probe: str) -> Path:
    """The folder of npm package ``name@version``, installed once from the npm registry into
    ``.cache/npm`` (the book serves its scripts itself, never from a CDN); ``probe`` is a file inside it
    whose presence means the package is installed."""
    cache = root / ".cache" / "npm"
    folder = cache / "node_modules" / name
    if not (folder / probe).is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(f"npm is needed once to fetch {name} {version} (the book serves it locally): "
                               "install Node.js")
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", "--loglevel=error",
                        f"{name}@{version}"], check=True)
    return folder


def ensure_mathjax(root: Path) -> Path:
    """MathJax 3's ``es5`` folder, installed once from the npm registry into ``.cache/`` (never a CDN)."""
    return npm_package(root, "mathjax", MATHJAX_VERSION, "es5/tex-chtml.js") / "es5"


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
    if (src / TEACHERS_GUIDE).is_file():  # the run times of both profiles, whichever is built
        fill_teachers_guide(src / TEACHERS_GUIDE, root, PROFILES)
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
    html = out / "_build" / "html"
    describe_images(html, image_descriptions(src / "notebooks"))
    return html


def image_descriptions(notebooks: Path) -> dict[str, str]:
    """``{sha256 of a PNG output: its alt text}`` for the figures of the notebooks in ``notebooks``
    (``llmbook.plot`` writes each figure's description into its output's metadata)."""
    import base64
    import hashlib

    descriptions = {}
    for notebook in sorted(Path(notebooks).glob("*.ipynb")):
        for cell in _read(notebook).cells:
            for output in cell.get("outputs", []):
                png, alt = output.get("data", {}).get("image/png"), output.get("metadata", {}).get(
                    "image/png", {}).get("alt")
                if png and alt:
                    digest = hashlib.sha256(base64.b64decode("".join(png))).hexdigest()
                    descriptions[digest] = alt
    return descriptions


_IMG = re.compile(r'<img alt="[^"]*" src="([^"]*/_images/([0-9a-f]{64})\.png)"')


def describe_images(html: Path, descriptions: dict[str, str]) -> int:
    """Give each figure of the built pages its description as ``alt`` and return how many got one.
    myst-nb names an output image by the sha256 of its bytes but takes its ``alt`` only from cell
    metadata (one for all of a cell's figures), so the alt of each figure's own output is set here."""
    import html as html_module

    described = 0

    def with_alt(match: re.Match) -> str:
        nonlocal described
        alt = descriptions.get(match.group(2))
        if alt is None:
            return match.group(0)
        described += 1
        return f'<img alt="{html_module.escape(alt, quote=True)}" src="{match.group(1)}"'

    for page in Path(html).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = _IMG.sub(with_alt, text)
        if new != text:
            page.write_text(new, encoding="utf-8")
    return described


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
    parser.add_argument("command", choices=["all", "execute", "build", "normalize", "student", "grade", "slides",
                                                    "pdf"])
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
    if args.command in ("slides", "pdf"):  # from the executed copies; execute the chapters that have none
        executed = _build_dir(root) / "executed" / args.profile
        chapters = [n.resolve() for n in args.notebooks] or toc_notebooks(root)
        missing = [n for n in chapters if not (executed / n.name).is_file()]
        ok = _execute_many(root, missing, args.profile) if missing else True
        if args.command == "slides":
            from .slides import build_slides

            for deck in build_slides(root, args.profile, chapters):
                print(f"slides: {deck}")
        else:
            from .pdf import build_pdf

            print(f"pdf: {build_pdf(root, build(root, args.profile))}")
        return 0 if ok else 1
    if args.command in ("all", "execute"):
        ok = _execute_many(root, [n.resolve() for n in args.notebooks] or toc_notebooks(root), args.profile,
                           args.dry_run)
    if args.command in ("all", "build", "student"):
        html = build(root, args.profile, args.student)
        print(f"book: {html / 'index.html'}")
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
