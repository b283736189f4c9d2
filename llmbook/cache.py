"""Where the package caches what it downloads or computes once: one root for everything.

``cache_dir("data")`` (verified dataset downloads), ``cache_dir("models")`` (converted pretrained models)
and ``cache_dir("results")`` (recorded results outside ``python -m llmbook.book``) all live under
:func:`cache_root`: ``$LLMBOOK_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/llmbook``, else
``~/.cache/llmbook``.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV_VAR", "cache_root", "cache_dir"]

CACHE_ENV_VAR = "LLMBOOK_CACHE_DIR"


def cache_root() -> Path:
    """The package's cache folder (not created): ``$LLMBOOK_CACHE_DIR``, ``$XDG_CACHE_HOME/llmbook``
    or ``~/.cache/llmbook``."""
    root = os.environ.get(CACHE_ENV_VAR)
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "llmbook"


def cache_dir(kind: str) -> Path:
    """The sub-folder ``kind`` (``"data"``, ``"models"``, ``"results"``) of :func:`cache_root`."""
    if not kind or "/" in kind or kind.startswith("."):
        raise ValueError(f"cache_dir takes one plain folder name such as 'data', got {kind!r}")
    return cache_root() / kind
