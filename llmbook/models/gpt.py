"""GPT: a decoder-only Transformer language model (GPT-2's architecture), built on :mod:`llmbook.nn`.

The model, in the order data flows through it::

    idx (batch, seq) ──wte + wpe──► dropout ──► n_layer × TransformerBlock (pre-LN, causal) ──► ln_f ──► lm_head
                                                                                          (tied to wte)

With the default :class:`GPTConfig` it maps one-to-one onto Hugging Face's ``GPT2LMHeadModel`` (see
:mod:`llmbook.hf`): the blocks use GPT-2's tanh-approximated GELU, pre-LayerNorm with eps 1e-5, and the
output projection shares its weight with the token embedding (weight tying, {cite}`radford2019language`).
The initialisation is GPT-2's: N(0, 0.02) everywhere, with the projections that write into the
residual stream scaled by ``1 / sqrt(2 * n_layer)`` so that the stream's variance does not grow with depth.

Four options build the model of chapter 3 (and its pre-LN against post-LN comparison) on the same code:

* ``position="rope"``: no ``wpe`` table; queries and keys are rotated by their position
  (:class:`~llmbook.nn.RotaryEmbedding`, as in Llama);
* ``norm_first=False``: post-LN blocks (the original Transformer). Each block then ends with a norm,
  so there is no ``ln_f``, and the residual scaling of the initialisation is left out: it exists
  because pre-LN adds every block's output to an un-normalised stream, which post-LN re-normalises;
* ``tie_weights=False``: ``lm_head`` has its own weight;
* ``init="pytorch"``: every layer keeps PyTorch's default initialisation (embeddings N(0, 1), linear
  weights U(±1/√fan_in)), as in a model assembled from ``torch.nn`` layers. GPT-2's N(0, 0.02) is far
  smaller for a narrow model, so a given Adam step (about ``lr`` per weight) changes its weights far
  more, relatively: the same learning rate is a hotter one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..generate import sample_logits
from ..nn import KVCache, RotaryEmbedding, TransformerBlock
from .loss import check_prompt, check_token_ids, next_token_loss

__all__ = ["GPTConfig", "GPT", "POSITIONS", "INITS"]

POSITIONS = ("learned", "rope")
INITS = ("gpt2", "pytorch")


@dataclass
class GPTConfig:
    """The shape of a GPT (nanoGPT's names). GPT-2 small: 50257 / 1024 / 12 / 12 / 768.

    The defaults are GPT-2's architecture; ``position``, ``norm_first``, ``tie_weights`` and ``init``
    select the variants described in the module docstring.
    """

    vocab_size: int = 50257
    block_size: int = 1024  # the longest context (with learned positions: the number of positions)
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # biases in linear layers and LayerNorms (GPT-2: True)
    position: str = "learned"  # "learned" (GPT-2's wpe table) or "rope" (rotary, no table)
    norm_first: bool = True  # pre-LN (GPT-2); False: post-LN (the original Transformer)
    tie_weights: bool = True  # lm_head shares wte's weight (GPT-2)
    init: str = "gpt2"  # "gpt2": N(0, 0.02), residual projections scaled; "pytorch": each layer's default

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head} (each head gets n_embd / n_head dims)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.position not in POSITIONS:
            raise ValueError(f"GPTConfig.position must be one of {POSITIONS}, got {self.position!r}")
        if self.init not in INITS:
            raise ValueError(f"GPTConfig.init must be one of {INITS}, got {self.init!r}")
        if self.position == "rope" and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"position='rope' rotates pairs of dimensions: the head width n_embd / n_head = "
                             f"{self.n_embd // self.n_head} must be even")
        for name in ("bias", "norm_first", "tie_weights"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"GPTConfig.{name} must be True or False, got {getattr(self, name)!r}")


class GPT(nn.Module):
    """A GPT language model. ``forward(idx, targets=None) -> (logits, loss)``.

    Args:
        config: a :class:`GPTConfig`.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token embeddings
        # Positions: a learned table added to the token embeddings, or rotations of queries and keys
        self.wpe = nn.Embedding(config.block_size, config.n_embd) if config.position == "learned" else None
        self.rotary = (RotaryEmbedding(config.n_embd // config.n_head, max_len=config.block_size)
                       if config.position == "rope" else None)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(config.n_embd, config.n_head, 4 * config.n_embd, dropout=config.dropout,
                             activation="gelu_tanh", norm_first=config.norm_first, norm="layernorm", norm_eps=1e-5,
                             bias=config.bias)
            for _ in range(config.n_layer)
        )
        # Pre-LN leaves the residual stream un-normalised: a last norm before the output layer. Post-LN
        # blocks already end with one.
        self.ln_f = nn.LayerNorm(config.n_embd, eps=1e-5, bias=config.bias) if config.norm_first else nn.Identity()
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_weights:
            self.lm_head.weight = self.wte.weight  # weight tying: one matrix reads tokens in and writes them out
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Initialise every weight as ``config.init`` says (see the module docstring)."""
        if self.config.init == "pytorch":
            for module in self.modules():
                if module is not self and hasattr(module, "reset_parameters"):
                    module.reset_parameters()  # nn.Linear, nn.Embedding, nn.LayerNorm: their defaults
            return
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        if not self.config.norm_first:
            return  # post-LN re-normalises the stream after every sub-layer: no residual scaling
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.attn.out_proj.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.ff.fc2.weight, mean=0.0, std=residual_std)

    def num_params(self, non_embedding: bool = True) -> int:
        """Number of parameters; by default without the embedding tables that are only looked up (as
        Kaplan et al. count them): the position table, and the token table when ``lm_head`` has its own
        weight (a tied one also computes the logits, so it stays in)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.wpe.weight.numel() if self.wpe is not None else 0
            n -= self.wte.weight.numel() if not self.config.tie_weights else 0
        return n

    def _check_ids(self, idx: torch.Tensor, offset: int = 0) -> None:
        check_token_ids(idx, self.config.vocab_size)
        if offset + idx.size(1) > self.config.block_size:
            where = f" after {offset} cached positions" if offset else ""
            raise ValueError(
                f"sequence of length {idx.size(1)}{where} exceeds block_size={self.config.block_size}, the longest "
                f"context of this model; crop the input to its last {self.config.block_size - offset} tokens "
                f"(generate() does this for you)"
            )

    def hidden_states(
        self, idx: torch.Tensor, kv_cache: KVCache | None = None, *, need_weights: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """The final hidden states ``(batch, seq, n_embd)`` (after ``ln_f``) of token ids ``idx`` ``(batch, seq)``.

        With ``kv_cache`` the tokens are placed after the cached positions and their keys and values are
        appended to the cache. ``need_weights`` also returns every block's attention weights, a list of
        ``n_layer`` tensors ``(batch, n_head, seq, seq_k)`` (row i: how query i spreads over the keys).
        """
        offset = kv_cache.seq_len if kv_cache is not None else 0
        self._check_ids(idx, offset)
        x = self.wte(idx)  # (batch, seq, n_embd)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(offset, offset + idx.size(1), device=idx.device))
        x = self.drop(x)
        weights = []
        for i, block in enumerate(self.blocks):
            slot = kv_cache.layer(i) if kv_cache is not None else None
            x = block(x, causal=True, kv_cache=slot, rotary=self.rotary, need_weights=need_weights)
            if need_weights:
                x, w = x
                weights.append(w)
        h = self.ln_f(x)
        return (h, weights) if need_weights else h

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
        return_logits: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Append ``max_new_tokens`` tokens to the prompts ``idx`` ``(batch, seq)``; return ``(batch, seq + new)``.

        Decoding: see :func:`llmbook.generate.sample_logits` (``temperature=0`` is greedy). ``generator`` (on the model's
        device) makes sampling reproducible. Call ``model.eval()`` first to switch dropout off.
        ``return_logits`` also returns the logits each new token was drawn from, ``(batch, new, vocab_size)``
        (before temperature and filtering): a way to compare two decoding paths number for number.

        Context longer than ``block_size``: the model only has ``block_size`` positions, so it conditions on
        the last ``block_size`` tokens. A prompt longer than that is cropped to its last ``block_size``
        tokens (the returned tensor still starts with the whole prompt). Without the cache the window slides
        by one token per step. With the cache (``use_cache=True``) the cached keys carry fixed positions, so
        when the cache is full it is rebuilt from the last ``block_size // 2`` tokens and decoding continues
        incrementally; the context then holds between ``block_size // 2`` and ``block_size`` tokens. Up to
        ``block_size`` tokens in total, both ways give identical results.
        """
        check_prompt(idx, max_new_tokens)
        self._check_ids(idx[:, -self.config.block_size:] if isinstance(idx, torch.Tensor) and idx.dim() == 2 else idx)
        sample_logits(idx.new_zeros(1, 1).float(), temperature, top_k, top_p)  # validate the options up front
        block = self.config.block_size
        cache = KVCache(self.config.n_layer) if use_cache else None
        out = idx
        step_logits = []
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
            if return_logits:
                step_logits.append(logits)
            next_id = sample_logits(logits, temperature, top_k, top_p, generator)
            out = torch.cat([out, next_id], dim=1)
        if not return_logits:
            return out
        shape = (idx.size(0), 0, self.config.vocab_size)
        return out, torch.stack(step_logits, dim=1) if step_logits else idx.new_zeros(shape, dtype=torch.float)
