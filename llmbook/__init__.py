"""llmbook: the companion package of *Large Language Models: From Theory to Practice*.

Code is organised by concept (``tokenizers``, ``nn``, ``models``, ``train``, ``generate``,
``metrics``, ``evaluate``, ...), not by chapter. The book's own machinery (sizes, recorded results,
exercises, building the book) is the sub-package :mod:`llmbook.book`. A notebook begins with::

    import llmbook
    run = llmbook.start("01_history", profile, seed)   # profile comes from the parameters cell
    sizes = run.sizes
"""
from __future__ import annotations

from typing import TYPE_CHECKING

# Nothing heavy is imported here, so that `import llmbook.metrics` (NumPy only) does not load torch.
if TYPE_CHECKING:  # pragma: no cover
    from .book import Run

__version__ = "0.1.0"
__all__ = ["start", "Run", "__version__"]


def start(notebook: str, profile: str = "ci", seed: int = 0, device: str | None = None,
          dry_run: bool | None = None) -> Run:
    """The first call of every notebook: see :func:`llmbook.book.start`."""
    from .book import start as _start

    return _start(notebook, profile, seed, device, dry_run)


def __getattr__(name: str):
    if name == "Run":
        from .book import Run

        return Run
    raise AttributeError(f"module 'llmbook' has no attribute {name!r}")
