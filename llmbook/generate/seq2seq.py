"""Decoding for encoder–decoder models (translation): greedy, sampling and beam search.

An encoder–decoder reads the whole source once — the encoder's output, the *memory*, does not
change while the target is written — and then decodes the target like a causal language model
whose every step also attends to the memory. So decoding is :func:`llmbook.generate.generate`'s
loop with two changes: the "prompt" is the decoder's start token alone, and each step's logits come
from ``model.decode(target so far, memory)``. The search methods themselves (the processors, the
beam scorer with its length penalty and early stopping) are the very same functions, so greedy and
beam search here give Hugging Face's ``generate`` tokens for an encoder–decoder too (the tests
check it on T5).

Any model with the two halves works: ``encode(input_ids, attention_mask) -> memory (batch, src,
d)`` and ``decode(decoder_input_ids, memory, attention_mask, kv_cache=...) -> logits (batch, tgt,
vocab)``, and a ``config`` with ``decoder_start_id``, ``eos_id``, ``pad_id`` and
``decoder_layers`` — the book's :class:`~llmbook.models.Seq2Seq` and :class:`~llmbook.models.T5`.

With the KV cache (``use_cache=True``) each step runs the decoder on the newest token only; the
cache holds the decoder's *self*-attention keys and values. (The cross-attention keys and values
are projections of the fixed memory; caching them too would save more, at the price of a second
kind of cache slot.) In beam search the memory is repeated once per beam: beams are reordered only
within their own sentence, so each beam's row of the memory stays right.
"""
from __future__ import annotations

import numbers
from typing import Any, Sequence

import torch

from ..models.loss import check_token_ids
from ..nn import KVCache
from .decoding import _beam_search, _check_options, _greedy_or_sample, _token_list

__all__ = ["generate_seq2seq"]


class _EncoderDecoderStep:
    """One decoding step: the next-token logits after the target prefix ``ids``, given the
    memory."""

    def __init__(self, model: Any, memory: torch.Tensor, source_mask: torch.Tensor | None,
                 cache: KVCache | None):
        self.model, self.memory, self.source_mask, self.cache = model, memory, source_mask, cache

    def next_logits(self, ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        new = ids if self.cache is None else ids[:, self.cache.seq_len:]  # what the cache lacks
        logits = self.model.decode(new, self.memory, self.source_mask, kv_cache=self.cache)
        return logits[:, -1].float()  # (rows, vocab): the last position only

    def reorder(self, rows: torch.Tensor) -> None:
        if self.cache is not None:
            self.cache.reorder(rows)


def _check_model(model: Any) -> None:
    config = getattr(model, "config", None)
    needs = ("decoder_start_id", "eos_id", "pad_id", "decoder_layers", "vocab_size")
    if not (callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None))
            and all(hasattr(config, name) for name in needs)):
        raise TypeError(f"generate_seq2seq needs an encoder-decoder with encode(), decode() and a "
                        f"config with {', '.join(needs)} (the book's Seq2Seq or T5), got "
                        f"{type(model).__name__}; for a decoder-only model use generate()")


@torch.no_grad()
def generate_seq2seq(
    model: Any,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    *,
    attention_mask: torch.Tensor | None = None,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
    num_beams: int = 1,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    eos_token_id: int | Sequence[int] | None = None,
    decoder_start_id: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    """Translate the sources ``input_ids`` ``(batch, src)``: return the decoder's ids
    ``(batch, 1 + n)``, the start token followed by ``n <= max_new_tokens`` new tokens (as
    Hugging Face's ``generate``     returns them for an encoder–decoder).

    Args:
        model: the book's ``Seq2Seq`` or ``T5`` (any model with ``encode``/``decode``), in eval
            mode.
        input_ids: ``(batch, src)`` source ids, right-padded with ``attention_mask``
            ``(batch, src)`` (1 = token, 0 = padding) when their lengths differ.
        max_new_tokens: at most this many new tokens; fewer when every row has produced an EOS.
        do_sample, temperature, top_k, top_p, repetition_penalty, num_beams, length_penalty,
            early_stopping, generator: as in :func:`llmbook.generate.generate`.
        eos_token_id: the id(s) that end a target; default ``model.config.eos_id``. A row that has
            ended is filled with ``model.config.pad_id``.
        decoder_start_id: the first decoder input; default ``model.config.decoder_start_id``.
        use_cache: reuse the decoder's self-attention keys and values (the KV cache).
    """
    _check_model(model)
    config = model.config
    vocab = config.vocab_size
    if (isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int)
            or max_new_tokens < 0):
        raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
    check_token_ids(input_ids, vocab, "input_ids")
    if input_ids.size(1) == 0:
        raise ValueError("the source is empty (batch, 0): there is nothing to translate; give at "
                         "least one token per row")
    _check_options(do_sample, temperature, top_k, top_p, repetition_penalty, num_beams,
                   length_penalty, early_stopping)
    if not isinstance(use_cache, bool):
        raise ValueError(f"use_cache must be True or False, got {use_cache!r}")
    eos = _token_list(config.eos_id if eos_token_id is None else eos_token_id, "eos_token_id",
                      vocab)
    start = config.decoder_start_id if decoder_start_id is None else decoder_start_id
    if isinstance(start, bool) or not isinstance(start, numbers.Integral) or not 0 <= start < vocab:
        raise ValueError(f"decoder_start_id must be a token id in [0, {vocab}), got {start!r}")
    max_len = getattr(config, "max_len", None)  # Seq2Seq's position table; T5 has no limit
    if max_len is not None and 1 + max_new_tokens > max_len:
        raise ValueError(f"1 + max_new_tokens = {1 + max_new_tokens} decoder positions exceed the "
                         f"model's max_len={max_len}: ask for at most {max_len - 1} new tokens")

    device = next(model.parameters()).device
    input_ids = input_ids.to(device)
    attention_mask = attention_mask.to(device) if attention_mask is not None else None
    batch = input_ids.size(0)
    prompt = torch.full((batch, 1), int(start), dtype=torch.long, device=device)
    if max_new_tokens == 0:
        return prompt
    memory = model.encode(input_ids, attention_mask)  # once: the source does not change
    if num_beams > 1:  # one copy of the memory per beam, next to each other: row b * k + j
        memory = memory.repeat_interleave(num_beams, dim=0)
        if attention_mask is not None:
            attention_mask = attention_mask.repeat_interleave(num_beams, dim=0)
    cache = KVCache(config.decoder_layers) if use_cache else None
    step = _EncoderDecoderStep(model, memory, attention_mask, cache)
    if num_beams > 1:
        return _beam_search(step, prompt, None, max_new_tokens, num_beams, length_penalty,
                            early_stopping, repetition_penalty, eos, config.pad_id, vocab)
    return _greedy_or_sample(step, prompt, None, max_new_tokens, do_sample,
                             dict(temperature=temperature, top_k=top_k, top_p=top_p),
                             repetition_penalty, eos, config.pad_id, generator, None)
