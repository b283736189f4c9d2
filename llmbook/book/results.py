"""Headline numbers: recorded by the notebook that computes them, checked by the tests.

A notebook calls :func:`start` once (``llmbook.start`` does it) and then :func:`record` for each
number it reports. Records go to ``$LLMBOOK_RESULTS_DIR/<notebook>.json`` (default
``~/.cache/llmbook/results``) with the profile, the device and the seconds since the notebook
started. ``tests/test_notebooks.py`` compares them with the bands in ``tests/expected/<notebook>.json``.
Prose quotes the returned value (an f-string or ``glue``) instead of typing the number by hand.
"""
from __future__ import annotations

import json
import math
import numbers
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from ..cache import cache_dir

__all__ = ["start", "record", "load", "results_dir", "check_bands", "ENV_VAR"]

ENV_VAR = "LLMBOOK_RESULTS_DIR"
_current: dict[str, Any] = {}


def results_dir() -> Path:
    """``$LLMBOOK_RESULTS_DIR`` (set by ``python -m llmbook.book``), else ``results/`` in the cache."""
    root = os.environ.get(ENV_VAR)
    return Path(root) if root else cache_dir("results")


def _file(notebook: str) -> Path:
    """The results file of ``notebook``, a plain file name inside :func:`results_dir`."""
    if not isinstance(notebook, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", notebook):
        raise ValueError(f"a notebook's results need its file stem as the name (e.g. '01_history'), got "
                         f"{notebook!r}: no path separators, not empty, not starting with '.'")
    return results_dir() / f"{notebook}.json"


def start(notebook: str, profile: str, device: str, dry_run: bool = False) -> None:
    """Begin a notebook's record: clears earlier results of ``notebook`` and starts its clock.

    A dry run's record says ``"dry_run": true``, and :func:`check_bands` refuses it."""
    _current.clear()
    _current.update(notebook=notebook, profile=profile, device=str(device), t0=time.perf_counter())
    payload = {"notebook": notebook, "profile": profile, "device": str(device), "results": {}}
    if dry_run:
        payload["dry_run"] = True
    _write(payload)


def _write(payload: dict) -> None:
    target = _file(payload["notebook"])
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
    os.replace(tmp, target)  # atomic: a crashed notebook never leaves half a file


def _plain(value: Any) -> Any:
    """Turn numpy / torch scalars into Python numbers; refuse NaN, inf and non-numbers."""
    if hasattr(value, "item") and callable(value.item):
        n = value.numel() if callable(getattr(value, "numel", None)) else getattr(value, "size", 1)
        if n != 1:
            raise TypeError(f"record() takes one number, got an array of {n} elements: record a summary "
                            f"(its mean, its last value) or one result per element")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"record() takes a real number, got {type(value).__name__} {value!r}")
    value = float(value) if not isinstance(value, int) else value
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"record() got a non-finite value {value!r}: a headline number must be finite")
    return value


def record(name: str, value: Any) -> Any:
    """Record the headline number ``name`` and return the value (as a Python number)."""
    if not _current:
        raise RuntimeError("call llmbook.start(notebook, profile) (or llmbook.book.results.start) before record()")
    if not isinstance(name, str) or not name:
        raise ValueError(f"a result needs a non-empty string name, got {name!r}")
    plain = _plain(value)
    payload = load(_current["notebook"])
    payload["results"][name] = {"value": plain, "seconds": round(time.perf_counter() - _current["t0"], 3)}
    _write(payload)
    return plain


def load(notebook: str) -> dict:
    """The recorded results of ``notebook``: ``{notebook, profile, device, results: {name: {value, seconds}}}``."""
    target = _file(notebook)
    if not target.is_file():
        raise FileNotFoundError(f"no results recorded for {notebook!r} in {results_dir()} (run the notebook first)")
    try:
        return json.loads(target.read_text(encoding="utf-8"))
    except ValueError as exc:  # not UTF-8, not JSON
        raise ValueError(f"the results file {target} is corrupt ({exc}): delete it and run the notebook "
                         f"again") from exc


def check_bands(recorded: dict, expected: dict) -> list[str]:
    """Compare recorded results with expected bands; return a list of problems (empty when all hold).

    ``expected`` maps a profile to ``{name: {"min": a, "max": b}}`` (either bound may be omitted).
    Every band must have a recorded value, and every recorded value must have a band.
    """
    problems = []
    profile = recorded["profile"]
    if recorded.get("dry_run"):
        return [f"these {profile!r} results come from a dry run (LLMBOOK_DRY_RUN=1): they are not checked against bands"]
    bands = expected.get(profile)
    if bands is None:
        return [f"no expected bands for profile {profile!r}"]
    values = recorded["results"]
    for name, band in bands.items():
        if name not in values:
            problems.append(f"{name}: expected a recorded value, none was recorded")
            continue
        value = values[name]["value"]
        low, high = band.get("min", -math.inf), band.get("max", math.inf)
        if not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in (low, high)):
            problems.append(f"{name}: the band {band!r} needs numbers for min and max")
            continue
        if not low <= value <= high:
            problems.append(f"{name} = {value!r} is outside its band [{low}, {high}]")
    for name in values:
        if name not in bands:
            problems.append(f"{name} was recorded but has no band in tests/expected (add one)")
    return problems
