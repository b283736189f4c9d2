"""T5: an encoder–decoder Transformer for text-to-text tasks (Raffel et al.), built on :mod:`llmbook.nn`.

The model, in the order data flows through it::

    input_ids (batch, src) ─embed─► dropout ─► n_layer × [self-attn, FFN] ─► norm ─► dropout ─┐ encoder
                                            (bidirectional, + relative position bias)         │ states
    decoder_input_ids (batch, tgt) ─embed─► dropout ─► n_decoder_layer × [causal self-attn,   │
                                    cross-attn to the encoder states ◄────────────────────────┘
                                    FFN] ─► norm ─► dropout ─► × n_embd**-0.5 ─► lm_head (tied to embed)

What sets T5 apart from the original Transformer and from GPT:

* **no position embeddings**: each attention head adds a learned scalar to the score of query i and key
  j, looked up by the bucket of the relative position j − i (:class:`~llmbook.nn.RelativePositionBias`).
  The bias is computed once per stack (by its first layer, in Hugging Face's layout) and shared by every
  layer; the encoder's buckets look both ways, the decoder's only back. Cross-attention has no bias.
* **no 1/√d_k** in attention (``scale=1.0``): the initialisation of the query projection folds it in;
* **RMSNorm** ("T5LayerNorm") before every sub-layer (pre-norm), and **no biases** anywhere;
* one token embedding shared by the encoder, the decoder and the output layer, which rescales the
  decoder's output by ``n_embd ** -0.5`` first (T5 v1.0; ``tie_word_embeddings=False`` gives T5 v1.1's
  separate output layer without the rescaling).

With the default :class:`T5Config` (``feed_forward="relu"``) the model maps one-to-one onto Hugging Face's
``T5ForConditionalGeneration`` (see :mod:`llmbook.hf.t5`); ``feed_forward="gated-gelu"`` is T5 v1.1's
gated feed-forward network. Decoding starts from ``decoder_start_id`` (T5: the padding id 0); training
feeds the decoder the targets shifted right by one (:func:`shift_right`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..nn import KVCache, LayerKVCache, MultiHeadAttention, RMSNorm
from ..nn.position import RelativePositionBias
from .loss import check_token_ids, padding_mask

__all__ = ["T5Config", "T5", "shift_right", "FEED_FORWARDS"]

FEED_FORWARDS = ("relu", "gated-gelu")


@dataclass
class T5Config:
    """The shape of a T5. t5-small: vocab 32128, n_layer 6, n_head 8, n_embd 512, d_kv 64, d_ff 2048.

    ``n_decoder_layer``, ``d_kv`` and ``d_ff`` left at None mean ``n_layer``, ``n_embd // n_head`` and
    ``4 * n_embd``. The three special ids are T5's: padding 0 (also the first decoder input), end 1.
    """

    vocab_size: int | None = None  # the tokenizer's: set it before building a T5
    n_layer: int = 2  # encoder layers
    n_decoder_layer: int | None = None  # decoder layers (default n_layer)
    n_head: int = 4
    n_embd: int = 64  # d_model
    d_kv: int | None = None  # width of each head (default n_embd // n_head); heads together: n_head * d_kv
    d_ff: int | None = None  # hidden width of the feed-forward network (default 4 * n_embd)
    dropout: float = 0.1
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    layer_norm_eps: float = 1e-6
    feed_forward: str = "relu"  # "relu" (T5 v1.0) or "gated-gelu" (T5 v1.1)
    tie_word_embeddings: bool = True  # lm_head shares embed's weight, decoder output scaled by n_embd**-0.5
    pad_id: int = 0
    decoder_start_id: int = 0
    eos_id: int = 1

    def __post_init__(self) -> None:
        # n_decoder_layer, d_kv and d_ff stay None when not given, and the properties decoder_layers,
        # head_width and ff_width derive them: dataclasses.replace(config, n_embd=...) then derives them
        # afresh instead of keeping values computed from the old width.
        names = ["n_layer", "n_head", "n_embd", "relative_attention_num_buckets", "relative_attention_max_distance"]
        names += [n for n in ("vocab_size", "n_decoder_layer", "d_ff", "d_kv") if getattr(self, n) is not None]
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"T5Config.{name} must be a positive int, got {value!r}")
        if self.d_kv is None and self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}: choose an "
                             "n_head that divides it, or give the head width d_kv yourself")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.layer_norm_eps > 0:
            raise ValueError(f"layer_norm_eps must be positive, got {self.layer_norm_eps}")
        if self.feed_forward not in FEED_FORWARDS:
            raise ValueError(f"T5Config.feed_forward must be one of {FEED_FORWARDS}, "
                             f"got {self.feed_forward!r}")
        if not isinstance(self.tie_word_embeddings, bool):
            raise ValueError("T5Config.tie_word_embeddings must be True or False, "
                             f"got {self.tie_word_embeddings!r}")
        # The decoder's buckets (one direction) are the stricter case of the bucket layout's checks.
        buckets, distance = self.relative_attention_num_buckets, self.relative_attention_max_distance
        if buckets < 4 or distance <= buckets // 2:
            raise ValueError(
                f"relative_attention_num_buckets={buckets}, relative_attention_max_distance={distance}: T5 "
                f"needs at least 4 buckets and max_distance > num_buckets // 2 = {buckets // 2} (half of "
                "each direction's buckets are exact, the rest grow logarithmically up to max_distance)"
            )
        for name in ("pad_id", "decoder_start_id", "eos_id"):
            value = getattr(self, name)
            limit = self.vocab_size if self.vocab_size is not None else float("inf")
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
                raise ValueError(f"T5Config.{name} must be a token id in [0, vocab_size={self.vocab_size}), "
                                 f"got {value!r}")

    @property
    def decoder_layers(self) -> int:
        """Decoder layers: ``n_decoder_layer``, or ``n_layer`` when it is None."""
        return self.n_layer if self.n_decoder_layer is None else self.n_decoder_layer

    @property
    def head_width(self) -> int:
        """Width of each head: ``d_kv``, or ``n_embd // n_head`` when it is None."""
        return self.n_embd // self.n_head if self.d_kv is None else self.d_kv

    @property
    def ff_width(self) -> int:
        """Hidden width of the feed-forward network: ``d_ff``, or ``4 * n_embd`` when it is None."""
        return 4 * self.n_embd if self.d_ff is None else self.d_ff


def shift_right(labels: torch.Tensor, decoder_start_id: int = 0, pad_id: int = 0) -> torch.Tensor:
    """The decoder inputs of teacher forcing: ``labels`` ``(batch, tgt)`` moved one step right.

    Position t of the decoder sees the targets before t, so its input is ``[decoder_start_id, y_0, …,
    y_{T-2}]``; ignored targets (``-100``, the ``ignore_index`` of the loss) become ``pad_id``. The same as
    Hugging Face's ``T5PreTrainedModel._shift_right``. Returns ``(batch, tgt)``.
    """
    if not isinstance(labels, torch.Tensor) or labels.dim() != 2:
        raise ValueError(f"labels must be a (batch, tgt) tensor of token ids, got shape "
                         f"{tuple(getattr(labels, 'shape', ()))}; add a batch dimension with labels[None]")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"labels must hold integer token ids (or -100), got dtype {labels.dtype}")
    shifted = torch.empty_like(labels)
    shifted[:, 0] = decoder_start_id
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == -100, pad_id)


class T5FeedForward(nn.Module):
    """T5's position-wise network, without biases; dropout on the hidden layer (the block adds its own
    on the output).

    ``"relu"``: ``wo(dropout(relu(wi x)))``; ``"gated-gelu"``: ``wo(dropout(gelu_tanh(wi_0 x) ⊙ wi_1 x))``.
    Shapes: ``(batch, seq, n_embd)`` → same.
    """

    def __init__(self, config: T5Config):
        super().__init__()
        self.gated = config.feed_forward == "gated-gelu"
        if self.gated:
            self.wi_0 = nn.Linear(config.n_embd, config.ff_width, bias=False)
            self.wi_1 = nn.Linear(config.n_embd, config.ff_width, bias=False)
        else:
            self.wi = nn.Linear(config.n_embd, config.ff_width, bias=False)
        self.wo = nn.Linear(config.ff_width, config.n_embd, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            hidden = F.gelu(self.wi_0(x), approximate="tanh") * self.wi_1(x)
        else:
            hidden = F.relu(self.wi(x))
        return self.wo(self.dropout(hidden))


class T5Block(nn.Module):
    """One pre-norm block: ``x += drop(attn(norm1(x)))``; [``x += drop(cross_attn(norm_cross(x), context))``];
    ``x += drop(ff(norm2(x)))``. Attention is unscaled (``scale=1.0``) and takes the stack's position bias.
    """

    def __init__(self, config: T5Config, cross_attention: bool):
        super().__init__()
        d, eps = config.n_embd, config.layer_norm_eps

        def attention() -> MultiHeadAttention:
            return MultiHeadAttention(d, config.n_head, dropout=config.dropout, bias=False,
                                      head_dim=config.head_width, scale=1.0)

        self.norm1 = RMSNorm(d, eps)
        self.attn = attention()
        self.norm_cross = RMSNorm(d, eps) if cross_attention else None
        self.cross_attn = attention() if cross_attention else None
        self.norm2 = RMSNorm(d, eps)
        self.ff = T5FeedForward(config)
        self.dropout = nn.Dropout(config.dropout)  # on each sub-layer's output, before the residual addition

    def forward(
        self,
        x: torch.Tensor,
        position_bias: torch.Tensor,
        *,
        causal: bool = False,
        key_padding_mask: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
        context_padding_mask: torch.Tensor | None = None,
        kv_cache: LayerKVCache | None = None,
    ) -> torch.Tensor:
        """``x`` ``(batch, seq, n_embd)``, ``position_bias`` ``(1, n_head, seq, seq_k)``, ``context``
        ``(batch, src, n_embd)``; padding masks are bool, True = padding. Returns ``(batch, seq, n_embd)``."""
        x = x + self.dropout(self.attn(self.norm1(x), causal=causal, key_padding_mask=key_padding_mask,
                                       kv_cache=kv_cache, attn_bias=position_bias))
        if self.cross_attn is not None:
            # Cross-attention has no position bias: encoder and decoder positions are not on one axis.
            attended = self.cross_attn(self.norm_cross(x), context, key_padding_mask=context_padding_mask)
            x = x + self.dropout(attended)
        return x + self.dropout(self.ff(self.norm2(x)))


class T5Stack(nn.Module):
    """The encoder (``is_decoder=False``) or the decoder: blocks sharing one relative position bias, then
    a final RMSNorm and dropout. Takes embeddings ``(batch, seq, n_embd)``; returns the same shape."""

    def __init__(self, config: T5Config, n_layers: int, is_decoder: bool):
        super().__init__()
        self.is_decoder = is_decoder
        self.relative_bias = RelativePositionBias(
            config.n_head, config.relative_attention_num_buckets, config.relative_attention_max_distance,
            bidirectional=not is_decoder,  # the decoder sees only the past
        )
        self.blocks = nn.ModuleList(T5Block(config, cross_attention=is_decoder) for _ in range(n_layers))
        self.norm = RMSNorm(config.n_embd, config.layer_norm_eps)
        self.drop = nn.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
        context_padding_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        offset = kv_cache.seq_len if kv_cache is not None else 0  # positions already decoded
        seq = x.size(1)
        # One bias for all blocks: queries at offset .. offset + seq - 1, keys at 0 .. offset + seq - 1.
        position_bias = self.relative_bias(seq, offset + seq, offset)  # (1, n_head, seq, offset + seq)
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, position_bias, causal=self.is_decoder, key_padding_mask=key_padding_mask,
                      context=context, context_padding_mask=context_padding_mask,
                      kv_cache=kv_cache.layer(i) if kv_cache is not None else None)
        return self.drop(self.norm(x))


class T5(nn.Module):
    """A T5 encoder–decoder. ``forward(input_ids, decoder_input_ids, attention_mask=None,
    decoder_attention_mask=None) -> logits (batch, tgt, vocab_size)``.

    Masks follow Hugging Face: ``(batch, seq)`` with 1 (or True) for a real token and 0 for padding.
    Train with the cross-entropy of the logits against the targets (``ignore_index=-100``) and
    ``decoder_input_ids = shift_right(targets, ...)``.
    """

    def __init__(self, config: T5Config):
        super().__init__()
        if config.vocab_size is None:
            raise ValueError("T5Config.vocab_size is None: set it to the tokenizer's, e.g. "
                             "T5(dataclasses.replace(config, vocab_size=tokenizer.vocab_size))")
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)  # shared by encoder, decoder and lm_head
        self.encoder = T5Stack(config, config.n_layer, is_decoder=False)
        self.decoder = T5Stack(config, config.decoder_layers, is_decoder=True)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.embed.weight
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """T5's initialisation (Hugging Face's ``_init_weights`` with factor 1): each weight N(0, 1/fan_in),
        except the embedding N(0, 1) and the queries N(0, 1/(n_embd · d_kv)), which folds in the 1/√d_kv
        that the attention leaves out."""
        c = self.config
        nn.init.normal_(self.embed.weight, std=1.0)
        if not c.tie_word_embeddings:
            nn.init.normal_(self.lm_head.weight, std=1.0)
        for module in self.modules():
            if isinstance(module, RMSNorm):
                nn.init.ones_(module.weight)
            elif isinstance(module, RelativePositionBias):
                nn.init.normal_(module.embedding.weight, std=c.n_embd ** -0.5)
            elif isinstance(module, MultiHeadAttention):
                nn.init.normal_(module.q_proj.weight, std=(c.n_embd * c.head_width) ** -0.5)
                nn.init.normal_(module.k_proj.weight, std=c.n_embd ** -0.5)
                nn.init.normal_(module.v_proj.weight, std=c.n_embd ** -0.5)
                nn.init.normal_(module.out_proj.weight, std=(c.n_head * c.head_width) ** -0.5)
            elif isinstance(module, T5FeedForward):
                for linear in (module.wi_0, module.wi_1) if module.gated else (module.wi,):
                    nn.init.normal_(linear.weight, std=c.n_embd ** -0.5)
                nn.init.normal_(module.wo.weight, std=c.ff_width ** -0.5)

    def num_params(self, non_embedding: bool = True) -> int:
        """Number of parameters; by default without the token table when it is only looked up (an
        untied ``lm_head``), as :meth:`llmbook.models.GPT.num_params` counts them. A tied one computes the
        logits too, so it stays in."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and not self.config.tie_word_embeddings:
            n -= self.embed.weight.numel()
        return n

    # ---- input checks -------------------------------------------------------------------------------

    def _check_ids(self, ids: torch.Tensor, name: str) -> None:
        check_token_ids(ids, self.config.vocab_size, name)
        if ids.size(1) == 0:
            what = ("the decoder needs at least one input: start it with decoder_start_id="
                    f"{self.config.decoder_start_id} (shift_right(targets) does this)"
                    if name == "decoder_input_ids" else "the encoder needs at least one token to attend to")
            raise ValueError(f"{name} is empty (batch, 0): {what}")

    # ---- the two halves -----------------------------------------------------------------------------

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's output states ``(batch, src, n_embd)`` of ``input_ids`` ``(batch, src)``."""
        self._check_ids(input_ids, "input_ids")
        padding = padding_mask(attention_mask, tuple(input_ids.shape), "attention_mask", "its token ids")
        return self.encoder(self.embed(input_ids), key_padding_mask=padding)

    def decode(
        self,
        decoder_input_ids: torch.Tensor,
        encoder_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Next-token logits ``(batch, tgt, vocab_size)`` of ``decoder_input_ids`` ``(batch, tgt)`` given the
        encoder's output ``encoder_states`` ``(batch, src, n_embd)``.

        ``attention_mask`` ``(batch, src)`` is the encoder input's mask; ``decoder_attention_mask`` covers
        the decoder's keys, so with ``kv_cache`` it is ``(batch, cached + tgt)``. ``kv_cache`` (one slot per
        decoder layer) holds the decoder's self-attention keys and values of earlier positions.
        """
        self._check_ids(decoder_input_ids, "decoder_input_ids")
        batch = decoder_input_ids.size(0)
        n_embd = self.config.n_embd
        if encoder_states.dim() != 3 or encoder_states.shape[0] != batch or encoder_states.shape[2] != n_embd:
            raise ValueError(f"encoder_states must have shape (batch={batch}, src, n_embd={n_embd}), got "
                             f"{tuple(encoder_states.shape)}; the input_ids and decoder_input_ids batches "
                             "must match")
        cached = kv_cache.seq_len if kv_cache is not None else 0
        src = encoder_states.size(1)
        context_padding = padding_mask(attention_mask, (batch, src), "attention_mask", "its token ids")
        padding = padding_mask(decoder_attention_mask, (batch, cached + decoder_input_ids.size(1)),
                               "decoder_attention_mask", "its token ids")
        h = self.decoder(self.embed(decoder_input_ids), key_padding_mask=padding, context=encoder_states,
                         context_padding_mask=context_padding, kv_cache=kv_cache)
        if self.config.tie_word_embeddings:
            # The tied output layer reads the N(0, 1) embedding: bring the states to its scale (T5 v1.0).
            h = h * self.config.n_embd ** -0.5
        return self.lm_head(h)

    def forward(
        self,
        input_ids: torch.Tensor,
        decoder_input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``(batch, tgt, vocab_size)``: position t predicts the target that follows
        ``decoder_input_ids[:, :t+1]``.

        ``input_ids`` ``(batch, src)`` and ``decoder_input_ids`` ``(batch, tgt)`` are token ids; the masks
        have their shapes, 1 = token and 0 = padding.
        """
        self._check_ids(input_ids, "input_ids")
        self._check_ids(decoder_input_ids, "decoder_input_ids")
        if input_ids.size(0) != decoder_input_ids.size(0):
            raise ValueError(f"input_ids has {input_ids.size(0)} rows but decoder_input_ids has "
                             f"{decoder_input_ids.size(0)}: give every source its own target")
        encoder_states = self.encode(input_ids, attention_mask)
        return self.decode(decoder_input_ids, encoder_states, attention_mask, decoder_attention_mask)

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        max_new_tokens: int,
        attention_mask: torch.Tensor | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Greedy decoding: ``(batch, n)`` new tokens with ``n <= max_new_tokens``, without the start token.

        Decoding starts from ``decoder_start_id`` and takes the most probable token at each step. A row that
        has produced ``eos_id`` is finished: its later positions are ``pad_id``; decoding stops when every
        row is finished (so ``n < max_new_tokens`` then) — as Hugging Face's ``generate(do_sample=False,
        num_beams=1)``, whose output is ours after its first column. The encoder runs once; with
        ``use_cache`` the decoder's keys and values are cached, so each step computes one position.
        Call ``model.eval()`` first to switch dropout off.
        """
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
        c = self.config
        encoder_states = self.encode(input_ids, attention_mask)
        batch = input_ids.size(0)
        tokens = torch.full((batch, 1), c.decoder_start_id, dtype=torch.long, device=input_ids.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
        cache = KVCache(c.decoder_layers) if use_cache else None
        for _ in range(max_new_tokens):
            step_input = tokens[:, -1:] if cache is not None else tokens
            logits = self.decode(step_input, encoder_states, attention_mask, kv_cache=cache)[:, -1]
            next_id = logits.argmax(dim=-1)
            next_id = next_id.masked_fill(finished, c.pad_id)  # finished rows only pad
            tokens = torch.cat([tokens, next_id[:, None]], dim=1)
            finished |= next_id == c.eos_id
            if bool(finished.all()):
                break
        return tokens[:, 1:]
