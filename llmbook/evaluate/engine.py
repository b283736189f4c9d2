"""The evaluation engine: log-probabilities of tokens under a causal LM, batched.

Everything the evaluation code asks of a model goes through one forward pass,
:func:`next_token_logprobs`: token ids ``(batch, seq)`` in, log-probabilities of the next token
``(batch, seq - first, vocab)`` out. Two callers read it:

* :func:`loglikelihoods` scores ``(context, continuation)`` string pairs the way lm-evaluation-harness
  does (its ``loglikelihood`` request): the summed log-probability of the continuation's tokens,
  :math:`\\log p(c \\mid x) = \\sum_t \\log p(c_t \\mid x, c_{<t})`. It is what multiple-choice
  scoring (:mod:`llmbook.evaluate.scoring`) and the bias probe of chapter 7 run on.
* :func:`llmbook.evaluate.strided_perplexity` scores a long text with a sliding window.

A model may be a Hugging Face causal LM (output with ``.logits``), an ``llmbook`` model (a tuple
``(logits, loss)``) or any callable returning logits. What ``loglikelihoods`` does to run fast (requests
with the same model input share a forward pass, batches of similar lengths, a few-shot prefix computed
once and its keys and values reused) never changes which log-probabilities it reads.
"""
from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["loglikelihoods", "next_token_logprobs", "token_logprobs", "output_logits", "model_device"]

Batch = tuple[int, list[tuple[int, ...]]]  # (length of the shared prefix, model inputs)


# ---------------------------------------------------------------- the model: one forward pass


def output_logits(output: Any) -> torch.Tensor:
    """Logits from a model output: a tensor, an object with ``.logits`` (Hugging Face), or a tuple."""
    if isinstance(output, torch.Tensor):
        return output
    if hasattr(output, "logits"):
        return output.logits
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(
        f"the model returned {type(output).__name__}: evaluation needs logits of shape "
        f"(batch, seq, vocab), as a tensor, a tuple starting with it, or an object with .logits"
    )


def model_device(model: Any) -> torch.device:
    """Where ``model``'s parameters live (the CPU for a callable without parameters)."""
    parameters = getattr(model, "parameters", None)
    if callable(parameters):
        for p in parameters():
            return p.device
    return torch.device("cpu")


def forward_kwargs(model: Any) -> set[str]:
    """The keyword arguments ``model``'s forward accepts (empty for a plain callable)."""
    try:
        return set(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError, AttributeError):
        return set()


def next_token_logprobs(model: Any, ids: torch.Tensor, first: int = 0, **kwargs: Any) -> torch.Tensor:
    """Log-probabilities of the next token at positions ``first`` to the end of ``ids``.

    Args:
        model: a causal LM (see the module docstring); ``ids`` must already be on its device.
        ids: token ids, shape ``(batch, seq)``.
        first: the first position whose predictions are needed. A Hugging Face model that takes
            ``logits_to_keep`` computes the output projection for positions ``first..`` only.
        kwargs: passed to the model (e.g. a KV cache); ``use_cache=False`` unless given.

    Returns:
        ``(batch, seq - first, vocab)`` float32; entry ``[b, p]`` is the distribution of token
        ``first + p + 1`` of row ``b`` (logits at position ``t`` predict token ``t + 1``).
    """
    batch, width = ids.shape
    accepted = forward_kwargs(model)
    if "use_cache" in accepted:
        kwargs.setdefault("use_cache", False)  # no KV cache to build for a single pass
    keep_only = "logits_to_keep" in accepted
    if keep_only:
        kwargs["logits_to_keep"] = torch.arange(first, width, device=ids.device)
    logits = output_logits(model(ids, **kwargs))
    if logits.ndim != 3 or logits.shape[:2] != (batch, width - first if keep_only else width):
        raise ValueError(
            f"the model returned logits of shape {tuple(logits.shape)} for input {tuple(ids.shape)}: "
            f"expected (batch, seq, vocab)"
        )
    if not keep_only:
        logits = logits[:, first:]
    return torch.log_softmax(logits.float(), dim=-1)


def token_logprobs(logprobs: torch.Tensor, rows: Sequence[int], positions: Sequence[int],
                   tokens: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Read the log-probability of ``tokens[i]`` at ``(rows[i], positions[i])`` of ``logprobs``.

    One gather for a whole batch (no per-token work on the device). Returns ``(logprob, is_greedy)``,
    both of shape ``(n,)``: the log-probabilities and whether each token is the most likely one there.
    """
    device = logprobs.device
    row, position = (torch.as_tensor(x, dtype=torch.long, device=device) for x in (rows, positions))
    token = torch.as_tensor(tokens, dtype=torch.long, device=device)
    return logprobs[row, position, token], logprobs.argmax(-1)[row, position] == token


# ---------------------------------------------------------------- strings to token ids


def _encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens (a Hugging Face or an ``llmbook`` tokenizer)."""
    try:
        from transformers import PreTrainedTokenizerBase
    except ImportError:  # pragma: no cover - transformers is a dependency
        PreTrainedTokenizerBase = ()  # type: ignore[assignment]
    if isinstance(tokenizer, PreTrainedTokenizerBase):
        return list(tokenizer.encode(text, add_special_tokens=False))
    encode = getattr(tokenizer, "encode_ordinary", tokenizer.encode)  # never a special token from text
    return list(encode(text))


def _prefix_token_id(tokenizer: Any) -> int:
    for name in ("bos_token_id", "eos_token_id"):
        token_id = getattr(tokenizer, name, None)
        if token_id is not None:
            return int(token_id)
    raise ValueError(
        "an empty context needs a token to condition on, but the tokenizer has neither bos_token_id "
        "nor eos_token_id: give every item a context"
    )


def encode_pair(tokenizer: Any, context: str, continuation: str,
                cache: dict[str, list[int]] | None = None) -> tuple[list[int], list[int]]:
    """``(context_ids, continuation_ids)`` as lm-evaluation-harness cuts them.

    Trailing spaces of the context move to the continuation; the pair is encoded as one string and the
    continuation is whatever follows the context's own tokens, so the tokens are those the model would
    see in running text. ``cache`` keeps the encodings of contexts already seen.
    """
    if context == "":
        return [_prefix_token_id(tokenizer)], _encode(tokenizer, continuation)
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    cache = {} if cache is None else cache
    if context not in cache:
        cache[context] = _encode(tokenizer, context)
    context_ids = cache[context]
    whole = _encode(tokenizer, context + continuation)
    return context_ids, whole[len(context_ids):]


def _model_max_length(model: Any) -> int | None:
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions", "block_size", "max_seq_len"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _encode_requests(tokenizer: Any, requests: Sequence[tuple[str, str]], max_length: int | None
                     ) -> tuple[list[list[int]], dict[tuple[int, ...], list[int]]]:
    """``(targets, readers)``: the continuation ids of each request, and for each distinct model input
    the requests that read its logits (the four answers " A".." D" of an MMLU question share one)."""
    cache: dict[str, list[int]] = {}
    targets: list[list[int]] = []
    readers: dict[tuple[int, ...], list[int]] = {}
    for r, (context, continuation) in enumerate(requests):
        context_ids, continuation_ids = encode_pair(tokenizer, context, continuation, cache)
        if not continuation_ids:
            raise ValueError(f"request {r}: the continuation {continuation!r} encodes to no tokens; "
                             "use a non-empty continuation")
        whole = context_ids + continuation_ids
        if max_length is not None:
            if len(continuation_ids) > max_length:
                raise ValueError(f"request {r}: the continuation has {len(continuation_ids)} tokens, "
                                 f"more than the model's context of {max_length}")
            whole = whole[-(max_length + 1):]  # the oldest context tokens go, as in the harness
        targets.append(continuation_ids)
        readers.setdefault(tuple(whole[:-1]), []).append(r)  # the last token is predicted, never fed
    return targets, readers


# ---------------------------------------------------------------- batches and a shared prefix


def _common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def _prefix_groups(need_from: Mapping[tuple[int, ...], int], min_prefix: int
                   ) -> tuple[list[Batch], list[tuple[int, ...]]]:
    """``(groups, singles)``: inputs sharing at least ``min_prefix`` leading tokens, with the length of
    the prefix they share, and the inputs that share none."""
    groups: list[Batch] = []
    singles: list[tuple[int, ...]] = []
    lexicographic = sorted(need_from)  # inputs with a common prefix become neighbours
    i = 0
    while i < len(lexicographic):
        first, j = lexicographic[i], i + 1
        while j < len(lexicographic) and _common_prefix_length(first, lexicographic[j]) >= min_prefix:
            j += 1
        members = lexicographic[i:j]
        # The shared prefix never covers a position whose logits are needed.
        prefix = min([_common_prefix_length(first, members[-1])] + [need_from[m] for m in members])
        if len(members) > 1 and prefix >= min_prefix:
            groups.append((prefix, members))
        else:
            singles.extend(members)
        i = j
    return groups, singles


def plan_batches(need_from: Mapping[tuple[int, ...], int], batch_size: int,
                 min_prefix: int | None) -> list[Batch]:
    """Split the model inputs into batches ``(prefix_length, inputs)``.

    ``need_from[seq]`` is the first position of ``seq`` whose logits are needed. With ``min_prefix`` set,
    inputs that share at least ``min_prefix`` leading tokens (a few-shot prompt's examples) form a group
    whose common prefix runs through the model once; its keys and values are reused for every member.
    The rest are sorted longest first, so that sequences of similar length share a batch (little
    padding) and the largest batch runs first (an out-of-memory error shows up at once).
    """
    groups, singles = _prefix_groups(need_from, min_prefix) if min_prefix is not None else ([], list(need_from))
    batches = []
    for prefix, members in groups:
        members = sorted(members, key=lambda ids: (-len(ids), ids))
        batches += [(prefix, members[k : k + batch_size]) for k in range(0, len(members), batch_size)]
    singles.sort(key=lambda ids: (-len(ids), ids))
    batches += [(0, singles[k : k + batch_size]) for k in range(0, len(singles), batch_size)]
    return batches


def _cache_kwarg(accepted: set[str]) -> str | None:
    """The name under which ``model.forward`` takes a KV cache (transformers renamed it), or ``None``."""
    if "use_cache" not in accepted:
        return None
    for name in ("cache", "past_key_values"):
        if name in accepted:
            return name
    return None


def _prefix_cache(model: Any, prefix: Sequence[int], device: torch.device) -> Any:
    """Run ``prefix`` through ``model`` once and return its keys and values (a transformers cache)."""
    ids = torch.tensor([list(prefix)], dtype=torch.long, device=device)
    keep = {"logits_to_keep": 1} if "logits_to_keep" in forward_kwargs(model) else {}
    out = model(ids, use_cache=True, **keep)
    cache = getattr(out, "cache", None)
    return out.past_key_values if cache is None else cache  # transformers < 5.20 calls it past_key_values


def _right_pad(sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """``(batch, longest)`` ids, zeros after each sequence. A causal model never lets a position see
    later ones, so the padding cannot change a sequence's logits and needs no attention mask."""
    ids = torch.zeros((len(sequences), max(len(s) for s in sequences)), dtype=torch.long)
    for b, seq in enumerate(sequences):
        ids[b, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return ids


# ---------------------------------------------------------------- log-likelihood of continuations


def _read_batch(logprobs: torch.Tensor, batch: Sequence[tuple[int, ...]], offset: int,
                readers: Mapping[tuple[int, ...], list[int]], targets: Sequence[list[int]],
                loglik: np.ndarray, is_greedy: np.ndarray) -> None:
    """Write the log-likelihood of every request that reads this batch into ``loglik[r]``, ``is_greedy[r]``.

    ``logprobs[b, p]`` is position ``offset + p`` of ``batch[b]`` (``offset``: the shared prefix and the
    positions no request reads). A continuation of ``n`` tokens is read from the input's last ``n``
    positions.
    """
    rows, positions, tokens, owners = [], [], [], []
    for b, seq in enumerate(batch):
        end = len(seq) - offset  # one past the last position of seq, in logprobs' coordinates
        for r in readers[seq]:
            n = len(targets[r])
            rows += [b] * n
            positions += range(end - n, end)
            tokens += targets[r]
            owners.append((r, n))
    token_lp, token_greedy = token_logprobs(logprobs, rows, positions, tokens)
    token_lp, token_greedy = token_lp.cpu().numpy(), token_greedy.cpu().numpy()
    start = 0
    for r, n in owners:
        loglik[r] = float(token_lp[start : start + n].sum(dtype=np.float64))
        is_greedy[r] = bool(token_greedy[start : start + n].all())
        start += n


def loglikelihoods(
    model: torch.nn.Module,
    tokenizer: Any,
    requests: Sequence[tuple[str, str]],
    batch_size: int = 16,
    device: str | torch.device | None = None,
    max_length: int | None = None,
    progress: bool = True,
    share_prefix: bool = True,
    min_prefix: int = 128,
    desc: str = "log-likelihood",
) -> tuple[np.ndarray, np.ndarray, int]:
    """Summed log-probability of each continuation given its context, like the harness's ``loglikelihood``.

    Args:
        model: a causal LM; ``model(ids)`` with ``ids`` of shape ``(batch, seq)`` returns logits
            ``(batch, seq, vocab)`` (a tensor, a tuple whose first entry they are, or an object with ``.logits``).
        tokenizer: a Hugging Face tokenizer (encoded without special tokens) or an ``llmbook`` tokenizer.
        requests: ``(context, continuation)`` string pairs.
        batch_size: sequences per forward pass (right-padded, see :func:`_right_pad`).
        device: where to run; ``None`` keeps the model where it is, otherwise the model is moved there.
        max_length: the model's context size (default: read from ``model.config``); longer inputs lose
            their oldest context tokens, as in the harness.
        progress: show a tqdm progress bar over batches.
        share_prefix: compute a prefix shared by at least ``min_prefix`` tokens of several inputs (the
            examples of a few-shot prompt) once and reuse its keys and values (Hugging Face models
            with a KV cache only). Same numbers up to float rounding, several times faster for 5-shot MMLU.
        desc: the progress bar's label.

    Returns:
        ``(loglik, is_greedy, n_tokens)``: ``loglik[i]`` the log-likelihood (nats) of request ``i``,
        ``is_greedy[i]`` whether greedy decoding would produce exactly that continuation, and the number
        of token positions run through the model. Requests whose model input is identical (e.g. the
        four single-token answers " A" ... " D" of an MMLU question) share one forward pass.
    """
    from tqdm import tqdm  # a text bar: works in terminals and notebooks alike, no widgets needed

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if len(requests) == 0:
        raise ValueError("no requests: pass at least one (context, continuation) pair")
    if device is not None:
        model.to(device)
    run_device = model_device(model)
    targets, readers = _encode_requests(tokenizer, requests, max_length or _model_max_length(model))
    # A continuation of n tokens is read from the last n positions of its input: need_from is the first.
    need_from = {seq: len(seq) - max(len(targets[r]) for r in rs) for seq, rs in readers.items()}
    cache_name = _cache_kwarg(forward_kwargs(model)) if share_prefix else None
    batches = plan_batches(need_from, batch_size, min_prefix if cache_name else None)

    loglik, is_greedy = np.zeros(len(requests)), np.zeros(len(requests), dtype=bool)
    n_tokens, prefix_key, prefix_cache = 0, None, None
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for prefix, batch in tqdm(batches, desc=desc, disable=not progress, leave=False):
                kwargs: dict[str, Any] = {}
                if prefix:
                    if batch[0][:prefix] != prefix_key:  # a new group: run its prefix once
                        prefix_key = batch[0][:prefix]
                        prefix_cache = _prefix_cache(model, prefix_key, run_device)
                        n_tokens += prefix
                    cache = copy.deepcopy(prefix_cache)  # each batch extends its own copy
                    cache.batch_repeat_interleave(len(batch))
                    kwargs = {cache_name: cache, "use_cache": True}
                ids = _right_pad([seq[prefix:] for seq in batch]).to(run_device)
                n_tokens += sum(len(seq) - prefix for seq in batch)
                first = min(need_from[seq] for seq in batch) - prefix  # only these positions are read
                logprobs = next_token_logprobs(model, ids, first, **kwargs)
                _read_batch(logprobs, batch, prefix + first, readers, targets, loglik, is_greedy)
    finally:
        model.train(was_training)
    return loglik, is_greedy, n_tokens
