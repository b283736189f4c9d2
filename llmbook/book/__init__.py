"""The book's own machinery, apart from the library a reader imports for models and metrics.

* :func:`start` — the first call of every notebook: profile, seed, device, figure style, sizes;
* :mod:`llmbook.book.sizes` — the ``ci`` and ``full`` sizes of each chapter (one module per chapter);
* :mod:`llmbook.book.results` — ``record()``: headline numbers, checked against ``tests/expected``;
* :mod:`llmbook.book.exercises` — ``check()``: exercises with automatic checks;
* :mod:`llmbook.book.build` — execute every notebook once and build the web book
  (``python -m llmbook.book``).

A notebook begins with::

    import llmbook
    from llmbook.book import results
    run = llmbook.start("01_history", profile, seed)   # profile comes from the parameters cell
    sizes = run.sizes
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .sizes import Sizes

__all__ = ["start", "Run"]


@dataclass(frozen=True)
class Run:
    """What a notebook needs to know about this run."""

    notebook: str
    profile: str
    seed: int
    device: torch.device
    sizes: Sizes
    dry_run: bool = False


def start(notebook: str, profile: str = "ci", seed: int = 0, device: str | None = None,
          dry_run: bool | None = None) -> Run:
    """Set up a notebook run: check the profile, seed everything, pick the device, apply the figure
    style and start recording results. Returns a :class:`Run` with the sizes of this profile.

    ``dry_run`` (default: ``$LLMBOOK_DRY_RUN``) keeps the profile's shapes but cuts training to a few
    steps (:func:`llmbook.book.sizes.dry_run_sizes`): a check that the code path runs, not a result."""
    from .. import device as _device
    from .. import plot as _plot
    from . import results as _results
    from . import sizes as _sizes

    _sizes.check_profile(profile)
    dry_run = _sizes.dry_run_requested() if dry_run is None else dry_run
    chapter_sizes = _sizes.sizes(notebook, profile, dry_run=dry_run)
    _device.seed_everything(seed)
    chosen = _device.pick_device(device)
    _plot.use_book_style()
    _results.start(notebook, profile, str(chosen), dry_run=dry_run)
    if dry_run:
        print(f"DRY RUN of the {profile!r} profile: its shapes, with training cut to a few steps. "
              "The numbers below mean nothing and are not checked.")
    return Run(notebook, profile, seed, chosen, chapter_sizes, dry_run)
