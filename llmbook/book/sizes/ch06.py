"""Sizes of notebooks/06_metrics.ipynb: `ci` and `full` side by side, then the dry-run caps.

ppl_*: SmolLM2-135M-Instruct, Q4_1-quantised (llmbook.pretrained.load_smollm2), on WikiText-2 test
(ppl_tokens None = the whole split), one window, a stride sweep (stride == window first: disjoint
windows); error_rate_*: the simulated MT systems A and B;
rouge_documents: SQuAD paragraphs for ROUGE (the slice has 87).
"""
from __future__ import annotations

CI = dict(
    ppl_tokens=1280, ppl_window=256, ppl_strides=[256, 128, 64], ppl_batch=1, error_rate_a=0.1,
    error_rate_b=0.12, rouge_documents=30, bootstrap_resamples=1000,
)

FULL = dict(
    ppl_tokens=None, ppl_window=1024, ppl_strides=[1024, 512, 256, 128], ppl_batch=16,
    error_rate_a=0.1, error_rate_b=0.12, rouge_documents=87, bootstrap_resamples=10_000,
)

# What a dry run of the full profile replaces (merged key by key into the cut sizes).
DRY_RUN = dict(ppl_tokens=3000, bootstrap_resamples=1000)
