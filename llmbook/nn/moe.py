"""A sparse mixture of experts (MoE): many feed-forward networks, each token routed to a few.

A dense block runs one feed-forward network (FFN) on every token. An MoE layer holds ``n_experts``
FFNs and a *router*, a linear map from a token to one score (logit) per expert; each token runs
through only its ``top_k`` best-scored experts, and their outputs are mixed with the router's
probabilities (renormalised over the chosen experts)::

    p = softmax(x W_router)            (n_experts,)  the router's probabilities
    S = top_k(p)                       the chosen experts
    y = Σ_{e ∈ S} p_e / Σ_{e' ∈ S} p_e' · FFN_e(x)

So the parameters grow with ``n_experts`` while the compute per token (the *active* parameters)
grows only with ``top_k`` (Shazeer et al., 2017; Switch Transformer, Fedus et al., 2022; Mixtral,
Jiang et al., 2024). The experts here are SwiGLU FFNs without biases, as Mixtral's.

Left alone, a router tends to send most tokens to a few experts, which then learn faster and
attract still more tokens. The **load-balancing loss** of Switch (as Mixtral and Hugging Face
compute it, with top-k counts) pushes towards an even load: with f_e the fraction of tokens that
chose expert e among their top k and P_e the router's mean probability for e, over T tokens,

    aux = n_experts · Σ_e f_e · P_e,

which is ``top_k`` when the load is even and up to ``n_experts · top_k`` when one expert takes
all.
It is added to the language-model loss with a small weight (:func:`moe_objective`).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .feedforward import FeedForward

__all__ = ["MixtureOfExperts", "load_balancing_loss", "use_experts", "experts_of", "moe_aux_loss",
           "moe_objective"]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class MixtureOfExperts(nn.Module):
    """A sparse MoE feed-forward layer: router, top-k routing, SwiGLU experts (Mixtral's layer).

    ``forward(x)`` maps ``(batch, seq, d_model)`` (or ``(tokens, d_model)``) to the same shape, so
    it can stand in for a block's :class:`~llmbook.nn.FeedForward`. The router logits of the last
    call are kept in ``self.router_logits`` ``(tokens, n_experts)`` for the load-balancing loss
    (:meth:`aux_loss`) and for counting each expert's load.

    Args:
        d_model: the width of a token.
        d_ff: the hidden width of each expert.
        n_experts: the number of experts.
        top_k: the experts each token runs through (1 ≤ top_k ≤ n_experts).
    """

    def __init__(self, d_model: int, d_ff: int, n_experts: int, top_k: int = 2):
        super().__init__()
        sizes = (("d_model", d_model), ("d_ff", d_ff), ("n_experts", n_experts), ("top_k", top_k))
        for name, value in sizes:
            _positive_int(name, value)
        if top_k > n_experts:
            raise ValueError(f"top_k={top_k} is more than n_experts={n_experts}: each token can "
                             f"use at most every expert; lower top_k or add experts")
        self.d_model, self.d_ff, self.n_experts, self.top_k = d_model, d_ff, n_experts, top_k
        self.router = nn.Linear(d_model, n_experts, bias=False)  # one logit per expert
        self.experts = nn.ModuleList(
            FeedForward(d_model, d_ff, activation="swiglu", bias=False) for _ in range(n_experts))
        self.router_logits: torch.Tensor | None = None

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tokens ``x`` ``(tokens, d_model)`` → ``(logits (tokens, n_experts), weights (tokens,
        top_k), experts (tokens, top_k))``: the chosen experts, best first, and their renormalised
        probabilities (float32, like Mixtral's router)."""
        logits = self.router(x)
        probs = logits.float().softmax(dim=-1)
        top_probs, experts = probs.topk(self.top_k, dim=-1)
        return logits, top_probs / top_probs.sum(dim=-1, keepdim=True), experts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x has shape {tuple(x.shape)} but this layer has "
                             f"d_model={self.d_model}")
        tokens = x.reshape(-1, self.d_model)  # routing is per token: batch and positions alike
        logits, weights, experts = self.route(tokens)
        self.router_logits = logits
        out = torch.zeros_like(tokens)
        for e, expert in enumerate(self.experts):
            # the tokens that chose e, and in which place of their top k
            token_index, slot = torch.where(experts == e)
            if token_index.numel() == 0:
                continue  # an idle expert costs nothing
            y = expert(tokens[token_index]) * weights[token_index, slot, None]
            out.index_add_(0, token_index, y.to(out.dtype))
        return out.reshape(x.shape)

    def aux_loss(self) -> torch.Tensor:
        """The load-balancing loss of the last forward pass (see :func:`load_balancing_loss`)."""
        if self.router_logits is None:
            raise ValueError("no router logits yet: run the layer (or the model) on a batch first")
        return load_balancing_loss(self.router_logits, self.top_k)

    def expert_load(self) -> torch.Tensor:
        """The fraction of the last call's (token, slot) choices that went to each expert,
        ``(n_experts,)``; it sums to 1 (uniform load: 1 / n_experts each)."""
        if self.router_logits is None:
            raise ValueError("no router logits yet: run the layer (or the model) on a batch first")
        chosen = self.router_logits.float().topk(self.top_k, dim=-1).indices
        return torch.bincount(chosen.flatten(), minlength=self.n_experts).float() / chosen.numel()

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_ff={self.d_ff}, n_experts={self.n_experts}, "
                f"top_k={self.top_k}")


def load_balancing_loss(router_logits: torch.Tensor | Sequence[torch.Tensor], top_k: int
                        ) -> torch.Tensor:
    """Switch's auxiliary loss n_experts · Σ_e f_e · P_e, with top-k counts as in Mixtral.

    ``router_logits``: ``(tokens, n_experts)``, or a sequence of them (one per layer), pooled as one
    set of tokens like Hugging Face's ``load_balancing_loss_func``. f_e is the number of times
    expert e is among a token's ``top_k`` divided by the number of tokens (Σ_e f_e = top_k); P_e is
    the mean router probability of e. Only P carries a gradient (the counts are not differentiable).
    """
    if isinstance(router_logits, torch.Tensor):
        router_logits = [router_logits]
    if not router_logits or any(t.dim() != 2 for t in router_logits):
        raise ValueError("router_logits must be a (tokens, n_experts) tensor or a non-empty "
                         "sequence of them")
    logits = torch.cat(list(router_logits))
    n_experts = logits.shape[-1]
    _positive_int("top_k", top_k)
    if top_k > n_experts:
        raise ValueError(f"top_k={top_k} is more than the {n_experts} experts of the router logits")
    probs = logits.float().softmax(dim=-1)  # (tokens, n_experts)
    chosen = probs.topk(top_k, dim=-1).indices
    counts = torch.bincount(chosen.flatten(), minlength=n_experts).float()
    fraction = counts / logits.shape[0]  # f_e
    mean_prob = probs.mean(dim=0)  # P_e
    return n_experts * (fraction * mean_prob).sum()


def use_experts(model: nn.Module, n_experts: int, top_k: int, d_ff: int, init_std: float = 0.02
                ) -> nn.Module:
    """Replace the feed-forward network ``ff`` of every block of ``model.blocks`` (the book's GPT)
    by a :class:`MixtureOfExperts`; return ``model`` (changed in place).

    The new weights are drawn like GPT-2's: N(0, ``init_std``), the output projections (which
    write into the residual stream) with ``init_std / sqrt(2 · n_layer)``. ``n_experts=1,
    top_k=1`` gives a dense SwiGLU FFN (the router of one expert always gives it weight
    1): the dense baseline at equal active parameters.
    """
    blocks = getattr(model, "blocks", None)
    if blocks is None or not all(hasattr(block, "ff") for block in blocks):
        raise TypeError("use_experts needs a model with .blocks whose blocks have a feed-forward "
                        ".ff (e.g. llmbook.models.GPT)")
    residual_std = init_std / (2 * len(blocks)) ** 0.5
    for block in blocks:
        d_model = block.attn.d_model
        device = next(block.parameters()).device
        moe = MixtureOfExperts(d_model, d_ff, n_experts, top_k).to(device)
        with torch.no_grad():
            for name, weight in moe.named_parameters():
                std = residual_std if name.endswith("fc2.weight") else init_std
                nn.init.normal_(weight, mean=0.0, std=std)
        block.ff = moe
    return model


def experts_of(model: nn.Module) -> list[MixtureOfExperts]:
    """Every :class:`MixtureOfExperts` layer of ``model``, in order."""
    return [m for m in model.modules() if isinstance(m, MixtureOfExperts)]


def moe_aux_loss(model: nn.Module) -> torch.Tensor:
    """The mean load-balancing loss of the last forward pass over the MoE layers of ``model``."""
    layers = experts_of(model)
    if not layers:
        raise ValueError("the model has no MixtureOfExperts layer: build it with use_experts(...)")
    return torch.stack([layer.aux_loss() for layer in layers]).mean()


def moe_objective(aux_weight: float = 0.01) -> Callable[..., torch.Tensor]:
    """A :class:`~llmbook.train.Trainer` ``objective``: the next-token loss plus ``aux_weight``
    times :func:`moe_aux_loss` (Switch used 0.01) in training. In eval mode (the Trainer's
    evaluations) it is the next-token loss alone, so that validation losses compare with a dense
    model's."""
    if not aux_weight >= 0:
        raise ValueError(f"aux_weight must be >= 0, got {aux_weight!r}")

    def objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator=None
                  ) -> torch.Tensor:
        loss = model(x, y)[1]
        return loss + aux_weight * moe_aux_loss(model) if aux_weight and model.training else loss

    return objective
