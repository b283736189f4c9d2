"""The exercise checkers of Part IV accept the right answers and refuse wrong ones."""
from __future__ import annotations

import math

import torch

from llmbook.book.exercises import check


def test_chapter_9_label_mask_exercise(smollm2_tokenizer):
    tok = smollm2_tokenizer
    header = tok.encode("<|im_start|>assistant\n", add_special_tokens=False)
    end = tok.convert_tokens_to_ids("<|im_end|>")

    def labels(ids: list[int], keep_end: bool = True) -> list[int]:
        out, i = [-100] * len(ids), 0
        while i < len(ids):
            if ids[i:i + len(header)] == header:  # a reply starts after its header
                i += len(header)
                while i < len(ids) and ids[i] != end:
                    out[i] = ids[i]
                    i += 1
                if i < len(ids) and keep_end:
                    out[i] = end
            i += 1
        return out

    assert check("09.1", (labels, tok))
    assert not check("09.1", (lambda ids: labels(ids, keep_end=False), tok))  # <|im_end|> must be learned
    assert not check("09.1", (lambda ids: [-100] * len(ids), tok))


def test_chapter_9_dpo_exercises():
    margin = 0.1 * ((-42 + 45) - (-55 + 50))
    assert check("09.2", math.log1p(math.exp(-margin)))
    assert not check("09.2", -math.log1p(math.exp(-margin)))

    def gradient(policy_chosen: float) -> float:
        m = 0.1 * ((policy_chosen + 45) - (-55 + 50))
        return -0.1 * torch.sigmoid(torch.tensor(-m)).item()

    assert check("09.3", (gradient(-42), gradient(-30)))
    assert not check("09.3", (gradient(-30), gradient(-42)))
    ref, rewards, beta = torch.tensor([0.5, 0.3, 0.2]), torch.tensor([1.0, 2.0, 0.0]), 0.5
    weights = ref * torch.exp(rewards / beta)
    best = (weights / weights.sum()).tolist()
    assert check("09.4", (best, beta * math.log(weights.sum())))
    assert not check("09.4", (best, math.log(weights.sum())))
    assert not check("09.4", (ref.tolist(), beta * math.log(weights.sum())))


def test_chapter_8_exercises():
    import numpy as np
    from scipy.stats import norm

    shapes = [(576, 576), (576, 192), (576, 192), (576, 576), (576, 1536), (576, 1536), (1536, 576)]
    count = 30 * sum(16 * (d_in + d_out) for d_in, d_out in shapes)  # r (d_in + d_out) per adapted layer
    assert check("08.2", count)
    assert not check("08.2", count + 30 * sum(d_in * d_out for d_in, d_out in shapes))  # counting W too

    def lora_forward(layer, A, B, alpha, x, scale=True):
        return layer(x) + (alpha / A.shape[0] if scale else 1.0) * (x @ A.T) @ B.T

    assert check("08.3", lora_forward)
    assert not check("08.3", lambda *args: lora_forward(*args, scale=False))

    def ei(mean, std, best):
        safe = np.where(std > 0, std, 1.0)
        z = (mean - best) / safe
        return np.where(std > 0, (mean - best) * norm.cdf(z) + std * norm.pdf(z), np.maximum(mean - best, 0))

    assert check("08.4", ei)
    assert not check("08.4", lambda mean, std, best: np.maximum(mean - best, 0))  # no exploration bonus
