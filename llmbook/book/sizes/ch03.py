"""Sizes of notebooks/03_attention.ipynb: `ci` and `full` side by side, then the dry-run caps.

ln_model / ln_train / ln_lrs: pre-LN against post-LN; the notebook sets ``norm_first`` and the
vocabulary of ``ln_model``, and trains once with each learning rate of ``ln_lrs`` in place of
``ln_train``'s (``lr`` and ``min_lr`` both, so it stays constant). char_model / char_train: the
character model whose attention maps and KV cache the chapter looks at; its ``block_size`` is the
longest context the KV-cache demonstration reaches (prompt plus generated tokens), while it trains on
windows of ``char_train.block_size``, and ``char_train.eval_steps`` batches estimate its validation
loss. Both models are the chapter's GPT variant (:func:`_char_gpt`), trained by Adam at a constant
learning rate (:func:`_constant_lr`).
"""
from __future__ import annotations

from typing import Any

from llmbook.models import GPTConfig
from llmbook.train import TrainConfig


def _char_gpt(**shape: Any) -> GPTConfig:
    """Chapter 3's GPT: rotary positions, an output layer of its own, PyTorch's default initialisation,
    no dropout (the vocabulary is set by the notebook)."""
    return GPTConfig(position="rope", tie_weights=False, init="pytorch", dropout=0.0, **shape)


def _constant_lr(lr: float, **run: Any) -> TrainConfig:
    """Adam at a constant ``lr``: no warm-up and no decay (``min_lr = lr``), no weight decay (AdamW is
    then Adam), no clipping, no evaluation during training."""
    return TrainConfig(lr=lr, min_lr=lr, warmup_steps=0, weight_decay=0.0, betas=(0.9, 0.999),
                       grad_clip=None, eval_interval=None, progress=False, **run)


CI = dict(
    dk_values=[1, 4, 16, 64, 256, 1024], variance_samples=2000, n_keys=16, pe_positions=128,
    rope_positions=500, residual_depth=24,
    ln_model=_char_gpt(n_layer=6, n_head=4, n_embd=64, block_size=32),
    ln_train=_constant_lr(0.001, max_steps=60, batch_size=16, block_size=32),
    ln_lrs=[0.001, 0.003, 0.01],
    char_model=_char_gpt(n_layer=2, n_head=4, n_embd=64, block_size=512),
    char_train=_constant_lr(0.003, max_steps=300, batch_size=32, block_size=64, eval_steps=10),
    heatmap_chars=40, gen_tokens=40, kv_prompt_chars=256,
    cost=dict(seq_lens=[128, 256, 512, 1024, 2048], heads=4, head_dim=64, repeats=3),
    bench=dict(batch=8, seq=256, d_model=256, n_heads=8, rounds=5),
)

FULL = dict(
    dk_values=[1, 4, 16, 64, 256, 1024, 4096], variance_samples=20_000, n_keys=16, pe_positions=256,
    rope_positions=4000, residual_depth=48,
    ln_model=_char_gpt(n_layer=12, n_head=4, n_embd=128, block_size=128),
    ln_train=_constant_lr(0.001, max_steps=300, batch_size=32, block_size=128),
    ln_lrs=[0.001, 0.003, 0.01, 0.03],
    char_model=_char_gpt(n_layer=4, n_head=8, n_embd=256, block_size=2048),
    char_train=_constant_lr(0.001, max_steps=2000, batch_size=64, block_size=256, eval_steps=50),
    heatmap_chars=48, gen_tokens=200, kv_prompt_chars=1024,
    cost=dict(seq_lens=[256, 512, 1024, 2048, 4096, 8192], heads=8, head_dim=64, repeats=10),
    bench=dict(batch=8, seq=256, d_model=256, n_heads=8, rounds=30),
)

# What a dry run of the full profile replaces (merged key by key into the cut sizes).
DRY_RUN = dict(
    variance_samples=2000, cost=dict(seq_lens=[256, 512, 1024], repeats=1), bench=dict(rounds=2),
)
