"""What every model in :mod:`llmbook.models` shares: the checks of its inputs and the next-token loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["check_token_ids", "check_prompt", "padding_mask", "next_token_loss"]


def _shape_and_dtype(ids: torch.Tensor, name: str) -> None:
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2:
        raise ValueError(f"{name} must be a (batch, seq) tensor of token ids, got shape "
                         f"{tuple(getattr(ids, 'shape', ()))}; add a batch dimension with {name}[None]")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer token ids, got dtype {ids.dtype}")


def check_token_ids(idx: torch.Tensor, vocab_size: int, name: str = "idx") -> None:
    """Refuse what is not a ``(batch, seq)`` integer tensor of ids in ``[0, vocab_size)``; errors call
    it ``name``."""
    _shape_and_dtype(idx, name)
    if torch.compiler.is_compiling():
        return  # the range check reads the values: no data-dependent branch in a compiled graph
    if idx.numel() and bool(((idx < 0) | (idx >= vocab_size)).any()):
        raise ValueError(
            f"{name}: token ids must be in [0, vocab_size={vocab_size}), got min {int(idx.min())} and max "
            f"{int(idx.max())}; was the text encoded with the tokenizer this model was trained with?"
        )


def check_prompt(idx: torch.Tensor, max_new_tokens: int) -> None:
    """What ``generate`` needs: a non-empty prompt ``(batch, seq >= 1)`` and a whole number of new tokens."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
    _shape_and_dtype(idx, "idx")
    if idx.size(1) == 0:
        raise ValueError("the prompt is empty: generation continues a text, so give at least one token "
                         "(e.g. the id of a newline or of the end-of-text token)")


def padding_mask(attention_mask: torch.Tensor | None, shape: tuple[int, int], name: str = "attention_mask",
                 ids_name: str = "input_ids") -> torch.Tensor | None:
    """Hugging Face's ``attention_mask`` ``(batch, seq)`` (1 = token, 0 = padding; or bool, True = token)
    as :mod:`llmbook.nn`'s ``key_padding_mask`` (bool, True = padding), after checking it: the shape of
    its token ids ``shape`` (called ``ids_name`` in errors), only 1s and 0s, and at least one token per row
    (a row of padding only has nothing to attend to, and attention there would be NaN)."""
    if attention_mask is None:
        return None
    if not isinstance(attention_mask, torch.Tensor) or tuple(attention_mask.shape) != tuple(shape):
        raise ValueError(f"{name} must have the shape of {ids_name} {tuple(shape)}, got "
                         f"{tuple(getattr(attention_mask, 'shape', ()))}: one entry per token (1 = token, "
                         f"0 = padding), as tokenizers return it")
    if torch.compiler.is_compiling():
        return attention_mask == 0  # the checks below read the data: no such branch in a compiled graph
    if attention_mask.dtype != torch.bool and not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
        raise ValueError(f"{name} must hold only 1 (real token) and 0 (padding), as tokenizers return it; "
                         f"build it as (ids != pad_id).long(), or for a True = padding mask pass ~mask")
    padding = attention_mask == 0
    if padding.numel() and bool(padding.all(dim=1).any()):
        rows = padding.all(dim=1).nonzero().flatten().tolist()
        raise ValueError(f"{name} marks every position of row(s) {rows} as padding: attention there has "
                         "nothing to look at; drop those rows or give each at least one token")
    return padding


def next_token_loss(logits: torch.Tensor, idx: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor | None:
    """Mean cross-entropy of ``logits`` ``(batch, seq, vocab)`` against ``targets`` ``(batch, seq)``.

    ``targets`` must have the shape of the input ids ``idx``; a target of ``-1`` is ignored (padding),
    and at least one target must be scored (a mean over nothing would be NaN). Returns ``None`` when
    ``targets`` is ``None``. The loss is computed in float32 even under bf16 autocast, where a
    low-precision log-softmax over a large vocabulary loses accuracy.
    """
    if targets is None:
        return None
    if targets.shape != idx.shape:
        raise ValueError(f"targets must have the shape of idx {tuple(idx.shape)}, got {tuple(targets.shape)}")
    _shape_and_dtype(targets, "targets")
    targets = targets.long()  # int32 ids are fine; cross_entropy wants int64
    if not torch.compiler.is_compiling():
        vocab_size = logits.size(-1)
        out_of_range, scored = torch.stack([((targets < -1) | (targets >= vocab_size)).any(),
                                            (targets != -1).any()]).tolist()  # one device sync
        if out_of_range:
            raise ValueError(f"targets must be token ids in [0, {vocab_size}) or -1 (ignored), got min "
                             f"{int(targets.min())} and max {int(targets.max())}")
        if not scored:
            raise ValueError("no target to score: the batch is empty or every target is -1 (ignored), "
                             "so the mean loss would be NaN")
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-1)
