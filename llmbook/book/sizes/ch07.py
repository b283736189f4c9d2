"""Sizes of notebooks/07_evaluation.ipynb: `ci` and `full` side by side, then the dry-run caps.

overfit: tiny MLP on SST-2 bag-of-words (train_n sentences, full-batch epochs); search_trials: per
strategy (a k x k grid); piqa_n / mmlu_*: benchmark subsets (None = all; seeded draws otherwise);
robust_*: PIQA items and noise rates for SmolLM2; efficiency: profile_model's shapes; batch_size: the
harness's. The ci subsets keep SmolLM2 to about 10k tokens of forward passes on a 2-core CPU.
"""
from __future__ import annotations

CI = dict(
    overfit=dict(train_n=1000, vocab=2000, hidden=32, epochs=40, lr=0.01), search_trials=9,
    piqa_n=100, mmlu_subjects=["management", "world_religions", "human_aging"], mmlu_per_subject=4,
    robust_n=24, robust_char_rates=[0.3], robust_shuffle_rates=[1.0],
    efficiency=dict(seq_len=32, batch_size=4, repeats=2), batch_size=16,
)

FULL = dict(
    overfit=dict(train_n=1000, vocab=2000, hidden=32, epochs=40, lr=0.01), search_trials=25,
    piqa_n=None, mmlu_subjects=None, mmlu_per_subject=None, robust_n=500,
    robust_char_rates=[0.05, 0.1, 0.2, 0.3, 0.5], robust_shuffle_rates=[0.25, 0.5, 1.0],
    efficiency=dict(seq_len=512, batch_size=16, repeats=5), batch_size=64,
)

# What a dry run of the full profile replaces (merged key by key into the cut sizes).
DRY_RUN = dict(
    piqa_n=40, mmlu_subjects=["management", "human_aging"], mmlu_per_subject=3, robust_n=16,
    search_trials=9, efficiency=dict(seq_len=128, batch_size=4, repeats=2),
)
