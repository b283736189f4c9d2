"""Conversion between :class:`llmbook.nn.MixtureOfExperts` and Hugging Face's Mixtral MoE block
(``MixtralSparseMoeBlock``).

The same layer with different layouts (transformers 5 stores the experts as 3-D tensors):

=====================================  ==========================================================
ours (``nn.Linear``: weight ``(out, in)``)  Mixtral
=====================================  ==========================================================
``router.weight`` ``(E, d_model)``          ``gate.weight`` ``(E, d_model)``
``experts.e.gate.weight`` ``(d_ff, d)``     ``experts.gate_up_proj[e, :d_ff]``
``experts.e.up.weight`` ``(d_ff, d)``       ``experts.gate_up_proj[e, d_ff:]``
``experts.e.fc2.weight`` ``(d, d_ff)``      ``experts.down_proj[e]``
=====================================  ==========================================================

Mixtral's router jitter noise (training only) has no counterpart here; it is refused.
"""
from __future__ import annotations

import torch

from ..nn.moe import MixtureOfExperts

__all__ = ["from_hf_moe", "to_hf_moe"]


def _check_block(block) -> None:
    for name in ("gate", "experts", "top_k"):
        if not hasattr(block, name):
            raise TypeError(f"expected a transformers MixtralSparseMoeBlock (with .gate, .experts "
                            f"and .top_k), got {type(block).__name__} without .{name}")
    if not hasattr(block.experts, "gate_up_proj"):
        raise TypeError("this MixtralSparseMoeBlock keeps its experts as a list of modules "
                        "(transformers < 5): convert with transformers 5, whose experts are 3-D "
                        "tensors")
    if getattr(block, "jitter_noise", 0) > 0:
        raise ValueError(f"router_jitter_noise={block.jitter_noise} multiplies the inputs by noise "
                         f"in training, which MixtureOfExperts does not do: use a config with 0")
    act = getattr(block.experts.act_fn, "__class__", type(None)).__name__
    if act not in ("SiLU", "SiLUActivation"):
        raise ValueError(f"the experts' activation is {act}, but MixtureOfExperts's experts are "
                         f"SwiGLU (hidden_act='silu')")


@torch.no_grad()
def from_hf_moe(block) -> MixtureOfExperts:
    """A :class:`MixtureOfExperts` (float32, CPU) with the weights of a ``MixtralSparseMoeBlock``;
    its outputs and router logits equal the block's (``block(x)``, ``block.gate(x)[0]``)."""
    _check_block(block)
    experts = block.experts
    n_experts, d_model = block.gate.weight.shape
    d_ff = experts.down_proj.shape[-1]
    moe = MixtureOfExperts(d_model, d_ff, n_experts, block.top_k)
    moe.router.weight.copy_(block.gate.weight.float().cpu())
    gate_up = experts.gate_up_proj.float().cpu()  # (E, 2 d_ff, d_model): gate rows, then up rows
    for e, expert in enumerate(moe.experts):
        expert.gate.weight.copy_(gate_up[e, :d_ff])
        expert.up.weight.copy_(gate_up[e, d_ff:])
        expert.fc2.weight.copy_(experts.down_proj[e].float().cpu())
    return moe


@torch.no_grad()
def to_hf_moe(moe: MixtureOfExperts):
    """A transformers ``MixtralSparseMoeBlock`` (float32, eval mode) with the weights of ``moe``."""
    from transformers import MixtralConfig
    from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock

    if not isinstance(moe, MixtureOfExperts):
        raise TypeError(f"to_hf_moe converts a llmbook.nn.MixtureOfExperts, "
                        f"got {type(moe).__name__}")
    config = MixtralConfig(hidden_size=moe.d_model, intermediate_size=moe.d_ff,
                           num_local_experts=moe.n_experts, num_experts_per_tok=moe.top_k,
                           router_jitter_noise=0.0, hidden_act="silu",
                           experts_implementation="eager")
    block = MixtralSparseMoeBlock(config).float().eval()
    block.gate.weight.copy_(moe.router.weight)
    for e, expert in enumerate(moe.experts):
        block.experts.gate_up_proj[e].copy_(torch.cat([expert.gate.weight, expert.up.weight]))
        block.experts.down_proj[e].copy_(expert.fc2.weight)
    return block
