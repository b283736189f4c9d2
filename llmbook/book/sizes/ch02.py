"""Sizes of notebooks/02_tokenization.ipynb: `ci` and `full` side by side, then the dry-run caps.

naive_*: the recount-per-merge derivation; openai_check_chars: the string-level GPT-2 derivation;
bpe_*: our BPE trained once on all of tinyshakespeare train, evaluated at each vocabulary size.
"""
from __future__ import annotations

CI = dict(
    naive_chars=200_000, naive_merges=40, openai_check_chars=50_000, bpe_max_vocab=2048,
    bpe_vocab_sizes=[256, 320, 384, 512, 768, 1024, 1536, 2048], hf_vocab_sizes=[512, 1024, 2048],
)

FULL = dict(
    naive_chars=1_000_000, naive_merges=100, openai_check_chars=1_000_000, bpe_max_vocab=8192,
    bpe_vocab_sizes=[256, 320, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192],
    hf_vocab_sizes=[512, 1024, 2048, 4096, 8192],
)

# What a dry run of the full profile replaces (merged key by key into the cut sizes).
DRY_RUN = dict()
