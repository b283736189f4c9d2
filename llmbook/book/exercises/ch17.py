"""Checks for chapter 17, "Looking inside: understanding, bias and privacy". Each checker
recomputes the answer with the package (llmbook.bias, llmbook.privacy) or runs the learner's code
against it."""
from __future__ import annotations

import numpy as np
import torch

from ...bias import weat_effect_size
from ...privacy import clip_per_example, membership_auc
from . import exercise, number

# 17.1: two-dimensional "embeddings" of a tiny WEAT.
WEAT_X = [[1, 0.2], [0.9, 0.4]]
WEAT_Y = [[0.1, 1], [0.3, 0.8]]
WEAT_A = [[1, 0], [0.8, 0.1]]
WEAT_B = [[0, 1], [0.2, 0.9]]

# 17.3: per-example losses of members and non-members.
MEMBER_LOSSES = [0.9, 1.2, 1.5, 2.0]
OTHER_LOSSES = [1.3, 1.6, 2.2, 2.5, 1.2]

# 17.4: DP-SGD's clipping bound, noise multiplier and batch size.
DP_CLIP, DP_SIGMA, DP_BATCH = 0.8, 1.5, 32


@exercise("17.1", hint="s(w) = mean cosine with A minus mean cosine with B, for each of the four "
                       "targets; d = (mean of s over X - mean over Y) / std of all four s values "
                       "(ddof=1). Normalise each vector before taking dot products.")
def _weat(answer) -> bool:
    expected = weat_effect_size(WEAT_X, WEAT_Y, WEAT_A, WEAT_B)
    return abs(number(answer) - expected) < 1e-6


def _gradient_cases() -> list[tuple[dict[str, torch.Tensor], float]]:
    generator = torch.Generator().manual_seed(17)
    cases = []
    for n, max_norm in ((5, 1.0), (8, 0.1), (3, 100.0)):
        grads = {"weight": torch.randn(n, 4, 3, generator=generator),
                 "bias": torch.randn(n, 4, generator=generator)}
        cases.append((grads, max_norm))
    return cases


@exercise("17.2", hint="The norm of example i runs over every parameter: sqrt of the sum of "
                       "g.flatten(1).pow(2).sum(1) over the dict. Scale example i by "
                       "min(1, max_norm / norm_i), broadcast over the parameter's shape.")
def _clip(clip) -> bool:
    for grads, max_norm in _gradient_cases():
        ours = clip({k: g.clone() for k, g in grads.items()}, max_norm)
        expected, _ = clip_per_example(grads, max_norm)
        if set(ours) != set(expected):
            return False
        close = (torch.allclose(torch.as_tensor(ours[k]), expected[k], atol=1e-6) for k in expected)
        if not all(close):
            return False
    return True


@exercise("17.3", hint="Count the pairs (member, non-member) with member loss < non-member loss, "
                       "add one half for each tie, divide by 4 x 5 pairs.")
def _auc(answer) -> bool:
    return abs(number(answer) - membership_auc(MEMBER_LOSSES, OTHER_LOSSES)) < 1e-9


@exercise("17.4", hint="The noise N(0, (sigma C)^2) is added to the *sum* of the clipped "
                       "gradients, which is then divided by the batch size n.")
def _noise(answer) -> bool:
    return bool(np.isclose(number(answer), DP_SIGMA * DP_CLIP / DP_BATCH, rtol=1e-9))
