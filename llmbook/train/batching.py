"""Random-window batching of a token stream, with data-parallel sharding.

A causal language model learns from windows of ``block_size + 1`` consecutive tokens cut at random
offsets from one long token tensor: the first ``block_size`` are the input, the same window shifted
by one position is the target. This is nanoGPT's ``get_batch``, with two differences:

* the offsets come from an explicit ``torch.Generator``, so the data order is part of the
  training state (saved in checkpoints) and independent of the global RNG used by dropout;
* under data parallelism every process draws the *same* global batch and keeps its own contiguous
  slice of rows (what ``torch.utils.data.DistributedSampler`` does for a map-style dataset), so
  ``world_size`` processes with ``batch_size / world_size`` rows each see exactly the rows of one
  process with ``batch_size`` rows.
"""
from __future__ import annotations

import torch

__all__ = ["get_batch", "shard_rows", "compact_vocabulary"]


def shard_rows(batch_size: int, rank: int = 0, world_size: int = 1) -> slice:
    """The rows of a global batch of ``batch_size`` that process ``rank`` of ``world_size`` keeps.

    >>> shard_rows(8, rank=1, world_size=2)
    slice(4, 8, None)
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size) with world_size >= 1, got rank={rank}, world_size={world_size}")
    if batch_size % world_size:
        raise ValueError(
            f"batch_size={batch_size} is not divisible by world_size={world_size}: every process needs the same "
            f"number of rows; choose a batch size that is a multiple of the number of processes"
        )
    per_rank = batch_size // world_size
    return slice(rank * per_rank, (rank + 1) * per_rank)


def get_batch(
    data: torch.Tensor,
    block_size: int,
    batch_size: int,
    generator: torch.Generator | None = None,
    *,
    device: torch.device | str | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut ``batch_size`` random windows from ``data``; return this process's ``(inputs, targets)``.

    Args:
        data: 1-D integer tensor of token ids ``(n_tokens,)``.
        block_size: the context length ``T`` of each window.
        batch_size: the *global* number of windows drawn per call (all processes together).
        generator: where the random offsets come from (``None``: PyTorch's global generator).
        device: where the returned tensors go (pinned, non-blocking copies for CUDA).
        rank, world_size: this process and the number of data-parallel processes.

    Returns:
        ``x, y`` of shape ``(batch_size // world_size, block_size)``, ``y[:, t] = x[:, t + 1]`` shifted
        from the same window: ``y`` holds the token that follows each position of ``x``.
    """
    if not isinstance(data, torch.Tensor) or data.dim() != 1:
        raise ValueError(f"data must be a 1-D tensor of token ids, got {type(data).__name__} "
                         f"of shape {tuple(getattr(data, 'shape', ()))}; flatten it or encode the text first")
    if data.dtype.is_floating_point or data.dtype.is_complex or data.dtype == torch.bool:
        raise ValueError(f"data must hold integer token ids, got dtype {data.dtype}; use torch.long")
    if block_size < 1 or batch_size < 1:
        raise ValueError(f"block_size and batch_size must be positive, got {block_size} and {batch_size}")
    if len(data) <= block_size:
        raise ValueError(
            f"data has {len(data)} tokens, too few for one window of block_size + 1 = {block_size + 1} tokens; "
            f"use more data or a smaller block_size"
        )
    rows = shard_rows(batch_size, rank, world_size)
    # Every process draws all batch_size offsets so that the generators stay in step across processes.
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)[rows]
    window = starts[:, None] + torch.arange(block_size + 1)
    chunk = data[window].long()
    x, y = chunk[:, :-1].contiguous(), chunk[:, 1:].contiguous()
    if device is not None and torch.device(device).type == "cuda":
        x = x.pin_memory().to(device, non_blocking=True)
        y = y.pin_memory().to(device, non_blocking=True)
    elif device is not None:
        x, y = x.to(device), y.to(device)
    return x, y


def compact_vocabulary(*streams: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Renumber token ids so that only the ids occurring in ``streams`` remain.

    A 50,257-token output layer dominates the cost of a tiny model trained on a small corpus; keeping
    only the ids the corpus uses shrinks it without changing the tokenization. Returns the renumbered
    streams and ``kept`` ``(new_vocab_size,)``: ``kept[new_id]`` is the original id, so
    ``tokenizer.decode(kept[ids].tolist())`` decodes model output. (The model then gives no probability
    to ids outside ``kept``, so its loss is a little lower than a full-vocabulary model's would be.)
    :class:`llmbook.tokenizers.TrimmedVocabulary` does the same for a tokenizer's whole vocabulary,
    with ``[UNK]`` for ids a held-out text adds.
    """
    if not streams:
        raise ValueError("compact_vocabulary needs at least one tensor of token ids")
    for s in streams:
        if not isinstance(s, torch.Tensor) or s.dim() != 1 or s.dtype.is_floating_point or s.numel() == 0:
            raise ValueError("compact_vocabulary takes non-empty 1-D integer tensors of token ids")
    from ..tokenizers.trim import TrimmedVocabulary  # the one renumbering; this is its stream form

    kept = torch.unique(torch.cat([s.long() for s in streams]))
    if int(kept[0]) < 0:
        raise ValueError(f"token ids must be non-negative, got {int(kept[0])}")
    trim = TrimmedVocabulary(kept.tolist(), vocab_size=int(kept[-1]) + 1)
    return [trim.to_small(s) for s in streams], trim.big_ids
