"""Sizes of notebooks/04_pretraining.ipynb: `ci` and `full` side by side, then the dry-run caps.

char / char_train: the tinyshakespeare GPT (GPTConfig and TrainConfig keywords; full = nanoGPT's
shakespeare_char); bpe*: GPT-2 BPE on WikiText-2 (train_chars/val_chars: text kept, None = all);
overfit*: early stopping on a small slice; scaling: widths trained for the same steps; lr_sweep;
finetune: steps on WikiText-2 characters; ddp_steps: the torchrun demonstration.
"""
from __future__ import annotations

CI = dict(
    precision="fp32", char=dict(n_layer=2, n_head=4, n_embd=64, block_size=64, dropout=0.0),
    char_train=dict(
        max_steps=200, batch_size=16, lr=0.003, min_lr=0.0003, warmup_steps=20, betas=(0.9, 0.99),
        eval_interval=50, eval_steps=4, sample_interval=100,
    ),
    sample_tokens=120, bpe_train_chars=200_000, bpe_val_chars=60_000,
    bpe=dict(n_layer=2, n_head=2, n_embd=32, block_size=64, dropout=0.0),
    bpe_train=dict(
        max_steps=100, batch_size=8, lr=0.003, min_lr=0.0003, warmup_steps=10, betas=(0.9, 0.99),
        eval_interval=40, eval_steps=4,
    ),
    overfit_chars=10_000, overfit=dict(n_layer=2, n_head=2, n_embd=48, block_size=32, dropout=0.0),
    overfit_train=dict(
        max_steps=400, batch_size=16, lr=0.005, min_lr=0.005, warmup_steps=10, betas=(0.9, 0.99),
        eval_interval=20, eval_steps=4, early_stopping_patience=3, keep_best=True,
    ),
    scaling_widths=[16, 32, 64], scaling=dict(n_layer=2, n_head=2, block_size=32),
    scaling_train=dict(
        max_steps=120, batch_size=16, lr=0.003, min_lr=0.0003, warmup_steps=15, betas=(0.9, 0.99),
        eval_interval=50, eval_steps=4,
    ),
    lr_sweep=[0.0003, 0.001, 0.003, 0.01, 0.03],
    lr_sweep_model=dict(n_layer=2, n_head=2, n_embd=32, block_size=32),
    lr_sweep_train=dict(
        max_steps=60, batch_size=16, warmup_steps=6, betas=(0.9, 0.99), eval_interval=60,
        eval_steps=4,
    ),
    finetune_train=dict(
        max_steps=60, batch_size=16, lr=0.001, min_lr=0.0001, warmup_steps=6, betas=(0.9, 0.99),
        eval_interval=30, eval_steps=4,
    ),
    ddp_steps=6,
)

FULL = dict(
    precision="bf16-mixed", char=dict(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2),
    char_train=dict(
        max_steps=5000, batch_size=64, lr=0.001, min_lr=0.0001, warmup_steps=100, betas=(0.9, 0.99),
        eval_interval=250, eval_steps=200, sample_interval=1000,
    ),
    sample_tokens=500, bpe_train_chars=None, bpe_val_chars=None,
    bpe=dict(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2),
    bpe_train=dict(
        max_steps=2000, batch_size=32, lr=0.0006, min_lr=6e-05, warmup_steps=100, betas=(0.9, 0.95),
        eval_interval=100, eval_steps=50,
    ),
    overfit_chars=100_000,
    overfit=dict(n_layer=4, n_head=4, n_embd=256, block_size=128, dropout=0.0),
    overfit_train=dict(
        max_steps=5000, batch_size=32, lr=0.001, min_lr=0.001, warmup_steps=100, betas=(0.9, 0.99),
        eval_interval=100, eval_steps=20, early_stopping_patience=3, keep_best=True,
    ),
    scaling_widths=[32, 64, 128, 192, 256, 384], scaling=dict(n_layer=4, n_head=4, block_size=128),
    scaling_train=dict(
        max_steps=2000, batch_size=32, lr=0.001, min_lr=0.0001, warmup_steps=100, betas=(0.9, 0.99),
        eval_interval=250, eval_steps=50,
    ),
    lr_sweep=[0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03],
    lr_sweep_model=dict(n_layer=4, n_head=4, n_embd=128, block_size=128),
    lr_sweep_train=dict(
        max_steps=1000, batch_size=32, warmup_steps=50, betas=(0.9, 0.99), eval_interval=1000,
        eval_steps=50,
    ),
    finetune_train=dict(
        max_steps=1000, batch_size=64, lr=0.0003, min_lr=3e-05, warmup_steps=50, betas=(0.9, 0.99),
        eval_interval=100, eval_steps=50,
    ),
    ddp_steps=30,
)

# What a dry run of the full profile replaces (merged key by key into the cut sizes).
DRY_RUN = dict(bpe_train_chars=200_000, bpe_val_chars=60_000, overfit_chars=10_000)
