"""BERT: a bidirectional Transformer encoder, and its pretraining heads (masked LM and next-sentence
prediction), built on :mod:`llmbook.nn` ({cite}`devlin2019bert`).

The encoder, in the order data flows through it::

    input_ids      ──word_embeddings──┐
    positions 0..  ──position_embeddings──+──► embed_norm ──► dropout ──► n_layer × TransformerBlock
    token_type_ids ──token_type_embeddings┘                               (post-LN, bidirectional)
                                                                                   │
                                                     hidden (batch, seq, n_embd) ◄─┘
                                                     pool(hidden) = tanh(pooler(hidden[:, 0]))  ([CLS])

:class:`BertForPreTraining` adds the two heads of BERT's pretraining:

* masked LM: ``dense → GELU → LayerNorm → decoder``, the decoder's weight tied to ``word_embeddings``
  with a bias of its own: one logit per vocabulary entry at every position ``(batch, seq, vocab)``;
* next-sentence prediction: ``Linear(n_embd, 2)`` on the pooled ``[CLS]`` state ``(batch, 2)``.

Three things make it BERT rather than GPT: attention is not causal (every token sees the whole
sequence, so the model cannot generate left to right but reads each token in its full context); the
blocks are post-LN (``norm(x + sublayer(x))``, as in the original Transformer, so no final norm); the
embedding is the sum of three tables (word, position and segment: sentence A = 0, sentence B = 1),
normalised before the first block. The feed-forward activation is the exact (erf) GELU and the
LayerNorm epsilon is 1e-12, so that with the default names this maps one-to-one onto Hugging Face's
``BertModel`` / ``BertForPreTraining`` (see :mod:`llmbook.hf.bert`), and all-MiniLM-L6-v2's weights
load unchanged.

``attention_mask`` follows Hugging Face's convention, **1 = real token, 0 = padding**, because that
is what tokenizers return; inside, it becomes :mod:`llmbook.nn`'s ``key_padding_mask`` (True = padding).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..nn import TransformerStack
from .loss import check_token_ids, padding_mask

__all__ = ["BERTConfig", "BERT", "BertForPreTraining", "mean_pool"]


@dataclass
class BERTConfig:
    """The shape of a BERT. BERT-base: 30522 / 512 / 2 / 12 / 12 / 768 / 3072; all-MiniLM-L6-v2:
    30522 / 512 / 2 / 6 / 12 / 384 / 1536.

    ``vocab_size`` has no default because it belongs to the tokenizer: set it with
    ``dataclasses.replace(config, vocab_size=tokenizer.vocab_size)`` before building the model.
    ``d_ff`` is the feed-forward width (default ``4 * n_embd``); ``dropout`` is used everywhere BERT
    has dropout (embeddings, attention weights, each sub-layer's output); ``pad_id`` is the padding
    token, whose embedding starts at zero and gets no gradient from the lookup (as in Hugging Face).
    """

    vocab_size: int | None = None
    max_position: int = 512  # the number of learned positions: the longest input
    type_vocab_size: int = 2  # segments: 0 = sentence A, 1 = sentence B
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 64
    d_ff: int | None = None  # None: 4 * n_embd
    dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    pad_id: int = 0

    def __post_init__(self) -> None:
        names = ["max_position", "type_vocab_size", "n_layer", "n_head", "n_embd"]
        names += [name for name in ("vocab_size", "d_ff") if getattr(self, name) is not None]
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"BERTConfig.{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head} "
                             f"(each head gets n_embd / n_head dims)")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) \
                or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"BERTConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if isinstance(self.layer_norm_eps, bool) or not isinstance(self.layer_norm_eps, (int, float)) \
                or not self.layer_norm_eps > 0:
            raise ValueError(f"BERTConfig.layer_norm_eps must be a positive number, "
                             f"got {self.layer_norm_eps!r}")
        if isinstance(self.pad_id, bool) or not isinstance(self.pad_id, int) or self.pad_id < 0:
            raise ValueError(f"BERTConfig.pad_id must be a non-negative int, got {self.pad_id!r}")
        if self.vocab_size is not None and self.pad_id >= self.vocab_size:
            raise ValueError(f"BERTConfig.pad_id={self.pad_id} is not in the vocabulary "
                             f"[0, {self.vocab_size}): use the tokenizer's padding id (pad_token_id)")

    @property
    def ff_width(self) -> int:
        """The feed-forward hidden width: ``d_ff``, or ``4 * n_embd`` when it is None."""
        return 4 * self.n_embd if self.d_ff is None else self.d_ff


@torch.no_grad()
def _init_like_bert(module: nn.Module) -> None:
    """BERT's initialisation of one module: N(0, 0.02) weights, zero biases, LayerNorm 1 and 0, and a
    zero embedding for the padding token (as Hugging Face does)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def _check_same_shape(tensor: torch.Tensor, input_ids: torch.Tensor, name: str, fix: str) -> None:
    if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != tuple(input_ids.shape):
        raise ValueError(f"{name} must have the shape of input_ids {tuple(input_ids.shape)}, got "
                         f"{tuple(getattr(tensor, 'shape', ()))}; {fix}")


class BERT(nn.Module):
    """The BERT encoder. ``forward(input_ids, token_type_ids=None, attention_mask=None)`` returns the
    hidden states ``(batch, seq, n_embd)``; :meth:`pool` turns them into the pooled ``[CLS]`` vector.

    Args:
        config: a :class:`BERTConfig` with ``vocab_size`` set.
    """

    def __init__(self, config: BERTConfig):
        super().__init__()
        if not isinstance(config, BERTConfig):
            raise TypeError(f"BERT expects a BERTConfig, got {type(config).__name__}")
        if config.vocab_size is None:
            raise ValueError("BERTConfig.vocab_size is None: set it to the tokenizer's vocabulary size, e.g. "
                             "dataclasses.replace(config, vocab_size=tokenizer.vocab_size)")
        self.config = config
        self.word_embeddings = nn.Embedding(config.vocab_size, config.n_embd, padding_idx=config.pad_id)
        self.position_embeddings = nn.Embedding(config.max_position, config.n_embd)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.n_embd)
        self.embed_norm = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.drop = nn.Dropout(config.dropout)
        # Post-LN blocks (BERT), exact GELU, every dropout of BERT (attention weights, sub-layer outputs)
        self.encoder = TransformerStack(
            config.n_layer, config.n_embd, config.n_head, config.ff_width, dropout=config.dropout,
            activation="gelu", norm_first=False, norm="layernorm", norm_eps=config.layer_norm_eps, bias=True,
        )
        self.pooler = nn.Linear(config.n_embd, config.n_embd)  # read by pool(): tanh(pooler(h_[CLS]))
        self.apply(_init_like_bert)

    def num_params(self, non_embedding: bool = True) -> int:
        """Number of parameters; by default without the three embedding tables, which are only looked
        up (as Kaplan et al. count them; :class:`BertForPreTraining` keeps the word table, which its
        MLM decoder also multiplies by)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= sum(table.weight.numel() for table in
                     (self.word_embeddings, self.position_embeddings, self.token_type_embeddings))
        return n

    def _check_inputs(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
    ) -> None:
        check_token_ids(input_ids, self.config.vocab_size, "input_ids")
        seq, max_position = input_ids.size(1), self.config.max_position
        if seq > max_position:
            raise ValueError(f"input_ids has {seq} positions but the position table has {max_position}: "
                             f"cut the sequence (e.g. tokenizer(..., truncation=True, "
                             f"max_length={max_position})) or build the model with a larger max_position")
        if token_type_ids is not None:
            _check_same_shape(token_type_ids, input_ids, "token_type_ids",
                              "give one segment id per token (0 = sentence A, 1 = sentence B)")
            if token_type_ids.dtype.is_floating_point or token_type_ids.dtype.is_complex \
                    or token_type_ids.dtype == torch.bool:
                raise ValueError(f"token_type_ids must hold integer segment ids, "
                                 f"got dtype {token_type_ids.dtype}")
            n_types = self.config.type_vocab_size
            if token_type_ids.numel() and bool(((token_type_ids < 0) | (token_type_ids >= n_types)).any()):
                raise ValueError(f"token_type_ids must be in [0, type_vocab_size={n_types}), got min "
                                 f"{int(token_type_ids.min())} and max {int(token_type_ids.max())}; "
                                 f"segment ids are 0 for sentence A and 1 for sentence B")

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hidden states ``(batch, seq, n_embd)`` of token ids ``input_ids`` ``(batch, seq)``.

        ``token_type_ids`` ``(batch, seq)``: segment ids (default: all 0, one sentence);
        ``attention_mask`` ``(batch, seq)``: 1 = real token, 0 = padding (default: no padding).
        Padding positions get hidden states too (nothing attends to them); ignore them downstream,
        e.g. with :func:`mean_pool`.
        """
        self._check_inputs(input_ids, token_type_ids, attention_mask)
        positions = torch.arange(input_ids.size(1), device=input_ids.device)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        x = x + self.position_embeddings(positions)
        x = self.drop(self.embed_norm(x))
        key_padding_mask = padding_mask(attention_mask, tuple(input_ids.shape))  # True = padding
        return self.encoder(x, key_padding_mask=key_padding_mask)

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """BERT's pooled output ``(batch, n_embd)``: ``tanh(pooler(hidden[:, 0]))``, the ``[CLS]`` state
        through a dense layer (trained by next-sentence prediction) of ``hidden`` ``(batch, seq, n_embd)``."""
        return torch.tanh(self.pooler(hidden[:, 0]))


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Sentence embeddings ``(batch, n_embd)``: the mean of ``hidden`` ``(batch, seq, n_embd)`` over the
    real tokens (``attention_mask`` ``(batch, seq)``, 1 = real, 0 = padding; None: every token).

    This is sentence-transformers' mean pooling (all-MiniLM-L6-v2's), which averages the padding out:
    a plain ``hidden.mean(1)`` would change a sentence's embedding with the length of its batch-mates.
    """
    if not isinstance(hidden, torch.Tensor) or hidden.dim() != 3:
        raise ValueError(f"hidden must be (batch, seq, n_embd) hidden states, got shape "
                         f"{tuple(getattr(hidden, 'shape', ()))}")
    if attention_mask is None:
        return hidden.mean(dim=1)
    if not isinstance(attention_mask, torch.Tensor) or tuple(attention_mask.shape) != tuple(hidden.shape[:2]):
        raise ValueError(f"attention_mask must be (batch, seq) = {tuple(hidden.shape[:2])}, got "
                         f"{tuple(getattr(attention_mask, 'shape', ()))}; pass the mask the tokenizer "
                         f"returned with these inputs")
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (batch, seq, 1)
    # sentence-transformers clamps the count at 1e-9 so that an all-padding row gives 0, not NaN
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


class BertForPreTraining(nn.Module):
    """BERT with its two pretraining heads. ``forward(input_ids, token_type_ids=None, attention_mask=None)``
    returns ``(mlm_logits (batch, seq, vocab_size), nsp_logits (batch, 2))``.

    NSP class 0 means "sentence B follows sentence A", 1 means "B is a random sentence" (Hugging Face's
    ``next_sentence_label``). The losses live in :mod:`llmbook.objectives`.

    Args:
        config: a :class:`BERTConfig` with ``vocab_size`` set.
    """

    def __init__(self, config: BERTConfig):
        super().__init__()
        self.bert = BERT(config)
        self.config = config
        # Masked LM head: a dense layer, GELU and LayerNorm, then the decoder back to the vocabulary
        self.mlm_dense = nn.Linear(config.n_embd, config.n_embd)
        self.mlm_norm = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.mlm_decoder = nn.Linear(config.n_embd, config.vocab_size)  # its bias is the head's own
        self.nsp_head = nn.Linear(config.n_embd, 2)  # on the pooled [CLS] state
        # Weight tying: one matrix reads tokens in and scores them out (already initialised by BERT)
        self.mlm_decoder.weight = self.bert.word_embeddings.weight
        for module in (self.mlm_dense, self.mlm_norm, self.nsp_head):
            _init_like_bert(module)
        nn.init.zeros_(self.mlm_decoder.bias)

    def num_params(self, non_embedding: bool = True) -> int:
        """Number of parameters; by default without the position and segment tables (the word table
        is counted: the tied MLM decoder computes the logits with it)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.bert.position_embeddings.weight.numel() + self.bert.token_type_embeddings.weight.numel()
        return n

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Masked-LM logits ``(batch, seq, vocab_size)`` from hidden states ``(batch, seq, n_embd)``."""
        h = self.mlm_norm(F.gelu(self.mlm_dense(hidden)))
        return self.mlm_decoder(h)

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mlm_logits (batch, seq, vocab_size), nsp_logits (batch, 2))`` for ``input_ids``
        ``(batch, seq)``; ``token_type_ids`` and ``attention_mask`` as in :meth:`BERT.forward`."""
        hidden = self.bert(input_ids, token_type_ids, attention_mask)
        return self.mlm_logits(hidden), self.nsp_head(self.bert.pool(hidden))
