"""Concept diagrams, drawn by code in the book's style: the pictures that beat a paragraph of text.

Each function returns a matplotlib ``Figure`` whose title and labels say what it shows (so
:func:`llmbook.plot.alt_text` describes it to a screen reader), and takes the numbers it draws from its
arguments or from the package, never from a hand-made picture:

* :func:`transformer_block`: a pre-LN (or post-LN) Transformer block, residual paths included;
* :func:`attention_masks`: the causal, padding and encoder–decoder masks as the matrices the code builds;
* :func:`model_families`: encoder, decoder and encoder–decoder by who may attend to whom;
* :func:`bpe_merges`: how BPE builds one word, merge by merge, from a tokenizer's own merges;
* :func:`training_pipeline`: pretraining → supervised fine-tuning → preference optimisation;
* :func:`kv_cache`: what a decoding step reads from the cache and what it appends.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import plot

__all__ = ["transformer_block", "attention_masks", "model_families", "bpe_merges", "training_pipeline",
           "kv_cache", "causal_mask", "padding_mask"]

_BOX = dict(boxstyle="round,pad=0.35", linewidth=1.2)


def _tint(color: str, strength: float = 0.2) -> str:
    """``color`` mixed with white: an opaque pastel, so lines drawn behind a box stay hidden."""
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 - strength * (255 - c)):02x}" for c in rgb)


def _box(ax, x: float, y: float, text: str, color: str, fontsize: int = 9):
    return ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3,
                   bbox=dict(_BOX, facecolor=_tint(color), edgecolor=color))


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], color: str = "#444444",
           style: str = "-|>", connection: str = "arc3") -> None:
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle=style, color=color, lw=1.3, connectionstyle=connection,
                                shrinkA=14, shrinkB=14))


def _blank(ax) -> None:
    ax.set_axis_off()
    ax.grid(False)


def transformer_block(norm_first: bool = True):
    """One decoder block of a GPT: pre-LN (``x + f(LN(x))``, GPT-2 and Llama) or post-LN
    (``LN(x + f(x))``, the original Transformer), with both residual paths drawn."""
    blue, orange, green, grey = plot.PALETTE[0], plot.PALETTE[1], plot.PALETTE[2], "#777777"
    fig, ax = plot.figure(width=4.2, height=5.6)
    _blank(ax)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    if norm_first:
        steps = [(0.04, "x  (batch, seq, d_model)", grey), (0.18, "LayerNorm", green),
                 (0.32, "masked multi-head\nself-attention", blue), (0.46, "+", grey), (0.60, "LayerNorm", green),
                 (0.74, "feed-forward\n(d_model → 4·d_model → d_model)", orange), (0.88, "+", grey)]
        skips = [(0.04, 0.46), (0.46, 0.88)]
    else:
        steps = [(0.04, "x  (batch, seq, d_model)", grey), (0.20, "masked multi-head\nself-attention", blue),
                 (0.36, "+", grey), (0.50, "LayerNorm", green),
                 (0.66, "feed-forward\n(d_model → 4·d_model → d_model)", orange), (0.80, "+", grey),
                 (0.92, "LayerNorm", green)]
        skips = [(0.04, 0.36), (0.50, 0.80)]
    for (y0, _, _), (y1, _, _) in zip(steps, steps[1:]):
        _arrow(ax, (0.5, y0), (0.5, y1))
    for y, text, color in steps:
        if text == "+":
            ax.text(0.5, y, "+", ha="center", va="center", fontsize=14, fontweight="bold", zorder=3,
                    bbox=dict(boxstyle="circle,pad=0.2", facecolor="white", edgecolor=grey))
        else:
            _box(ax, 0.5, y, text, color)
    for y0, y1 in skips:  # the residual stream goes around the sub-layer, on the right
        ax.plot([0.5, 0.84, 0.84], [y0, y0, y1], color=grey, lw=1.3, zorder=0)
        _arrow(ax, (0.84, y1), (0.5, y1), color=grey)
    ax.text(0.86, (skips[0][0] + skips[-1][1]) / 2, "residual\nstream", ha="left", va="center", fontsize=8,
            color=grey)
    name = "pre-LN: x + f(LN(x))" if norm_first else "post-LN: LN(x + f(x))"
    ax.set_title(f"A Transformer decoder block ({name})")
    return fig


def causal_mask(seq_len: int) -> np.ndarray:
    """``(seq, seq)`` booleans: query i may attend to key j iff j ≤ i."""
    return np.tril(np.ones((seq_len, seq_len), dtype=bool))


def padding_mask(lengths: Sequence[int], seq_len: int) -> np.ndarray:
    """``(batch, seq)`` booleans: True on real tokens, False on the padding after each sequence."""
    if any(n < 0 or n > seq_len for n in lengths):
        raise ValueError(f"lengths {list(lengths)} must lie in [0, seq_len={seq_len}]")
    return np.arange(seq_len)[None, :] < np.asarray(lengths)[:, None]


def _mask_panel(ax, mask: np.ndarray, title: str, xlabel: str, ylabel: str) -> None:
    ax.imshow(mask, cmap="Blues", vmin=0, vmax=1.4)
    ax.set_xticks(range(mask.shape[1]))
    ax.set_yticks(range(mask.shape[0]))
    ax.grid(False)
    for (i, j), allowed in np.ndenumerate(mask):
        ax.text(j, i, "✓" if allowed else "·", ha="center", va="center", fontsize=8,
                color="white" if allowed else "#999999")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)


def attention_masks(seq_len: int = 6, length: int = 4, source_len: int = 5, source_length: int = 3):
    """The three masks of the Transformer as matrices (✓: query row may attend to key column):
    causal (a decoder), padding (a sequence of ``length`` real tokens padded to ``seq_len``) and
    encoder–decoder (decoder queries over ``source_len`` encoder keys, ``source_length`` real)."""
    fig, axes = plot.figure(ncols=3, width=10.5, height=3.8)
    _mask_panel(axes[0], causal_mask(seq_len), "causal", "key position", "query position")
    pad = np.broadcast_to(padding_mask([length], seq_len), (seq_len, seq_len))
    _mask_panel(axes[1], pad, f"padding ({length} real tokens)", "key position", "query position")
    cross = np.broadcast_to(padding_mask([source_length], source_len), (seq_len, source_len))
    _mask_panel(axes[2], cross, "encoder–decoder (cross)", "encoder key position", "decoder query position")
    fig.suptitle("Attention masks: which keys each query may attend to")
    return fig


def model_families(source_len: int = 6, target_len: int = 4):
    """Encoder (every token sees every token: BERT), decoder (each token sees the past: GPT) and
    encoder–decoder (a bidirectional encoder over ``source_len`` input tokens; a causal decoder over
    ``target_len`` output tokens that also attends to the whole input: T5)."""
    fig, axes = plot.figure(ncols=3, width=11.5, height=3.6, gridspec_kw={"width_ratios": [1, 1, 1.6]})
    _mask_panel(axes[0], np.ones((source_len, source_len), dtype=bool), "encoder (BERT): bidirectional",
                "key position", "query position")
    _mask_panel(axes[1], causal_mask(source_len), "decoder (GPT): causal", "key position", "query position")
    both = np.zeros((target_len, source_len + target_len), dtype=bool)
    both[:, :source_len] = True  # cross-attention to every input position
    both[:, source_len:] = causal_mask(target_len)  # causal self-attention over the output so far
    _mask_panel(axes[2], both, "encoder–decoder (T5): decoder rows", "input x | output y",
                "decoder query position")
    axes[2].set_xticks(range(source_len + target_len),
                       [f"x{i}" for i in range(source_len)] + [f"y{i}" for i in range(target_len)])
    axes[2].axvline(source_len - 0.5, color="#444444", lw=1.5)
    fig.suptitle("Three families of Transformer language models, by their attention patterns")
    return fig


def bpe_merges(steps: Sequence[Sequence[str]], word: str | None = None):
    """How byte-pair encoding builds one word: ``steps[0]`` are its characters and each later row the
    tokens after one more merge (e.g. from ``llmbook.tokenizers.BPETokenizer``'s merges); a line
    joins each token to the tokens it was merged from."""
    if len(steps) < 1 or any(len(row) == 0 for row in steps):
        raise ValueError("steps must hold at least one non-empty row of tokens (the characters first)")
    joined = ["".join(row) for row in steps]
    if len(set(joined)) != 1:
        raise ValueError(f"every row must spell the same word; got {sorted(set(joined))}")
    for before, after in zip(steps, steps[1:]):
        if len(after) != len(before) - 1:
            raise ValueError(f"each step merges one pair: {list(before)} -> {list(after)}")
    word = word or joined[0]
    n_rows = len(steps)
    fig, ax = plot.figure(width=max(4.0, 0.55 * len(steps[0]) + 1.5), height=0.6 * n_rows + 1.2)
    _blank(ax)
    centres: list[list[float]] = []
    for row in steps:  # a token sits over the middle of the characters it covers
        x, row_centres = 0, []
        for token in row:
            row_centres.append(x + (len(token) - 1) / 2)
            x += len(token)
        centres.append(row_centres)
    for r in range(1, n_rows):
        before, after = steps[r - 1], steps[r]
        merged_at = next(i for i, (a, b) in enumerate(zip(before, after)) if a != b)
        for i, x in enumerate(centres[r]):
            if i == merged_at:
                for j in (i, i + 1):
                    ax.plot([centres[r - 1][j], x], [r - 1, r], color=plot.PALETTE[0], lw=1.4)
            else:
                j = i if i < merged_at else i + 1
                ax.plot([centres[r - 1][j], x], [r - 1, r], color="#BBBBBB", lw=0.8)
    for r, row in enumerate(steps):
        for token, x in zip(row, centres[r]):
            ax.text(x, r, token.replace(" ", "␣"), ha="center", va="center", fontsize=9, family="monospace",
                    bbox=dict(_BOX, facecolor="white", edgecolor=plot.PALETTE[0] if len(token) > 1 else "#999999"))
    ax.set_xlim(-0.8, len(joined[0]) - 0.2)
    ax.set_ylim(n_rows - 0.4, -0.6)  # characters on top, the final tokens at the bottom
    ax.set_title(f"BPE builds '{word}' in {n_rows - 1} merges (top: characters; bottom: tokens)")
    return fig


def training_pipeline():
    """The life of a chat model: pretraining on raw text, supervised fine-tuning on instructions, then
    preference optimisation (RLHF with PPO, or DPO) on pairs of answers ranked by people."""
    fig, ax = plot.figure(width=10.0, height=3.0)
    _blank(ax)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    stages = [(0.09, "pretraining\nnext-token loss", "raw text: trillions of tokens", plot.PALETTE[0]),
              (0.38, "supervised fine-tuning\nloss on the answer tokens", "instruction–answer pairs: 10⁴–10⁶",
               plot.PALETTE[2]),
              (0.69, "preference optimisation\nRLHF (reward model + PPO) or DPO",
               "(prompt, chosen, rejected): 10⁴–10⁶", plot.PALETTE[1]),
              (0.95, "chat\nmodel", "", plot.PALETTE[4])]
    boxes = []
    for x, title, data, color in stages:
        boxes.append(ax.text(x, 0.62, title, ha="center", va="center", fontsize=9,
                             bbox=dict(_BOX, facecolor=_tint(color), edgecolor=color)))
        if data:
            ax.text(x, 0.25, data, ha="center", va="center", fontsize=8, color="#444444")
    for left, right in zip(boxes, boxes[1:]):  # from the right edge of one box to the left edge of the next
        ax.annotate("", xy=(0, 0.5), xycoords=right, xytext=(1, 0.5), textcoords=left,
                    arrowprops=dict(arrowstyle="-|>", color="#444444", lw=1.3, shrinkA=6, shrinkB=6))
    ax.set_title("From raw text to a chat model: pretraining → SFT → preference optimisation")
    return fig


def kv_cache(cached: int = 5, d_head: int = 4):
    """One decoding step with a KV cache: the new token's query attends to the ``cached`` keys and
    values kept from earlier steps plus its own, and its key and value are appended for the next step.
    Without the cache every step would recompute the keys and values of the whole prefix."""
    from matplotlib.patches import Rectangle

    fig, axes = plot.figure(ncols=2, width=9.0, height=3.6)
    rng = np.random.default_rng(0)
    for ax, name in zip(axes, ("keys K", "values V")):
        values = np.vstack([rng.normal(size=(cached, d_head)), np.full((1, d_head), np.nan)])
        ax.imshow(np.nan_to_num(values, nan=0.0), cmap="Blues", vmin=-3, vmax=3, aspect="auto")
        ax.add_patch(Rectangle((-0.5, cached - 0.5), d_head, 1, color=plot.PALETTE[1], alpha=0.8))
        ax.grid(False)
        ax.set_yticks(range(cached + 1), [f"t={t}" for t in range(cached)] + [f"t={cached} (new)"])
        ax.set_xticks(range(d_head))
        ax.set(title=f"cached {name}: {cached} rows reused, 1 appended", xlabel="head dimension",
               ylabel="position")
    fig.suptitle(f"KV cache, step {cached}: the new query reads {cached + 1} keys and values, "
                 "computes only its own")
    return fig
