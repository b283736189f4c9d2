"""Sizes of notebooks/10_decoding.ipynb: `ci` and `full` side by side, then the dry-run caps.

SmolLM2-135M-Instruct shows the processors and the search methods; ``kv_new_tokens`` tokens are
generated with and without the KV cache (the timing). The story model is a GPT (``story_model``; its
vocabulary is set by the notebook) trained with ``story_train`` on the ``tinystories`` train split;
the first ``heldout_stories`` stories of its held-out split validate and the next ``heldout_stories``
give the held-out perplexity and the story openings (the split holds 221 stories, so at most 110):
``openings`` of them, cut to their first ``opening_tokens`` tokens, are continued by
``new_tokens`` tokens under each decoding setting and scored by SmolLM2 (``judge_batch_size`` rows
per forward pass). ``smollm_openings`` of the openings are also continued by SmolLM2 itself
(``smollm_new_tokens`` tokens each, 0: skipped).
"""
from __future__ import annotations

from llmbook.models import GPTConfig
from llmbook.train import TrainConfig

_CI = dict(precision="fp32", progress=False)  # every TrainConfig of the profile
_FULL = dict(precision="bf16-mixed", progress=False)

CI = dict(
    kv_new_tokens=64,
    story_model=GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=128, dropout=0.0),
    story_train=TrainConfig(
        max_steps=160, batch_size=16, block_size=128, lr=0.002, min_lr=0.0002, warmup_steps=16,
        betas=(0.9, 0.99), eval_interval=40, eval_steps=4, keep_best=True, **_CI,
    ),
    heldout_stories=100, openings=16, opening_tokens=16, new_tokens=48, judge_batch_size=16,
    smollm_openings=4, smollm_new_tokens=32,
)

FULL = dict(
    kv_new_tokens=500,
    story_model=GPTConfig(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.1),
    story_train=TrainConfig(
        max_steps=3000, batch_size=64, block_size=256, lr=0.001, min_lr=0.0001, warmup_steps=100,
        betas=(0.9, 0.95), eval_interval=100, eval_steps=20, early_stopping_patience=5,
        keep_best=True, **_FULL,
    ),
    heldout_stories=110, openings=110, opening_tokens=16, new_tokens=128, judge_batch_size=32,
    smollm_openings=50, smollm_new_tokens=96,
)

# Dry run: the full shapes with every training cut to a few steps (see llmbook.book.sizes).
DRY_RUN = dict(kv_new_tokens=24, heldout_stories=20, openings=4, new_tokens=24, judge_batch_size=8,
               smollm_openings=2, smollm_new_tokens=16)
