r"""Extractive question answering: a span head on an encoder (BERT, MiniLM), as in SQuAD.

The question and the paragraph go through the encoder as one pair,
``[CLS] question [SEP] paragraph [SEP]``; a linear layer maps every hidden state
:math:`h_i` to two numbers, the *start* and *end* logits :math:`s_i, e_i`. The answer is the span
of paragraph tokens :math:`i \le j` that maximises :math:`s_i + e_j`, the log of
:math:`p_{\text{start}}(i)\,p_{\text{end}}(j)` up to a constant (Devlin et al. 2019, section 4.2).

* :class:`ExtractiveQA` — encoder + ``Linear(hidden, 2)``: ``(start_logits, end_logits)``;
* :func:`span_loss` — the mean of the start and end cross-entropies (Hugging Face's
  ``BertForQuestionAnswering``);
* :func:`best_span` — the best legal span: inside the paragraph, start <= end, at most
  ``max_answer_length`` tokens;
* :func:`encode_squad` — tokenise (question, paragraph) pairs, with the answer's character span
  turned into token positions and the offsets that map tokens back to the text;
* :func:`predict_answers` — questions and paragraphs in, answer strings (slices of the paragraph,
  widened to whole words by :func:`whole_words`) out.

One window per question: a paragraph longer than ``max_length`` tokens is cut, and a training
answer that falls outside the window is reported (``in_window`` False) for the caller to drop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ExtractiveQA", "span_loss", "best_span", "SquadBatch", "encode_squad",
           "whole_words", "predict_answers"]


class ExtractiveQA(nn.Module):
    """A span head on an encoder: ``forward(input_ids, attention_mask, token_type_ids)`` returns
    ``(start_logits, end_logits)``, each ``(batch, seq)``.

    Args:
        encoder: a Hugging Face encoder (``encoder(**inputs).last_hidden_state``, e.g. MiniLM from
            :func:`llmbook.pretrained.load_minilm`) or the book's :class:`llmbook.models.BERT`
            (which returns the hidden states ``(batch, seq, n_embd)`` itself).
        hidden_size: the width of the hidden states; read from the encoder's config if ``None``.

    ``head`` is ``nn.Linear(hidden_size, 2)`` initialised as BERT's layers (normal, std 0.02,
    zero bias). :meth:`span_logits` applies it to hidden states computed elsewhere, e.g. cached
    once from a frozen encoder.
    """

    def __init__(self, encoder: nn.Module, hidden_size: int | None = None) -> None:
        super().__init__()
        if hidden_size is None:
            config = getattr(encoder, "config", None)
            hidden_size = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
            if hidden_size is None:
                raise ValueError("cannot read the encoder's hidden size from encoder.config: pass "
                                 "hidden_size=... (the last dimension of its hidden states)")
        self.encoder = encoder
        self.head = nn.Linear(hidden_size, 2)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                      token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's last hidden states ``(batch, seq, hidden)``."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask,
                  "token_type_ids": token_type_ids}
        output = self.encoder(**{k: v for k, v in inputs.items() if v is not None})
        return getattr(output, "last_hidden_state", output)  # HF output or the book's tensor

    def span_logits(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(start_logits, end_logits)``, each ``(batch, seq)``, of hidden states
        ``(batch, seq, hidden)``."""
        logits = self.head(hidden)  # (batch, seq, 2)
        start, end = logits.unbind(dim=-1)
        return start, end

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.span_logits(self.hidden_states(input_ids, attention_mask, token_type_ids))


def span_loss(start_logits: torch.Tensor, end_logits: torch.Tensor,
              start_positions: torch.Tensor, end_positions: torch.Tensor) -> torch.Tensor:
    r"""The span loss: :math:`\tfrac12 \left(-\log p_{\text{start}}(a) - \log p_{\text{end}}(b)
    \right)`, averaged over the batch, with :math:`p = \mathrm{softmax}` over the positions of
    each row and :math:`(a, b)` the gold start and end token positions.

    Logits ``(batch, seq)``; positions ``(batch,)`` integers in ``[0, seq)``. Equal to Hugging
    Face's ``BertForQuestionAnswering`` loss for positions inside the sequence (it also accepts
    positions outside, and ignores them; here they are an error).
    """
    if start_logits.shape != end_logits.shape or start_logits.dim() != 2:
        raise ValueError(f"start_logits and end_logits must both be (batch, seq), got "
                         f"{tuple(start_logits.shape)} and {tuple(end_logits.shape)}")
    batch, seq = start_logits.shape
    for name, positions in (("start_positions", start_positions), ("end_positions", end_positions)):
        if positions.shape != (batch,):
            raise ValueError(f"{name} must be ({batch},), one position per row, got "
                             f"{tuple(positions.shape)}")
        if positions.dtype.is_floating_point or bool(((positions < 0) | (positions >= seq)).any()):
            raise ValueError(f"{name} must be integer token positions in [0, {seq}); drop the "
                             f"examples whose answer is outside the window (encode_squad's "
                             f"in_window)")
    return (F.cross_entropy(start_logits, start_positions)
            + F.cross_entropy(end_logits, end_positions)) / 2


def best_span(start_logits: torch.Tensor, end_logits: torch.Tensor, allowed: torch.Tensor,
              max_answer_length: int = 30) -> tuple[int, int, float]:
    """The span ``(start, end, score)`` with the highest ``start_logits[start] +
    end_logits[end]`` among the legal ones: ``allowed[start]`` and ``allowed[end]`` (paragraph
    tokens), ``start <= end < start + max_answer_length``. Ties: the earliest start, then the
    earliest end.

    Args:
        start_logits, end_logits: ``(seq,)`` one example's logits.
        allowed: ``(seq,)`` bool, True where a span may start or end (the paragraph's tokens).
        max_answer_length: the longest answer, in tokens (SQuAD's usual 30).
    """
    if start_logits.dim() != 1 or start_logits.shape != end_logits.shape \
            or allowed.shape != start_logits.shape:
        raise ValueError(f"best_span takes one example: start_logits, end_logits and allowed must "
                         f"all be (seq,), got {tuple(start_logits.shape)}, "
                         f"{tuple(end_logits.shape)} and {tuple(allowed.shape)}")
    if isinstance(max_answer_length, bool) or not isinstance(max_answer_length, int) \
            or max_answer_length < 1:
        raise ValueError(f"max_answer_length must be a positive int, got {max_answer_length!r}")
    allowed = allowed.bool()
    if not bool(allowed.any()):
        raise ValueError("no position is allowed (an empty paragraph?): best_span needs at least "
                         "one paragraph token")
    seq = start_logits.numel()
    scores = start_logits.double()[:, None] + end_logits.double()[None, :]  # (start, end)
    offset = torch.arange(seq)[None, :] - torch.arange(seq)[:, None]  # end - start
    legal = (offset >= 0) & (offset < max_answer_length) & allowed[:, None] & allowed[None, :]
    scores = scores.masked_fill(~legal, float("-inf"))
    flat = int(torch.argmax(scores.flatten()))  # the first maximum in row-major order
    start, end = divmod(flat, seq)
    return start, end, float(scores[start, end])


@dataclass
class SquadBatch:
    """Tokenised (question, paragraph) pairs, from :func:`encode_squad`.

    ``input_ids``, ``attention_mask``, ``token_type_ids``: ``(n, seq)`` model inputs;
    ``context_mask`` ``(n, seq)`` bool: the paragraph's tokens; ``offsets`` ``(n, seq, 2)``: each
    token's character span ``[begin, end)`` in its paragraph (0, 0 outside it);
    ``start_positions``, ``end_positions`` ``(n,)``: the answer's first and last token (0 where
    there is no answer or it is outside the window); ``in_window`` ``(n,)`` bool: the answer lies
    inside the window (False without answers).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    context_mask: torch.Tensor
    offsets: torch.Tensor
    start_positions: torch.Tensor
    end_positions: torch.Tensor
    in_window: torch.Tensor

    def inputs(self, rows: Any = slice(None)) -> dict[str, torch.Tensor]:
        """The model inputs of ``rows`` (a slice or index tensor), as keyword arguments."""
        return {"input_ids": self.input_ids[rows], "attention_mask": self.attention_mask[rows],
                "token_type_ids": self.token_type_ids[rows]}


def encode_squad(tokenizer: Any, questions: Sequence[str], contexts: Sequence[str],
                 answer_starts: Sequence[int] | None = None,
                 answers: Sequence[str] | None = None, max_length: int = 384) -> SquadBatch:
    """Tokenise ``(question, paragraph)`` pairs for :class:`ExtractiveQA`; with ``answer_starts``
    (character offsets into the paragraph) and ``answers`` (the answer texts), also the answer's
    token positions.

    A fast Hugging Face tokenizer (offsets) is needed. Only the paragraph is cut when a pair is
    longer than ``max_length`` tokens. The answer's first token is the one whose character span
    contains ``answer_start``; its last the one containing its last character.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("encode_squad needs a fast Hugging Face tokenizer (it maps tokens back to "
                        "characters with return_offsets_mapping): use AutoTokenizer(use_fast=True)")
    questions, contexts = list(questions), list(contexts)
    if len(questions) != len(contexts) or not questions:
        raise ValueError(f"give one paragraph per question (at least one): got {len(questions)} "
                         f"questions and {len(contexts)} paragraphs")
    if (answer_starts is None) != (answers is None):
        raise ValueError("give both answer_starts and answers (training), or neither (prediction)")
    if answers is not None and not (len(answers) == len(answer_starts) == len(questions)):
        raise ValueError(f"give one answer and one answer start per question, got "
                         f"{len(answers)} answers and {len(answer_starts)} starts for "
                         f"{len(questions)} questions")
    encoded = tokenizer(questions, contexts, truncation="only_second", max_length=max_length,
                        padding=True, return_offsets_mapping=True, return_tensors="pt")
    n, seq = encoded["input_ids"].shape
    context_mask = torch.zeros(n, seq, dtype=torch.bool)
    for row in range(n):
        sequence_ids = encoded.sequence_ids(row)
        context_mask[row] = torch.tensor([s == 1 for s in sequence_ids])
    offsets = encoded["offset_mapping"].masked_fill(~context_mask[..., None], 0)
    starts, ends = torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long)
    in_window = torch.zeros(n, dtype=torch.bool)
    if answers is not None:
        for row, (char_start, text) in enumerate(zip(answer_starts, answers)):
            if contexts[row][char_start:char_start + len(text)] != text:
                raise ValueError(f"answer {row} ({text!r}) is not at character {char_start} of its "
                                 f"paragraph: check answer_starts")
            char_end = char_start + len(text)  # exclusive
            tokens = context_mask[row].nonzero().flatten().tolist()
            first = [t for t in tokens if offsets[row, t, 1] > char_start]
            last = [t for t in tokens if offsets[row, t, 0] < char_end]
            if first and last and offsets[row, tokens[-1], 1] >= char_end:
                starts[row], ends[row], in_window[row] = first[0], last[-1], True
    token_type_ids = encoded.get("token_type_ids", torch.zeros_like(encoded["input_ids"]))
    return SquadBatch(encoded["input_ids"], encoded["attention_mask"], token_type_ids,
                      context_mask, offsets, starts, ends, in_window)


def whole_words(text: str, begin: int, end: int) -> tuple[int, int]:
    """The character span ``[begin, end)`` of ``text`` widened to whole words: a span that starts
    or ends inside a word (a word piece, ``"comput"`` of ``"computational"``) takes the rest of
    the word, as the original BERT's SQuAD code projects answers back onto whitespace words.

    >>> whole_words("computational complexity", 0, 6)
    (0, 13)
    """
    while 0 < begin < len(text) and text[begin - 1].isalnum() and text[begin].isalnum():
        begin -= 1
    while 0 < end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
        end += 1
    return begin, end


def predict_answers(model: ExtractiveQA, tokenizer: Any, questions: Sequence[str],
                    contexts: Sequence[str], *, max_length: int = 384,
                    max_answer_length: int = 30, batch_size: int = 32,
                    snap_to_words: bool = True) -> list[str]:
    """The answer to each question: the best legal span (:func:`best_span`) of its paragraph,
    cut from the paragraph's text by the tokens' character offsets (widened to whole words by
    :func:`whole_words` if ``snap_to_words``)."""
    encoded = encode_squad(tokenizer, questions, contexts, max_length=max_length)
    was_training = model.training
    model.eval()
    answers = []
    device = next(model.parameters()).device
    with torch.inference_mode():
        for begin in range(0, len(questions), batch_size):
            rows = slice(begin, begin + batch_size)
            inputs = {k: v.to(device) for k, v in encoded.inputs(rows).items()}
            start_logits, end_logits = (x.float().cpu() for x in model(**inputs))
            for i, row in enumerate(range(begin, min(begin + batch_size, len(questions)))):
                start, end, _ = best_span(start_logits[i], end_logits[i], encoded.context_mask[row],
                                          max_answer_length)
                begin, stop = int(encoded.offsets[row, start, 0]), int(encoded.offsets[row, end, 1])
                if snap_to_words:
                    begin, stop = whole_words(contexts[row], begin, stop)
                answers.append(contexts[row][begin:stop])
    model.train(was_training)
    return answers
