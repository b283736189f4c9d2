"""Sizes of notebooks/17_understanding.ipynb: `ci` and `full` side by side, then the dry-run caps.

SmolLM2-135M-Instruct is read by the logit lens, the attention maps and the probe. The probe takes
``probe_train`` and ``probe_test`` SST-2 training sentences of at most ``probe_max_words`` words
(half positive, half negative), pools their residual stream (``probe_pooling``) and fits one
logistic regression per layer (inverse strength ``probe_C``). The steering direction is the
difference of the mean positive and negative probe states at ``steer_layer``; ``steer_prompts``
prompts are continued greedily by ``steer_new_tokens`` tokens for each ``steer_alphas``. The
sentiment judge is a logistic regression on MiniLM embeddings of ``judge_train`` SST-2 training
sentences, checked on ``judge_val`` validation ones. WEAT draws ``weat_permutations`` random splits
where an exact test would need more than ``weat_max_exact``.

Privacy: a character GPT (``mi_model``; its vocabulary comes from the data) is trained on
``mi_members`` chunks of ``mi_chunk`` characters of tinyshakespeare and attacked with as many other
chunks of the same text; ``mi_epochs`` are the epochs after which the attack is run (training goes
on to the last). DP-SGD trains the same model for ``dp_epochs`` epochs with clipping bound
``dp_clip`` and each noise multiplier of ``dp_sigmas`` (0: clipping only).
"""
from __future__ import annotations

from llmbook.models import GPTConfig

CI = dict(
    probe_train=120, probe_test=64, probe_max_words=10, probe_pooling="mean", probe_C=0.1,
    steer_layer=10, steer_alphas=[-8.0, -4.0, 0.0, 4.0, 8.0], steer_prompts=4, steer_new_tokens=20,
    judge_train=600, judge_val=200,
    weat_permutations=10_000, weat_max_exact=20_000,
    mi_model=GPTConfig(n_layer=2, n_head=2, n_embd=48, block_size=32, dropout=0.0),
    mi_chunk=32, mi_members=64, mi_batch_size=16, mi_lr=0.003, mi_epochs=[1, 2, 4, 8, 12, 20, 32],
    dp_epochs=12, dp_clip=1.0, dp_sigmas=[0.0, 1.0],
)

FULL = dict(
    probe_train=2000, probe_test=800, probe_max_words=30, probe_pooling="mean", probe_C=0.1,
    steer_layer=10, steer_alphas=[-8.0, -4.0, 0.0, 4.0, 8.0], steer_prompts=20, steer_new_tokens=40,
    judge_train=4000, judge_val=872,
    weat_permutations=100_000, weat_max_exact=100_000,
    mi_model=GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0),
    mi_chunk=64, mi_members=512, mi_batch_size=32, mi_lr=0.003,
    mi_epochs=[1, 2, 5, 10, 20, 40, 80],
    dp_epochs=40, dp_clip=1.0, dp_sigmas=[0.0, 0.5, 1.0, 2.0],
)

# Dry run: the full shapes with the data and the epochs cut (see llmbook.book.sizes).
DRY_RUN = dict(probe_train=16, probe_test=16, steer_prompts=2, steer_new_tokens=4, judge_train=32,
               judge_val=16, weat_permutations=200, mi_members=32, mi_epochs=[1, 2], dp_epochs=1)
