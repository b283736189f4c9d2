"""Conversion between :class:`llmbook.models.BERT` / :class:`~llmbook.models.BertForPreTraining` and Hugging
Face ``transformers.BertModel`` / ``BertForPreTraining``.

The two are the same network under different names (both use ``torch.nn.Linear``, so nothing is
transposed). Hugging Face's names, without the ``bert.`` prefix that ``BertForPreTraining`` adds:

=======================================  ========================================================
ours                                      Hugging Face
=======================================  ========================================================
``word_embeddings``, ``position_…``,      ``embeddings.word_embeddings``, ``embeddings.position_…``,
``token_type_embeddings``                 ``embeddings.token_type_embeddings``
``embed_norm``                            ``embeddings.LayerNorm``
``encoder.layers.i.attn.q/k/v_proj``      ``encoder.layer.i.attention.self.query/key/value``
``encoder.layers.i.attn.out_proj``        ``encoder.layer.i.attention.output.dense``
``encoder.layers.i.norm1``                ``encoder.layer.i.attention.output.LayerNorm``
``encoder.layers.i.ff.fc1`` / ``fc2``     ``encoder.layer.i.intermediate.dense`` / ``output.dense``
``encoder.layers.i.norm2``                ``encoder.layer.i.output.LayerNorm``
``pooler``                                ``pooler.dense``
``mlm_dense``, ``mlm_norm``               ``cls.predictions.transform.dense``, ``….LayerNorm``
``mlm_decoder`` (tied to the word table)  ``cls.predictions.decoder`` (tied), bias ``cls.predictions.bias``
``nsp_head``                              ``cls.seq_relationship``
=======================================  ========================================================

A Hugging Face ``BertModel`` built with ``add_pooling_layer=False`` has no pooler: ours then keeps its
freshly initialised one, with a warning, as Hugging Face does when a checkpoint lacks pooler weights.
"""
from __future__ import annotations

import warnings

import torch

from ..models.bert import BERT, BERTConfig, BertForPreTraining
from ._common import float_cpu_state, load_tensors

__all__ = ["to_hf_bert", "from_hf_bert", "hf_bert_config"]

_LAYER_NAMES = (  # (ours under encoder.layers.i., Hugging Face's under encoder.layer.i.)
    ("attn.q_proj", "attention.self.query"),
    ("attn.k_proj", "attention.self.key"),
    ("attn.v_proj", "attention.self.value"),
    ("attn.out_proj", "attention.output.dense"),
    ("norm1", "attention.output.LayerNorm"),
    ("ff.fc1", "intermediate.dense"),
    ("ff.fc2", "output.dense"),
    ("norm2", "output.LayerNorm"),
)


def _weight_map(config: BERTConfig, pretraining: bool, pooler: bool = True) -> list[tuple[str, str]]:
    """Every tensor as ``(our name, Hugging Face's name)``, for a :class:`BertForPreTraining`
    (``pretraining=True``) or a :class:`BERT`; ``pooler=False`` leaves out the pooler.

    Export and import both read this one table, in opposite directions, so they cannot drift apart.
    The MLM decoder's weight is not in it: it is the word table (tied on both sides).
    """
    ours_at, theirs_at = ("bert.", "bert.") if pretraining else ("", "")
    modules = [("word_embeddings", "embeddings.word_embeddings"),
               ("position_embeddings", "embeddings.position_embeddings"),
               ("token_type_embeddings", "embeddings.token_type_embeddings")]
    table = [(f"{ours_at}{o}.weight", f"{theirs_at}{t}.weight") for o, t in modules]
    modules = [("embed_norm", "embeddings.LayerNorm")]
    for i in range(config.n_layer):
        modules += [(f"encoder.layers.{i}.{o}", f"encoder.layer.{i}.{t}") for o, t in _LAYER_NAMES]
    if pooler:
        modules.append(("pooler", "pooler.dense"))
    table += [(f"{ours_at}{o}.{p}", f"{theirs_at}{t}.{p}") for o, t in modules for p in ("weight", "bias")]
    if pretraining:
        heads = [("mlm_dense", "cls.predictions.transform.dense"),
                 ("mlm_norm", "cls.predictions.transform.LayerNorm"),
                 ("nsp_head", "cls.seq_relationship")]
        table += [(f"{o}.{p}", f"{t}.{p}") for o, t in heads for p in ("weight", "bias")]
        table.append(("mlm_decoder.bias", "cls.predictions.bias"))
    return table


def hf_bert_config(config: BERTConfig):
    """The ``transformers.BertConfig`` of a :class:`BERTConfig` (the same network, Hugging Face's names)."""
    from transformers import BertConfig

    if not isinstance(config, BERTConfig):
        raise TypeError(f"hf_bert_config expects a BERTConfig, got {type(config).__name__}")
    if config.vocab_size is None:
        raise ValueError("BERTConfig.vocab_size is None: set it first, e.g. "
                         "dataclasses.replace(config, vocab_size=tokenizer.vocab_size)")
    return BertConfig(
        vocab_size=config.vocab_size, hidden_size=config.n_embd, num_hidden_layers=config.n_layer,
        num_attention_heads=config.n_head, intermediate_size=config.ff_width, hidden_act="gelu",
        hidden_dropout_prob=config.dropout, attention_probs_dropout_prob=config.dropout,
        max_position_embeddings=config.max_position, type_vocab_size=config.type_vocab_size,
        initializer_range=0.02, layer_norm_eps=config.layer_norm_eps, pad_token_id=config.pad_id,
        is_decoder=False, add_cross_attention=False, tie_word_embeddings=True,
    )


@torch.no_grad()
def to_hf_bert(model: BERT | BertForPreTraining, attn_implementation: str = "sdpa"):
    """A ``transformers.BertForPreTraining`` (for a :class:`BertForPreTraining`) or ``BertModel`` with its
    pooler (for a :class:`BERT`) holding ``model``'s weights (copies, float32, on the CPU).

    Both models then give the same outputs (up to float rounding).
    """
    from transformers import BertForPreTraining as HFBertForPreTraining
    from transformers import BertModel

    if not isinstance(model, (BERT, BertForPreTraining)):
        raise TypeError(f"to_hf_bert expects an llmbook.models BERT or BertForPreTraining, "
                        f"got {type(model).__name__}")
    pretraining = isinstance(model, BertForPreTraining)
    hf_config = hf_bert_config(model.config)
    hf_config._attn_implementation = attn_implementation  # "sdpa" (fused kernel) or "eager"
    hf = HFBertForPreTraining(hf_config) if pretraining else BertModel(hf_config, add_pooling_layer=True)
    ours = float_cpu_state(model)
    load_tensors(hf, {theirs: ours[name] for name, theirs in _weight_map(model.config, pretraining)})
    hf.tie_weights()
    hf.train(model.training)
    return hf


def _config_from_hf(cfg) -> BERTConfig:
    """Our :class:`BERTConfig` for a ``transformers.BertConfig``, refusing what ours cannot express."""
    problems = []
    if cfg.hidden_act != "gelu":
        problems.append(f"hidden_act={cfg.hidden_act!r} (ours is BERT's exact erf GELU, 'gelu')")
    position_type = getattr(cfg, "position_embedding_type", "absolute")
    if position_type != "absolute":
        problems.append(f"position_embedding_type={position_type!r} (ours is a learned table, 'absolute')")
    if getattr(cfg, "is_decoder", False) or getattr(cfg, "add_cross_attention", False):
        problems.append("is_decoder / add_cross_attention (ours is a bidirectional encoder, "
                        "without cross-attention)")
    if problems:
        raise ValueError("this BERT configuration has no llmbook BERT equivalent: " + "; ".join(problems))
    # One dropout rate stands for both of Hugging Face's (they are equal in BERT and MiniLM); it only
    # matters in training mode.
    dropout = float(max(cfg.hidden_dropout_prob, cfg.attention_probs_dropout_prob))
    return BERTConfig(
        vocab_size=cfg.vocab_size, max_position=cfg.max_position_embeddings,
        type_vocab_size=cfg.type_vocab_size, n_layer=cfg.num_hidden_layers, n_head=cfg.num_attention_heads,
        n_embd=cfg.hidden_size, d_ff=cfg.intermediate_size, dropout=dropout, layer_norm_eps=float(cfg.layer_norm_eps),
        # pad_token_id None only means "no padding row"; the forward pass does not depend on it
        pad_id=cfg.pad_token_id if cfg.pad_token_id is not None else 0,
    )


@torch.no_grad()
def from_hf_bert(hf_model) -> BERT | BertForPreTraining:
    """Our model with the weights of a Hugging Face BERT (float32, on the CPU): a :class:`BERT` for a
    ``transformers.BertModel`` (e.g. all-MiniLM-L6-v2), a :class:`BertForPreTraining` for a
    ``transformers.BertForPreTraining``."""
    from transformers import BertForPreTraining as HFBertForPreTraining
    from transformers import BertModel

    if not isinstance(hf_model, (BertModel, HFBertForPreTraining)):
        raise TypeError(f"from_hf_bert expects a transformers BertModel or BertForPreTraining, got "
                        f"{type(hf_model).__name__}; for another head, convert its .bert (a BertModel)")
    pretraining = isinstance(hf_model, HFBertForPreTraining)
    config = _config_from_hf(hf_model.config)
    model = BertForPreTraining(config) if pretraining else BERT(config)
    theirs = float_cpu_state(hf_model)
    if pretraining and not torch.equal(theirs["cls.predictions.decoder.weight"],
                                       theirs["bert.embeddings.word_embeddings.weight"]):
        raise ValueError("this BertForPreTraining's MLM decoder is not tied to the word embedding, but "
                         "ours is: there is no llmbook equivalent (tie them with hf_model.tie_weights() "
                         "if they should be)")
    has_pooler = (hf_model.bert if pretraining else hf_model).pooler is not None
    if not has_pooler:
        warnings.warn("this BertModel has no pooler (add_pooling_layer=False): the pooler of the converted "
                      "model keeps its random initialisation, so model.pool() means nothing until trained",
                      stacklevel=2)
    table = _weight_map(config, pretraining, has_pooler)
    load_tensors(model, {name: theirs[hf_name] for name, hf_name in table})
    model.train(hf_model.training)
    return model
