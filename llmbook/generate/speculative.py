"""Speculative decoding (greedy): a small draft model guesses, the target model checks.

Generating with a large model costs one forward pass of it per token, and on most hardware a pass
over ``k + 1`` positions costs about as much as a pass over one (the weights are read once either
way). Speculative decoding {cite}`leviathan2023fast` turns that into speed:

1. the **draft** model, much cheaper, continues the text greedily by ``k`` tokens;
2. the **target** runs once over the text plus those ``k`` guesses, which gives its own greedy
   choice after every prefix: ``g_0`` (after the text), ``g_1`` (after the first guess), ...,
   ``g_k``;
3. the guesses are **accepted** while they equal the target's choices; at the first guess that
   differs the target's choice ``g_n`` replaces it, and if all ``k`` are accepted ``g_k`` comes
   free. Every round therefore adds between 1 and ``k + 1`` tokens.

Each token kept is one the target chose itself after the same prefix, so the output is exactly the
target's greedy output, whatever the draft proposes: a bad draft only costs time. The speed-up
depends on the acceptance rate and on how cheap the draft is. (Leviathan et al. also accept and
resample *sampled* tokens so that the output has the target's distribution; this module does the
greedy case.)

Both models keep a KV cache; after a round each cache is cut back to the positions that were
accepted, so rejected guesses leave no trace.

>>> result = speculative_generate(target, draft, prompt_ids, max_new_tokens=200, k=4)
>>> result.tokens, result.acceptance_rate, result.tokens_per_round
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..models.loss import check_token_ids
from ..nn import KVCache

__all__ = ["speculative_generate", "SpeculativeResult"]


@dataclass
class SpeculativeResult:
    """The output of :func:`speculative_generate` and what happened on the way.

    ``tokens``: ``(1, prompt + max_new_tokens)``, the prompt and the new tokens; ``proposed`` and
    ``accepted``: draft tokens proposed and accepted in all; ``rounds``: target forward passes (one
    per round); ``accepted_per_round``: how many guesses each round kept.
    """

    tokens: torch.Tensor
    proposed: int = 0
    accepted: int = 0
    rounds: int = 0
    accepted_per_round: list[int] = field(default_factory=list)

    @property
    def acceptance_rate(self) -> float:
        """accepted / proposed (0 when nothing was proposed)."""
        return self.accepted / self.proposed if self.proposed else 0.0

    @property
    def tokens_per_round(self) -> float:
        """New tokens per target forward pass (plain greedy decoding: 1)."""
        new = sum(self.accepted_per_round) + self.rounds
        return new / self.rounds if self.rounds else 0.0


def _check_gpt(model: Any, role: str) -> None:
    from ..models.gpt import GPT  # imported here: llmbook.models imports this package

    if not isinstance(model, GPT):
        raise TypeError(f"speculative_generate() decodes the book's GPT (llmbook.models.GPT); the "
                        f"{role} is a {type(model).__name__}")
    if model.training:
        raise ValueError(f"the {role} is in training mode, where dropout makes every forward pass "
                         f"random: call {role}.eval() first")


def _crop(cache: KVCache, length: int) -> None:
    """Keep the first ``length`` positions of every layer of ``cache`` (forget rejected guesses)."""
    for slot in cache.layers:
        if slot.keys is not None and slot.keys.size(-2) > length:
            slot.keys, slot.values = slot.keys[..., :length, :], slot.values[..., :length, :]


def _logits_of_missing(model: Any, ids: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """Run ``model`` on the positions of ``ids`` its cache lacks: their logits ``(1, new, vocab)``.
    """
    hidden = model.hidden_states(ids[:, cache.seq_len:], kv_cache=cache)
    return model.lm_head(hidden)


@torch.no_grad()
def speculative_generate(target: Any, draft: Any, input_ids: torch.Tensor, max_new_tokens: int,
                         k: int = 4) -> SpeculativeResult:
    """Greedy decoding of ``target``, sped up by guesses of ``draft``.

    Args:
        target: the book's GPT whose greedy output is wanted, in eval mode.
        draft: a (smaller) GPT with the same vocabulary, in eval mode.
        input_ids: ``(1, seq)`` prompt token ids (one prompt: rows would accept different numbers
            of guesses).
        max_new_tokens: exactly this many new tokens (prompt + new must fit both contexts).
        k: draft tokens proposed per round (``k >= 1``).

    Returns:
        :class:`SpeculativeResult`; ``result.tokens`` equals
        ``llmbook.generate.generate(target, input_ids, max_new_tokens)``.
    """
    _check_gpt(target, "target")
    _check_gpt(draft, "draft")
    if target.config.vocab_size != draft.config.vocab_size:
        raise ValueError(f"the draft's vocabulary ({draft.config.vocab_size} tokens) differs from "
                         f"the target's ({target.config.vocab_size}): the draft must guess the "
                         f"target's tokens, so train it with the same tokenizer")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k (draft tokens per round) must be an int >= 1, got {k!r}; k=1 already "
                         f"checks one guess per target pass")
    if (isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int)
            or max_new_tokens < 0):
        raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
    check_token_ids(input_ids, target.config.vocab_size, "input_ids")
    if input_ids.size(0) != 1 or input_ids.size(1) == 0:
        raise ValueError(f"input_ids must be one non-empty prompt, shape (1, seq), got "
                         f"{tuple(input_ids.shape)}: call speculative_generate once per prompt")
    longest = input_ids.size(1) + max_new_tokens
    for role, model in (("target", target), ("draft", draft)):
        if longest > model.config.block_size:
            raise ValueError(f"the prompt ({input_ids.size(1)} tokens) and max_new_tokens="
                             f"{max_new_tokens} make {longest} positions, more than the {role}'s "
                             f"block_size={model.config.block_size}: shorten one of them")
    device = next(target.parameters()).device
    ids = input_ids.to(device)
    result = SpeculativeResult(tokens=ids)
    target_cache, draft_cache = KVCache(target.config.n_layer), KVCache(draft.config.n_layer)
    while ids.size(1) < longest:
        committed = ids.size(1)
        n_guesses = min(k, longest - committed - 1)  # the target adds one more token itself
        guesses = ids
        for _ in range(n_guesses):  # 1. the draft guesses greedily, one token at a time
            next_id = _logits_of_missing(draft, guesses, draft_cache)[:, -1].argmax(-1)
            guesses = torch.cat([guesses, next_id[:, None]], dim=1)
        # 2. one pass of the target over everything it has not seen: its choice after each prefix
        logits = _logits_of_missing(target, guesses, target_cache)
        choices = logits[0, -(n_guesses + 1):].argmax(-1)  # g_0 .. g_k, (n_guesses + 1,)
        proposed = guesses[0, committed:]  # (n_guesses,)
        # 3. keep the guesses up to the first that differs from the target's choice
        agree = (proposed == choices[:n_guesses]).long()
        n_accepted = int(agree.cumprod(0).sum())
        correction = choices[None, n_accepted:n_accepted + 1]  # g_n: the target's own token
        ids = torch.cat([ids, proposed[None, :n_accepted], correction], dim=1)
        # the caches keep the positions whose inputs were right: all but the new last token
        _crop(target_cache, ids.size(1) - 1)
        _crop(draft_cache, ids.size(1) - 1)
        result.proposed += n_guesses
        result.accepted += n_accepted
        result.rounds += 1
        result.accepted_per_round.append(n_accepted)
    result.tokens = ids
    return result
