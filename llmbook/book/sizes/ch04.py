"""Sizes of notebooks/04_pretraining.ipynb: `ci` and `full` side by side, then the dry-run caps.

Each model is a ``GPTConfig`` (the vocabulary is set by the notebook, with
``dataclasses.replace(config, vocab_size=...)``) and each training run a ``TrainConfig`` beside it:
char / char_train: the tinyshakespeare GPT (full = nanoGPT's shakespeare_char); bpe / bpe_train:
GPT-2 BPE on WikiText-2 (bpe_train_chars / bpe_val_chars: text kept, None = all); overfit /
overfit_train: early stopping on the first overfit_chars characters; scaling / scaling_train: the
scaling study, one model per width of scaling_widths; lr_sweep_model / lr_sweep_train: the
learning-rate sweep over lr_sweep; finetune_train: the char model on WikiText-2 characters;
sample_tokens: length of the samples; ddp_steps: the torchrun demonstration.
"""
from __future__ import annotations

from llmbook.models import GPTConfig
from llmbook.train import TrainConfig

_CI = dict(precision="fp32", progress=False)  # every TrainConfig of the profile
_FULL = dict(precision="bf16-mixed", progress=False)

CI = dict(
    char=GPTConfig(n_layer=2, n_head=4, n_embd=64, block_size=64, dropout=0.0),
    char_train=TrainConfig(
        max_steps=200, batch_size=16, block_size=64, lr=0.003, min_lr=0.0003, warmup_steps=20,
        betas=(0.9, 0.99), eval_interval=50, eval_steps=4, sample_interval=100, **_CI,
    ),
    sample_tokens=120, bpe_train_chars=200_000, bpe_val_chars=60_000,
    bpe=GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=64, dropout=0.0),
    bpe_train=TrainConfig(
        max_steps=100, batch_size=8, block_size=64, lr=0.003, min_lr=0.0003, warmup_steps=10,
        betas=(0.9, 0.99), eval_interval=40, eval_steps=4, **_CI,
    ),
    overfit_chars=10_000, overfit=GPTConfig(n_layer=2, n_head=2, n_embd=48, block_size=32, dropout=0.0),
    overfit_train=TrainConfig(
        max_steps=400, batch_size=16, block_size=32, lr=0.005, min_lr=0.005, warmup_steps=10,
        betas=(0.9, 0.99), eval_interval=20, eval_steps=4, early_stopping_patience=3, keep_best=True,
        **_CI,
    ),
    scaling_widths=[16, 32, 64], scaling=GPTConfig(n_layer=2, n_head=2, block_size=32),
    scaling_train=TrainConfig(
        max_steps=120, batch_size=16, block_size=32, lr=0.003, min_lr=0.0003, warmup_steps=15,
        betas=(0.9, 0.99), eval_interval=50, eval_steps=4, **_CI,
    ),
    lr_sweep=[0.0003, 0.001, 0.003, 0.01, 0.03],
    lr_sweep_model=GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32),
    lr_sweep_train=TrainConfig(  # lr: each of lr_sweep; min_lr: lr / 10
        max_steps=60, batch_size=16, block_size=32, warmup_steps=6, betas=(0.9, 0.99),
        eval_interval=60, eval_steps=4, **_CI,
    ),
    finetune_train=TrainConfig(
        max_steps=60, batch_size=16, block_size=64, lr=0.001, min_lr=0.0001, warmup_steps=6,
        betas=(0.9, 0.99), eval_interval=30, eval_steps=4, **_CI,
    ),
    ddp_steps=6,
)

FULL = dict(
    char=GPTConfig(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2),
    char_train=TrainConfig(
        max_steps=5000, batch_size=64, block_size=256, lr=0.001, min_lr=0.0001, warmup_steps=100,
        betas=(0.9, 0.99), eval_interval=250, eval_steps=200, sample_interval=1000, **_FULL,
    ),
    sample_tokens=500, bpe_train_chars=None, bpe_val_chars=None,
    bpe=GPTConfig(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2),
    bpe_train=TrainConfig(
        max_steps=2000, batch_size=32, block_size=256, lr=0.0006, min_lr=6e-05, warmup_steps=100,
        betas=(0.9, 0.95), eval_interval=100, eval_steps=50, **_FULL,
    ),
    overfit_chars=100_000,
    overfit=GPTConfig(n_layer=4, n_head=4, n_embd=256, block_size=128, dropout=0.0),
    overfit_train=TrainConfig(
        max_steps=5000, batch_size=32, block_size=128, lr=0.001, min_lr=0.001, warmup_steps=100,
        betas=(0.9, 0.99), eval_interval=100, eval_steps=20, early_stopping_patience=3,
        keep_best=True, **_FULL,
    ),
    scaling_widths=[32, 64, 128, 192, 256, 384], scaling=GPTConfig(n_layer=4, n_head=4, block_size=128),
    scaling_train=TrainConfig(
        max_steps=2000, batch_size=32, block_size=128, lr=0.001, min_lr=0.0001, warmup_steps=100,
        betas=(0.9, 0.99), eval_interval=250, eval_steps=50, **_FULL,
    ),
    lr_sweep=[0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03],
    lr_sweep_model=GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=128),
    lr_sweep_train=TrainConfig(
        max_steps=1000, batch_size=32, block_size=128, warmup_steps=50, betas=(0.9, 0.99),
        eval_interval=1000, eval_steps=50, **_FULL,
    ),
    finetune_train=TrainConfig(
        max_steps=1000, batch_size=64, block_size=256, lr=0.0003, min_lr=3e-05, warmup_steps=50,
        betas=(0.9, 0.99), eval_interval=100, eval_steps=50, **_FULL,
    ),
    ddp_steps=30,
)

# Each run trains on windows as long as its model's context (finetune_train trains the char model).
for _sizes in (CI, FULL):
    for _model, _train in (("char", "char_train"), ("bpe", "bpe_train"), ("overfit", "overfit_train"),
                           ("scaling", "scaling_train"), ("lr_sweep_model", "lr_sweep_train"),
                           ("char", "finetune_train")):
        assert _sizes[_model].block_size == _sizes[_train].block_size, (_model, _train)

# What a dry run of the full profile replaces (merged key by key into the cut sizes).
DRY_RUN = dict(bpe_train_chars=200_000, bpe_val_chars=60_000, overfit_chars=10_000)
