"""A trimmed vocabulary: the ids of a large vocabulary that a corpus uses, renumbered ``0 .. n - 1``.

A small model trained on a small corpus wastes most of a 30k-token vocabulary: every unused row of
the embedding and of the output layer costs memory and, for the output layer, compute at every
position. Trimming keeps the tokenizer (the text is cut exactly as before) and renumbers only the ids
the corpus needs; a token outside them becomes ``[UNK]``. The trimmed ids map back to the original
ones, so decoding still goes through the original tokenizer.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import torch

__all__ = ["TrimmedVocabulary"]


class TrimmedVocabulary:
    """Renumber the ids ``keep`` of a vocabulary of ``vocab_size`` tokens as ``0 .. len(keep) - 1``.

    >>> trim = TrimmedVocabulary([0, 100, 7592, 2088], vocab_size=30522, unk_id=100)
    >>> trim.to_small([7592, 2088, 5]).tolist(), trim.to_big([2, 3]).tolist()
    ([2, 3, 1], [7592, 2088])

    Args:
        keep: original ids to keep (duplicates are fine); kept in increasing order.
        vocab_size: size of the original vocabulary.
        unk_id: the original id that tokens outside ``keep`` map to (it is kept); ``None``: refuse them.
    """

    def __init__(self, keep: Iterable[int], vocab_size: int, unk_id: int | None = None):
        ids = sorted({int(i) for i in keep} | ({int(unk_id)} if unk_id is not None else set()))
        if not ids:
            raise ValueError("nothing to keep: give the ids of the tokens the corpus uses")
        if ids[0] < 0 or ids[-1] >= vocab_size:
            raise ValueError(f"ids to keep must be in [0, vocab_size={vocab_size}), got {ids[0]}..{ids[-1]}")
        self.vocab_size, self.unk_id = vocab_size, unk_id
        self.big_ids = torch.tensor(ids, dtype=torch.long)  # small id -> original id
        self._small = torch.full((vocab_size,), -1, dtype=torch.long)  # original id -> small id, or -1
        self._small[self.big_ids] = torch.arange(len(ids))

    @classmethod
    def from_corpus(cls, sequences: Iterable[Sequence[int]], vocab_size: int, always: Iterable[int] = (),
                    unk_id: int | None = None, min_count: int = 1) -> "TrimmedVocabulary":
        """The ids that occur at least ``min_count`` times in ``sequences`` (lists of original ids) and
        the ids ``always`` (special tokens, sentinels), renumbered. A tiny model learns nothing useful
        about a token it sees once or twice; ``min_count=3`` makes those ``[UNK]`` (needs ``unk_id``)."""
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be a positive int, got {min_count!r}")
        if min_count > 1 and unk_id is None:
            raise ValueError("min_count > 1 turns rare tokens into [UNK]: give unk_id")
        counts: Counter[int] = Counter()
        for seq in sequences:
            counts.update(int(i) for i in seq)
        keep = set(always) | {i for i, c in counts.items() if c >= min_count}
        return cls(keep, vocab_size, unk_id)

    def __len__(self) -> int:
        return len(self.big_ids)

    def to_small(self, ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Original ids -> trimmed ids (same shape); a token that was not kept becomes ``[UNK]``."""
        ids = torch.as_tensor(ids, dtype=torch.long)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise ValueError(f"ids must be in [0, {self.vocab_size}) of the original vocabulary, got "
                             f"{int(ids.min())}..{int(ids.max())}")
        small = self._small[ids]
        unknown = small < 0
        if bool(unknown.any()):
            if self.unk_id is None:
                first = int(ids[unknown].flatten()[0])
                raise ValueError(f"id {first} is not in the trimmed vocabulary and there is no unk_id: "
                                 f"build it with unk_id=... or keep that id")
            small = torch.where(unknown, self._small[self.unk_id], small)
        return small

    def to_big(self, ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Trimmed ids -> original ids (same shape)."""
        ids = torch.as_tensor(ids, dtype=torch.long)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= len(self)):
            raise ValueError(f"trimmed ids must be in [0, {len(self)}), got {int(ids.min())}..{int(ids.max())}")
        return self.big_ids[ids]

    def __repr__(self) -> str:
        return f"TrimmedVocabulary({len(self)} of {self.vocab_size} ids)"
