"""Sizes of notebooks/15_efficiency.ipynb: `ci` and `full` side by side, then the dry-run caps.

All models are character-level GPTs on tinyshakespeare (the vocabulary is set by the notebook).
``scaling_models`` × ``scaling_steps`` is the grid of the scaling-law fit, each run trained with
``scaling_train`` (its ``max_steps`` replaced by the budget, warm-up a tenth of it); the fit
predicts the validation loss of ``predict_model`` trained for the largest budget, which is then
trained. Final losses are the mean over ``eval_batches`` fixed validation batches. That larger
model is also the quantised model, the distillation teacher and the speculative-decoding target;
the grid's second model at the largest budget is the hard-label student (``distill_*``: the
soft-target run), its first the draft model. ``spec_prompts`` prompts of ``spec_prompt_len``
characters are continued by ``spec_new_tokens`` tokens for each ``spec_ks``. ``flash_lengths``:
the sequence lengths of the attention-memory measurement. ``gguf_tensors``: how many tensors of
SmolLM2's GGUF file are re-quantised byte for byte (None: all); ``smollm_ppl_tokens``: tokens of
WikiText-2 on which SmolLM2's quantised perplexity is measured (0: skipped).
"""
from __future__ import annotations

from llmbook.models import GPTConfig
from llmbook.train import TrainConfig

_CI = dict(precision="fp32", progress=False, eval_interval=None)  # every TrainConfig of the profile
_FULL = dict(precision="bf16-mixed", progress=False, eval_interval=None)

CI = dict(
    scaling_models=[GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=128),
                    GPTConfig(n_layer=2, n_head=2, n_embd=48, block_size=128),
                    GPTConfig(n_layer=3, n_head=2, n_embd=64, block_size=128)],
    scaling_steps=[40, 80, 160],
    scaling_train=TrainConfig(max_steps=160, batch_size=4, block_size=128, lr=0.003,
                              min_lr=0.0003, warmup_steps=16, betas=(0.9, 0.99), **_CI),
    predict_model=GPTConfig(n_layer=4, n_head=2, n_embd=96, block_size=128),
    eval_batches=24,
    distill_temperatures=[1.0, 2.0], distill_alpha=1.0,
    spec_prompts=4, spec_prompt_len=16, spec_new_tokens=96, spec_ks=[1, 2, 3, 4, 6],
    flash_lengths=[128, 256, 512, 1024], flash_block=64,
    gguf_tensors=8, smollm_ppl_tokens=0,
)

FULL = dict(
    scaling_models=[GPTConfig(n_layer=2, n_head=4, n_embd=128, block_size=256),
                    GPTConfig(n_layer=4, n_head=4, n_embd=192, block_size=256),
                    GPTConfig(n_layer=4, n_head=4, n_embd=256, block_size=256),
                    GPTConfig(n_layer=6, n_head=6, n_embd=288, block_size=256)],
    scaling_steps=[500, 1000, 2000, 4000],
    scaling_train=TrainConfig(max_steps=4000, batch_size=32, block_size=256, lr=0.002,
                              min_lr=0.0002, warmup_steps=100, betas=(0.9, 0.99), **_FULL),
    predict_model=GPTConfig(n_layer=8, n_head=8, n_embd=384, block_size=256),
    eval_batches=100,
    distill_temperatures=[1.0, 2.0], distill_alpha=1.0,
    spec_prompts=20, spec_prompt_len=32, spec_new_tokens=224, spec_ks=[1, 2, 3, 4, 6, 8],
    flash_lengths=[512, 1024, 2048, 4096, 8192], flash_block=128,
    gguf_tensors=None, smollm_ppl_tokens=8192,
)

# Dry run: the full shapes with every training cut to a few steps (see llmbook.book.sizes).
DRY_RUN = dict(scaling_steps=[2, 3, 4], eval_batches=2, spec_prompts=1, spec_new_tokens=16,
               spec_ks=[2, 4], flash_lengths=[128, 256], gguf_tensors=4, smollm_ppl_tokens=256)
