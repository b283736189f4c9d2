"""Sizes of notebooks/16_beyond.ipynb: `ci` and `full` side by side, then the dry-run caps.

Experts: a GPT (``moe_model``; vocabulary set by the notebook) whose every feed-forward network is
replaced (:func:`llmbook.nn.use_experts`) by ``moe["n_experts"]`` SwiGLU experts of width
``moe["d_ff"]`` with top-``moe["top_k"]`` routing, against the same GPT with one expert of width
``top_k * d_ff`` (equal active parameters), both trained with ``moe_train`` on tinyshakespeare's
characters and the load-balancing loss weighted by ``aux_weight``.

Long context: a rotary GPT (``rope_model``; its ``block_size`` is the longest context evaluated)
trained with ``rope_train`` at ``rope_train.block_size`` tokens, then evaluated on ``rope_windows``
validation windows of each length in ``rope_lengths`` with no / linear / dynamic scaling
(``dynamic_factor``); a copy with linear scaling for the longest length is fine-tuned with
``pi_finetune`` (its ``block_size`` is that length).

Languages: fertility on the first ``fertility_sentences`` parallel test sentences of Multi30k and
Tatoeba; a BPE of ``mixed_bpe_vocab`` tokens trained on ``mixed_bpe_sentences`` English and as many
Chinese Tatoeba training sentences; learning curves of a character-n-gram logistic regression on
``curve_fractions`` of ChnSentiCorp's training set (``curve_seeds`` random subsets each).

Images: a :class:`~llmbook.models.TinyCLIP` (``clip_model``) trained with ``clip_train`` on
``clip_train_images`` of scikit-learn's 1,797 digits; the rest are held out for zero-shot accuracy.
"""
from __future__ import annotations

from llmbook.models import CLIPConfig, GPTConfig
from llmbook.train import TrainConfig

_CI = dict(precision="fp32", progress=False)
_FULL = dict(precision="bf16-mixed", progress=False)

CI = dict(
    moe_model=GPTConfig(n_layer=2, n_head=4, n_embd=64, block_size=64),
    moe=dict(n_experts=8, top_k=2, d_ff=128),
    aux_weight=0.01,
    moe_train=TrainConfig(max_steps=150, batch_size=16, block_size=64, lr=3e-3, warmup_steps=15,
                          eval_interval=25, eval_steps=4, **_CI),
    rope_model=GPTConfig(n_layer=2, n_head=4, n_embd=64, block_size=256, position="rope"),
    rope_train=TrainConfig(max_steps=250, batch_size=16, block_size=32, lr=3e-3, warmup_steps=20,
                           eval_interval=None, **_CI),
    pi_finetune=TrainConfig(max_steps=40, batch_size=8, block_size=256, lr=1e-3, warmup_steps=4,
                            eval_interval=None, **_CI),
    rope_lengths=(32, 64, 128, 256), rope_windows=8, dynamic_factor=2.0,
    fertility_sentences=300, mixed_bpe_vocab=2000, mixed_bpe_sentences=6000,
    curve_fractions=(0.01, 0.1, 1.0), curve_seeds=3,
    clip_model=CLIPConfig(embed_dim=32, hidden=128, word_dim=32),
    clip_train=dict(steps=300, batch_size=128, lr=3e-3),
    clip_train_images=1200,
)

FULL = dict(
    moe_model=GPTConfig(n_layer=6, n_head=6, n_embd=384, block_size=256),
    moe=dict(n_experts=8, top_k=2, d_ff=512),
    aux_weight=0.01,
    moe_train=TrainConfig(max_steps=3000, batch_size=64, block_size=256, lr=1e-3, warmup_steps=100,
                          eval_interval=100, eval_steps=20, **_FULL),
    rope_model=GPTConfig(n_layer=6, n_head=6, n_embd=384, block_size=2048, position="rope"),
    rope_train=TrainConfig(max_steps=3000, batch_size=64, block_size=256, lr=1e-3, warmup_steps=100,
                           eval_interval=None, **_FULL),
    pi_finetune=TrainConfig(max_steps=200, batch_size=16, block_size=2048, lr=3e-4, warmup_steps=20,
                            eval_interval=None, **_FULL),
    rope_lengths=(256, 512, 1024, 2048), rope_windows=32, dynamic_factor=4.0,
    fertility_sentences=1000, mixed_bpe_vocab=8000, mixed_bpe_sentences=26000,
    curve_fractions=(0.01, 0.03, 0.1, 0.3, 1.0), curve_seeds=5,
    clip_model=CLIPConfig(embed_dim=64, hidden=256, word_dim=64),
    clip_train=dict(steps=3000, batch_size=256, lr=1e-3),
    clip_train_images=1200,
)

# Dry run: the full shapes with every training cut to a few steps (see llmbook.book.sizes).
DRY_RUN = dict(rope_windows=2, fertility_sentences=100, mixed_bpe_vocab=600,
               mixed_bpe_sentences=1000, curve_seeds=1)
