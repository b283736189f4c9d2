"""Sizes of notebooks/01_history.ipynb: `ci` and `full` side by side, then the dry-run caps.

eval_tokens: the first held-out tokens that every leaderboard row scores (None = the whole split);
addk_values: the k of the add-k sweep; char / word: one spec per neural model (its shape, then
training: steps, batch_size, block_size, lr); eval_interval / patience: early stopping on the
development tokens (None = train for `steps` without evaluating); cpu_threads: torch threads on a
CPU (None = PyTorch's default).
"""
from __future__ import annotations

CI = dict(
    eval_tokens=dict(char=30_000, word=6000), addk_values=[0.001, 0.01, 0.1, 1.0],
    eval_interval=None, eval_steps=10, patience=None, cpu_threads=1,
    char=dict(
        mlp=dict(
            context_size=8, n_embd=32, n_hidden=256, dropout=0.0, steps=150, batch_size=32,
            block_size=64, lr=0.02,
        ),
        lstm=dict(
            n_embd=64, n_hidden=256, n_layer=1, dropout=0.0, steps=100, batch_size=32,
            block_size=64, lr=0.02,
        ),
        transformer=dict(
            n_layer=2, n_head=4, n_embd=96, dropout=0.0, steps=300, batch_size=32, block_size=32,
            lr=0.005,
        ),
    ),
    word=dict(
        mlp=dict(
            context_size=4, n_embd=64, n_hidden=128, dropout=0.0, steps=30, batch_size=16,
            block_size=32, lr=0.01,
        ),
        lstm=dict(
            n_embd=64, n_hidden=128, n_layer=1, dropout=0.0, steps=30, batch_size=16, block_size=32,
            lr=0.02,
        ),
        transformer=dict(
            n_layer=2, n_head=4, n_embd=64, dropout=0.0, steps=30, batch_size=16, block_size=32,
            lr=0.01,
        ),
    ),
)

FULL = dict(
    eval_tokens=dict(char=None, word=None),
    addk_values=[0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0], eval_interval=250,
    eval_steps=20, patience=6, cpu_threads=None,
    char=dict(
        mlp=dict(
            context_size=12, n_embd=32, n_hidden=1024, dropout=0.2, steps=8000, batch_size=256,
            block_size=64, lr=0.002,
        ),
        lstm=dict(
            n_embd=128, n_hidden=512, n_layer=2, dropout=0.2, steps=4000, batch_size=64,
            block_size=128, lr=0.002,
        ),
        transformer=dict(
            n_layer=6, n_head=6, n_embd=384, dropout=0.2, precision="bf16-mixed", steps=4000,
            batch_size=64, block_size=256, lr=0.001,
        ),
    ),
    word=dict(
        mlp=dict(
            context_size=4, n_embd=128, n_hidden=512, dropout=0.5, steps=4000, batch_size=64,
            block_size=64, lr=0.001,
        ),
        lstm=dict(
            n_embd=400, n_hidden=400, n_layer=2, dropout=0.5, tie_weights=True, steps=6000,
            batch_size=32, block_size=64, lr=0.002,
        ),
        transformer=dict(
            n_layer=4, n_head=4, n_embd=256, dropout=0.4, steps=6000, batch_size=32, block_size=128,
            lr=0.0005,
        ),
    ),
)

# What a dry run of the full profile replaces (merged key by key into the cut sizes).
DRY_RUN = dict(eval_tokens=dict(char=20_000, word=4000))
