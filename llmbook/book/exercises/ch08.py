"""Checks for chapter 8, "Fine-tuning: from an LSTM to LoRA". Each checker recomputes the answer with
the package (llmbook.data, llmbook.finetune, llmbook.tuning) or runs the learner's code against it."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ... import data, tuning
from ...finetune import LoRALinear
from . import exercise, integer


@exercise("08.1", hint="an id i has a row only if i < len(train_rows): count the training word ids "
                       ">= len(sst2['train']); for ChnSentiCorp the rows len(char_vocab) .. "
                       "len(chn['train']) - 1 are never looked up.")
def _vocabulary_size_bug(answer: Any) -> bool:
    out_of_range, unused_rows, vocab, char_vocab = answer
    sst2_train = data.load("sst2", "train")
    ids = np.concatenate([vocab.encode(row["sentence"].split()) for row in sst2_train])
    expected_out = int((ids >= len(sst2_train)).sum())
    expected_unused = max(len(data.load("chnsenticorp", "train")) - len(char_vocab), 0)
    return (integer(out_of_range), integer(unused_rows)) == (expected_out, expected_unused)


# SmolLM2-135M's projections per layer (d_in, d_out): q, k, v, o, gate, up, down
_SMOLLM2_SHAPES = [(576, 576), (576, 192), (576, 192), (576, 576), (576, 1536), (576, 1536), (1536, 576)]


@exercise("08.2", hint="each adapted layer adds r * (d_in + d_out): A is (r, d_in), B is (d_out, r); "
                       "sum over the seven projections and multiply by 30 layers.")
def _lora_parameter_count(answer: Any) -> bool:
    per_layer = 0
    for d_in, d_out in _SMOLLM2_SHAPES:
        adapter = LoRALinear(nn.Linear(d_in, d_out, device="meta"), r=16, alpha=32)
        per_layer += adapter.lora_A.weight.numel() + adapter.lora_B.weight.numel()  # base: frozen
    return integer(answer) == 30 * per_layer


@exercise("08.3", hint="layer(x) + (alpha / r) * (x @ A.T) @ B.T, with r = A.shape[0]; the base layer "
                       "keeps its bias, the update has none.")
def _lora_forward(lora_forward: Any) -> bool:
    generator = torch.Generator().manual_seed(8)
    for bias, (d_in, d_out, r, alpha) in ((True, (12, 7, 3, 6.0)), (False, (5, 9, 2, 1.0))):
        torch.manual_seed(0)
        layer = LoRALinear(nn.Linear(d_in, d_out, bias=bias), r=r, alpha=alpha)
        with torch.no_grad():
            layer.lora_B.weight.normal_(0, 0.5, generator=generator)  # B = 0 would hide a wrong update
        x = torch.randn(2, 4, d_in, generator=generator)
        with torch.no_grad():
            expected = layer(x)
            got = lora_forward(layer.base, layer.lora_A.weight.clone(), layer.lora_B.weight.clone(), alpha, x)
        got = torch.as_tensor(got)
        if got.shape != expected.shape or not torch.allclose(got, expected, atol=1e-5):
            return False
    return True


@exercise("08.4", hint="z = (mean - best) / std; EI = (mean - best) * Phi(z) + std * phi(z); where std == 0 "
                       "return max(mean - best, 0).")
def _expected_improvement(ei: Any) -> bool:
    rng = np.random.default_rng(8)
    mean = rng.normal(0.8, 0.05, 50)
    std = np.abs(rng.normal(0.0, 0.03, 50))
    std[::10] = 0.0  # certain points
    best = 0.8
    got = np.asarray(ei(mean.copy(), std.copy(), best), dtype=float)
    expected = tuning.expected_improvement(mean, std, best)
    return got.shape == expected.shape and bool(np.allclose(got, expected, atol=1e-9))
