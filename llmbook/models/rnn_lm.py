r"""Recurrent language models: an Elman RNN {cite}`mikolov2010recurrent` or an LSTM {cite}`hochreiter1997long`.

A recurrent network reads one token at a time and keeps a state that summarises everything it has
read, so unlike an n-gram or MLP model its context is not cut at a fixed length:

.. math:: e_t = E[w_t], \qquad h_t = f(h_{t-1}, e_t), \qquad P(w_{t+1} \mid w_{\le t}) = \mathrm{softmax}(W h_t + b).

``cell="rnn"`` is Elman's simple recurrent network, :math:`h_t = \tanh(W_{ih} e_t + W_{hh} h_{t-1} + b)`
(Mikolov's RNNLM). ``cell="lstm"`` adds a cell state :math:`c_t` behind input, forget and output gates,

.. math:: i, f, o = \sigma(\cdot), \quad g = \tanh(\cdot), \quad c_t = f \odot c_{t-1} + i \odot g, \quad h_t = o \odot \tanh(c_t),

(each gate an affine map of :math:`[e_t; h_{t-1}]`), whose additive update lets gradients flow over
many steps. The recurrences are PyTorch's ``nn.RNN`` / ``nn.LSTM``; chapter 1 re-derives one LSTM step
by hand and checks it against them. Dropout follows Zaremba et al.: on the embeddings, between layers
and before the output layer, never on the recurrent connections.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..generate import sample_logits
from .loss import check_prompt, check_token_ids, next_token_loss

__all__ = ["RNNLMConfig", "RNNLM", "CELLS"]

CELLS = ("rnn", "lstm")

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass
class RNNLMConfig:
    """Shape of a recurrent language model."""

    vocab_size: int | None = None  # known once the text is tokenised: set it with dataclasses.replace
    cell: str = "lstm"  # "rnn" (Elman, tanh) or "lstm"
    n_embd: int = 64
    n_hidden: int = 256
    n_layer: int = 1
    dropout: float = 0.0
    tie_weights: bool = False  # share the output matrix with the embedding (needs n_embd == n_hidden)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_embd", "n_hidden", "n_layer"):
            value = getattr(self, name)
            if name == "vocab_size" and value is None:
                continue  # a shape whose vocabulary is not known yet (a chapter's sizes)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"RNNLMConfig.{name} must be a positive int, got {value!r}")
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}: use one of {CELLS}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.tie_weights and self.n_embd != self.n_hidden:
            raise ValueError(f"tie_weights needs n_embd == n_hidden, got {self.n_embd} and {self.n_hidden}")


class RNNLM(nn.Module):
    """An RNN or LSTM language model. ``forward(idx, targets=None) -> (logits, loss)``."""

    def __init__(self, config: RNNLMConfig):
        super().__init__()
        if config.vocab_size is None:
            raise ValueError("RNNLMConfig.vocab_size is not set: build the model from "
                             "dataclasses.replace(config, vocab_size=...) once the tokenizer is known")
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)
        rnn_cls = nn.LSTM if config.cell == "lstm" else nn.RNN
        self.rnn = rnn_cls(config.n_embd, config.n_hidden, num_layers=config.n_layer, batch_first=True,
                           dropout=config.dropout if config.n_layer > 1 else 0.0)
        self.drop = nn.Dropout(config.dropout)
        self.out = nn.Linear(config.n_hidden, config.vocab_size)
        if config.tie_weights:
            self.out.weight = self.embed.weight  # Press & Wolf / Inan et al.: one matrix for input and output
        if config.cell == "lstm":  # forget-gate bias 1 (Jozefowicz et al. 2015): remember by default at the start
            with torch.no_grad():
                for name, p in self.rnn.named_parameters():
                    if name.startswith("bias_ih"):
                        p[config.n_hidden: 2 * config.n_hidden].fill_(1.0)
                    elif name.startswith("bias_hh"):
                        p[config.n_hidden: 2 * config.n_hidden].zero_()

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def run(self, idx: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Logits ``(batch, seq, vocab_size)`` for ids ``idx`` ``(batch, seq)``, starting from ``state`` (zeros if
        ``None``), and the final state: ``h`` ``(n_layer, batch, n_hidden)`` (a pair ``(h, c)`` for the LSTM).
        Carrying the state from one chunk to the next reads a long text as one sequence."""
        check_token_ids(idx, self.config.vocab_size)
        x = self.drop(self.embed(idx))  # (batch, seq, n_embd)
        h, state = self.rnn(x, state)  # (batch, seq, n_hidden)
        return self.out(self.drop(h)), state

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Next-token logits ``(batch, seq, vocab_size)`` from a zero initial state, and the mean cross-entropy
        against ``targets`` ``(batch, seq)`` (``-1`` = ignore) if given, else ``None``."""
        logits, _ = self.run(idx)
        loss = next_token_loss(logits, idx, targets)
        return logits, loss

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Append ``max_new_tokens`` sampled tokens to ``idx`` ``(batch, seq)``; returns ``(batch, seq + new)``.
        The prompt is read once, then one token per step with the carried state (call ``model.eval()`` first)."""
        check_prompt(idx, max_new_tokens)
        logits, state = self.run(idx)
        out = idx
        for _ in range(max_new_tokens):
            next_id = sample_logits(logits[:, -1], temperature, top_k, None, generator)
            out = torch.cat([out, next_id], dim=1)
            logits, state = self.run(next_id, state)
        return out
