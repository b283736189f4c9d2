r"""The neural probabilistic language model of Bengio et al. (2003) {cite}`bengio2003neural`.

A fixed window of the previous ``context_size`` tokens is embedded, the embeddings are concatenated
and fed through one tanh hidden layer to a softmax over the vocabulary:

.. math:: x = [C(w_{t-c+1}); \dots; C(w_t)] \in \mathbb{R}^{c\,m}, \qquad
          y = b + W x + U \tanh(d + H x), \qquad P(w_{t+1} \mid w_{t-c+1}^{t}) = \mathrm{softmax}(y),

with :math:`C` the embedding table (:math:`m` = ``n_embd``), :math:`H, d` the hidden layer
(``n_hidden`` units) and :math:`U, b` the output layer. :math:`W x` are the paper's optional *direct
connections* from the embeddings to the output (``direct=True``).

Like an n-gram model of order ``context_size + 1`` it sees only a fixed window, but similar words
get similar embeddings, so what is learnt about one context transfers to contexts never seen.

``forward`` takes a window of ``T`` tokens and predicts the token after *each* position, like the
other language models of the book: position ``t`` sees tokens ``t - c + 1 .. t``. Positions that
reach before the window see a padding token (id ``vocab_size``, with its own embedding), as an
n-gram model sees ``<s>``; :func:`llmbook.evaluate.strided_perplexity` with
``window - stride >= context_size - 1`` gives every scored token a full context.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..generate import sample_logits
from .loss import check_prompt, check_token_ids, next_token_loss

__all__ = ["MLPLMConfig", "MLPLM"]


@dataclass
class MLPLMConfig:
    """Shape of a Bengio MLP language model (the paper's names: ``n_embd`` = m, ``n_hidden`` = h, ``context_size`` = n - 1)."""

    vocab_size: int | None = None  # known once the text is tokenised: set it with dataclasses.replace
    context_size: int = 5  # how many previous tokens the model sees (an n-gram model of order context_size + 1)
    n_embd: int = 32
    n_hidden: int = 256
    dropout: float = 0.0  # on the concatenated embeddings and the hidden layer (not in the 2003 paper)
    direct: bool = False  # the paper's direct connections W x from the embeddings to the output

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context_size", "n_embd", "n_hidden"):
            value = getattr(self, name)
            if name == "vocab_size" and value is None:
                continue  # a shape whose vocabulary is not known yet (a chapter's sizes)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"MLPLMConfig.{name} must be a positive int, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class MLPLM(nn.Module):
    """Bengio et al.'s MLP language model. ``forward(idx, targets=None) -> (logits, loss)``."""

    def __init__(self, config: MLPLMConfig):
        super().__init__()
        if config.vocab_size is None:
            raise ValueError("MLPLMConfig.vocab_size is not set: build the model from "
                             "dataclasses.replace(config, vocab_size=...) once the tokenizer is known")
        self.config = config
        self.pad_id = config.vocab_size  # "before the window": an extra embedding row, never predicted
        self.embed = nn.Embedding(config.vocab_size + 1, config.n_embd)  # C
        width = config.context_size * config.n_embd
        self.hidden = nn.Linear(width, config.n_hidden)  # H, d
        self.out = nn.Linear(config.n_hidden, config.vocab_size)  # U, b
        self.direct = nn.Linear(width, config.vocab_size, bias=False) if config.direct else None  # W
        self.drop = nn.Dropout(config.dropout)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def windows(self, idx: torch.Tensor) -> torch.Tensor:
        """The context window of every position: ``(batch, seq)`` ids → ``(batch, seq, context_size)`` ids,
        where ``[b, t]`` holds tokens ``t - context_size + 1 .. t`` (padding before the start)."""
        c = self.config.context_size
        padded = F.pad(idx, (c - 1, 0), value=self.pad_id)  # (batch, seq + c - 1)
        return padded.unfold(dimension=1, size=c, step=1)  # (batch, seq, c)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Next-token logits ``(batch, seq, vocab_size)`` for token ids ``idx`` ``(batch, seq)``, and the mean
        cross-entropy against ``targets`` ``(batch, seq)`` (``-1`` = ignore) if given, else ``None``."""
        check_token_ids(idx, self.config.vocab_size)
        x = self.embed(self.windows(idx)).flatten(2)  # (batch, seq, context_size * n_embd)
        x = self.drop(x)
        h = self.drop(torch.tanh(self.hidden(x)))  # (batch, seq, n_hidden)
        logits = self.out(h)  # (batch, seq, vocab_size)
        if self.direct is not None:
            logits = logits + self.direct(x)
        loss = next_token_loss(logits, idx, targets)
        return logits, loss

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Append ``max_new_tokens`` sampled tokens to ``idx`` ``(batch, seq)``; returns ``(batch, seq + new)``.
        Only the last ``context_size`` tokens matter at each step (call ``model.eval()`` first)."""
        check_prompt(idx, max_new_tokens)
        out = idx
        for _ in range(max_new_tokens):
            logits, _ = self(out[:, -self.config.context_size:])
            out = torch.cat([out, sample_logits(logits[:, -1], temperature, top_k, None, generator)], dim=1)
        return out
