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
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["check", "exercise", "integer", "Exercise", "REGISTRY"]


@dataclass(frozen=True)
class Exercise:
    exercise_id: str
    checker: Callable[[Any], bool]
    hint: str


REGISTRY: dict[str, Exercise] = {}


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
        return False
    try:
        passed = bool(item.checker(answer))
        error = ""
    except Exception as exc:  # a wrong type or shape is a wrong answer, with the reason shown
        passed, error = False, f" ({type(exc).__name__}: {exc})"
    if passed:
        print(f"✅ Exercise {exercise_id}: correct.")
    else:
        print(f"❌ Exercise {exercise_id}: not yet{error}. Hint: {item.hint}")
    return passed
