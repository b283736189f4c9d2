"""Preference optimisation: sequence log-probabilities and the DPO loss (Rafailov et al., 2023).

DPO trains a policy :math:`\\pi_\\theta` on pairs (prompt :math:`x`, chosen :math:`y_w`, rejected
:math:`y_l`) against a frozen reference :math:`\\pi_\\text{ref}` (the model before DPO)::

    loss = -log σ( β · [ (log π(y_w|x) - log π_ref(y_w|x)) - (log π(y_l|x) - log π_ref(y_l|x)) ] )

``β · (log π(y|x) - log π_ref(y|x))`` is the *implicit reward* of a response: the KL-regularised RLHF
objective's optimal policy satisfies it up to a term that cancels between the two responses of a pair.
:func:`dpo_loss` is the TRL library's ``"sigmoid"`` loss, term for term; :func:`sequence_logps` gives
the ``log π(y|x)`` it needs, summed over the response's tokens.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..evaluate.engine import forward_kwargs, output_logits
from .chat import IGNORE_INDEX

__all__ = ["sequence_logps", "dpo_loss"]


def _is_right_padded(attention_mask: torch.Tensor) -> bool:
    # each row is ones then zeros: the mask never goes from 0 back up to 1
    mask = attention_mask.long()
    return bool((mask[:, 1:] <= mask[:, :-1]).all())


def sequence_logps(model: Any, input_ids: torch.Tensor, labels: torch.Tensor,
                   attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Summed log-probability of each row's labelled tokens, ``sum_t log p(labels[t] | input_ids[:t])``.

    Args:
        model: a causal LM: a Hugging Face model (output with ``.logits``), an ``llmbook`` model
            (``(logits, loss)``) or a callable returning logits ``(batch, seq, vocab)``.
        input_ids: ``(batch, seq)`` token ids, on the model's device.
        labels: ``(batch, seq)``, ``-100`` where a token is not scored (the prompt, padding). Not shifted,
            as for Hugging Face models: ``labels[t]`` is scored by the logits at ``t - 1``, so
            ``labels[:, 0]`` is never scored.
        attention_mask: optional ``(batch, seq)``, 1 for real tokens and 0 for padding, which must be on
            the right. Padded positions are never scored, whatever their label.

    Returns:
        ``(batch,)`` float32, differentiable with respect to the model's parameters.
    """
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        raise ValueError(f"input_ids must be a (batch, seq) tensor, got shape "
                         f"{tuple(getattr(input_ids, 'shape', ()))}; add a batch dimension with "
                         f"input_ids[None]")
    if not isinstance(labels, torch.Tensor) or labels.shape != input_ids.shape:
        raise ValueError(f"labels must have input_ids' shape {tuple(input_ids.shape)}, got "
                         f"{tuple(getattr(labels, 'shape', ()))}; use -100 for the tokens not to score")
    if input_ids.size(1) < 2:
        raise ValueError("sequences of one token have nothing to score: a token is predicted from the ones "
                         "before it")
    kwargs: dict[str, Any] = {}
    accepted = forward_kwargs(model)
    if attention_mask is not None:
        if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != input_ids.shape:
            raise ValueError(f"attention_mask must have input_ids' shape {tuple(input_ids.shape)}, got "
                             f"{tuple(getattr(attention_mask, 'shape', ()))}")
        if not _is_right_padded(attention_mask):
            raise ValueError("attention_mask has padding before real tokens: pad on the right (a causal "
                             "model never looks ahead, so right padding cannot change the scored tokens, "
                             "and positions stay those of the unpadded text)")
        labels = labels.masked_fill(attention_mask == 0, IGNORE_INDEX)
        if "attention_mask" in accepted:
            kwargs["attention_mask"] = attention_mask
    if "use_cache" in accepted:
        kwargs["use_cache"] = False
    targets = labels[:, 1:]
    scored = targets != IGNORE_INDEX
    if not bool(scored.any(dim=1).all()):
        empty = (~scored.any(dim=1)).nonzero().flatten().tolist()
        raise ValueError(f"rows {empty} have no labelled token after position 0 (every label is -100 or "
                         f"padding): their log-probability would be an empty sum; label the response tokens")
    logits = output_logits(model(input_ids, **kwargs))
    if logits.shape[:2] != input_ids.shape:
        raise ValueError(f"the model returned logits of shape {tuple(logits.shape)} for input_ids "
                         f"{tuple(input_ids.shape)}: expected (batch, seq, vocab)")
    logits = logits[:, :-1]  # position t predicts token t + 1
    # cross_entropy is -log softmax gathered at the target, fused: no (batch, seq, vocab) log-prob tensor
    token_nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1),
                                ignore_index=IGNORE_INDEX, reduction="none")
    return -token_nll.view(targets.shape).sum(dim=1)


def _check_logps(name: str, value: Any, shape: torch.Size | None) -> torch.Size:
    if not isinstance(value, torch.Tensor) or value.dim() != 1:
        raise ValueError(f"{name} must be a (batch,) tensor of summed log-probabilities (sequence_logps' "
                         f"output), got shape {tuple(getattr(value, 'shape', ())) or type(value).__name__}")
    if shape is not None and value.shape != shape:
        raise ValueError(f"{name} has batch size {value.size(0)} but policy_chosen_logps has {shape[0]}: "
                         f"the four log-probabilities are one per pair, for the same pairs in the same order")
    return value.shape


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor,
             beta: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The DPO loss of each pair (TRL's ``loss_type="sigmoid"``) and the implicit rewards.

    Args:
        policy_chosen_logps, policy_rejected_logps: ``(batch,)`` ``log π(y|x)`` of the chosen and rejected
            responses under the model being trained.
        ref_chosen_logps, ref_rejected_logps: ``(batch,)`` the same under the reference model (treated
            as constants: no gradient flows into them).
        beta: the strength of the KL penalty toward the reference (> 0; TRL's default 0.1). Small
            ``beta`` lets the policy move further from the reference.

    Returns:
        ``(losses, chosen_rewards, rejected_rewards)``, each ``(batch,)``: ``losses`` (take ``.mean()`` to
        train), ``chosen_rewards = beta * (policy_chosen - ref_chosen)`` and the same for the rejected
        responses, detached (for the preference accuracy ``chosen_rewards > rejected_rewards``).
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
        raise ValueError(f"beta must be a positive number, got {beta!r}; TRL's default is 0.1 (smaller: the "
                         f"policy may move further from the reference)")
    shape = _check_logps("policy_chosen_logps", policy_chosen_logps, None)
    _check_logps("policy_rejected_logps", policy_rejected_logps, shape)
    _check_logps("ref_chosen_logps", ref_chosen_logps, shape)
    _check_logps("ref_rejected_logps", ref_rejected_logps, shape)
    chosen_logratios = policy_chosen_logps - ref_chosen_logps.detach()
    rejected_logratios = policy_rejected_logps - ref_rejected_logps.detach()
    losses = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))
    return losses, beta * chosen_logratios.detach(), beta * rejected_logratios.detach()
