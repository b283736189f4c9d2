"""GPT: a decoder-only Transformer language model (GPT-2's architecture), built on :mod:`llmbook.nn`.

The model, in the order data flows through it::

    idx (batch, seq) ──wte + wpe──► dropout ──► n_layer × TransformerBlock (pre-LN, causal) ──► ln_f ──► lm_head
                                                                                          (tied to wte)

It maps one-to-one onto Hugging Face's ``GPT2LMHeadModel`` (see :mod:`llmbook.hf`): the blocks use
GPT-2's tanh-approximated GELU, pre-LayerNorm with eps 1e-5, and the output projection shares its
weight with the token embedding (weight tying, {cite}`radford2019language`). The initialisation is
GPT-2's: N(0, 0.02) everywhere, with the projections that write into the residual stream scaled by
``1 / sqrt(2 * n_layer)`` so that the stream's variance does not grow with depth.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..generate import sample_logits
from ..nn import KVCache, TransformerBlock
from .loss import next_token_loss

__all__ = ["GPTConfig", "GPT"]


@dataclass
class GPTConfig:
    """The shape of a GPT (nanoGPT's names). GPT-2 small: 50257 / 1024 / 12 / 12 / 768."""

    vocab_size: int = 50257
    block_size: int = 1024  # the longest context (number of learned positions)
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # biases in linear layers and LayerNorms (GPT-2: True)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head} (each head gets n_embd / n_head dims)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class GPT(nn.Module):
    """A GPT language model. ``forward(idx, targets=None) -> (logits, loss)``.

    Args:
        config: a :class:`GPTConfig`.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token embeddings
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # learned position embeddings
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(config.n_embd, config.n_head, 4 * config.n_embd, dropout=config.dropout,
                             activation="gelu_tanh", norm_first=True, norm="layernorm", norm_eps=1e-5, bias=config.bias)
            for _ in range(config.n_layer)
        )
        self.ln_f = nn.LayerNorm(config.n_embd, eps=1e-5, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying: one matrix reads tokens in and writes them out
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """GPT-2's initialisation (see the module docstring)."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.attn.out_proj.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.ff.fc2.weight, mean=0.0, std=residual_std)

    def num_params(self, non_embedding: bool = True) -> int:
        """Number of parameters; by default without the position embeddings (as Kaplan et al. count
        them; the token embeddings are shared with the output layer and stay in)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.wpe.weight.numel() if non_embedding else n

    def _check_ids(self, idx: torch.Tensor, offset: int = 0) -> None:
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2:
            raise ValueError(f"idx must be a (batch, seq) tensor of token ids, got shape {tuple(getattr(idx, 'shape', ()))}; "
                             f"add a batch dimension with idx[None]")
        if idx.dtype.is_floating_point or idx.dtype == torch.bool:
            raise ValueError(f"idx must hold integer token ids, got dtype {idx.dtype}")
        if offset + idx.size(1) > self.config.block_size:
            where = f" after {offset} cached positions" if offset else ""
            raise ValueError(
                f"sequence of length {idx.size(1)}{where} exceeds block_size={self.config.block_size}: the model has "
                f"no position embedding beyond that; crop the input to its last {self.config.block_size - offset} tokens "
                f"(generate() does this for you)"
            )
        if torch.compiler.is_compiling():
            return
        if idx.numel() and bool(((idx < 0) | (idx >= self.config.vocab_size)).any()):
            raise ValueError(
                f"token ids must be in [0, vocab_size={self.config.vocab_size}), got min {int(idx.min())} and max "
                f"{int(idx.max())}; was the text encoded with the tokenizer this model was trained with?"
            )

    def hidden_states(self, idx: torch.Tensor, kv_cache: KVCache | None = None) -> torch.Tensor:
        """The final hidden states ``(batch, seq, n_embd)`` (after ``ln_f``) of token ids ``idx`` ``(batch, seq)``.

        With ``kv_cache`` the tokens are placed after the cached positions and their keys and values are
        appended to the cache.
        """
        offset = kv_cache.seq_len if kv_cache is not None else 0
        self._check_ids(idx, offset)
        pos = torch.arange(offset, offset + idx.size(1), device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (batch, seq, n_embd)
        for i, block in enumerate(self.blocks):
            x = block(x, causal=True, kv_cache=kv_cache.layer(i) if kv_cache is not None else None)
        return self.ln_f(x)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, *, kv_cache: KVCache | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Next-token logits ``(batch, seq, vocab_size)`` for every position, and the mean cross-entropy
        against ``targets`` ``(batch, seq)`` if given (target ``-1`` = ignore), else ``None``."""
        h = self.hidden_states(idx, kv_cache)
        logits = self.lm_head(h)
        loss = next_token_loss(logits, idx, targets)
        return logits, loss

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        use_cache: bool = True,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Append ``max_new_tokens`` tokens to the prompts ``idx`` ``(batch, seq)``; return ``(batch, seq + new)``.

        Decoding: see :func:`llmbook.generate.sample_logits` (``temperature=0`` is greedy). ``generator`` (on the model's
        device) makes sampling reproducible. Call ``model.eval()`` first to switch dropout off.

        Context longer than ``block_size``: the model only has ``block_size`` positions, so it conditions on
        the last ``block_size`` tokens. A prompt longer than that is cropped to its last ``block_size``
        tokens (the returned tensor still starts with the whole prompt). Without the cache the window slides
        by one token per step. With the cache (``use_cache=True``) the cached keys carry fixed positions, so
        when the cache is full it is rebuilt from the last ``block_size // 2`` tokens and decoding continues
        incrementally; the context then holds between ``block_size // 2`` and ``block_size`` tokens. Up to
        ``block_size`` tokens in total, both ways give identical results.
        """
        if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
        self._check_ids(idx[:, -self.config.block_size:] if isinstance(idx, torch.Tensor) and idx.dim() == 2 else idx)
        sample_logits(idx.new_zeros(1, 1).float(), temperature, top_k, top_p)  # validate the options up front
        block = self.config.block_size
        cache = KVCache(self.config.n_layer) if use_cache else None
        out = idx
        for _ in range(max_new_tokens):
            if cache is None:
                h = self.hidden_states(out[:, -block:])[:, -1]
            elif cache.seq_len == 0:
                h = self.hidden_states(out[:, -block:], kv_cache=cache)[:, -1]  # prefill: the whole prompt at once
            elif cache.seq_len >= block:
                cache.reset()
                h = self.hidden_states(out[:, -(block // 2) or -1:], kv_cache=cache)[:, -1]
            else:
                h = self.hidden_states(out[:, -1:], kv_cache=cache)[:, -1]  # one new token
            logits = self.lm_head(h)  # (batch, vocab): only the last position is needed
            next_id = sample_logits(logits, temperature, top_k, top_p, generator)
            out = torch.cat([out, next_id], dim=1)
        return out
