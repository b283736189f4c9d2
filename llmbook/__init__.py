"""llmbook: the companion package of *Large Language Models: From Theory to Practice*.

Code is organised by concept (``tokenizers``, ``nn``, ``models``, ``train``, ``metrics``, ...), not by
chapter. A notebook begins with::

    import llmbook
    run = llmbook.start("01_history", profile, seed)   # profile comes from the parameters cell
    run.sizes.n_steps, run.device
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

# Nothing heavy is imported here, so that `import llmbook.metrics` (NumPy only) does not load torch.
if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .profiles import Sizes

__version__ = "0.1.0"
__all__ = ["start", "Run", "__version__"]


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
    steps (:func:`llmbook.profiles.dry_run_sizes`): a check that the code path runs, not a result."""
    from . import device as _device
    from . import plot as _plot
    from . import profiles as _profiles
    from . import results as _results

    _profiles.check_profile(profile)
    dry_run = _profiles.dry_run_requested() if dry_run is None else dry_run
    sizes = _profiles.sizes(notebook, profile, dry_run=dry_run)
    _device.seed_everything(seed)
    chosen = _device.pick_device(device)
    _plot.use_book_style()
    _results.start(notebook, profile, str(chosen), dry_run=dry_run)
    if dry_run:
        print(f"DRY RUN of the {profile!r} profile: its shapes, with training cut to a few steps. "
              "The numbers below mean nothing and are not checked.")
    return Run(notebook, profile, seed, chosen, sizes, dry_run)
