"""Sizes of notebooks/11_trustworthy_evaluation.ipynb: `ci` and `full`, then the dry-run caps.

harness_items: PIQA items scored by lm-evaluation-harness's HFLM beside ours;
suite_limit: seeded items of each multiple-choice benchmark without subjects (None: all);
mmlu_subjects / cmmlu_subjects and per_subject: the subject-wise draws (None: all subjects);
mmlu_five_shot: also score those MMLU questions five-shot (the few-shot effect);
judge_pairs / judge_max_chars: HH-RLHF harmless-base test pairs judged in both orders;
contamination_ns: n-gram lengths; contamination_items: benchmark items checked per benchmark;
spread_model / spread_train: the tiny character GPT trained with 3 seeds; precision_items: PIQA
items scored in float32 and bfloat16; gpt_tokens: validation characters of the report's perplexity.
The ci sizes keep SmolLM2 to about 15k tokens of forward passes on a 2-core CPU.
"""
from __future__ import annotations

from llmbook.models import GPTConfig
from llmbook.train import TrainConfig

CI = dict(
    harness_items=2,
    suite_limit=dict(piqa=12, arc_easy=12, arc_challenge=12, hellaswag=6),
    mmlu_subjects=["high_school_geography", "marketing", "nutrition"],
    cmmlu_subjects=["chinese_food_culture", "elementary_commonsense"], per_subject=3,
    mmlu_five_shot=False,
    judge_pairs=10, judge_max_chars=280, batch_size=16,
    contamination_ns=[13, 8, 5], contamination_items=200,
    spread_seeds=[0, 1, 2],
    spread_model=GPTConfig(vocab_size=65, n_layer=2, n_head=2, n_embd=48, block_size=64,
                           dropout=0.0),
    spread_train=TrainConfig(max_steps=60, batch_size=16, block_size=64, lr=0.003, min_lr=0.0003,
                             warmup_steps=6, eval_interval=60, eval_steps=4, precision="fp32",
                             progress=False),
    precision_items=3, gpt_tokens=8000,
)

FULL = dict(
    harness_items=50,
    suite_limit=dict(piqa=None, arc_easy=None, arc_challenge=None, hellaswag=None),
    mmlu_subjects=None, cmmlu_subjects=None, per_subject=None, mmlu_five_shot=True,
    judge_pairs=400, judge_max_chars=2000, batch_size=64,
    contamination_ns=[13, 8, 5], contamination_items=None,
    spread_seeds=[0, 1, 2],
    spread_model=GPTConfig(vocab_size=65, n_layer=6, n_head=6, n_embd=384, block_size=256,
                           dropout=0.2),
    spread_train=TrainConfig(max_steps=5000, batch_size=64, block_size=256, lr=0.001, min_lr=0.0001,
                             warmup_steps=100, eval_interval=500, eval_steps=50,
                             precision="bf16-mixed", progress=False),
    precision_items=500, gpt_tokens=None,
)

# Dry run: the full shapes with every training cut to a few steps (see llmbook.book.sizes).
DRY_RUN = dict(
    harness_items=2, suite_limit=dict(piqa=4, arc_easy=4, arc_challenge=4, hellaswag=2),
    mmlu_subjects=["marketing", "nutrition"], cmmlu_subjects=["chinese_food_culture"],
    per_subject=2, judge_pairs=4, judge_max_chars=300, contamination_items=50, precision_items=2,
    gpt_tokens=4000,
)
