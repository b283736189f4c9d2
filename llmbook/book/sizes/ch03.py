"""Sizes of notebooks/03_attention.ipynb: `ci` and `full` side by side, then the dry-run caps.
"""
from __future__ import annotations

CI = dict(
    dk_values=[1, 4, 16, 64, 256, 1024], variance_samples=2000, n_keys=16, pe_positions=128,
    rope_positions=500, residual_depth=24,
    ln_experiment=dict(
        n_layers=6, d_model=64, steps=60, batch_size=16, block_size=32, lrs=[0.001, 0.003, 0.01],
    ),
    char_lm=dict(
        d_model=64, n_layers=2, n_heads=4, steps=300, lr=0.003, batch_size=32, block_size=64,
        eval_batches=10,
    ),
    heatmap_chars=40, gen_tokens=40, kv_prompt_chars=256,
    cost=dict(seq_lens=[128, 256, 512, 1024, 2048], heads=4, head_dim=64, repeats=3),
    bench=dict(batch=8, seq=256, d_model=256, n_heads=8, rounds=5),
)

FULL = dict(
    dk_values=[1, 4, 16, 64, 256, 1024, 4096], variance_samples=20_000, n_keys=16, pe_positions=256,
    rope_positions=4000, residual_depth=48,
    ln_experiment=dict(
        n_layers=12, d_model=128, steps=300, batch_size=32, block_size=128,
        lrs=[0.001, 0.003, 0.01, 0.03],
    ),
    char_lm=dict(
        d_model=256, n_layers=4, n_heads=8, steps=2000, lr=0.001, batch_size=64, block_size=256,
        eval_batches=50,
    ),
    heatmap_chars=48, gen_tokens=200, kv_prompt_chars=1024,
    cost=dict(seq_lens=[256, 512, 1024, 2048, 4096, 8192], heads=8, head_dim=64, repeats=10),
    bench=dict(batch=8, seq=256, d_model=256, n_heads=8, rounds=30),
)

# What a dry run of the full profile replaces (merged key by key into the cut sizes).
DRY_RUN = dict(
    variance_samples=2000, cost=dict(seq_lens=[256, 512, 1024], repeats=1), bench=dict(rounds=2),
)
