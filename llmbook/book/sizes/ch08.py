"""Sizes of notebooks/08_finetuning.ipynb: `ci` and `full` side by side, then the dry-run caps.

lstm_sst2 / lstm_chn: the shapes of the two LSTMClassifiers (their vocabulary size comes from the
data: SST-2 words seen at least word_min_count times, ChnSentiCorp characters), trained with
lstm_train (early stopping on the validation loss, best weights kept); chn_max_chars cuts each hotel
review. MiniLM (all-MiniLM-L6-v2) and SmolLM2-135M read at most max_tokens tokens per sentence;
finetune_train is the one budget of the three MiniLM methods (probe, full, LoRA: only the learning
rate, lrs, differs) and decoder_train that of SmolLM2 with LoRA. test_items: SST-2 test sentences
scored (None: all 1,821). forgetting_runs: (learning rate, warm-up steps) of the extra full
fine-tunings; banking77_classes / _train_per_class / _test_per_class: the intent-retrieval task
that measures forgetting (None: every class / every example). search: "head" (a logistic head on
cached frozen MiniLM features, learning rate x weight decay, trained with search_train) or "lora"
(MiniLM LoRA rank x learning rate); search_budget trials per method, once per seed of search_seeds.
"""
from __future__ import annotations

from llmbook.train import TrainConfig

_CI = dict(precision="fp32", progress=False)  # every TrainConfig of the profile
_FULL = dict(precision="bf16-mixed", progress=False)

CI = dict(
    word_min_count=2,
    lstm_sst2=dict(n_embd=64, hidden_size=64, dropout=0.3),
    lstm_chn=dict(n_embd=64, hidden_size=64, dropout=0.3),
    chn_max_chars=64,
    lstm_train=TrainConfig(
        max_steps=200, batch_size=64, lr=0.01, warmup_steps=10, weight_decay=0.01, eval_interval=20,
        eval_steps=4, early_stopping_patience=4, keep_best=True, **_CI,
    ),
    max_tokens=32,
    test_items=400,
    finetune_train=TrainConfig(max_steps=20, batch_size=16, warmup_steps=4, weight_decay=0.01,
                               eval_interval=None, **_CI),
    lrs=dict(probe=0.01, full=0.0001, lora=0.003),
    lora=dict(r=8, alpha=16, target_modules=["query", "value"]),
    forgetting_runs=[(0.00002, 4), (0.001, 4)],
    banking77_classes=20, banking77_train_per_class=8, banking77_test_per_class=4,
    decoder_lora=dict(r=8, alpha=16, target_modules=["q_proj", "v_proj"]),
    decoder_train=TrainConfig(max_steps=8, batch_size=8, lr=0.001, warmup_steps=2, weight_decay=0.01,
                              eval_interval=None, **_CI),
    decoder_test_items=120,
    search="head", search_budget=12, search_seeds=[0, 1, 2],
    search_train_items=600, search_val_items=300,
    search_train=TrainConfig(max_steps=60, batch_size=64, warmup_steps=0, eval_interval=None, **_CI),
)

FULL = dict(
    word_min_count=2,
    lstm_sst2=dict(n_embd=128, hidden_size=128, dropout=0.5, bidirectional=True),
    lstm_chn=dict(n_embd=128, hidden_size=128, dropout=0.5, bidirectional=True),
    chn_max_chars=256,
    lstm_train=TrainConfig(
        max_steps=4000, batch_size=64, lr=0.002, warmup_steps=100, weight_decay=0.01, eval_interval=100,
        eval_steps=12, early_stopping_patience=6, keep_best=True, precision="fp32", progress=False,
        # (an LSTM this small gains nothing from bf16, and packed sequences want fp32)
    ),
    max_tokens=66,
    test_items=None,
    finetune_train=TrainConfig(max_steps=1000, batch_size=32, warmup_steps=100, weight_decay=0.01,
                               eval_interval=None, **_FULL),
    lrs=dict(probe=0.002, full=0.00005, lora=0.001),
    lora=dict(r=16, alpha=32, target_modules=["query", "value"]),
    forgetting_runs=[(0.00001, 100), (0.0002, 100), (0.001, 100), (0.001, 0)],
    banking77_classes=None, banking77_train_per_class=None, banking77_test_per_class=None,
    decoder_lora=dict(r=16, alpha=32, target_modules=["q_proj", "v_proj"]),
    decoder_train=TrainConfig(max_steps=1000, batch_size=32, lr=0.0005, warmup_steps=100,
                              weight_decay=0.01, eval_interval=None, **_FULL),
    decoder_test_items=None,
    search="lora", search_budget=16, search_seeds=[0, 1, 2],
    search_train_items=None, search_val_items=None,
    search_train=TrainConfig(max_steps=300, batch_size=32, warmup_steps=30, weight_decay=0.01,
                             eval_interval=None, **_FULL),
)

# Dry run: the full shapes with every training cut to a few steps (see llmbook.book.sizes).
DRY_RUN = dict(forgetting_runs=[(0.00001, 1), (0.001, 1), (0.001, 0)], test_items=32, decoder_test_items=16, banking77_classes=5, banking77_train_per_class=4,
               banking77_test_per_class=2, search_budget=4, search_seeds=[0], search_train_items=64,
               search_val_items=32)
