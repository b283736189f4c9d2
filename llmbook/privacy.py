r"""Privacy of training data: a membership-inference attack and DP-SGD.

**Membership inference** (Shokri et al., 2017). Was this text in the training set? A model fits its
training examples better than unseen ones, so its loss on them is lower. The loss-threshold attack
of Yeom et al. (2018) says "member" when the loss is below a threshold; over all thresholds, its
quality is the ROC AUC of the score :math:`-\ell(x)` (members = positives): 0.5 is guessing, 1 a
perfect attack. :func:`example_losses` gives the per-example losses, :func:`membership_auc` the AUC
(with :func:`llmbook.metrics.classification.roc_auc`, equal to scikit-learn's) and
:func:`attack_advantage` Yeom's advantage, TPR - FPR at a threshold.

**DP-SGD** (Abadi et al., 2016) bounds what one example can change in a step: every example's
gradient :math:`g_i` is clipped to norm at most :math:`C`, the clipped gradients are summed,
Gaussian noise of standard deviation :math:`\sigma C` is added to every coordinate, and the sum is
divided by the batch size :math:`n`:

.. math:: \tilde g = \frac{1}{n}\Big(\sum_{i=1}^{n}
          g_i \min\big(1, \tfrac{C}{\lVert g_i \rVert_2}\big) + \mathcal N(0, \sigma^2 C^2 I)\Big).

:func:`per_example_grads` computes the :math:`g_i` (``torch.func.vmap`` of ``grad`` where the model
allows it, else a loop of single-example backward passes), :func:`clip_per_example` clips them and
:func:`dp_sgd_step` writes :math:`\tilde g` into ``.grad`` and steps any torch optimizer. The
privacy guarantee :math:`(\varepsilon, \delta)` of a whole training run needs a privacy
accountant (the moments accountant of Abadi et al.), which this module does not implement.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .metrics.classification import roc_auc

__all__ = ["example_losses", "membership_scores", "membership_auc", "attack_advantage",
           "per_example_grads", "clip_per_example", "dp_sgd_step", "DPStep", "METHODS"]

METHODS = ("vmap", "loop", "auto")


@torch.no_grad()
def example_losses(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                   batch_size: int = 64) -> torch.Tensor:
    """Mean next-token cross-entropy of each example ``(n,)`` for the book's GPT (or any model whose
    ``model(inputs)`` returns logits or ``(logits, ...)``); ``inputs``, ``targets`` ``(n, seq)``.
    Target ``-1`` is ignored. The model should be in eval mode."""
    if inputs.dim() != 2 or inputs.shape != targets.shape:
        raise ValueError(f"inputs and targets must both be (n, seq), got {tuple(inputs.shape)} and "
                         f"{tuple(targets.shape)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    losses = []
    for start in range(0, len(inputs), batch_size):
        x, y = inputs[start:start + batch_size], targets[start:start + batch_size]
        output = model(x)
        logits = output[0] if isinstance(output, tuple) else output
        per_token = nn.functional.cross_entropy(logits.flatten(0, 1).float(), y.flatten(),
                                                ignore_index=-1, reduction="none").view_as(y)
        counted = (y != -1).sum(dim=1).clamp(min=1)
        losses.append(per_token.sum(dim=1) / counted)
    return torch.cat(losses)


def _losses(member_losses: Any, nonmember_losses: Any) -> tuple[np.ndarray, np.ndarray]:
    members = np.asarray(torch.as_tensor(member_losses).detach().cpu(), dtype=np.float64).ravel()
    others = np.asarray(torch.as_tensor(nonmember_losses).detach().cpu(), dtype=np.float64).ravel()
    if members.size == 0 or others.size == 0:
        raise ValueError("the attack needs losses of at least one member and one non-member")
    if not (np.all(np.isfinite(members)) and np.all(np.isfinite(others))):
        raise ValueError("losses hold NaN or infinite values")
    return members, others


def membership_scores(member_losses: Any, nonmember_losses: Any) -> tuple[np.ndarray, np.ndarray]:
    """The attack's ``(labels, scores)``: 1 for members then 0 for non-members, score = -loss
    (higher: more likely a member)."""
    members, others = _losses(member_losses, nonmember_losses)
    labels = np.concatenate([np.ones(members.size, dtype=np.int64),
                             np.zeros(others.size, dtype=np.int64)])
    return labels, -np.concatenate([members, others])


def membership_auc(member_losses: Any, nonmember_losses: Any) -> float:
    """ROC AUC of the loss-threshold attack (0.5: no better than guessing; 1: every member has a
    lower loss than every non-member)."""
    labels, scores = membership_scores(member_losses, nonmember_losses)
    return float(roc_auc(labels, scores))


def attack_advantage(member_losses: Any, nonmember_losses: Any,
                     threshold: float | None = None) -> float:
    """Yeom et al.'s membership advantage TPR - FPR of "member iff loss <= threshold"; the default
    threshold is the mean member (training) loss, as in their attack."""
    members, others = _losses(member_losses, nonmember_losses)
    cut = float(members.mean()) if threshold is None else float(threshold)
    return float(np.mean(members <= cut) - np.mean(others <= cut))


# ------------------------------------------------------------------------------- DP-SGD

LossFn = Callable[..., torch.Tensor]  # loss_fn(forward, *example_tensors) -> scalar loss


def _trainable(model: nn.Module) -> dict[str, nn.Parameter]:
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("the model has no trainable parameters (every requires_grad is False)")
    return params


def _check_batch(batch: tuple[torch.Tensor, ...]) -> int:
    if not batch or not all(isinstance(t, torch.Tensor) for t in batch):
        raise ValueError("give the batch as one or more tensors whose first dimension is the "
                         "example")
    n = batch[0].size(0) if batch[0].dim() else 0
    if n == 0 or any(t.dim() == 0 or t.size(0) != n for t in batch):
        raise ValueError(f"every batch tensor needs the same non-zero first dimension (examples), "
                         f"got shapes {[tuple(t.shape) for t in batch]}")
    return n


def _grads_by_vmap(model: nn.Module, loss_fn: LossFn, batch: tuple[torch.Tensor, ...]
                   ) -> dict[str, torch.Tensor]:
    from torch.func import functional_call, grad, vmap

    params = {name: p.detach() for name, p in _trainable(model).items()}
    frozen = {name: p.detach() for name, p in model.named_parameters() if not p.requires_grad}
    buffers = dict(model.named_buffers())

    def loss_of_one(weights: dict[str, torch.Tensor], *example: torch.Tensor) -> torch.Tensor:
        state = {**frozen, **buffers, **weights}

        def forward(*args: Any, **kwargs: Any) -> Any:
            return functional_call(model, state, args, kwargs)

        return loss_fn(forward, *(t.unsqueeze(0) for t in example))  # a batch of one

    in_dims = (None,) + (0,) * len(batch)
    return vmap(grad(loss_of_one), in_dims=in_dims)(params, *batch)


def _grads_by_loop(model: nn.Module, loss_fn: LossFn, batch: tuple[torch.Tensor, ...]
                   ) -> dict[str, torch.Tensor]:
    params = _trainable(model)
    names, tensors = list(params), list(params.values())
    rows: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    for i in range(batch[0].size(0)):
        loss = loss_fn(model, *(t[i:i + 1] for t in batch))
        grads = torch.autograd.grad(loss, tensors, allow_unused=True)
        for name, p, g in zip(names, tensors, grads):
            rows[name].append(torch.zeros_like(p) if g is None else g)
    return {name: torch.stack(rows[name]) for name in names}


def per_example_grads(model: nn.Module, loss_fn: LossFn, *batch: torch.Tensor,
                      method: str = "auto") -> dict[str, torch.Tensor]:
    """The gradient of every example's loss: ``{name: (n, *param.shape)}`` for each trainable
    parameter.

    ``loss_fn(forward, *example)`` returns the scalar loss of one example, where ``forward`` calls
    the model and each ``example`` tensor keeps a batch dimension of 1 (e.g. for the book's GPT,
    ``lambda forward, x, y: forward(x, y)[1]``). ``method``: ``"vmap"`` (``torch.func``; the model
    must avoid data-dependent Python branches), ``"loop"`` (one backward pass per example; works for
    any model) or ``"auto"`` (vmap, falling back to the loop when the model cannot be vmapped, as
    the book's GPT cannot: it checks its token ids). The model should be in eval mode or have no
    dropout.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    _check_batch(batch)
    if method == "loop":
        return _grads_by_loop(model, loss_fn, batch)
    if method == "vmap":
        return _grads_by_vmap(model, loss_fn, batch)
    try:
        return _grads_by_vmap(model, loss_fn, batch)
    except RuntimeError:
        # vmap refuses data-dependent Python (`.item()`, `if tensor.any()`); the loop runs anything,
        # and a genuine error in loss_fn raises again there, from plain PyTorch
        return _grads_by_loop(model, loss_fn, batch)


def clip_per_example(grads: dict[str, torch.Tensor], max_norm: float
                     ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Scale each example's gradient (over all parameters together) to L2 norm at most ``max_norm``:
    ``(clipped grads, norms before clipping (n,))``."""
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float)) or not max_norm > 0:
        raise ValueError(f"max_norm (the clipping bound C) must be a positive number, got "
                         f"{max_norm!r}")
    if not grads:
        raise ValueError("grads is empty: pass the dict per_example_grads returned")
    squares = sum(g.flatten(1).pow(2).sum(dim=1) for g in grads.values())
    norms = squares.sqrt()  # (n,)
    # min(1, C / norm); the tiny floor keeps a zero gradient at zero instead of 0 / 0
    factor = (max_norm / norms.clamp(min=1e-12)).clamp(max=1.0)
    clipped = {name: g * factor.view(-1, *([1] * (g.dim() - 1))) for name, g in grads.items()}
    return clipped, norms


@dataclass(frozen=True)
class DPStep:
    """What one DP-SGD step saw: the mean loss of the batch, the mean per-example gradient norm
    before clipping, and the share of examples that were clipped."""

    loss: float
    mean_grad_norm: float
    clipped_fraction: float


def dp_sgd_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn,
                *batch: torch.Tensor, max_grad_norm: float, noise_multiplier: float,
                generator: torch.Generator | None = None, method: str = "auto") -> DPStep:
    r"""One DP-SGD step: per-example gradients, clipped to ``max_grad_norm`` (:math:`C`), summed,
    plus Gaussian noise of std ``noise_multiplier * max_grad_norm`` (:math:`\sigma C`), divided by
    the batch size, written into each parameter's ``.grad``; then ``optimizer.step()``.

    With ``noise_multiplier=0`` and a ``max_grad_norm`` above every gradient's norm this is exactly
    the optimizer's step on the mean loss. ``generator`` makes the noise reproducible.
    ``loss_fn`` and ``method``: see :func:`per_example_grads`.
    """
    if isinstance(noise_multiplier, bool) or not isinstance(noise_multiplier, (int, float)) \
            or noise_multiplier < 0:
        raise ValueError(f"noise_multiplier (sigma) must be a number >= 0, got "
                         f"{noise_multiplier!r}")
    n = _check_batch(batch)
    with torch.no_grad():
        loss = float(loss_fn(model, *batch))  # the batch's mean loss before the step
    grads = per_example_grads(model, loss_fn, *batch, method=method)
    clipped, norms = clip_per_example(grads, max_grad_norm)
    params = _trainable(model)
    for name, p in params.items():
        total = clipped[name].sum(dim=0)
        if noise_multiplier > 0:
            noise = torch.randn(total.shape, generator=generator, device=total.device,
                                dtype=total.dtype)
            total = total + noise_multiplier * max_grad_norm * noise
        p.grad = (total / n).to(p.dtype)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return DPStep(loss, float(norms.mean()), float((norms > max_grad_norm).float().mean()))
