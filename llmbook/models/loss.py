"""The language-modelling loss every model in :mod:`llmbook.models` shares."""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["next_token_loss"]


def next_token_loss(logits: torch.Tensor, idx: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor | None:
    """Mean cross-entropy of ``logits`` ``(batch, seq, vocab)`` against ``targets`` ``(batch, seq)``.

    ``targets`` must have the shape of the input ids ``idx``; a target of ``-1`` is ignored (padding).
    Returns ``None`` when ``targets`` is ``None``. The loss is computed in float32 even under bf16
    autocast, where a low-precision log-softmax over a large vocabulary loses accuracy.
    """
    if targets is None:
        return None
    if targets.shape != idx.shape:
        raise ValueError(f"targets must have the shape of idx {tuple(idx.shape)}, got {tuple(targets.shape)}")
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-1)
