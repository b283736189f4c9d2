"""Conversion between :class:`llmbook.models.t5.T5` and ``transformers.T5ForConditionalGeneration``.

The two are the same network; only the names differ (no tensor is reshaped or transposed). With ``S`` =
``encoder`` or ``decoder``, ``i`` a block, and ``L`` = HF's ``S.block.i.layer``:

=============================================  ============================================================
ours                                           Hugging Face
=============================================  ============================================================
``embed``                                      ``shared`` (= ``S.embed_tokens``)
``S.relative_bias.embedding``                  ``S.block.0.layer.0.SelfAttention.relative_attention_bias``
``S.blocks.i.norm1``                           ``L.0.layer_norm``
``S.blocks.i.attn.{q,k,v,out}_proj``           ``L.0.SelfAttention.{q,k,v,o}``
``decoder.blocks.i.norm_cross``                ``L.1.layer_norm`` (decoder)
``decoder.blocks.i.cross_attn.*_proj``         ``L.1.EncDecAttention.{q,k,v,o}`` (decoder)
``S.blocks.i.norm2``                           ``L.1.layer_norm`` (encoder), ``L.2.layer_norm`` (decoder)
``S.blocks.i.ff.{wi,wi_0,wi_1,wo}``            ``L.{1 or 2}.DenseReluDense.{wi,wi_0,wi_1,wo}``
``S.norm``                                     ``S.final_layer_norm``
``lm_head`` (tied to ``embed``)                ``lm_head`` (tied to ``shared``)
=============================================  ============================================================

Ours keeps the relative position bias at the stack, where it is used; Hugging Face keeps it in the first
block's self-attention, which computes it and hands it to the others. ``tie_word_embeddings=False``
(T5 v1.1: an own ``lm_head``, no ``d_model ** -0.5`` rescaling) maps to Hugging Face's
``tie_word_embeddings=False``, whose ``scale_decoder_outputs`` is then False.
"""
from __future__ import annotations

import torch
from torch import nn

from ..models.t5 import T5, T5Config
from ._common import float_cpu_state, load_tensors

__all__ = ["to_hf_t5", "from_hf_t5", "hf_t5_config"]

_GATED_GELUS = ("gelu_new", "gelu_pytorch_tanh")  # the tanh approximation of GELU, ours in "gated-gelu"


def _weight_map(config: T5Config) -> list[tuple[str, str]]:
    """Every tensor as ``(our name, Hugging Face name)``. Export and import both read this one table, in
    opposite directions, so they cannot drift apart."""
    table = [("embed.weight", "shared.weight")]
    if not config.tie_word_embeddings:
        table.append(("lm_head.weight", "lm_head.weight"))
    ff = ["wi_0", "wi_1", "wo"] if config.feed_forward == "gated-gelu" else ["wi", "wo"]
    for stack, n_layers in (("encoder", config.n_layer), ("decoder", config.decoder_layers)):
        table += [(f"{stack}.relative_bias.embedding.weight",
                   f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"),
                  (f"{stack}.norm.weight", f"{stack}.final_layer_norm.weight")]
        for i in range(n_layers):
            o, h = f"{stack}.blocks.{i}.", f"{stack}.block.{i}.layer."
            sublayers = [("norm1", "attn", "0", "SelfAttention")]
            if stack == "decoder":
                sublayers.append(("norm_cross", "cross_attn", "1", "EncDecAttention"))
            for norm, attn, index, theirs in sublayers:
                table.append((f"{o}{norm}.weight", f"{h}{index}.layer_norm.weight"))
                for ours_proj, their_proj in (("q_proj", "q"), ("k_proj", "k"), ("v_proj", "v"),
                                              ("out_proj", "o")):
                    table.append((f"{o}{attn}.{ours_proj}.weight",
                                  f"{h}{index}.{theirs}.{their_proj}.weight"))
            index = "2" if stack == "decoder" else "1"  # the feed-forward sub-layer comes last
            table.append((f"{o}norm2.weight", f"{h}{index}.layer_norm.weight"))
            table += [(f"{o}ff.{name}.weight", f"{h}{index}.DenseReluDense.{name}.weight") for name in ff]
    return table


def hf_t5_config(config: T5Config):
    """The ``transformers.T5Config`` of a :class:`T5Config` (every field has an equivalent)."""
    from transformers import T5Config as HFT5Config

    if not isinstance(config, T5Config):
        raise TypeError(f"hf_t5_config expects an llmbook T5Config, got {type(config).__name__}")
    return HFT5Config(
        vocab_size=config.vocab_size, d_model=config.n_embd, d_kv=config.head_width, d_ff=config.ff_width,
        num_layers=config.n_layer, num_decoder_layers=config.decoder_layers, num_heads=config.n_head,
        relative_attention_num_buckets=config.relative_attention_num_buckets,
        relative_attention_max_distance=config.relative_attention_max_distance, dropout_rate=config.dropout,
        layer_norm_epsilon=config.layer_norm_eps, initializer_factor=1.0,
        feed_forward_proj=config.feed_forward,
        tie_word_embeddings=config.tie_word_embeddings, is_encoder_decoder=True, pad_token_id=config.pad_id,
        eos_token_id=config.eos_id, decoder_start_token_id=config.decoder_start_id,
    )


@torch.no_grad()
def to_hf_t5(model: T5, attn_implementation: str = "sdpa"):
    """A ``transformers.T5ForConditionalGeneration`` with ``model``'s weights (copies, float32, on the CPU).

    Both models then give the same logits (up to float rounding), and its ``generation_config`` has our
    padding, end and decoder-start ids, so its greedy ``generate`` is ours.
    """
    from transformers import T5ForConditionalGeneration

    if not isinstance(model, T5):
        raise TypeError(f"to_hf_t5 expects an llmbook.models.t5.T5, got {type(model).__name__}")
    config = model.config
    hf_config = hf_t5_config(config)
    hf_config._attn_implementation = attn_implementation  # "sdpa" (fused kernel) or "eager"
    hf = T5ForConditionalGeneration(hf_config)
    if not config.tie_word_embeddings:
        # transformers 5 ties lm_head to shared whatever the config says; T5 v1.1 needs its own weight.
        hf.config.tie_word_embeddings = False
        hf.lm_head.weight = nn.Parameter(hf.lm_head.weight.detach().clone())
    ours = float_cpu_state(model)
    load_tensors(hf, {theirs: ours[name] for name, theirs in _weight_map(config)})
    for name in ("pad_token_id", "eos_token_id", "decoder_start_token_id"):
        setattr(hf.generation_config, name, getattr(hf_config, name))
    hf.train(model.training)
    return hf


def _their_config(cfg) -> T5Config:
    """Our :class:`T5Config` of a ``transformers.T5Config``; a ValueError lists what has no equivalent."""
    problems = []
    if cfg.is_gated_act and cfg.dense_act_fn in _GATED_GELUS:
        feed_forward = "gated-gelu"
    elif not cfg.is_gated_act and cfg.dense_act_fn == "relu":
        feed_forward = "relu"
    else:
        feed_forward = None
        problems.append(f"feed_forward_proj={cfg.feed_forward_proj!r} (ours: 'relu' or 'gated-gelu')")
    eos = cfg.eos_token_id
    if isinstance(eos, (list, tuple)):
        problems.append(f"eos_token_id={eos} (ours stops on one end id: set eos_token_id to one of them)")
    for name in ("pad_token_id", "eos_token_id"):
        if getattr(cfg, name) is None:
            problems.append(f"{name}=None (ours needs one; T5's are pad 0 and eos 1)")
    if problems:
        raise ValueError("this T5 configuration has no llmbook T5 equivalent: " + "; ".join(problems))
    # T5 starts decoding from the padding id when the config names no other start id.
    start = getattr(cfg, "decoder_start_token_id", None)
    start = cfg.pad_token_id if start is None else start
    return T5Config(
        vocab_size=cfg.vocab_size, n_layer=cfg.num_layers, n_decoder_layer=cfg.num_decoder_layers,
        n_head=cfg.num_heads, n_embd=cfg.d_model, d_kv=cfg.d_kv, d_ff=cfg.d_ff,
        dropout=float(cfg.dropout_rate),
        relative_attention_num_buckets=cfg.relative_attention_num_buckets,
        relative_attention_max_distance=cfg.relative_attention_max_distance,
        layer_norm_eps=float(cfg.layer_norm_epsilon), feed_forward=feed_forward,
        # transformers 5 keeps tie_word_embeddings=True and records T5 v1.1 as scale_decoder_outputs=False
        tie_word_embeddings=bool(getattr(cfg, "scale_decoder_outputs", cfg.tie_word_embeddings)),
        pad_id=cfg.pad_token_id, decoder_start_id=start, eos_id=eos,
    )


@torch.no_grad()
def from_hf_t5(hf_model) -> T5:
    """A :class:`T5` with the weights of a ``transformers.T5ForConditionalGeneration`` (float32, CPU)."""
    cfg = getattr(hf_model, "config", None)
    if getattr(cfg, "model_type", None) != "t5" or not hasattr(hf_model, "lm_head"):
        raise TypeError("from_hf_t5 expects a T5ForConditionalGeneration, got "
                        f"{type(hf_model).__name__} of model type {getattr(cfg, 'model_type', None)!r}")
    config = _their_config(cfg)
    theirs = float_cpu_state(hf_model)
    for stack in ("encoder", "decoder"):
        embed = theirs.get(f"{stack}.embed_tokens.weight", theirs["shared.weight"])
        if not torch.equal(embed, theirs["shared.weight"]):
            raise ValueError(f"this T5's {stack}.embed_tokens differs from shared: ours has one token "
                             "embedding for the encoder, the decoder (and a tied lm_head)")
    lm_head_tied = torch.equal(theirs["lm_head.weight"], theirs["shared.weight"])
    if config.tie_word_embeddings and not lm_head_tied:
        raise ValueError("this T5 rescales the decoder output for a tied lm_head (scale_decoder_outputs="
                         "True), but its lm_head differs from shared: ours ties both or neither")
    model = T5(config)
    load_tensors(model, {name: theirs[their_name] for name, their_name in _weight_map(config)})
    model.train(hf_model.training)
    return model
