"""Sizes of notebooks/05_bert_t5.ipynb: `ci` and `full` side by side, then the dry-run caps.

The three objectives are trained on one corpus (the SST-2 training sentences, without their labels,
in MiniLM's WordPiece vocabulary trimmed to the ids they use at least three times) with about the same number of
parameters and the same tokens per step: gpt (causal LM), bert (masked LM; also with NSP and with
SOP) and t5 (span corruption), each trained with pretrain_train, once per seed of ``seeds``.
t2t / t2t_train: the text-to-text T5 trained on translation (Multi30k en→de, t2t_pairs pairs) and
sentiment (SST-2) at once, scored on t2t_eval_items items of each test set. probe_train_items: SST-2
training sentences the linear probes learn from and probe_test_items the test sentences they are
scored on (None: all); fill_in_sentences: held-out sentences
of the masked-token comparison.
"""
from __future__ import annotations

from llmbook.models import BERTConfig, GPTConfig
from llmbook.models.t5 import T5Config
from llmbook.train import TrainConfig

_CI = dict(precision="fp32", progress=False)  # every TrainConfig of the profile
_FULL = dict(precision="bf16-mixed", progress=False)

CI = dict(
    seeds=[0],
    gpt=GPTConfig(n_layer=4, n_head=2, n_embd=64, block_size=64, dropout=0.0),
    bert=BERTConfig(n_layer=4, n_head=2, n_embd=64, max_position=80, dropout=0.0),
    t5=T5Config(n_layer=2, n_decoder_layer=2, n_head=2, n_embd=64, dropout=0.0),
    pretrain_train=TrainConfig(
        max_steps=200, batch_size=12, block_size=64, lr=0.003, min_lr=0.0003, warmup_steps=20,
        betas=(0.9, 0.99), eval_interval=100, eval_steps=4, **_CI,
    ),
    probe_train_items=None, probe_test_items=None, fill_in_sentences=200,
    t2t=T5Config(n_layer=2, n_decoder_layer=2, n_head=2, n_embd=64, dropout=0.0),
    t2t_train=TrainConfig(
        max_steps=160, batch_size=32, block_size=48, lr=0.003, min_lr=0.0003, warmup_steps=16,
        betas=(0.9, 0.99), eval_interval=None, **_CI,
    ),
    t2t_pairs=5000, t2t_eval_items=100,
)

FULL = dict(
    seeds=[0, 1, 2],
    gpt=GPTConfig(n_layer=6, n_head=6, n_embd=384, block_size=128, dropout=0.1),
    bert=BERTConfig(n_layer=6, n_head=6, n_embd=384, max_position=160, dropout=0.1),
    t5=T5Config(n_layer=3, n_decoder_layer=3, n_head=6, n_embd=384, dropout=0.1),
    pretrain_train=TrainConfig(
        max_steps=3000, batch_size=64, block_size=128, lr=0.001, min_lr=0.0001, warmup_steps=200,
        betas=(0.9, 0.98), eval_interval=500, eval_steps=20, **_FULL,
    ),
    probe_train_items=None, probe_test_items=None, fill_in_sentences=872,
    t2t=T5Config(n_layer=4, n_decoder_layer=4, n_head=6, n_embd=384, dropout=0.1),
    t2t_train=TrainConfig(
        max_steps=4000, batch_size=64, block_size=64, lr=0.001, min_lr=0.0001, warmup_steps=200,
        betas=(0.9, 0.98), eval_interval=None, **_FULL,
    ),
    t2t_pairs=None, t2t_eval_items=1000,
)

# Dry run: the full shapes with every training cut to a few steps (see llmbook.book.sizes).
DRY_RUN = dict(seeds=[0], fill_in_sentences=50, t2t_pairs=2000, t2t_eval_items=20, probe_train_items=300,
               probe_test_items=200)
