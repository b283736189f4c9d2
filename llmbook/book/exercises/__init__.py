"""Exercises with automatic checks.

In a notebook::

    from llmbook.book.exercises import check
    check("00.1", my_answer)      # prints ✅ or ❌ with a hint, returns True/False

Each chapter's checkers live in ``llmbook/book/exercises/chNN.py`` and are registered with
:func:`exercise`. A checker computes the right answer itself, usually with the package function the
chapter built, so no answer is typed into the package by hand.

Solutions: in the notebooks, a solution is a code cell tagged ``solution`` (and ``hide-cell``), with
``"jupyter": {"source_hidden": true}`` so that JupyterLab shows it collapsed. The web book shows it
behind a "Show" toggle; the student edition (``make student``) removes every ``solution`` cell from
the notebooks and the book (see ``llmbook.book.build.strip_solutions``).

Progress and grading: every ``check()`` records its outcome in this kernel, and :func:`progress` lists the
exercises of a chapter with which pass, which fail and which are not attempted yet. When
``$LLMBOOK_GRADE_LOG`` names a file (``python -m llmbook.book grade`` sets it, see :mod:`llmbook.book.grade`),
``check()`` also appends each outcome to it as one JSON line; otherwise nothing is written.
"""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["check", "progress", "exercise", "integer", "Exercise", "REGISTRY", "GRADE_LOG_ENV", "Progress",
           "chapter_of", "chapter_exercises"]

GRADE_LOG_ENV = "LLMBOOK_GRADE_LOG"  # a JSON-lines file for check() outcomes, set by the grader


@dataclass(frozen=True)
class Exercise:
    exercise_id: str
    checker: Callable[[Any], bool]
    hint: str


REGISTRY: dict[str, Exercise] = {}
# Outcomes of check() in this process, in call order: exercise id -> [(status, message), ...], where
# status is "pass", "fail" or "not attempted" (the answer was None or ...).
_OUTCOMES: dict[str, list[tuple[str, str]]] = {}


def exercise(exercise_id: str, hint: str) -> Callable[[Callable[[Any], bool]], Callable[[Any], bool]]:
    """Register ``checker(answer) -> bool`` as the check of ``exercise_id`` (``"CC.N"``)."""

    def register(checker: Callable[[Any], bool]) -> Callable[[Any], bool]:
        if exercise_id in REGISTRY:
            raise ValueError(f"exercise {exercise_id!r} is registered twice")
        REGISTRY[exercise_id] = Exercise(exercise_id, checker, hint)
        return checker

    return register


def integer(answer: Any) -> int:
    """``answer`` as an ``int`` if it is a whole number (an int, a NumPy or torch integer, or a float
    such as ``4.0`` or ``1e6`` with no fractional part); otherwise a ``ValueError``.

    Checkers use it instead of ``int()``, which truncates: ``int(65.9) == 65`` would accept a wrong
    answer. A bool is refused too (``True`` is not the number 1 as an answer)."""
    if hasattr(answer, "item") and callable(answer.item) and getattr(answer, "ndim", 0) == 0:
        answer = answer.item()  # a NumPy or torch scalar
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise ValueError(f"the answer must be a whole number, got {type(answer).__name__} {answer!r}")
    if isinstance(answer, float) and not answer.is_integer():
        raise ValueError(f"the answer must be a whole number, got {answer!r}")
    return int(answer)


def number(answer: Any) -> float:
    """``answer`` as a ``float`` (an int, a float, or a NumPy or torch scalar); otherwise a
    ``ValueError``. A bool is refused (``True`` is not the number 1 as an answer)."""
    if hasattr(answer, "item") and callable(answer.item) and getattr(answer, "ndim", 0) == 0:
        answer = answer.item()
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise ValueError(f"the answer must be a number, got {type(answer).__name__} {answer!r}")
    return float(answer)


def _load_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("ch"):
            importlib.import_module(f"{__name__}.{module.name}")


def check(exercise_id: str, answer: Any) -> bool:
    """Check ``answer`` to exercise ``exercise_id``; print pass/fail and a hint; return whether it passed.

    ``answer=None`` or ``...`` means "not attempted yet" and prints the hint without failing loudly.
    """
    _load_all()
    if exercise_id not in REGISTRY:
        raise KeyError(f"unknown exercise {exercise_id!r}; known: {sorted(REGISTRY)}")
    item = REGISTRY[exercise_id]
    if answer is None or answer is Ellipsis:
        print(f"✏️  Exercise {exercise_id}: not attempted yet. Hint: {item.hint}")
        _record(exercise_id, "not attempted", f"no answer yet. Hint: {item.hint}")
        return False
    try:
        passed = bool(item.checker(answer))
        error = ""
    except Exception as exc:  # a wrong type or shape is a wrong answer, with the reason shown
        passed, error = False, f" ({type(exc).__name__}: {exc})"
    if passed:
        print(f"✅ Exercise {exercise_id}: correct.")
        _record(exercise_id, "pass", "correct.")
    else:
        print(f"❌ Exercise {exercise_id}: not yet{error}. Hint: {item.hint}")
        _record(exercise_id, "fail", f"wrong answer{error}. Hint: {item.hint}")
    return passed


def _record(exercise_id: str, status: str, message: str) -> None:
    """Keep an outcome for :func:`progress`; append it to ``$LLMBOOK_GRADE_LOG`` when the grader set it."""
    _OUTCOMES.setdefault(exercise_id, []).append((status, message))
    log = os.environ.get(GRADE_LOG_ENV)
    if log:
        line = json.dumps({"exercise": exercise_id, "status": status, "message": message}, ensure_ascii=False)
        with open(log, "a", encoding="utf-8") as f:  # one line per write: a killed kernel loses at most this one
            f.write(line + "\n")


def _id_key(exercise_id: str) -> tuple:
    """Sort "00.10" after "00.9"."""
    return tuple(int(part) if part.isdigit() else part for part in exercise_id.split("."))


def chapter_of(exercise_id: str) -> str:
    """The chapter of an exercise id: ``"05"`` for ``"05.3"``."""
    return exercise_id.split(".", 1)[0]


def chapter_exercises(chapter: str) -> list[str]:
    """The registered exercise ids of ``chapter`` (``"05"``), in order."""
    _load_all()
    return sorted((i for i in REGISTRY if chapter_of(i) == chapter), key=_id_key)


class Progress(dict):
    """``{exercise id: "pass" | "fail" | "not attempted"}``, shown as a short report (``repr``)."""

    def __init__(self, statuses: dict[str, str], messages: dict[str, str], note: str = ""):
        super().__init__(statuses)
        self.messages = messages
        self.note = note

    def __repr__(self) -> str:
        if not self:
            return self.note
        lines = []
        for chapter in sorted({chapter_of(i) for i in self}, key=_id_key):
            ids = [i for i in self if chapter_of(i) == chapter]
            passed = sum(self[i] == "pass" for i in ids)
            lines.append(f"Chapter {chapter}: {passed} of {len(ids)} exercises pass")
            for i in ids:
                symbol = {"pass": "✅", "fail": "❌"}.get(self[i], "– ")
                status = {"fail": "failed"}.get(self[i], self[i])
                message = self.messages.get(i, "")
                lines.append(f"  {symbol} {i:6s} {status}" + (f": {message}" if message and self[i] != "pass" else ""))
        return "\n".join(lines)

    __str__ = __repr__


def progress(chapter: str | int | None = None) -> Progress:
    """Which exercises pass so far in this kernel: those of ``chapter`` (``"05"`` or ``5``), or, by
    default, of every chapter whose checks were called. Shown as a report in a notebook; it is also a
    ``dict`` of exercise id to ``"pass"``, ``"fail"`` or ``"not attempted"``.

    An exercise's latest answered check decides (an answer that passed, then a wrong one: ``"fail"``);
    a check with no answer (``None``) does not undo an earlier answer."""
    _load_all()
    if chapter is None:
        chapters = sorted({chapter_of(i) for i in _OUTCOMES}, key=_id_key)
        if not chapters:
            return Progress({}, {}, 'No exercise checked yet in this kernel: run a check("CC.N", answer) cell, '
                                    'or ask for one chapter with progress("05").')
    else:
        name = f"{int(chapter):02d}" if str(chapter).strip().isdigit() else str(chapter)
        known = sorted({chapter_of(i) for i in REGISTRY}, key=_id_key)
        if name not in known:
            raise ValueError(f"no exercises registered for chapter {chapter!r}; chapters with exercises: {known}")
        chapters = [name]
    statuses: dict[str, str] = {}
    messages: dict[str, str] = {}
    for name in chapters:
        for exercise_id in chapter_exercises(name):
            outcomes = _OUTCOMES.get(exercise_id, [])
            answered = [o for o in outcomes if o[0] != "not attempted"]
            status, message = answered[-1] if answered else ("not attempted", f"Hint: {REGISTRY[exercise_id].hint}")
            statuses[exercise_id], messages[exercise_id] = status, message
    return Progress(statuses, messages)
