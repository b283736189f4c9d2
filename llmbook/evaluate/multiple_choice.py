"""Multiple-choice evaluation by log-likelihood, as lm-evaluation-harness defines it.

A multiple-choice item is a context and a few candidate continuations, one of them right::

    {"context": "Question: How do I keep my bread fresh?\\nAnswer:",
     "choices": ["Keep it in a bread box.", "Keep it in the sun."],
     "label": 0}

The model is not asked to *generate* an answer. Each choice :math:`c_j` is scored by the summed
log-probability of its tokens given the context :math:`x` (continuation = ``target_delimiter + c_j``,
a space by default):

.. math:: \\ell_j = \\log p(c_j \\mid x) = \\sum_{t=1}^{|c_j|} \\log p(c_{j,t} \\mid x, c_{j,<t}),

and the prediction is :math:`\\arg\\max_j \\ell_j` (``acc``). Longer choices collect more negative
log-probabilities, so ``acc_norm`` divides by the choice's length in characters first,
:math:`\\arg\\max_j \\ell_j / \\mathrm{len}(c_j)` (``acc_bytes``: by its length in UTF-8 bytes), exactly
as lm-evaluation-harness's ``process_results`` (Gao et al., 2021): the length is that of the choice
string, without the delimiter.

Optional item keys: ``"description"`` (a header put before the few-shot examples, e.g. MMLU's "The
following are multiple choice questions (with answers) about ...") and ``"subject"`` (selects the
few-shot pool when ``fewshot_items`` is a dict).

Few-shot prompts follow the harness too: ``description + Σ (shot.context + delimiter + shot.answer +
"\\n\\n") + item.context``, with shots drawn by ``random.Random(seed).sample`` from a separate pool
(``sampler="random"``, the harness's default sampler) or taken in order (``sampler="first_n"``, what the
harness uses for MMLU).
"""
from __future__ import annotations

import copy
import inspect
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..metrics import BootstrapCI, bootstrap_ci

__all__ = [
    "MultipleChoiceResult",
    "multiple_choice",
    "loglikelihoods",
    "fewshot_contexts",
    "piqa_items",
    "mmlu_items",
    "mmlu_description",
    "predict",
]

FEWSHOT_DELIMITER = "\n\n"  # between few-shot examples, as in lm-evaluation-harness
SAMPLERS = ("random", "first_n")


# ---------------------------------------------------------------- benchmark prompt formats


def piqa_items(data: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """PIQA items in lm-evaluation-harness's ``piqa`` format (Bisk et al., 2020).

    ``data`` is ``llmbook.data.load("piqa", "val")`` (``{goal, sol1, sol2, label}``). The context is
    ``"Question: {goal}\\nAnswer:"`` and the choices are the two solutions (scored as ``" " + sol``).
    """
    items = []
    for i, row in enumerate(data):
        missing = {"goal", "sol1", "sol2", "label"} - set(row)
        if missing:
            raise ValueError(f"PIQA row {i} lacks {sorted(missing)}: pass llmbook.data.load('piqa', 'val')")
        items.append({"context": f"Question: {row['goal']}\nAnswer:", "choices": [row["sol1"], row["sol2"]], "label": int(row["label"])})
    return items


def mmlu_description(subject: str) -> str:
    """MMLU's header for ``subject`` (underscores read as spaces), as in lm-evaluation-harness."""
    return f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"


def mmlu_items(data: Sequence[Mapping[str, Any]], subject: str | None = None, style: str = "mc") -> list[dict[str, Any]]:
    """MMLU items (Hendrycks et al., 2021) in one of two prompt formats.

    ``data`` is ``llmbook.data.load("mmlu", split)`` (``{subject, question, choices, answer}``);
    ``subject`` keeps only that subject (``None`` keeps all).

    * ``style="mc"``: lm-evaluation-harness's ``mmlu`` task. The subject's header is the item's
      ``"description"`` and the context reads ``"{question}\nA. {choice 0}\nB. ...\nD. {choice 3}\nAnswer:"``;
      the choices are the letters ``"A"``..``"D"`` (scored as ``" A"``, ...).
    * ``style="cloze"``: the "MMLU (cloze)" format of the SmolLM evaluations (lighteval): the context is
      ``"The following are questions about {subject}.\nQuestion: {question}\nAnswer:"`` and the choices
      are the answer texts themselves, so a model needs no letter-matching skill; read ``acc_norm``.

    Every item carries its ``"subject"``, so a dict of per-subject dev items serves as the few-shot pool.
    """
    if style not in ("mc", "cloze"):
        raise ValueError(f"unknown MMLU prompt style {style!r}: use 'mc' (letters, lm-evaluation-harness) or 'cloze' (answer texts)")
    items = []
    for row in data:
        if subject is not None and row["subject"] != subject:
            continue
        if style == "mc":
            letters = "ABCD"[: len(row["choices"])]
            lines = [row["question"].strip()] + [f"{letter}. {text}" for letter, text in zip(letters, row["choices"])]
            item = {"context": "\n".join(lines) + "\nAnswer:", "choices": list(letters), "description": mmlu_description(row["subject"])}
        else:
            topic = row["subject"].replace("_", " ")
            item = {"context": f"The following are questions about {topic}.\nQuestion: {row['question']}\nAnswer:", "choices": list(row["choices"])}
        items.append(item | {"label": int(row["answer"]), "subject": row["subject"]})
    if not items:
        known = sorted({row["subject"] for row in data})
        raise ValueError(f"no MMLU items for subject {subject!r}: choose one of {known[:8]}... ({len(known)} subjects)")
    return items


def predict(loglikelihoods: Sequence[float], choices: Sequence[str], normalize: str | None = None) -> int:
    """The chosen answer: ``argmax_j ll_j / len_j`` (ties go to the first choice, like ``np.argmax``).

    ``normalize=None`` divides by 1 (``acc``), ``"chars"`` by the choice's length in characters
    (``acc_norm``), ``"bytes"`` by its length in UTF-8 bytes (``acc_bytes``).
    """
    ll = np.asarray(loglikelihoods, dtype=float)
    if ll.shape != (len(choices),):
        raise ValueError(f"got {ll.size} log-likelihoods for {len(choices)} choices: pass one per choice")
    if normalize is None:
        return int(np.argmax(ll))
    if normalize == "chars":
        return int(np.argmax(ll / np.array([len(c) for c in choices], dtype=float)))
    if normalize == "bytes":
        return int(np.argmax(ll / np.array([len(c.encode("utf-8")) for c in choices], dtype=float)))
    raise ValueError(f"unknown normalize={normalize!r}: use None, 'chars' or 'bytes'")


# ---------------------------------------------------------------- checks


def _check_items(items: Any, name: str) -> None:
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise TypeError(f"{name} must be a list of dicts {{'context', 'choices', 'label'}}, got {type(items).__name__}")
    if len(items) == 0:
        raise ValueError(f"{name} is empty: pass at least one item {{'context': str, 'choices': [str, ...], 'label': int}}")
    for i, item in enumerate(items):
        where = f"{name}[{i}]"
        if not isinstance(item, Mapping):
            raise TypeError(f"{where} must be a dict with 'context', 'choices' and 'label', got {type(item).__name__}")
        missing = {"context", "choices", "label"} - set(item)
        if missing:
            raise ValueError(f"{where} lacks the key(s) {sorted(missing)}: each item needs 'context', 'choices' and 'label'")
        if not isinstance(item["context"], str):
            raise TypeError(f"{where}['context'] must be a str, got {type(item['context']).__name__}")
        choices = item["choices"]
        if isinstance(choices, str) or not isinstance(choices, Sequence) or len(choices) < 2:
            raise ValueError(f"{where} has no choices to pick from ({choices!r}): 'choices' must be a list of at least two strings")
        for j, choice in enumerate(choices):
            if not isinstance(choice, str) or not choice:
                raise ValueError(f"{where}['choices'][{j}] = {choice!r}: every choice must be a non-empty string")
        label = item["label"]
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < len(choices):
            raise ValueError(f"{where}['label'] = {label!r} is out of range: it must be an int index into its {len(choices)} choices (0..{len(choices) - 1})")
        if "description" in item and not isinstance(item["description"], str):
            raise TypeError(f"{where}['description'] must be a str")


# ---------------------------------------------------------------- few-shot prompts


def _render_shot(shot: Mapping[str, Any], target_delimiter: str) -> str:
    return shot["context"] + target_delimiter + shot["choices"][shot["label"]] + FEWSHOT_DELIMITER


def fewshot_contexts(
    items: Sequence[Mapping[str, Any]],
    fewshot_items: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    num_fewshot: int = 0,
    seed: int = 1234,
    sampler: str = "random",
    target_delimiter: str = " ",
) -> list[str]:
    """The full prompt (context) of every item: description, ``num_fewshot`` solved examples, the item.

    Shots come from ``fewshot_items`` (a list, or a dict ``{subject: list}`` read with each item's
    ``"subject"``). ``sampler="random"`` draws them with one ``random.Random(seed)`` per pool, item after
    item in order (lm-evaluation-harness's default sampler, whose default seed is 1234), so the prompts
    are a deterministic function of ``(items, pool, num_fewshot, seed)``; ``"first_n"`` takes the first
    ``num_fewshot`` of the pool. An item that also sits in the pool is never its own example.
    """
    if isinstance(num_fewshot, bool) or not isinstance(num_fewshot, int) or num_fewshot < 0:
        raise ValueError(f"num_fewshot must be a non-negative int, got {num_fewshot!r}")
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown few-shot sampler {sampler!r}: use one of {SAMPLERS}")
    if num_fewshot == 0:
        return [item.get("description", "") + item["context"] for item in items]
    if fewshot_items is None:
        raise ValueError(f"num_fewshot={num_fewshot} needs a pool of solved examples: pass fewshot_items (e.g. MMLU's dev split)")
    pools: Mapping[str | None, Sequence[Mapping[str, Any]]]
    pools = fewshot_items if isinstance(fewshot_items, Mapping) else {None: fewshot_items}
    for key, pool in pools.items():
        _check_items(pool, "fewshot_items" if key is None else f"fewshot_items[{key!r}]")
        if num_fewshot > len(pool):
            raise ValueError(
                f"num_fewshot={num_fewshot} is larger than the few-shot pool"
                f"{'' if key is None else f' of {key!r}'} ({len(pool)} items): lower num_fewshot or pass a larger pool"
            )
    rngs: dict[str | None, random.Random] = {}
    contexts = []
    for i, item in enumerate(items):
        key = item.get("subject") if isinstance(fewshot_items, Mapping) else None
        if key not in pools:
            raise ValueError(f"items[{i}] has subject {key!r} but fewshot_items has no pool for it (pools: {sorted(map(str, pools))[:8]})")
        pool = pools[key]
        in_pool = any(item == other for other in pool)
        n_draw = num_fewshot + 1 if in_pool else num_fewshot  # draw one spare, as the harness does
        if n_draw > len(pool):
            raise ValueError(f"items[{i}] is itself in the few-shot pool, which leaves fewer than num_fewshot={num_fewshot} other examples")
        if sampler == "random":
            rng = rngs.setdefault(key, random.Random(seed))
            drawn = rng.sample(list(pool), n_draw)
        else:
            drawn = list(pool[:n_draw])
        shots = [shot for shot in drawn if shot != item][:num_fewshot]
        contexts.append(item.get("description", "") + "".join(_render_shot(s, target_delimiter) for s in shots) + item["context"])
    return contexts


# ---------------------------------------------------------------- log-likelihood of continuations


def _tok_encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens (a Hugging Face or an ``llmbook`` tokenizer)."""
    try:
        from transformers import PreTrainedTokenizerBase
    except ImportError:  # pragma: no cover - transformers is a dependency
        PreTrainedTokenizerBase = ()  # type: ignore[assignment]
    if isinstance(tokenizer, PreTrainedTokenizerBase):
        return list(tokenizer.encode(text, add_special_tokens=False))
    return list(tokenizer.encode(text))


def _prefix_token_id(tokenizer: Any) -> int:
    for name in ("bos_token_id", "eos_token_id"):
        token_id = getattr(tokenizer, name, None)
        if token_id is not None:
            return int(token_id)
    raise ValueError("an empty context needs a token to condition on, but the tokenizer has neither bos_token_id nor eos_token_id: give every item a context")


def _encode_pair(tokenizer: Any, context: str, continuation: str, encode_cache: dict[str, list[int]]) -> tuple[list[int], list[int]]:
    """``(context_ids, continuation_ids)`` as lm-evaluation-harness cuts them.

    Trailing spaces of the context move to the continuation; the pair is encoded as one string and the
    continuation is whatever follows the context's own tokens, so the tokens are those the model would
    see in running text.
    """
    if context == "":
        return [_prefix_token_id(tokenizer)], _tok_encode(tokenizer, continuation)
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    if context not in encode_cache:
        encode_cache[context] = _tok_encode(tokenizer, context)
    context_ids = encode_cache[context]
    whole = _tok_encode(tokenizer, context + continuation)
    return context_ids, whole[len(context_ids):]


def _model_max_length(model: Any) -> int | None:
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions", "block_size", "max_seq_len"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _forward_kwargs(model: Any) -> set[str]:
    try:
        return set(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError, AttributeError):  # pragma: no cover - any nn.Module has forward
        return set()


def _output_logits(out: Any) -> torch.Tensor:
    return out.logits if hasattr(out, "logits") else out[0] if isinstance(out, (tuple, list)) else out


def _cache_kwarg(accepted: set[str]) -> str | None:
    """The name under which ``model.forward`` takes a KV cache (transformers renamed it), or ``None``."""
    if "use_cache" not in accepted:
        return None
    for name in ("cache", "past_key_values"):
        if name in accepted:
            return name
    return None


def _common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def _plan_batches(
    need_from: Mapping[tuple[int, ...], int], batch_size: int, min_prefix: int | None
) -> list[tuple[int, list[tuple[int, ...]]]]:
    """Split the model inputs into batches ``(prefix_length, inputs)``.

    ``need_from[seq]`` is the first position of ``seq`` whose logits are needed. With ``min_prefix`` set,
    inputs that share at least ``min_prefix`` leading tokens (a few-shot prompt's examples) form a group
    whose common prefix runs through the model once; its keys and values are reused for every member.
    The rest are sorted longest first, so that sequences of similar length share a batch (little
    padding) and the largest batch runs first (an out-of-memory error shows up at once).
    """
    singles: list[tuple[int, ...]] = []
    groups: list[tuple[int, list[tuple[int, ...]]]] = []
    if min_prefix is None:
        singles = list(need_from)
    else:
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
    batches = []
    for prefix, members in groups:
        members = sorted(members, key=lambda ids: (-len(ids), ids))
        batches += [(prefix, members[k : k + batch_size]) for k in range(0, len(members), batch_size)]
    singles.sort(key=lambda ids: (-len(ids), ids))
    batches += [(0, singles[k : k + batch_size]) for k in range(0, len(singles), batch_size)]
    return batches


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
        batch_size: sequences per forward pass. Sequences are right-padded: a causal model never lets a
            position see later ones, so padding after a sequence cannot change its logits and no
            attention mask is needed.
        device: where to run; ``None`` keeps the model where it is, otherwise the model is moved there.
        max_length: the model's context size (default: read from ``model.config``); longer inputs lose
            their oldest context tokens, as in the harness.
        progress: show a tqdm progress bar over batches.
        share_prefix: compute a prefix shared by at least ``min_prefix`` tokens of several inputs (the
            examples of a few-shot prompt) once and reuse its keys and values (Hugging Face models
            with a KV cache only). Same numbers up to float rounding, several times faster for 5-shot MMLU.

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
    param = next(model.parameters(), None)
    run_device = param.device if param is not None else torch.device("cpu")
    max_length = max_length or _model_max_length(model)

    encode_cache: dict[str, list[int]] = {}
    targets: list[list[int]] = []  # continuation ids of each request
    readers: dict[tuple[int, ...], list[int]] = {}  # model input -> the requests that read its logits
    for r, (context, continuation) in enumerate(requests):
        context_ids, continuation_ids = _encode_pair(tokenizer, context, continuation, encode_cache)
        if not continuation_ids:
            raise ValueError(f"request {r}: the continuation {continuation!r} encodes to no tokens; use a non-empty continuation")
        whole = context_ids + continuation_ids
        if max_length is not None:
            if len(continuation_ids) > max_length:
                raise ValueError(f"request {r}: the continuation has {len(continuation_ids)} tokens, more than the model's context of {max_length}")
            whole = whole[-(max_length + 1):]
        targets.append(continuation_ids)
        readers.setdefault(tuple(whole[:-1]), []).append(r)
    # Logits at position t predict token t + 1, so a continuation of n tokens is read from the last n
    # positions of the input: need_from is the first of them.
    need_from = {seq: len(seq) - max(len(targets[r]) for r in rs) for seq, rs in readers.items()}

    accepted = _forward_kwargs(model)
    cache_name = _cache_kwarg(accepted) if share_prefix else None
    batches = _plan_batches(need_from, batch_size, min_prefix if cache_name else None)

    loglik = np.zeros(len(requests))
    is_greedy = np.zeros(len(requests), dtype=bool)
    n_tokens = 0
    prefix_key: tuple[int, ...] | None = None
    prefix_cache: Any = None
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for prefix, batch in tqdm(batches, desc=desc, disable=not progress, leave=False):
                kwargs: dict[str, Any] = {}
                if "use_cache" in accepted:
                    kwargs["use_cache"] = False
                if prefix:
                    if batch[0][:prefix] != prefix_key:  # a new group: run its prefix once
                        prefix_key = batch[0][:prefix]
                        prefix_ids = torch.tensor([prefix_key], dtype=torch.long, device=run_device)
                        keep = {"logits_to_keep": 1} if "logits_to_keep" in accepted else {}
                        out = model(prefix_ids, use_cache=True, **keep)
                        prefix_cache = getattr(out, "cache", None)
                        if prefix_cache is None:  # transformers < 5.20 calls it past_key_values
                            prefix_cache = out.past_key_values
                        n_tokens += prefix
                    cache = copy.deepcopy(prefix_cache)
                    cache.batch_repeat_interleave(len(batch))
                    kwargs.update({cache_name: cache, "use_cache": True})
                width = len(batch[0]) - prefix
                ids = torch.zeros((len(batch), width), dtype=torch.long)
                for b, seq in enumerate(batch):
                    ids[b, : len(seq) - prefix] = torch.tensor(seq[prefix:], dtype=torch.long)
                n_tokens += sum(len(seq) - prefix for seq in batch)
                lo = min(need_from[seq] for seq in batch) - prefix  # only these positions need logits
                if "logits_to_keep" in accepted:
                    kwargs["logits_to_keep"] = torch.arange(lo, width, device=run_device)
                    logits = _output_logits(model(ids.to(run_device), **kwargs))
                else:
                    logits = _output_logits(model(ids.to(run_device), **kwargs))[:, lo:width]
                logprobs = torch.log_softmax(logits.float(), dim=-1)  # (batch, width - lo, vocab)
                # One gather for the whole batch (no per-token work on the device): row, position and
                # target token of every continuation token of every request that reads this batch.
                rows, positions, tokens, owners = [], [], [], []
                for b, seq in enumerate(batch):
                    end = len(seq) - prefix - lo  # one past the last position of seq, in window coordinates
                    for r in readers[seq]:
                        n = len(targets[r])
                        rows += [b] * n
                        positions += range(end - n, end)  # logits at t predict token t + 1
                        tokens += targets[r]
                        owners.append((r, n))
                index = [torch.tensor(x, dtype=torch.long, device=logprobs.device) for x in (rows, positions, tokens)]
                token_logprobs = logprobs[index[0], index[1], index[2]].cpu().numpy()
                token_greedy = (logprobs.argmax(-1)[index[0], index[1]] == index[2]).cpu().numpy()
                start = 0
                for r, n in owners:
                    loglik[r] = float(token_logprobs[start : start + n].sum(dtype=np.float64))
                    is_greedy[r] = bool(token_greedy[start : start + n].all())
                    start += n
    finally:
        model.train(was_training)
    return loglik, is_greedy, n_tokens


# ---------------------------------------------------------------- multiple choice


@dataclass(frozen=True)
class MultipleChoiceResult:
    """Outcome of :func:`multiple_choice`; per-item arrays are in the order of the items."""

    acc: float  # share of items whose highest-log-likelihood choice is the label
    acc_norm: float  # the same after dividing each log-likelihood by its choice's length in characters
    acc_bytes: float  # ... by its length in UTF-8 bytes
    acc_ci: BootstrapCI
    acc_norm_ci: BootstrapCI
    loglikelihoods: list[np.ndarray]  # item i: (n_choices_i,) summed log-probabilities in nats
    is_greedy: list[np.ndarray]  # item i: (n_choices_i,) greedy decoding reproduces the choice
    predictions: np.ndarray  # (n_items,) argmax of the log-likelihoods
    predictions_norm: np.ndarray  # (n_items,) argmax of the length-normalised log-likelihoods
    labels: np.ndarray  # (n_items,)
    contexts: list[str]  # the prompt of each item, few-shot examples included
    num_fewshot: int
    n_tokens: int  # tokens run through the model
    seconds: float

    @property
    def n_items(self) -> int:
        return len(self.labels)

    @property
    def correct(self) -> np.ndarray:
        """``(n_items,)`` 1.0 where ``acc`` counts the item right."""
        return (self.predictions == self.labels).astype(float)

    @property
    def correct_norm(self) -> np.ndarray:
        return (self.predictions_norm == self.labels).astype(float)

    def __str__(self) -> str:
        return (
            f"{self.n_items} items, {self.num_fewshot}-shot: acc {self.acc_ci}, acc_norm {self.acc_norm_ci}; "
            f"{self.n_tokens} tokens in {self.seconds:.1f} s"
        )


def multiple_choice(
    model: torch.nn.Module,
    tokenizer: Any,
    items: Sequence[Mapping[str, Any]],
    num_fewshot: int = 0,
    fewshot_items: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    seed: int = 1234,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: bool = True,
    sampler: str = "random",
    target_delimiter: str = " ",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    max_length: int | None = None,
    share_prefix: bool = True,
) -> MultipleChoiceResult:
    """Evaluate ``model`` on multiple-choice ``items`` by log-likelihood (lm-evaluation-harness's ``acc``, ``acc_norm``).

    Args:
        model, tokenizer: a causal LM and its tokenizer (see :func:`loglikelihoods`).
        items: ``[{"context": str, "choices": [str, ...], "label": int}, ...]`` (optional
            ``"description"``, ``"subject"``); see the module docstring and :func:`piqa_items`, :func:`mmlu_items`.
        num_fewshot: solved examples put before each item, drawn from ``fewshot_items``.
        fewshot_items: the pool of examples (never the test items: e.g. MMLU's dev split), a list or a
            dict ``{subject: list}`` read with each item's ``"subject"``.
        seed: seeds the few-shot draw and the bootstrap, so a result is reproducible.
        batch_size, device, progress, max_length, share_prefix: as in :func:`loglikelihoods`.
        sampler: ``"random"`` (seeded draw) or ``"first_n"`` (the pool's first examples, as the harness does for MMLU).
        target_delimiter: put between the context and each choice (a space, as in the harness).
        n_resamples, confidence: of the percentile bootstrap intervals (:func:`llmbook.metrics.bootstrap_ci`).

    Returns:
        a :class:`MultipleChoiceResult` with accuracies, their confidence intervals, the per-item
        log-likelihoods and predictions, and the prompts used.
    """
    _check_items(items, "items")
    t0 = time.perf_counter()
    contexts = fewshot_contexts(items, fewshot_items, num_fewshot, seed, sampler, target_delimiter)
    requests = [(context, target_delimiter + choice) for context, item in zip(contexts, items) for choice in item["choices"]]
    flat_ll, flat_greedy, n_tokens = loglikelihoods(
        model, tokenizer, requests, batch_size=batch_size, device=device, max_length=max_length, progress=progress,
        share_prefix=share_prefix, desc=f"{len(items)} items, {num_fewshot}-shot",
    )
    lls, greedy, preds, preds_norm, preds_bytes = [], [], [], [], []
    start = 0
    for item in items:
        n = len(item["choices"])
        ll = flat_ll[start : start + n]
        lls.append(ll)
        greedy.append(flat_greedy[start : start + n])
        preds.append(predict(ll, item["choices"]))
        preds_norm.append(predict(ll, item["choices"], "chars"))
        preds_bytes.append(predict(ll, item["choices"], "bytes"))
        start += n
    labels = np.array([int(item["label"]) for item in items])
    predictions, predictions_norm = np.array(preds), np.array(preds_norm)
    correct, correct_norm = (predictions == labels).astype(float), (predictions_norm == labels).astype(float)
    ci = dict(n_resamples=n_resamples, confidence=confidence, seed=seed)
    return MultipleChoiceResult(
        acc=float(correct.mean()),
        acc_norm=float(correct_norm.mean()),
        acc_bytes=float((np.array(preds_bytes) == labels).mean()),
        acc_ci=bootstrap_ci(correct, **ci),
        acc_norm_ci=bootstrap_ci(correct_norm, **ci),
        loglikelihoods=lls,
        is_greedy=greedy,
        predictions=predictions,
        predictions_norm=predictions_norm,
        labels=labels,
        contexts=contexts,
        num_fewshot=num_fewshot,
        n_tokens=n_tokens,
        seconds=time.perf_counter() - t0,
    )
