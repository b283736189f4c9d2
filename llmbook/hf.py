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
"""
from __future__ import annotations

import torch

from .models.gpt import GPT, GPTConfig

__all__ = ["to_hf_gpt2", "from_hf_gpt2", "hf_gpt2_config"]

_TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")


# Our per-block linear layers and their GPT-2 names (GPT-2 stores them as transposed Conv1D weights);
# export and import both read this one table so the two directions cannot drift apart.
_LINEAR_PAIRS = (("attn.out_proj", "attn.c_proj"), ("ff.fc1", "mlp.c_fc"), ("ff.fc2", "mlp.c_proj"))


def hf_gpt2_config(config: GPTConfig):
    """The ``transformers.GPT2Config`` of a :class:`GPTConfig`."""
    from transformers import GPT2Config

    if not config.bias:
        raise ValueError("GPT-2 has biases in every linear layer and LayerNorm: only a GPTConfig(bias=True) model can be exported")
    return GPT2Config(
        vocab_size=config.vocab_size, n_positions=config.block_size, n_embd=config.n_embd, n_layer=config.n_layer,
        n_head=config.n_head, n_inner=None, activation_function="gelu_new", resid_pdrop=config.dropout,
        embd_pdrop=config.dropout, attn_pdrop=config.dropout, layer_norm_epsilon=1e-5, tie_word_embeddings=True,
        scale_attn_weights=True, scale_attn_by_inverse_layer_idx=False, reorder_and_upcast_attn=False,
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
    ours = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    theirs = {}
    t = "transformer."
    theirs[t + "wte.weight"] = ours["wte.weight"]
    theirs[t + "wpe.weight"] = ours["wpe.weight"]
    theirs[t + "ln_f.weight"], theirs[t + "ln_f.bias"] = ours["ln_f.weight"], ours["ln_f.bias"]
    for i in range(model.config.n_layer):
        o, h = f"blocks.{i}.", f"{t}h.{i}."
        for a, b in (("norm1", "ln_1"), ("norm2", "ln_2")):
            theirs[h + b + ".weight"], theirs[h + b + ".bias"] = ours[o + a + ".weight"], ours[o + a + ".bias"]
        q, k, v = (o + f"attn.{n}_proj" for n in "qkv")
        theirs[h + "attn.c_attn.weight"] = torch.cat([ours[q + ".weight"], ours[k + ".weight"], ours[v + ".weight"]]).t()
        theirs[h + "attn.c_attn.bias"] = torch.cat([ours[q + ".bias"], ours[k + ".bias"], ours[v + ".bias"]])
        for a, b in _LINEAR_PAIRS:
            theirs[h + b + ".weight"] = ours[o + a + ".weight"].t()
            theirs[h + b + ".bias"] = ours[o + a + ".bias"]
    own = hf.state_dict()
    for name, tensor in theirs.items():
        own[name].copy_(tensor)
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
                       n_embd=cfg.n_embd, dropout=float(max(pdrops)), bias=True)
    model = GPT(config)
    theirs = {k: v.detach().float().cpu() for k, v in hf_model.state_dict().items()}
    t = "transformer."
    ours = {"wte.weight": theirs[t + "wte.weight"], "wpe.weight": theirs[t + "wpe.weight"],
            "ln_f.weight": theirs[t + "ln_f.weight"], "ln_f.bias": theirs[t + "ln_f.bias"]}
    d = config.n_embd
    for i in range(config.n_layer):
        o, h = f"blocks.{i}.", f"{t}h.{i}."
        for a, b in (("norm1", "ln_1"), ("norm2", "ln_2")):
            ours[o + a + ".weight"], ours[o + a + ".bias"] = theirs[h + b + ".weight"], theirs[h + b + ".bias"]
        w = theirs[h + "attn.c_attn.weight"].t()  # (3 d, d)
        bias = theirs[h + "attn.c_attn.bias"]
        for j, n in enumerate("qkv"):
            ours[o + f"attn.{n}_proj.weight"] = w[j * d:(j + 1) * d]
            ours[o + f"attn.{n}_proj.bias"] = bias[j * d:(j + 1) * d]
        for a, b in _LINEAR_PAIRS:
            ours[o + a + ".weight"] = theirs[h + b + ".weight"].t()
            ours[o + a + ".bias"] = theirs[h + b + ".bias"]
    own = model.state_dict()
    for name, tensor in ours.items():
        own[name].copy_(tensor)
    if "lm_head.weight" in theirs and not torch.equal(theirs["lm_head.weight"], theirs[t + "wte.weight"]):
        raise ValueError("this GPT-2's lm_head is not tied to its token embedding; ours always ties them")
    model.train(hf_model.training)
    return model
