"""Checks for chapter 4, "Pretraining a GPT". Each checker computes the answer with the package."""
from __future__ import annotations

import math

import torch

from ...models import GPT, GPTConfig
from ...flops import training_flops
from ...train import estimate_memory, lr_at
from . import exercise, integer


def _gpt2_small_params() -> int:
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = GPT(GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768))
    return sum(p.numel() for p in model.parameters())


@exercise("04.1", hint="Build GPT(GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)) "
                       "(inside `with torch.device('meta'):` it costs nothing) and sum p.numel() over model.parameters(): "
                       "the tied lm_head is counted once.")
def _gpt2_small(answer) -> bool:
    return integer(answer) == _gpt2_small_params()


@exercise("04.2", hint="Warmup ends at step 100; after that the cosine runs from step 100 to step 5000: "
                       "llmbook.train.lr_at(step, max_lr, warmup_steps, decay_steps, min_lr).")
def _lr_at_step(answer) -> bool:
    return math.isclose(float(answer), lr_at(2550, 1e-3, 100, 5000, 1e-4), rel_tol=1e-9)


@exercise("04.3", hint="Mixed-precision AdamW costs 2 + 2 + 12 bytes per parameter; ZeRO-2 divides the gradients and "
                       "the optimizer states (not the weights) by the number of GPUs: "
                       "llmbook.train.estimate_memory(1.3e9, 'adamw', 'bf16-mixed', zero_stage=2, n_gpus=8).total / 1e9.")
def _zero2_memory(answer) -> bool:
    expected = estimate_memory(1.3e9, "adamw", "bf16-mixed", zero_stage=2, n_gpus=8).total / 1e9
    return math.isclose(float(answer), expected, rel_tol=1e-3)


@exercise("04.4", hint="C = 6 N D with N = 124M parameters and D = 300 billion tokens, in FLOPs; then divide by "
                       "0.4 * 312e12 FLOP/s (40 % of an A100's bf16 peak) and by 86400 s per day.")
def _gpu_days(answer) -> bool:
    expected = training_flops(124e6, 300e9) / (0.4 * 312e12) / 86400
    return math.isclose(float(answer), expected, rel_tol=1e-2)
