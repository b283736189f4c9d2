"""One figure style for the whole book: same fonts, sizes, colours and grid in every chapter."""
from __future__ import annotations

import re
from typing import Any

import matplotlib

__all__ = ["PALETTE", "STYLE", "use_book_style", "figure", "bar_labels", "alt_text", "describe_figures"]

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
    describe_figures()


def _texts(items) -> list[str]:
    """The non-empty texts of matplotlib artists (a Text's text, a Line2D's label), skipping
    matplotlib's automatic ``_child0`` labels."""
    texts = ((item.get_text() if hasattr(item, "get_text") else item.get_label()).strip() for item in items)
    return [text for text in texts if text and not text.startswith("_")]


def _is_number(text: str) -> bool:
    """Whether a tick label is a number (``0.5``, ``−1``, ``10%``, mathtext such as ``$10^{2}$``)
    rather than a category name: it has no letter outside ``$...$``."""
    return not re.search(r"[^\W\d_]", re.sub(r"\$[^$]*\$", "", text))


def alt_text(fig) -> str:
    """A text description of ``fig`` for readers who cannot see it (screen readers, the ``alt`` of its
    image): its title, and per panel the title, the axis labels and the names of the series.

    It is read from the figure itself, so it is as complete as the figure's labels: one more reason
    to label every axis."""
    parts = []
    if fig._suptitle is not None and fig._suptitle.get_text().strip():
        parts.append(fig._suptitle.get_text().strip() + ".")
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    for ax in panels:
        title = " ".join(_texts([ax.title, ax._left_title, ax._right_title]))
        bits = [f"Panel '{title}'" if title else "A panel"]
        for name, label, ticks in (("x", ax.get_xlabel(), ax.get_xticklabels()),
                                   ("y", ax.get_ylabel(), ax.get_yticklabels())):
            categories = [text for text in _texts(ticks) if not _is_number(text)]
            if label.strip():
                bits.append(f"{name} axis: {label.strip()}")
            elif categories:  # a categorical axis: its tick labels name what it shows
                more = ", ..." if len(categories) > 6 else ""
                bits.append(f"{name} axis: categories {', '.join(categories[:6])}{more}")
        legend = ax.get_legend()
        series = _texts(legend.get_texts()) if legend is not None else _texts(ax.lines)
        if series:
            bits.append("series: " + ", ".join(series[:8]) + (", ..." if len(series) > 8 else ""))
        if ax.images:
            bits.append("an image or heat map")
        if not ax.axison or not (len(ax.get_xticks()) or len(ax.get_yticks())):
            # a diagram (no axes, or no ticks on either): its words are its content
            words = [" ".join(text.split()) for text in _texts(ax.texts)]
            if words:
                bits.append("it reads: " + "; ".join(words[:20]) + ("; ..." if len(words) > 20 else ""))
        parts.append("; ".join(bits) + ".")
    return " ".join(parts) if parts else "A figure without labels."


def _png_with_alt_text(fig):
    from IPython.core.pylabtools import print_figure

    data = print_figure(fig, "png", bbox_inches="tight")  # what matplotlib-inline would draw
    return None if data is None else (data, {"alt": alt_text(fig)})


def describe_figures() -> bool:
    """In a Jupyter kernel, show every matplotlib figure as a PNG that carries :func:`alt_text` in its
    output metadata, so the web book, the slides and JupyterLab give each figure an ``alt``; return
    whether a kernel was found. Outside IPython it does nothing."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the book's dependencies
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    from matplotlib.figure import Figure

    # A kernel draws with the inline backend, which registers its own PNG printer when it loads (at
    # the first figure): load it now, then replace its printer with ours.
    import matplotlib_inline.backend_inline  # noqa: F401

    shell.display_formatter.formatters["image/png"].for_type(Figure, _png_with_alt_text)
    return True


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
