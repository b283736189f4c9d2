"""Conversion between :class:`llmbook.models.GPT` and Hugging Face ``transformers.GPT2LMHeadModel``.

The two are the same network with different parameter layouts:

==========================================  ==============================================================
ours (``torch.nn.Linear``: weight ``(out, in)``)  GPT-2 (``Conv1D``: weight ``(in, out)``)
==========================================  ==============================================================
``wte``, ``wpe``, ``ln_f``                   ``transformer.wte``, ``transformer.wpe``, ``transformer.ln_f``
``blocks.i.norm1`` / ``norm2``               ``transformer.h.i.ln_1`` / ``ln_2``
``blocks.i.attn.{q,k,v}_proj``               ``transformer.h.i.attn.c_attn`` = concat(q, k, v), transposed
``blocks.i.attn.out_proj``                   ``transformer.h.i.attn.c_proj`` (transposed)
``blocks.i.ff.fc1`` / ``fc2``                ``transformer.h.i.mlp.c_fc`` / ``c_proj`` (transposed)
``lm_head`` (tied to ``wte``)                ``lm_head`` (tied to ``transformer.wte``)
==========================================  ==============================================================

An untied ``lm_head`` (``GPTConfig(tie_weights=False)``) maps to GPT-2's ``lm_head`` with
``tie_word_embeddings=False``. Rotary positions and post-LN blocks have no GPT-2 equivalent.
"""
from __future__ import annotations

import torch

from ..models.gpt import GPT, GPTConfig
from ._common import float_cpu_state, load_tensors

__all__ = ["to_hf_gpt2", "from_hf_gpt2", "hf_gpt2_config"]

_TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")


def _weight_map(config: GPTConfig) -> list[tuple[tuple[str, ...], str, bool]]:
    """Every GPT-2 tensor as ``(our names, GPT-2 name, transposed)``: our tensors concatenated along
    dim 0 (and transposed, for GPT-2's ``Conv1D`` weights ``(in, out)``) are GPT-2's tensor.

    Export and import both read this one table, in opposite directions, so they cannot drift apart.
    """
    t = "transformer."
    table = [((name,), t + name, False) for name in ("wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias")]
    if not config.tie_weights:
        table.append((("lm_head.weight",), "lm_head.weight", False))
    for i in range(config.n_layer):
        o, h = f"blocks.{i}.", f"{t}h.{i}."
        for p in ("weight", "bias"):
            table += [((f"{o}norm1.{p}",), f"{h}ln_1.{p}", False), ((f"{o}norm2.{p}",), f"{h}ln_2.{p}", False)]
            # GPT-2 projects queries, keys and values with one matrix: c_attn = concat(q, k, v)
            table.append((tuple(f"{o}attn.{n}_proj.{p}" for n in "qkv"), f"{h}attn.c_attn.{p}", p == "weight"))
            for ours, theirs in (("attn.out_proj", "attn.c_proj"), ("ff.fc1", "mlp.c_fc"), ("ff.fc2", "mlp.c_proj")):
                table.append(((f"{o}{ours}.{p}",), f"{h}{theirs}.{p}", p == "weight"))
    return table


def hf_gpt2_config(config: GPTConfig):
    """The ``transformers.GPT2Config`` of a :class:`GPTConfig`."""
    from transformers import GPT2Config

    problems = []
    if not config.bias:
        problems.append("GPT-2 has biases in every linear layer and LayerNorm: only GPTConfig(bias=True) matches")
    if config.position != "learned":
        problems.append(f"GPT-2 learns its positions: GPTConfig(position={config.position!r}) has no GPT-2 equivalent")
    if not config.norm_first:
        problems.append("GPT-2 is pre-LN: GPTConfig(norm_first=False) has no GPT-2 equivalent")
    if problems:
        raise ValueError("cannot export this model as GPT-2: " + "; ".join(problems))
    return GPT2Config(
        vocab_size=config.vocab_size, n_positions=config.block_size, n_embd=config.n_embd, n_layer=config.n_layer,
        n_head=config.n_head, n_inner=None, activation_function="gelu_new", resid_pdrop=config.dropout,
        embd_pdrop=config.dropout, attn_pdrop=config.dropout, layer_norm_epsilon=1e-5,
        tie_word_embeddings=config.tie_weights, scale_attn_weights=True, scale_attn_by_inverse_layer_idx=False,
        reorder_and_upcast_attn=False,
        # GPT-2's <|endoftext|> is id 50256; a smaller (e.g. character) vocabulary has no such token
        bos_token_id=50256 if config.vocab_size > 50256 else None,
        eos_token_id=50256 if config.vocab_size > 50256 else None,
    )


@torch.no_grad()
def to_hf_gpt2(model: GPT, attn_implementation: str = "sdpa"):
    """A ``transformers.GPT2LMHeadModel`` with ``model``'s weights (copies, float32, on the CPU).

    Both models then give the same logits (up to float rounding).
    """
    from transformers import GPT2LMHeadModel

    if not isinstance(model, GPT):
        raise TypeError(f"to_hf_gpt2 expects an llmbook.models.GPT, got {type(model).__name__}")
    hf_config = hf_gpt2_config(model.config)
    hf_config._attn_implementation = attn_implementation  # "sdpa" (fused kernel) or "eager"
    hf = GPT2LMHeadModel(hf_config)
    ours = float_cpu_state(model)
    theirs = {}
    for names, name, transposed in _weight_map(model.config):
        tensor = torch.cat([ours[n] for n in names])
        theirs[name] = tensor.t() if transposed else tensor
    load_tensors(hf, theirs)
    hf.tie_weights()
    hf.train(model.training)
    return hf


@torch.no_grad()
def from_hf_gpt2(hf_model) -> GPT:
    """A :class:`GPT` with the weights of a ``transformers.GPT2LMHeadModel`` (float32, on the CPU)."""
    cfg = hf_model.config
    if getattr(cfg, "model_type", None) != "gpt2":
        raise TypeError(f"from_hf_gpt2 expects a GPT2LMHeadModel, got a model of type {getattr(cfg, 'model_type', None)!r}")
    problems = []
    if cfg.activation_function not in _TANH_GELUS:
        problems.append(f"activation_function={cfg.activation_function!r} (ours is GPT-2's tanh GELU, 'gelu_new')")
    if cfg.n_inner not in (None, 4 * cfg.n_embd):
        problems.append(f"n_inner={cfg.n_inner} (ours is 4 * n_embd = {4 * cfg.n_embd})")
    if abs(cfg.layer_norm_epsilon - 1e-5) > 1e-12:
        problems.append(f"layer_norm_epsilon={cfg.layer_norm_epsilon} (ours is 1e-5)")
    if getattr(cfg, "scale_attn_by_inverse_layer_idx", False) or getattr(cfg, "reorder_and_upcast_attn", False):
        problems.append("scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn (not GPT-2's defaults)")
    if not getattr(cfg, "scale_attn_weights", True):
        problems.append("scale_attn_weights=False")
    if problems:
        raise ValueError("this GPT-2 configuration has no llmbook GPT equivalent: " + "; ".join(problems))
    pdrops = {cfg.resid_pdrop, cfg.embd_pdrop, cfg.attn_pdrop}
    config = GPTConfig(vocab_size=cfg.vocab_size, block_size=cfg.n_positions, n_layer=cfg.n_layer, n_head=cfg.n_head,
                       n_embd=cfg.n_embd, dropout=float(max(pdrops)), bias=True,
                       tie_weights=bool(getattr(cfg, "tie_word_embeddings", True)))
    model = GPT(config)
    theirs = float_cpu_state(hf_model)
    if config.tie_weights and not torch.equal(theirs.get("lm_head.weight", theirs["transformer.wte.weight"]),
                                              theirs["transformer.wte.weight"]):
        raise ValueError("this GPT-2's config ties lm_head to the token embedding, but their weights differ")
    ours = {}
    for names, name, transposed in _weight_map(config):
        tensor = theirs[name].t() if transposed else theirs[name]
        ours.update(zip(names, tensor.chunk(len(names))))
    load_tensors(model, ours)
    model.train(hf_model.training)
    return model
