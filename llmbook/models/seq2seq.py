"""The encoder–decoder Transformer of "Attention is all you need" (Vaswani et al.), for translation.

The model, in the order data flows through it::

    source ids (batch, src) ─embed·√d + PE─► dropout ─► n_layer × [self-attn, FFN] ─► memory ─┐
    target ids (batch, tgt) ─embed·√d + PE─► dropout ─► n_decoder_layer × [causal self-attn,   │
                                      cross-attn to the memory ◄──────────────────────────────┘
                                      FFN] ─► lm_head (tied to embed) ─► logits (batch, tgt, vocab)

Everything but the embedding is :mod:`llmbook.nn`: the encoder and the decoder are
:class:`~llmbook.nn.TransformerEncoder` and :class:`~llmbook.nn.TransformerDecoder`, the positions
:class:`~llmbook.nn.SinusoidalPositionalEncoding`. Where it differs from
:class:`~llmbook.models.T5`: absolute sinusoidal positions added to the embeddings (T5: a learned
relative bias in attention), scaled dot products (1/√d_k), LayerNorm with biases, and one table
shared by the source, the target and the output layer (Vaswani et al. §3.4: a *joint* BPE
vocabulary makes the sharing possible).
``norm_first=True`` (the default) is the pre-LN block that trains reliably without a long warm-up;
``False`` is the paper's post-LN.

Training is **teacher forcing**: the decoder reads the reference shifted right by one
(``[start, y_1, …, y_{T-1}]``) and every position predicts the next reference token at once
(:func:`seq2seq_example`, :func:`seq2seq_loss`, optionally with label smoothing). Decoding,
greedy or beam search with a KV cache, is :func:`llmbook.generate.generate_seq2seq`; it calls the
model's :meth:`Seq2Seq.encode` once and :meth:`Seq2Seq.decode` step by step (the interface T5
has too).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..nn import KVCache, SinusoidalPositionalEncoding, TransformerDecoder, TransformerEncoder
from ..nn.feedforward import ACTIVATIONS
from .loss import check_token_ids, padding_mask

__all__ = ["Seq2SeqConfig", "Seq2Seq", "seq2seq_example", "seq2seq_loss"]

IGNORE_INDEX = -100  # labels that the loss skips (padding), as in torch and Hugging Face


@dataclass
class Seq2SeqConfig:
    """The shape of an encoder–decoder Transformer. Transformer-base: n_layer 6, n_head 8,
    n_embd 512, d_ff 2048, dropout 0.1 (Vaswani et al., Table 3).

    ``n_decoder_layer`` and ``d_ff`` left at None mean ``n_layer`` and ``4 * n_embd``. The special
    ids are the tokenizer's: padding, the decoder's start token (BOS) and the end of a sentence
    (EOS).
    """

    vocab_size: int | None = None  # the (joint) tokenizer's: set it before building a model
    n_layer: int = 3  # encoder layers
    n_decoder_layer: int | None = None  # decoder layers (default n_layer)
    n_head: int = 4
    n_embd: int = 128  # d_model
    d_ff: int | None = None  # hidden width of the feed-forward network (default 4 * n_embd)
    dropout: float = 0.1
    max_len: int = 256  # longest source or target the position table covers
    activation: str = "relu"  # Vaswani et al.'s; see llmbook.nn.ACTIVATIONS
    norm_first: bool = True  # pre-LN; False: the paper's post-LN
    pad_id: int = 0
    decoder_start_id: int = 1  # BOS: the first decoder input
    eos_id: int = 2

    def __post_init__(self) -> None:
        names = ["n_layer", "n_head", "n_embd", "max_len"]
        names += [n for n in ("vocab_size", "n_decoder_layer", "d_ff")
                  if getattr(self, n) is not None]
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Seq2SeqConfig.{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head or self.n_embd % 2:
            raise ValueError(f"n_embd={self.n_embd} must be even (sine and cosine pairs of the "
                             f"position encoding) and divisible by n_head={self.n_head}: "
                             "choose them so, e.g. n_embd=128 with n_head=4")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"Seq2SeqConfig.activation must be one of {ACTIVATIONS}, "
                             f"got {self.activation!r}")
        ids = {name: getattr(self, name) for name in ("pad_id", "decoder_start_id", "eos_id")}
        limit = self.vocab_size if self.vocab_size is not None else math.inf
        for name, value in ids.items():
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
                raise ValueError(f"Seq2SeqConfig.{name} must be a token id in [0, vocab_size="
                                 f"{self.vocab_size}), got {value!r}")
        if len(set(ids.values())) < 3:
            raise ValueError(f"pad_id, decoder_start_id and eos_id must be three different ids, "
                             f"got {ids}: give the tokenizer three special tokens")

    @property
    def decoder_layers(self) -> int:
        """Decoder layers: ``n_decoder_layer``, or ``n_layer`` when it is None."""
        return self.n_layer if self.n_decoder_layer is None else self.n_decoder_layer


class Seq2Seq(nn.Module):
    """An encoder–decoder Transformer. ``forward(input_ids, decoder_input_ids, attention_mask=None,
    decoder_attention_mask=None) -> logits (batch, tgt, vocab_size)``.

    Masks follow Hugging Face: ``(batch, seq)`` with 1 for a real token and 0 for padding. Call
    ``model.eval()`` before decoding, to switch dropout off.
    """

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        if config.vocab_size is None:
            raise ValueError("Seq2SeqConfig.vocab_size is None: set it to the tokenizer's, e.g. "
                             "Seq2Seq(dataclasses.replace(config, "
                             "vocab_size=len(tokenizer.vocab)))")
        self.config = c = config
        stack = dict(dropout=c.dropout, activation=c.activation, norm_first=c.norm_first)
        self.embed = nn.Embedding(c.vocab_size, c.n_embd)  # source, target and output share it
        self.positions = SinusoidalPositionalEncoding(c.n_embd, c.max_len)
        self.drop = nn.Dropout(c.dropout)
        self.encoder = TransformerEncoder(c.n_layer, c.n_embd, c.n_head, c.d_ff, **stack)
        self.decoder = TransformerDecoder(c.decoder_layers, c.n_embd, c.n_head, c.d_ff, **stack)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.lm_head.weight = self.embed.weight
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Xavier-uniform weights and zero biases (the reference implementations' choice), and the
        embedding N(0, 1/d): times √d at the input it has unit scale, like the position
        encodings."""
        for name, p in self.named_parameters():
            if p.dim() > 1 and p is not self.embed.weight:
                nn.init.xavier_uniform_(p)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
        nn.init.normal_(self.embed.weight, std=self.config.n_embd ** -0.5)

    def num_params(self) -> int:
        """Number of parameters (the shared token table counted once)."""
        return sum(p.numel() for p in self.parameters())

    # ---- the two halves ---------------------------------------------------------------------

    def _embed(self, ids: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Token embeddings times √d_model plus the sinusoidal encodings of positions
        ``offset ..``."""
        scaled = self.embed(ids) * math.sqrt(self.config.n_embd)
        return self.drop(self.positions(scaled, offset))

    def _check_ids(self, ids: torch.Tensor, name: str) -> None:
        check_token_ids(ids, self.config.vocab_size, name)
        if ids.size(1) == 0:
            what = (f"start it with decoder_start_id={self.config.decoder_start_id}"
                    if name == "decoder_input_ids" else "give at least one source token")
            raise ValueError(f"{name} is empty (batch, 0): {what}")

    def encode(self, input_ids: torch.Tensor,
               attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's output, the "memory" ``(batch, src, n_embd)``, of ``input_ids``
        ``(batch, src)``."""
        self._check_ids(input_ids, "input_ids")
        padding = padding_mask(attention_mask, tuple(input_ids.shape), "attention_mask",
                               "input_ids")
        return self.encoder(self._embed(input_ids), key_padding_mask=padding)

    def decode(
        self,
        decoder_input_ids: torch.Tensor,
        encoder_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Next-token logits ``(batch, tgt, vocab_size)`` of ``decoder_input_ids`` ``(batch, tgt)``
        given the memory ``encoder_states`` ``(batch, src, n_embd)``.

        ``attention_mask`` ``(batch, src)`` is the source's mask; ``decoder_attention_mask`` covers
        the decoder's keys, ``(batch, cached + tgt)`` with a ``kv_cache`` (one slot per decoder
        layer, holding the self-attention keys and values of the positions decoded so far).
        """
        self._check_ids(decoder_input_ids, "decoder_input_ids")
        batch, tgt = decoder_input_ids.shape
        n_embd = self.config.n_embd
        shape = tuple(encoder_states.shape)
        if len(shape) != 3 or shape[0] != batch or shape[2] != n_embd:
            raise ValueError(f"encoder_states must have shape (batch={batch}, src, "
                             f"n_embd={n_embd}), got {shape}: encode the batch's own sources")
        cached = kv_cache.seq_len if kv_cache is not None else 0
        source_padding = padding_mask(attention_mask, (batch, encoder_states.size(1)),
                                      "attention_mask", "the source ids")
        target_padding = padding_mask(decoder_attention_mask, (batch, cached + tgt),
                                      "decoder_attention_mask", "the decoder's keys")
        h = self.decoder(self._embed(decoder_input_ids, offset=cached), encoder_states,
                         key_padding_mask=target_padding, context_padding_mask=source_padding,
                         kv_cache=kv_cache)
        return self.lm_head(h)

    def forward(
        self,
        input_ids: torch.Tensor,
        decoder_input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``(batch, tgt, vocab_size)``: position t predicts the target token after
        ``decoder_input_ids[:, :t+1]`` (teacher forcing: all positions at once)."""
        if (input_ids.dim() == 2 and decoder_input_ids.dim() == 2
                and len(input_ids) != len(decoder_input_ids)):
            raise ValueError(f"input_ids has {len(input_ids)} rows but decoder_input_ids has "
                             f"{len(decoder_input_ids)}: give every source its own target")
        memory = self.encode(input_ids, attention_mask)
        return self.decode(decoder_input_ids, memory, attention_mask, decoder_attention_mask)

    @torch.no_grad()
    def cross_attention(self, input_ids: torch.Tensor, decoder_input_ids: torch.Tensor,
                        attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's cross-attention weights ``(layers, batch, heads, tgt, src)``: how much each
        target position reads each source token, in every decoder layer (each row sums to 1 over
        the source). Runs the model once (in its current train/eval mode) and replays each
        cross-attention call with ``need_weights=True``."""
        calls: list[tuple[nn.Module, tuple, dict]] = []

        def remember(module: nn.Module, args: tuple, kwargs: dict) -> None:
            calls.append((module, args, dict(kwargs)))

        hooks = [layer.cross_attn.register_forward_pre_hook(remember, with_kwargs=True)
                 for layer in self.decoder.layers]
        try:
            self(input_ids, decoder_input_ids, attention_mask)
        finally:
            for hook in hooks:
                hook.remove()
        return torch.stack([module(*args, **kwargs, need_weights=True)[1]
                            for module, args, kwargs in calls])


# ---------------------------------------------------------------- teacher forcing


def seq2seq_example(source_ids: Sequence[int], target_ids: Sequence[int], decoder_start_id: int,
                    eos_id: int) -> dict[str, list[int]]:
    """One training example for teacher forcing: the source, the decoder's input
    ``[start] + target`` and the labels ``target + [eos]`` (position t of the decoder predicts
    label t).

    >>> seq2seq_example([7, 8], [5, 6], decoder_start_id=1, eos_id=2)
    {'input_ids': [7, 8], 'decoder_input_ids': [1, 5, 6], 'labels': [5, 6, 2]}

    :func:`llmbook.train.pad_batch` pads a list of them (``decoder_attention_mask`` included, labels
    padded with -100).
    """
    if len(source_ids) == 0:
        raise ValueError("the source is empty: drop empty sentence pairs before making examples")
    return {"input_ids": list(source_ids), "decoder_input_ids": [decoder_start_id, *target_ids],
            "labels": [*target_ids, eos_id]}


def seq2seq_loss(model: nn.Module, batch: Mapping[str, torch.Tensor], generator: Any = None, *,
                 label_smoothing: float = 0.0) -> torch.Tensor:
    """The mean cross-entropy of the labels given the source and the shifted target (teacher
    forcing), over the labels that are not -100. An ``objective`` for :class:`llmbook.train.Trainer`
    (``functools.partial(seq2seq_loss, label_smoothing=0.1)`` for Vaswani et al.'s smoothing:
    the target is ``1 - ε`` on the reference token and ``ε / vocab`` spread over every token).

    ``batch``: ``input_ids`` and ``attention_mask`` ``(batch, src)``, ``decoder_input_ids`` and
    ``labels`` ``(batch, tgt)``, as :func:`llmbook.train.pad_batch` makes from
    :func:`seq2seq_example`.
    """
    missing = {"input_ids", "decoder_input_ids", "labels"} - set(batch)
    if missing:
        raise ValueError(f"the batch lacks {sorted(missing)}: make examples with seq2seq_example "
                         "and collate them with llmbook.train.pad_batch")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    logits = model(batch["input_ids"], batch["decoder_input_ids"], batch.get("attention_mask"))
    return F.cross_entropy(logits.flatten(0, 1).float(), batch["labels"].flatten(),
                           ignore_index=IGNORE_INDEX, label_smoothing=label_smoothing)
