"""Input checks shared by the metrics: every bad input is a ``ValueError`` that names the fix."""
from __future__ import annotations

from typing import Any, Sequence

__all__ = ["check_strings", "check_same_length", "check_reference_streams"]


def check_strings(items: Any, name: str, *, allow_none: bool = False) -> list:
    """``items`` as a list, after checking it is a non-empty sequence of strings."""
    if isinstance(items, (str, bytes)):
        raise ValueError(f"{name} must be a list of strings, got a single {type(items).__name__}: wrap it in a list")
    try:
        items = list(items)
    except TypeError:
        raise ValueError(f"{name} must be a list of strings, got {type(items).__name__}") from None
    if not items:
        raise ValueError(f"{name} is empty: pass at least one string")
    for i, item in enumerate(items):
        if not isinstance(item, str) and not (allow_none and item is None):
            raise ValueError(
                f"{name}[{i}] is {type(item).__name__} {item!r}, not a string: every item must be a str "
                f"(decode bytes, convert numbers with str())"
            )
    return items


def check_same_length(a: Sequence[Any], b: Sequence[Any], name_a: str, name_b: str) -> None:
    if len(a) != len(b):
        raise ValueError(
            f"{name_a} has {len(a)} items but {name_b} has {len(b)}: they must be aligned one to one"
        )


def check_reference_streams(references: Any, n_hypotheses: int) -> list[list[str | None]]:
    """Check sacrebleu-style references: a list of *streams*, each with one reference per hypothesis.

    ``references[k][i]`` is the k-th reference of hypothesis ``i``; ``None`` marks a missing reference
    (a variable number of references per segment). Returns the streams as lists.
    """
    if isinstance(references, (str, bytes)):
        raise ValueError("references must be a list of reference streams (list[list[str]]), got a string")
    try:
        streams = list(references)
    except TypeError:
        raise ValueError(f"references must be a list of reference streams (list[list[str]]), got {type(references).__name__}") from None
    if not streams:
        raise ValueError("references is empty: pass at least one reference stream, e.g. [refs] with one reference per hypothesis")
    if any(isinstance(s, str) for s in streams):
        raise ValueError(
            "references must be a list of reference streams (list[list[str]]), got a list of strings: "
            "for one reference per hypothesis pass [refs], not refs"
        )
    checked = []
    for k, stream in enumerate(streams):
        stream = check_strings(stream, f"references[{k}]", allow_none=True)
        if len(stream) != n_hypotheses:
            raise ValueError(
                f"reference stream {k} has {len(stream)} sentences but there are {n_hypotheses} hypotheses: "
                f"references is a list of streams, one per reference translation, each with one sentence per "
                f"hypothesis (a per-sentence list of references transposes with list(map(list, zip(*refs))))"
            )
        checked.append(stream)
    for i in range(n_hypotheses):
        if all(stream[i] is None for stream in checked):
            raise ValueError(f"hypothesis {i} has no reference (every stream has None there): give it at least one")
    return checked
