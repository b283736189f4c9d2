"""One figure style for the whole book: same fonts, sizes, colours and grid in every chapter."""
from __future__ import annotations

from typing import Any

import matplotlib

__all__ = ["PALETTE", "STYLE", "use_book_style", "figure", "bar_labels"]

# Colour-blind-safe palette (Okabe & Ito), in the order series are drawn.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

STYLE: dict[str, Any] = {
    "figure.figsize": (6.4, 3.6),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linestyle": "-",
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "image.cmap": "viridis",
}


def use_book_style() -> None:
    """Apply the book's style to matplotlib (idempotent; ``llmbook.start`` calls it)."""
    from cycler import cycler

    matplotlib.rcParams.update(STYLE)
    matplotlib.rcParams["axes.prop_cycle"] = cycler(color=PALETTE)


def figure(ncols: int = 1, nrows: int = 1, width: float | None = None, height: float | None = None, **kwargs):
    """A ``(fig, axes)`` pair in the book's style, sized by the number of panels."""
    import matplotlib.pyplot as plt

    use_book_style()
    base_w, base_h = STYLE["figure.figsize"]
    size = (width or base_w * (1 if ncols == 1 else 0.62 * ncols), height or base_h * (1 if nrows == 1 else 0.8 * nrows))
    return plt.subplots(nrows, ncols, figsize=size, layout="constrained", **kwargs)


def bar_labels(ax, fmt: str = "{:.2f}") -> None:
    """Write each bar's value above it (for leaderboards)."""
    for container in ax.containers:
        ax.bar_label(container, labels=[fmt.format(v) for v in container.datavalues], fontsize=8, padding=2)
