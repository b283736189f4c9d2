"""Sizes of notebooks/09_alignment.ipynb: `ci` and `full` side by side, then the dry-run caps.

One SmolLM2-135M-Instruct is loaded once and carries LoRA adapters (``lora``: rank, alpha, the
projections adapted, and ``first_layer``, the lowest of the 30 decoder layers that gets adapters; in
``ci`` only the top layers are adapted, so that back-propagation stops there and a step costs less).

* SFT: Alpaca conversations of at most ``sft_max_tokens`` tokens (template included),
  ``sft_train_items`` of them to train on with ``sft_train``, ``sft_eval_items`` held-out ones for
  the response perplexity; ``format_items`` SST-2 test sentences asked as an instruction (greedy
  answers of at most ``format_new_tokens`` tokens); ``piqa_items`` PIQA items before and after.
* DPO: HH-RLHF harmless-base pairs cut to ``dpo_max_tokens`` (earliest turns dropped first),
  ``dpo_train_pairs`` / ``dpo_eval_pairs`` of our train / test split, ``beta``, ``dpo_train``.
* ICL: ``icl_items`` SST-2 test sentences, ``icl_shots`` demonstrations, ``icl_orders`` extra orders
  and ``icl_random_label_draws`` random-label draws of the ``icl_sensitivity_k``-shot prompt.

``batch_size``: rows per forward pass when scoring. ``None`` as a number of items means all.
"""
from __future__ import annotations

from llmbook.train import TrainConfig

_COMMON = dict(progress=False, eval_interval=None, weight_decay=0.0, grad_clip=1.0)
_CI = dict(precision="fp32", **_COMMON)  # every TrainConfig of the profile
_FULL = dict(precision="bf16-mixed", **_COMMON)

CI = dict(
    lora=dict(r=8, alpha=16, target_modules=["q_proj", "v_proj"], first_layer=22),
    sft_max_tokens=96, sft_train_items=256, sft_eval_items=12,
    sft_train=TrainConfig(max_steps=8, batch_size=4, lr=2e-3, warmup_steps=2, **_CI),
    format_items=16, format_new_tokens=3, piqa_items=24,
    dpo_max_tokens=80, dpo_train_pairs=16, dpo_eval_pairs=16, beta=0.1,
    dpo_train=TrainConfig(max_steps=6, batch_size=2, lr=2e-3, warmup_steps=1, **_CI),
    icl_items=32, icl_shots=[0, 1, 4, 8], icl_sensitivity_k=4, icl_orders=2,
    icl_random_label_draws=2,
    batch_size=8,
)

FULL = dict(
    lora=dict(r=16, alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
              first_layer=0),
    sft_max_tokens=256, sft_train_items=None, sft_eval_items=200,
    sft_train=TrainConfig(max_steps=600, batch_size=16, lr=2e-4, warmup_steps=30, **_FULL),
    format_items=872, format_new_tokens=3, piqa_items=None,
    dpo_max_tokens=384, dpo_train_pairs=None, dpo_eval_pairs=None, beta=0.1,
    dpo_train=TrainConfig(max_steps=400, batch_size=16, lr=1e-4, warmup_steps=20, **_FULL),
    icl_items=872, icl_shots=[0, 1, 4, 8], icl_sensitivity_k=4, icl_orders=5,
    icl_random_label_draws=5,
    batch_size=32,
)

# Dry run: the full shapes with every training cut to a few steps (see llmbook.book.sizes).
DRY_RUN = dict(
    sft_train_items=64, sft_eval_items=8, format_items=8, piqa_items=8, dpo_train_pairs=8,
    dpo_eval_pairs=8, icl_items=8, icl_orders=1, icl_random_label_draws=1, batch_size=8,
)
