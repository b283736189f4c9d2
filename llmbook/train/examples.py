"""Training data made of separate examples (a labelled sentence, a chat, a preference pair) instead of one
token stream.

Pretraining cuts windows from a stream (:func:`llmbook.train.get_batch`); fine-tuning learns from whole
examples of different lengths. :class:`Examples` holds them and draws random batches with the
trainer's generator, and :func:`pad_batch` turns a list of examples into padded tensors:

>>> items = [{"input_ids": [5, 6, 7], "label": 1}, {"input_ids": [8], "label": 0}]
>>> batch = pad_batch(items, pad_id=0)
>>> batch["input_ids"].tolist(), batch["attention_mask"].tolist(), batch["label"].tolist()
([[5, 6, 7], [8, 0, 0]], [[1, 1, 1], [1, 0, 0]], [1, 0])

Batches are drawn *with replacement* (each a uniform sample of ``batch_size`` examples), like the
random windows of pretraining: the data order is then the state of one generator, which checkpoints
save, so a resumed fine-tuning run continues exactly.
"""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any, Callable, Mapping, Sequence

import torch

from .batching import shard_rows

__all__ = ["Examples", "pad_batch", "IGNORE_INDEX"]

IGNORE_INDEX = -100  # the label that cross-entropy skips (torch's and Hugging Face's convention)


def _pad(rows: list[Sequence[int]], value: int, key: str) -> torch.Tensor:
    width = max(len(row) for row in rows)
    if width == 0:
        raise ValueError(f"every {key!r} in the batch is empty: drop empty examples before batching")
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.as_tensor(list(row), dtype=torch.long)
    return out


def pad_batch(items: Sequence[Mapping[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Collate examples (dicts with the same keys) into right-padded tensors.

    * a key ending in ``input_ids`` (a list of token ids) becomes ``(batch, longest)`` padded with
      ``pad_id``, and gets its mask under the same name with ``input_ids`` replaced by
      ``attention_mask`` (1 on tokens, 0 on padding): ``chosen_input_ids`` → ``chosen_attention_mask``;
    * a key ending in ``labels`` that holds lists is padded with ``IGNORE_INDEX`` (-100);
    * an int, float or bool becomes a ``(batch,)`` tensor (``label``, a reference log-probability, ...);
    * a tensor is stacked; anything else (text kept for display) is left out.
    """
    if not items:
        raise ValueError("pad_batch got no examples: a batch needs at least one")
    keys = list(items[0])
    for i, item in enumerate(items):
        if list(item) != keys:
            raise ValueError(f"example {i} has keys {sorted(item)} but example 0 has {sorted(keys)}: "
                             f"every example of a batch needs the same fields")
    batch: dict[str, torch.Tensor] = {}
    for key in keys:
        values = [item[key] for item in items]
        first = values[0]
        if key.endswith("input_ids"):
            batch[key] = _pad(values, pad_id, key)
            mask_key = key[: -len("input_ids")] + "attention_mask"
            lengths = torch.tensor([len(v) for v in values])
            batch[mask_key] = (torch.arange(batch[key].shape[1]) < lengths[:, None]).long()
        elif key.endswith("labels") and isinstance(first, (list, tuple)):
            batch[key] = _pad(values, IGNORE_INDEX, key)
        elif isinstance(first, torch.Tensor):
            batch[key] = torch.stack(values)
        elif isinstance(first, bool) or isinstance(first, Integral):
            batch[key] = torch.tensor(values, dtype=torch.long)
        elif isinstance(first, Real):
            batch[key] = torch.tensor(values, dtype=torch.float32)
    return batch


class Examples:
    """A list of training examples and how to batch them, for :class:`llmbook.train.Trainer`.

    Args:
        items: the examples, e.g. ``{"input_ids": [...], "label": 1}``.
        pad_id: the padding id used by the default collate, :func:`pad_batch`.
        collate: ``collate(list_of_items) -> dict[str, Tensor]``, instead of :func:`pad_batch`.

    ``examples.sample(batch_size, generator)`` draws a random batch (with replacement);
    ``examples.batches(batch_size)`` walks through all of them in order (for prediction).
    """

    def __init__(self, items: Sequence[Any], pad_id: int | None = None,
                 collate: Callable[[list[Any]], dict[str, torch.Tensor]] | None = None):
        if len(items) == 0:
            raise ValueError("Examples needs at least one example")
        if collate is None and pad_id is None:
            raise ValueError("give pad_id (the tokenizer's padding id) for the default pad_batch, "
                             "or a collate function")
        self.items = list(items)
        self.pad_id = pad_id
        self.collate = collate if collate is not None else (lambda rows: pad_batch(rows, pad_id))

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"Examples({len(self)} items)"

    def sample(self, batch_size: int, generator: torch.Generator | None = None, *,
               device: torch.device | str | None = None, rank: int = 0,
               world_size: int = 1) -> dict[str, torch.Tensor]:
        """A random batch; under data parallelism every process draws the same global batch and
        keeps its own rows (as :func:`llmbook.train.get_batch` does for windows)."""
        rows = shard_rows(batch_size, rank, world_size)
        index = torch.randint(len(self.items), (batch_size,), generator=generator)[rows]
        return self.to_device(self.collate([self.items[i] for i in index.tolist()]), device)

    def batches(self, batch_size: int, device: torch.device | str | None = None):
        """Every example once, in order, ``batch_size`` at a time."""
        for start in range(0, len(self.items), batch_size):
            yield self.to_device(self.collate(self.items[start:start + batch_size]), device)

    @staticmethod
    def to_device(batch: dict[str, torch.Tensor],
                  device: torch.device | str | None) -> dict[str, torch.Tensor]:
        if not isinstance(batch, Mapping):
            raise TypeError(f"collate must return a dict of tensors, got {type(batch).__name__}")
        return {k: v.to(device) for k, v in batch.items()} if device is not None else dict(batch)

    @staticmethod
    def tokens(batch: Mapping[str, torch.Tensor]) -> int:
        """Tokens in a batch (the sum of its attention masks), or its number of rows if it has none.
        Call it on the CPU batch: on a GPU ``.item()`` would wait for the device."""
        masks = [v for k, v in batch.items() if k.endswith("attention_mask")]
        if masks:
            return int(sum(m.sum().item() for m in masks))
        return len(next(iter(batch.values())))
