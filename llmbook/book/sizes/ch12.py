"""Sizes of notebooks/12_translation.ipynb: `ci` and `full` side by side, then the dry-run caps.

English→German (Multi30k): a joint byte-level BPE of ``bpe_vocab`` tokens is trained on the first
``bpe_pairs`` English–German training pairs (both sides); the encoder–decoder ``model`` is trained
with ``train`` on the first ``train_pairs`` pairs (None: all 29,000) with ``label_smoothing``, and
translates the first ``test_sentences`` sentences of test2016 (greedy, and beam search with
``num_beams`` beams and ``length_penalty``), ``decode_batch`` at a time, at most
``max_new_tokens`` tokens each. English→Chinese (Tatoeba) does the same with the ``zh_`` sizes and
is also tested on the first ``wmt_sentences`` sentences of WMT21 newstest. SmolLM2 translates
``smollm_sentences`` Tatoeba test sentences zero-shot, ``smollm_new_tokens`` new tokens each.
"""
from __future__ import annotations

from llmbook.models import Seq2SeqConfig
from llmbook.train import TrainConfig

_CI = dict(precision="fp32", progress=False)  # every TrainConfig of the profile
_FULL = dict(precision="bf16-mixed", progress=False)

CI = dict(
    bpe_pairs=4000, bpe_vocab=1000, train_pairs=8000,
    # one layer each side: on a CPU, small steps cost mostly per-layer overhead, so a 1-layer model
    # takes twice the steps of a 2-layer one in the same seconds, and learns more from them
    model=Seq2SeqConfig(n_layer=1, n_head=4, n_embd=64, d_ff=128, dropout=0.1, max_len=512),
    train=TrainConfig(max_steps=350, batch_size=32, lr=0.003, min_lr=0.0003, warmup_steps=20,
                      weight_decay=0.01, betas=(0.9, 0.98), eval_interval=175, eval_steps=2,
                      **_CI),
    label_smoothing=0.1, test_sentences=100, num_beams=4, length_penalty=1.0, decode_batch=50,
    max_new_tokens=40,
    zh_bpe_pairs=4000, zh_bpe_vocab=2000, zh_train_pairs=8000,
    zh_model=Seq2SeqConfig(n_layer=1, n_head=4, n_embd=64, d_ff=128, dropout=0.1, max_len=512),
    zh_train=TrainConfig(max_steps=300, batch_size=32, lr=0.003, min_lr=0.0003, warmup_steps=20,
                         weight_decay=0.01, betas=(0.9, 0.98), eval_interval=150, eval_steps=2,
                         **_CI),
    zh_test_sentences=100, wmt_sentences=40,
    smollm_sentences=3, smollm_new_tokens=32,
)

FULL = dict(
    bpe_pairs=None, bpe_vocab=8000, train_pairs=None,
    model=Seq2SeqConfig(n_layer=3, n_head=8, n_embd=512, d_ff=2048, dropout=0.1, max_len=512),
    train=TrainConfig(max_steps=20000, batch_size=128, lr=0.0005, min_lr=0.00005, warmup_steps=1000,
                      weight_decay=0.01, betas=(0.9, 0.98), eval_interval=1000, eval_steps=20,
                      early_stopping_patience=5, keep_best=True, **_FULL),
    label_smoothing=0.1, test_sentences=1000, num_beams=5, length_penalty=1.0, decode_batch=100,
    max_new_tokens=80,
    zh_bpe_pairs=None, zh_bpe_vocab=8000, zh_train_pairs=None,
    zh_model=Seq2SeqConfig(n_layer=3, n_head=8, n_embd=512, d_ff=2048, dropout=0.1, max_len=512),
    zh_train=TrainConfig(max_steps=20000, batch_size=128, lr=0.0005, min_lr=0.00005,
                         warmup_steps=1000, weight_decay=0.01, betas=(0.9, 0.98),
                         eval_interval=1000, eval_steps=20, early_stopping_patience=5,
                         keep_best=True, **_FULL),
    zh_test_sentences=2863, wmt_sentences=1002,
    smollm_sentences=5, smollm_new_tokens=40,
)

# Dry run: the full shapes with every training cut to a few steps (see llmbook.book.sizes).
DRY_RUN = dict(bpe_pairs=2000, zh_bpe_pairs=2000, train_pairs=2000, zh_train_pairs=2000,
               test_sentences=8, zh_test_sentences=8, wmt_sentences=8, decode_batch=8,
               max_new_tokens=12, smollm_sentences=1, smollm_new_tokens=8)
