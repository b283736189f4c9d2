"""Token ids in: the one check every tokenizer's ``decode`` runs."""
from __future__ import annotations

import operator
from typing import Any, Iterable

__all__ = ["token_ids"]


def token_ids(ids: Iterable[Any]) -> list[int]:
    """``ids`` as Python ints. Ints, NumPy integers and 0-d integer tensors pass; a bool (``True`` is
    not the id 1), a float or a string is a ``ValueError`` naming it."""
    checked = []
    for i in ids:
        if isinstance(i, bool) or str(getattr(i, "dtype", "")) in ("bool", "torch.bool"):
            raise ValueError(f"token ids must be integers, got the bool {i!r}")
        try:
            checked.append(operator.index(i))
        except TypeError:
            raise ValueError(f"token ids must be integers, got {type(i).__name__} {i!r}") from None
    return checked
