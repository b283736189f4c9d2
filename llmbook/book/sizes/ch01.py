"""Sizes of notebooks/01_history.ipynb: `ci` and `full` side by side, then the dry-run caps.

eval_tokens: the first held-out tokens that every leaderboard row scores (None = the whole split);
addk_values: the k of the add-k sweep; cpu_threads: torch threads on a CPU (None = PyTorch's
default); char / word: one entry per neural model of the leaderboard, ``{"model": its config (the
vocabulary is set by the notebook), "train": its TrainConfig}``. The notebook builds each row as
``build(replace(spec["model"], vocab_size=V))`` and ``Trainer(model, ..., spec["train"])``.

Every run of the chapter trains the same way (:func:`_train`): warm-up over the first 5 % of the
steps, then cosine decay; in `full`, early stopping on the development tokens, keeping the best
weights; in `ci`, no evaluation during training (`steps` are all it gets).
"""
from __future__ import annotations

from typing import Any

from llmbook.models import GPTConfig, MLPLMConfig, RNNLMConfig
from llmbook.train import TrainConfig

# How each profile evaluates during training: not at all in ci; early stopping in full.
_CI_EVALS: dict[str, Any] = dict(eval_interval=None, eval_steps=10)
_FULL_EVALS: dict[str, Any] = dict(eval_interval=250, eval_steps=20, early_stopping_patience=6, keep_best=True)


def _train(evals: dict[str, Any], steps: int, batch_size: int, block_size: int, lr: float,
           **options: Any) -> TrainConfig:
    """The chapter's TrainConfig for ``steps`` steps of ``batch_size`` windows of ``block_size``."""
    return TrainConfig(max_steps=steps, batch_size=batch_size, block_size=block_size, lr=lr,
                       warmup_steps=max(1, steps // 20), progress=False, **evals, **options)


CI = dict(
    eval_tokens=dict(char=30_000, word=6000), addk_values=[0.001, 0.01, 0.1, 1.0], cpu_threads=1,
    char=dict(
        mlp=dict(
            model=MLPLMConfig(context_size=8, n_embd=32, n_hidden=256),
            train=_train(_CI_EVALS, steps=150, batch_size=32, block_size=64, lr=0.02),
        ),
        lstm=dict(
            model=RNNLMConfig(n_embd=64, n_hidden=256, n_layer=1),
            train=_train(_CI_EVALS, steps=100, batch_size=32, block_size=64, lr=0.02),
        ),
        transformer=dict(
            model=GPTConfig(block_size=32, n_layer=2, n_head=4, n_embd=96, bias=False),
            train=_train(_CI_EVALS, steps=300, batch_size=32, block_size=32, lr=0.005),
        ),
    ),
    word=dict(
        mlp=dict(
            model=MLPLMConfig(context_size=4, n_embd=64, n_hidden=128),
            train=_train(_CI_EVALS, steps=30, batch_size=16, block_size=32, lr=0.01),
        ),
        lstm=dict(
            model=RNNLMConfig(n_embd=64, n_hidden=128, n_layer=1),
            train=_train(_CI_EVALS, steps=30, batch_size=16, block_size=32, lr=0.02),
        ),
        transformer=dict(
            model=GPTConfig(block_size=32, n_layer=2, n_head=4, n_embd=64, bias=False),
            train=_train(_CI_EVALS, steps=30, batch_size=16, block_size=32, lr=0.01),
        ),
    ),
)

FULL = dict(
    eval_tokens=dict(char=None, word=None),
    addk_values=[0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0], cpu_threads=None,
    char=dict(
        mlp=dict(
            model=MLPLMConfig(context_size=12, n_embd=32, n_hidden=1024, dropout=0.2),
            train=_train(_FULL_EVALS, steps=8000, batch_size=256, block_size=64, lr=0.002),
        ),
        lstm=dict(
            model=RNNLMConfig(n_embd=128, n_hidden=512, n_layer=2, dropout=0.2),
            train=_train(_FULL_EVALS, steps=4000, batch_size=64, block_size=128, lr=0.002),
        ),
        transformer=dict(
            model=GPTConfig(block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.2, bias=False),
            train=_train(_FULL_EVALS, steps=4000, batch_size=64, block_size=256, lr=0.001,
                         precision="bf16-mixed"),
        ),
    ),
    word=dict(
        mlp=dict(
            model=MLPLMConfig(context_size=4, n_embd=128, n_hidden=512, dropout=0.5),
            train=_train(_FULL_EVALS, steps=4000, batch_size=64, block_size=64, lr=0.001),
        ),
        lstm=dict(
            model=RNNLMConfig(n_embd=400, n_hidden=400, n_layer=2, dropout=0.5, tie_weights=True),
            train=_train(_FULL_EVALS, steps=6000, batch_size=32, block_size=64, lr=0.002),
        ),
        transformer=dict(
            model=GPTConfig(block_size=128, n_layer=4, n_head=4, n_embd=256, dropout=0.4, bias=False),
            train=_train(_FULL_EVALS, steps=6000, batch_size=32, block_size=128, lr=0.0005),
        ),
    ),
)

# What a dry run of the full profile replaces (merged key by key into the cut sizes).
DRY_RUN = dict(eval_tokens=dict(char=20_000, word=4000))
