"""Decoding: greedy search, sampling and beam search, for the book's GPT and Hugging Face LMs.

:func:`generate` continues prompts token by token. At each step the model gives the logits of the
next token, :func:`~llmbook.generate.process_logits` shapes them, and a token is picked:

* **greedy** (``do_sample=False``, ``num_beams=1``): the most likely token;
* **sampling** (``do_sample=True``): a token drawn from the softmax of the processed logits;
* **beam search** (``num_beams=k``): the ``k`` most likely sequences so far are kept; each is
  extended by every token, and the ``k`` best of the ``k × vocab`` continuations survive. A sequence
  that ends (EOS, or the length limit) is scored ``sum of log-probs / new_tokens ** length_penalty``
  and kept among the ``k`` best finished ones; the best finished one is returned.

Each method reproduces Hugging Face's ``model.generate`` (transformers 5) step for step: the same
processors in the same order, ``torch.argmax`` / ``torch.multinomial`` on the same probabilities (so
a sampled run draws the same tokens from the same RNG state), and for beam search the vectorised
beam scorer of ``GenerationMixin._beam_search`` (``2 k`` candidates per step so that ``k``
unfinished beams always remain, the length penalty on finished beams, ``early_stopping`` True /
False / ``"never"``).
One default differs: Hugging Face samples among the 50 most likely tokens unless told otherwise
(``top_k=50``); here ``top_k=None`` keeps every token.

**The KV cache.** A step needs the keys and values of every earlier token in every layer. Without a
cache (``use_cache=False``) each step recomputes them for the whole sequence, at a cost growing with
its length; with it, the prompt is processed once (the prefill) and each step feeds only the newest
token. Pass your own ``cache=new_cache(model)`` and it holds every position but the last after the
call, so the next call, given the whole sequence so far, feeds only what is new (see
:class:`llmbook.generate.ChatSession`).

The book's GPT uses :class:`llmbook.nn.KVCache`; a Hugging Face model its ``DynamicCache``, with
``position_ids`` and ``attention_mask`` built as Hugging Face builds them, so left-padded batches
decode as they do there.
"""
from __future__ import annotations

import inspect
import math
import numbers
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from ..models.loss import check_token_ids, padding_mask
from ..nn import KVCache
from .processors import check_sampling_options, check_temperature, process_logits

__all__ = ["generate", "new_cache", "context_length"]

IMPOSSIBLE = -1.0e9  # the score of a ruled-out beam (Hugging Face's value: ties break the same)


# ---------------------------------------------------------------- the two kinds of model


def _is_book_gpt(model: Any) -> bool:
    from ..models.gpt import GPT  # imported here: llmbook.models imports this package

    return isinstance(model, GPT)


def _is_hf_causal_lm(model: Any) -> bool:
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
        return False
    from transformers import PreTrainedModel

    return isinstance(model, PreTrainedModel) and not getattr(model.config, "is_encoder_decoder",
                                                              False)


def check_model(model: Any) -> None:
    """Refuse what :func:`generate` cannot decode, and a model in training mode."""
    if not (_is_book_gpt(model) or _is_hf_causal_lm(model)):
        hint = ""
        if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
            hint = " (an encoder-decoder: use its own model.generate)"
        elif hasattr(model, "generate"):
            hint = f" ({type(model).__name__} has its own model.generate(...))"
        raise TypeError(f"generate() decodes the book's GPT (llmbook.models.GPT) and Hugging Face "
                        f"causal LMs (AutoModelForCausalLM); got {type(model).__name__}{hint}")
    if model.training:
        raise ValueError("the model is in training mode, where dropout makes every forward pass "
                         "random: call model.eval() before generating")


def context_length(model: Any) -> int | None:
    """The longest sequence (prompt + new tokens) ``model`` can decode: ``config.block_size`` for
    the book's GPT, ``config.max_position_embeddings`` for a Hugging Face model (``None`` if it has
    none)."""
    if _is_book_gpt(model):
        return model.config.block_size
    config = model.config
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    return getattr(config, "max_position_embeddings", None)


def _vocab_size(model: Any) -> int:
    if _is_book_gpt(model):
        return model.config.vocab_size
    return model.get_output_embeddings().weight.size(0)


def new_cache(model: Any) -> Any:
    """An empty KV cache for ``model``: :class:`llmbook.nn.KVCache` for the book's GPT, a
    ``transformers.DynamicCache`` for a Hugging Face model. Pass it to :func:`generate` as
    ``cache=``."""
    check_model(model)
    if _is_book_gpt(model):
        return KVCache(model.config.n_layer)
    from transformers import DynamicCache

    return DynamicCache(config=model.config)


def cached_length(cache: Any) -> int:
    """How many positions ``cache`` (from :func:`new_cache`) holds."""
    return cache.seq_len if isinstance(cache, KVCache) else cache.get_seq_length()


class _BookGPTStep:
    """One decoding step of the book's GPT: the logits of the next token after ``ids``."""

    def __init__(self, model: Any, cache: KVCache | None):
        self.model, self.cache = model, cache

    def next_logits(self, ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if self.cache is None:
            hidden = self.model.hidden_states(ids)[:, -1]
        else:  # only the positions the cache lacks (all of them at the first step: the prefill)
            new = ids[:, self.cache.seq_len:]
            hidden = self.model.hidden_states(new, kv_cache=self.cache)[:, -1]
        return self.model.lm_head(hidden).float()  # (batch, vocab): the last position only

    def reorder(self, rows: torch.Tensor) -> None:
        if self.cache is not None:
            self.cache.reorder(rows)


class _HuggingFaceStep:
    """One decoding step of a Hugging Face causal LM, called with the inputs its ``generate``
    builds."""

    def __init__(self, model: Any, cache: Any | None):
        self.model, self.cache = model, cache
        parameters = inspect.signature(model.forward).parameters
        # transformers 5 renamed past_key_values to cache
        self.cache_name = "cache" if "cache" in parameters else "past_key_values"
        # compute the output layer for the last position only, as Hugging Face's generate does
        self.keep_last = "logits_to_keep" in parameters

    def next_logits(self, ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        full_mask = mask if mask is not None else torch.ones_like(ids)
        # positions count real tokens only: a left-padded row starts at 0 after its padding
        positions = (full_mask.long().cumsum(-1) - 1).masked_fill(full_mask == 0, 0)
        start = cached_length(self.cache) if self.cache is not None else 0
        inputs: dict[str, Any] = {"input_ids": ids[:, start:], "position_ids": positions[:, start:],
                                  "use_cache": self.cache is not None}
        if self.cache is not None:
            inputs[self.cache_name] = self.cache
        if mask is not None and not bool((mask == 1).all()):
            inputs["attention_mask"] = mask  # Hugging Face drops an all-ones mask: so do we
        if self.keep_last:
            inputs["logits_to_keep"] = 1
        return self.model(**inputs).logits[:, -1].float()

    def reorder(self, rows: torch.Tensor) -> None:
        if self.cache is not None:
            self.cache.reorder_cache(rows)


# ---------------------------------------------------------------- checks


def _token_list(ids: int | Sequence[int] | None, name: str, vocab: int) -> list[int] | None:
    if ids is None:
        return None
    values = [ids] if isinstance(ids, numbers.Integral) else (
        list(ids) if isinstance(ids, (list, tuple)) else None)
    if not values or any(isinstance(i, bool) or not isinstance(i, numbers.Integral)
                         or not 0 <= i < vocab for i in values):
        raise ValueError(f"{name} must be a token id in [0, {vocab}) or a non-empty list of them, "
                         f"got {ids!r}; take it from the tokenizer (e.g. tokenizer.eos_token_id)")
    return [int(i) for i in values]


def _check_mask(attention_mask: torch.Tensor | None, input_ids: torch.Tensor,
                book_gpt: bool) -> torch.Tensor | None:
    # shape, only 0/1, a token in every row
    padding = padding_mask(attention_mask, tuple(input_ids.shape), ids_name="input_ids")
    if padding is None or not bool(padding.any()):
        return None if attention_mask is None else attention_mask.long()
    if book_gpt:
        raise ValueError("the book's GPT has no padding mask: give prompts of one length in a "
                         "batch (group them by length), or decode them one at a time")
    # left padding: once a row's tokens start, no padding follows (new tokens go on the right)
    if bool((padding[:, 1:] & ~padding[:, :-1]).any()):
        raise ValueError("attention_mask has padding after a real token: decoding appends to the "
                         "right end, so pad prompts on the left (tokenizer.padding_side = 'left')")
    return attention_mask.long()


def _check_options(do_sample: bool, temperature: float, top_k: int | None, top_p: float | None,
                   repetition_penalty: float, num_beams: int, length_penalty: float,
                   early_stopping: bool | str) -> None:
    if not isinstance(do_sample, bool):
        raise ValueError(f"do_sample must be True (sample) or False (greedy / beam search), got "
                         f"{do_sample!r}")
    if isinstance(num_beams, bool) or not isinstance(num_beams, int) or num_beams < 1:
        raise ValueError(f"num_beams must be an int >= 1 (1 = no beam search), got {num_beams!r}")
    check_sampling_options(top_k, top_p, repetition_penalty)
    if do_sample:
        check_temperature(temperature)
        if num_beams > 1:
            raise ValueError("beam search with sampling (do_sample=True, num_beams > 1) is not "
                             "implemented: sample with num_beams=1, or search with do_sample=False")
    elif temperature != 1.0 or top_k is not None or (top_p is not None and top_p < 1.0):
        raise ValueError(f"temperature={temperature!r}, top_k={top_k!r} and top_p={top_p!r} shape "
                         f"the distribution a token is sampled from: pass do_sample=True, or leave "
                         f"them at 1.0 / None for greedy and beam search")
    if not (isinstance(length_penalty, numbers.Real) and not isinstance(length_penalty, bool)
            and math.isfinite(length_penalty)):
        raise ValueError(f"length_penalty must be a finite number, got {length_penalty!r}")
    if not (isinstance(early_stopping, bool) or early_stopping == "never"):
        raise ValueError(f"early_stopping must be True, False or 'never', got {early_stopping!r}")
    if num_beams == 1 and (length_penalty != 1.0 or early_stopping is not False):
        raise ValueError("length_penalty and early_stopping only act in beam search: pass "
                         "num_beams > 1, or leave them at 1.0 and False")


def _check_context(model: Any, prompt_len: int, max_new_tokens: int) -> None:
    limit = context_length(model)
    if limit is None or prompt_len + max_new_tokens <= limit:
        return
    fixes = []
    if max_new_tokens < limit:
        fixes.append(f"keep the prompt's last {limit - max_new_tokens} tokens")
    if prompt_len < limit:
        fixes.append(f"ask for at most {limit - prompt_len} new tokens")
    raise ValueError(f"the prompt ({prompt_len} tokens) and max_new_tokens={max_new_tokens} make "
                     f"{prompt_len + max_new_tokens} positions, more than this model's context of "
                     f"{limit}: {' or '.join(fixes) or 'shorten both'}")


def _check_cache(cache: Any, book_gpt: bool, use_cache: bool, num_beams: int,
                 prompt_len: int) -> None:
    if not use_cache:
        raise ValueError("a cache was passed with use_cache=False: pass use_cache=True to reuse it")
    if num_beams > 1:
        raise ValueError("beam search reorders the cache rows into beams: pass cache=None with "
                         "num_beams > 1")
    fits = isinstance(cache, KVCache) if book_gpt else (
        not isinstance(cache, KVCache) and hasattr(cache, "get_seq_length"))
    if not fits:
        raise TypeError(f"cache must come from new_cache(model) for this model, got "
                        f"{type(cache).__name__}")
    held = cached_length(cache)
    if held >= prompt_len:
        raise ValueError(f"the cache holds {held} positions but input_ids has only {prompt_len}: "
                         f"pass the whole sequence so far (the previous output followed by the "
                         f"new tokens)")


# ---------------------------------------------------------------- generate


@torch.no_grad()
def generate(
    model: Any,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    *,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
    num_beams: int = 1,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    eos_token_id: int | Sequence[int] | None = None,
    pad_token_id: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    attention_mask: torch.Tensor | None = None,
    cache: Any | None = None,
    streamer: Callable[[torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Continue the prompts ``input_ids`` ``(batch, seq)``; return ``(batch, seq + new)``: each
    prompt followed by its new tokens.

    Args:
        model: the book's ``GPT`` or a Hugging Face causal LM, in eval mode.
        input_ids: ``(batch, seq)`` prompt token ids (left-padded, with ``attention_mask``, for a
            Hugging Face model).
        max_new_tokens: at most this many new tokens; fewer when every row has ended with
            ``eos_token_id``. The prompt and the new tokens must fit in the model's context.
        do_sample: sample from the processed distribution instead of taking the likeliest token.
        temperature, top_k, top_p: shape the distribution sampled from (``do_sample=True`` only).
        repetition_penalty: > 1 makes tokens already in the sequence less likely (any method).
        num_beams: > 1 is beam search with that many beams (``do_sample=False``).
        length_penalty: beam search: a finished beam scores ``log p / new_tokens **
            length_penalty`` (> 0 favours longer sequences, < 0 shorter ones).
        early_stopping: beam search: ``True`` stops as soon as ``num_beams`` beams have finished;
            ``False`` also stops when the best running beam, scored at its current length, cannot
            beat the worst finished one (Hugging Face's heuristic); ``"never"``: only when that is
            certain.
        eos_token_id: an id (or list of ids) that ends a sequence; ``None``: no end.
        pad_token_id: what fills a row after it ended (default: the first EOS id).
        generator: the RNG of sampling; ``None`` uses the global one (``torch.manual_seed``), as
            Hugging Face does, so a seeded run draws the same tokens as its ``generate``.
        use_cache: reuse keys and values of earlier positions (the KV cache); ``False``
            recomputes them at every step.
        attention_mask: ``(batch, seq)``, 1 = token, 0 = left padding (Hugging Face models only).
        cache: from :func:`new_cache`: empty, or holding the first positions of ``input_ids``
            (e.g. the previous turns of a conversation). It is extended in place and afterwards
            holds every position but the last. Greedy and sampling only.
        streamer: called with the ``(batch,)`` new token ids after each step (to print text as it
            comes); greedy and sampling only.

    Returns:
        ``(batch, seq + n)`` token ids, ``n <= max_new_tokens``; rows that ended early are filled
        with ``pad_token_id``.
    """
    check_model(model)
    book_gpt = _is_book_gpt(model)
    vocab = _vocab_size(model)
    if (isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int)
            or max_new_tokens < 0):
        raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
    check_token_ids(input_ids, vocab, "input_ids")
    if input_ids.size(1) == 0:
        raise ValueError("the prompt is empty: generation continues a text, so give at least one "
                         "token (e.g. the id of a newline, or of the beginning-of-text token)")
    _check_options(do_sample, temperature, top_k, top_p, repetition_penalty, num_beams,
                   length_penalty, early_stopping)
    eos = _token_list(eos_token_id, "eos_token_id", vocab)
    pads = _token_list(pad_token_id, "pad_token_id", vocab)
    pad = pads[0] if pads is not None else eos[0] if eos is not None else None
    mask = _check_mask(attention_mask, input_ids, book_gpt)
    _check_context(model, input_ids.size(1), max_new_tokens)
    if not isinstance(use_cache, bool):
        raise ValueError(f"use_cache must be True or False, got {use_cache!r}")
    if cache is not None:
        _check_cache(cache, book_gpt, use_cache, num_beams, input_ids.size(1))
    if streamer is not None and num_beams > 1:
        raise ValueError("a streamer receives tokens as they are chosen, but beam search knows its "
                         "tokens only at the end: pass streamer=None with num_beams > 1")
    device = next(model.parameters()).device
    input_ids = input_ids.to(device)
    mask = mask.to(device) if mask is not None else None
    if max_new_tokens == 0:
        return input_ids.clone()
    if use_cache and cache is None:
        cache = new_cache(model)
    step = _BookGPTStep(model, cache) if book_gpt else _HuggingFaceStep(model, cache)
    if num_beams > 1:
        return _beam_search(step, input_ids, mask, max_new_tokens, num_beams, length_penalty,
                            early_stopping, repetition_penalty, eos, pad, vocab)
    return _greedy_or_sample(step, input_ids, mask, max_new_tokens, do_sample,
                             dict(temperature=temperature, top_k=top_k, top_p=top_p),
                             repetition_penalty, eos, pad, generator, streamer)


def _greedy_or_sample(step: Any, ids: torch.Tensor, mask: torch.Tensor | None,
                      max_new_tokens: int, do_sample: bool, sampling: dict[str, Any],
                      repetition_penalty: float, eos: list[int] | None, pad: int | None,
                      generator: torch.Generator | None,
                      streamer: Callable[[torch.Tensor], None] | None) -> torch.Tensor:
    eos_ids = torch.tensor(eos, device=ids.device) if eos is not None else None
    running = torch.ones(ids.size(0), dtype=torch.bool, device=ids.device)  # rows not ended yet
    for _ in range(max_new_tokens):
        logits = step.next_logits(ids, mask)
        if do_sample:
            scores = process_logits(logits, ids, repetition_penalty=repetition_penalty,
                                    attention_mask=mask, **sampling)
            probs = scores.softmax(dim=-1)
            next_ids = torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)
        else:  # greedy: of the processors, only the repetition penalty applies (as in HF)
            scores = process_logits(logits, ids, repetition_penalty=repetition_penalty,
                                    attention_mask=mask)
            next_ids = scores.argmax(dim=-1)
        if eos_ids is not None:
            next_ids = torch.where(running, next_ids, pad)  # a row that ended only gets padding
        ids = torch.cat([ids, next_ids[:, None]], dim=1)
        if mask is not None:
            mask = torch.cat([mask, mask.new_ones(mask.size(0), 1)], dim=1)
        if streamer is not None:
            streamer(next_ids)
        if eos_ids is not None:
            running &= ~torch.isin(next_ids, eos_ids)
            if not bool(running.any()):
                break
    return ids


def _beam_search(step: Any, prompt: torch.Tensor, mask: torch.Tensor | None, max_new_tokens: int,
                 num_beams: int, length_penalty: float, early_stopping: bool | str,
                 repetition_penalty: float, eos: list[int] | None, pad: int | None,
                 vocab: int) -> torch.Tensor:
    """Beam search as ``GenerationMixin._beam_search`` (transformers 5) does it, for each row.

    State per row: ``num_beams`` running beams with their summed log-probs, and ``num_beams``
    finished hypotheses with their length-penalised scores. Every step extends the running beams
    by every token and takes the ``2 × num_beams`` best continuations (more with several EOS ids):
    those that did not just end give the next running beams; those among the best ``num_beams``
    that ended compete with the finished hypotheses. A ruled-out choice gets the score -1e9 rather
    than being removed, so every tensor keeps its shape.
    """
    batch, prompt_len = prompt.shape
    device = prompt.device
    max_length = prompt_len + max_new_tokens
    n_candidates = max(2, 1 + (len(eos) if eos is not None else 0)) * num_beams
    eos_ids = torch.tensor(eos if eos is not None else [], dtype=torch.long, device=device)
    fill = pad if pad is not None else -1  # what stands after a sequence's end in the output
    rows = torch.arange(batch, device=device)[:, None]

    def pick(tensor: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return tensor[rows, index]  # (batch, n, ...) -> (batch, k, ...), k = index.size(1)

    # (batch, beams, max_length) sequences, filled as they grow; every beam starts as the prompt
    running = torch.full((batch, num_beams, max_length), fill, dtype=torch.long, device=device)
    running[:, :, :prompt_len] = prompt[:, None]
    # only the first beam is live at the start, or the k beams would all pick the same tokens
    running_scores = torch.zeros(batch, num_beams, device=device)
    running_scores[:, 1:] = IMPOSSIBLE
    finished = running.clone()
    finished_scores = torch.full((batch, num_beams), IMPOSSIBLE, device=device)
    finished_lengths = torch.full((batch, num_beams), prompt_len, dtype=torch.long, device=device)
    is_finished = torch.zeros(batch, num_beams, dtype=torch.bool, device=device)
    can_improve = torch.ones(batch, 1, dtype=torch.bool, device=device)
    may_finish = torch.arange(n_candidates, device=device) < num_beams  # the best k candidates
    if mask is not None:
        mask = mask.repeat_interleave(num_beams, dim=0)

    length = prompt_len
    while True:
        flat = running[:, :, :length].reshape(batch * num_beams, length)
        log_probs = F.log_softmax(step.next_logits(flat, mask), dim=-1)
        log_probs = process_logits(log_probs, flat, repetition_penalty=repetition_penalty,
                                   attention_mask=mask)
        totals = log_probs.view(batch, num_beams, vocab) + running_scores[:, :, None]
        # the best continuations over all beams: beam = index // vocab, token = index % vocab
        cand_scores, cand_index = torch.topk(totals.view(batch, -1), n_candidates)
        cand_beam, cand_token = cand_index // vocab, cand_index % vocab
        candidates = pick(running, cand_beam)
        candidates[:, :, length] = cand_token
        cand_rows = cand_beam + rows * num_beams  # the cache row each candidate continues
        # which candidates end here: an EOS token, or the length limit
        ends = torch.isin(cand_token, eos_ids) | (length + 1 >= max_length)
        # the next running beams: the best candidates that did not end
        alive_scores = cand_scores + ends.float() * IMPOSSIBLE
        keep = torch.topk(alive_scores, num_beams).indices
        running, running_scores = pick(candidates, keep), pick(alive_scores, keep)
        source_rows = pick(cand_rows, keep)
        # candidates that ended compete with the finished hypotheses, by length-penalised score
        just_finished = ends & may_finish[None, :]
        final_scores = cand_scores / ((length + 1 - prompt_len) ** length_penalty)
        all_full = is_finished.all(dim=-1, keepdim=True) & (early_stopping is True)
        final_scores += all_full.float() * IMPOSSIBLE
        final_scores += (~can_improve).float() * IMPOSSIBLE
        final_scores += (~just_finished).float() * IMPOSSIBLE
        merged_scores = torch.cat([finished_scores, final_scores], dim=1)
        best = torch.topk(merged_scores, num_beams).indices
        finished = pick(torch.cat([finished, candidates], dim=1), best)
        finished_scores = pick(merged_scores, best)
        new_lengths = finished_lengths.new_full(ends.shape, length + 1)
        finished_lengths = pick(torch.cat([finished_lengths, new_lengths], dim=1), best)
        is_finished = pick(torch.cat([is_finished, just_finished], dim=1), best)
        # the cache follows the beams
        step.reorder(source_rows.flatten())
        if mask is not None:
            mask = torch.cat([mask, mask.new_ones(mask.size(0), 1)], dim=1)
        length += 1
        # can the best running beam still beat the worst finished one? (HF's estimate of its
        # best length: the current one, or with early_stopping="never" the longest possible)
        longest = early_stopping == "never" and length_penalty > 0
        best_length = (max_length if longest else length) - prompt_len
        best_possible = running_scores[:, :1] / (best_length ** length_penalty)
        worst_finished = torch.where(is_finished, finished_scores.min(dim=1, keepdim=True).values,
                                     IMPOSSIBLE)
        can_improve = can_improve & (best_possible > worst_finished).any(dim=-1, keepdim=True)
        all_done = bool(is_finished.all()) and early_stopping is True
        if not bool(can_improve.any()) or all_done or bool(ends.all()):
            break
    out_length = int(finished_lengths[:, 0].max())
    return finished[:, 0, :out_length]
