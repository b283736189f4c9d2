"""Run profiles: one notebook, two sizes.

Each notebook has a papermill ``parameters`` cell with ``profile = "ci"``. ``ci`` fits a 2-core CPU in
well under three minutes per notebook; ``full`` is the size that reproduces the published figures a
chapter cites, on one GPU. Both run the same code: only the numbers in :data:`SIZES` differ.

To add a chapter, add one entry to :data:`SIZES` keyed by the notebook's file stem.

A **dry run** (:func:`dry_run_sizes`; ``LLMBOOK_DRY_RUN=1`` or ``python -m llmbook.book execute --dry-run``)
keeps a profile's model shapes but cuts every training run to a few steps and the data to a slice, so the
``full`` code path can be executed on a CPU in minutes before an hour of GPU time is spent on it. Its
numbers mean nothing and are never checked against bands.
"""
from __future__ import annotations

import copy
import os
from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["PROFILES", "SIZES", "Sizes", "sizes", "check_profile", "dry_run_sizes", "dry_run_requested",
           "DRY_RUN_ENV", "DRY_RUN_STEPS", "DRY_RUN_CAPS"]

PROFILES = ("ci", "full")

# notebook stem -> profile -> sizes. Keys are free-form but say what they size (steps, n_layer, fraction...).
SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "03_attention": {
        "ci": {
            "dk_values": [1, 4, 16, 64, 256, 1024], "variance_samples": 2000, "n_keys": 16,
            "pe_positions": 128, "rope_positions": 500, "residual_depth": 24,
            "ln_experiment": {"n_layers": 6, "d_model": 64, "steps": 60, "batch_size": 16, "block_size": 32,
                              "lrs": [1e-3, 3e-3, 1e-2]},
            "char_lm": {"d_model": 64, "n_layers": 2, "n_heads": 4, "steps": 300, "lr": 3e-3, "batch_size": 32,
                        "block_size": 64, "eval_batches": 10},
            "heatmap_chars": 40, "gen_tokens": 40, "kv_prompt_chars": 256,
            "cost": {"seq_lens": [128, 256, 512, 1024, 2048], "heads": 4, "head_dim": 64, "repeats": 3},
            "bench": {"batch": 8, "seq": 256, "d_model": 256, "n_heads": 8, "rounds": 5},
        },
        "full": {
            "dk_values": [1, 4, 16, 64, 256, 1024, 4096], "variance_samples": 20000, "n_keys": 16,
            "pe_positions": 256, "rope_positions": 4000, "residual_depth": 48,
            "ln_experiment": {"n_layers": 12, "d_model": 128, "steps": 300, "batch_size": 32, "block_size": 128,
                              "lrs": [1e-3, 3e-3, 1e-2, 3e-2]},
            "char_lm": {"d_model": 256, "n_layers": 4, "n_heads": 8, "steps": 2000, "lr": 1e-3, "batch_size": 64,
                        "block_size": 256, "eval_batches": 50},
            "heatmap_chars": 48, "gen_tokens": 200, "kv_prompt_chars": 1024,
            "cost": {"seq_lens": [256, 512, 1024, 2048, 4096, 8192], "heads": 8, "head_dim": 64, "repeats": 10},
            "bench": {"batch": 8, "seq": 256, "d_model": 256, "n_heads": 8, "rounds": 30},
        },
    },
    "04_pretraining": {
        # char / char_train: the tinyshakespeare GPT (GPTConfig and TrainConfig keywords; full = nanoGPT's
        # shakespeare_char); bpe*: GPT-2 BPE on WikiText-2 (train_chars/val_chars: text kept, None = all);
        # overfit*: early stopping on a small slice; scaling: widths trained for the same steps; lr_sweep;
        # finetune: steps on WikiText-2 characters; ddp_steps: the torchrun demonstration.
        "ci": {
            "precision": "fp32",
            "char": {"n_layer": 2, "n_head": 4, "n_embd": 64, "block_size": 64, "dropout": 0.0},
            "char_train": {"max_steps": 200, "batch_size": 16, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 20,
                           "betas": (0.9, 0.99), "eval_interval": 50, "eval_steps": 4, "sample_interval": 100},
            "sample_tokens": 120,
            "bpe_train_chars": 200_000, "bpe_val_chars": 60_000,
            "bpe": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 64, "dropout": 0.0},
            "bpe_train": {"max_steps": 100, "batch_size": 8, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 10,
                          "betas": (0.9, 0.99), "eval_interval": 40, "eval_steps": 4},
            "overfit_chars": 10_000,
            "overfit": {"n_layer": 2, "n_head": 2, "n_embd": 48, "block_size": 32, "dropout": 0.0},
            "overfit_train": {"max_steps": 400, "batch_size": 16, "lr": 5e-3, "min_lr": 5e-3, "warmup_steps": 10,
                              "betas": (0.9, 0.99), "eval_interval": 20, "eval_steps": 4, "early_stopping_patience": 3,
                              "keep_best": True},
            "scaling_widths": [16, 32, 64],
            "scaling": {"n_layer": 2, "n_head": 2, "block_size": 32},
            "scaling_train": {"max_steps": 120, "batch_size": 16, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 15,
                              "betas": (0.9, 0.99), "eval_interval": 50, "eval_steps": 4},
            "lr_sweep": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
            "lr_sweep_model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 32},
            "lr_sweep_train": {"max_steps": 60, "batch_size": 16, "warmup_steps": 6, "betas": (0.9, 0.99),
                               "eval_interval": 60, "eval_steps": 4},
            "finetune_train": {"max_steps": 60, "batch_size": 16, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 6,
                               "betas": (0.9, 0.99), "eval_interval": 30, "eval_steps": 4},
            "ddp_steps": 6,
        },
        "full": {
            "precision": "bf16-mixed",
            "char": {"n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256, "dropout": 0.2},
            "char_train": {"max_steps": 5000, "batch_size": 64, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 100,
                           "betas": (0.9, 0.99), "eval_interval": 250, "eval_steps": 200, "sample_interval": 1000},
            "sample_tokens": 500,
            "bpe_train_chars": None, "bpe_val_chars": None,
            "bpe": {"n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256, "dropout": 0.2},
            "bpe_train": {"max_steps": 2000, "batch_size": 32, "lr": 6e-4, "min_lr": 6e-5, "warmup_steps": 100,
                          "betas": (0.9, 0.95), "eval_interval": 100, "eval_steps": 50},
            "overfit_chars": 100_000,
            "overfit": {"n_layer": 4, "n_head": 4, "n_embd": 256, "block_size": 128, "dropout": 0.0},
            "overfit_train": {"max_steps": 5000, "batch_size": 32, "lr": 1e-3, "min_lr": 1e-3, "warmup_steps": 100,
                              "betas": (0.9, 0.99), "eval_interval": 100, "eval_steps": 20, "early_stopping_patience": 3,
                              "keep_best": True},
            "scaling_widths": [32, 64, 128, 192, 256, 384],
            "scaling": {"n_layer": 4, "n_head": 4, "block_size": 128},
            "scaling_train": {"max_steps": 2000, "batch_size": 32, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 100,
                              "betas": (0.9, 0.99), "eval_interval": 250, "eval_steps": 50},
            "lr_sweep": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
            "lr_sweep_model": {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 128},
            "lr_sweep_train": {"max_steps": 1000, "batch_size": 32, "warmup_steps": 50, "betas": (0.9, 0.99),
                               "eval_interval": 1000, "eval_steps": 50},
            "finetune_train": {"max_steps": 1000, "batch_size": 64, "lr": 3e-4, "min_lr": 3e-5, "warmup_steps": 50,
                               "betas": (0.9, 0.99), "eval_interval": 100, "eval_steps": 50},
            "ddp_steps": 30,
        },
    },
    "06_evaluation": {
        # overfit: tiny MLP on SST-2 bag-of-words (train_n sentences, full-batch epochs); search_trials: per
        # strategy (a k x k grid); piqa_n / mmlu_*: benchmark subsets (None = all; seeded draws otherwise);
        # robust_*: PIQA items and noise rates for SmolLM2; efficiency: profile_model's shapes; batch_size: the
        # harness's. The ci subsets keep SmolLM2 to about 10k tokens of forward passes on a 2-core CPU.
        "ci": {
            "overfit": {"train_n": 1000, "vocab": 2000, "hidden": 32, "epochs": 40, "lr": 1e-2},
            "search_trials": 9,
            "piqa_n": 100, "mmlu_subjects": ["management", "world_religions", "human_aging"], "mmlu_per_subject": 4,
            "robust_n": 24, "robust_char_rates": [0.3], "robust_shuffle_rates": [1.0],
            "efficiency": {"seq_len": 32, "batch_size": 4, "repeats": 2}, "batch_size": 16,
        },
        "full": {
            "overfit": {"train_n": 1000, "vocab": 2000, "hidden": 32, "epochs": 40, "lr": 1e-2},
            "search_trials": 25,
            "piqa_n": None, "mmlu_subjects": None, "mmlu_per_subject": None, "robust_n": 500,
            "robust_char_rates": [0.05, 0.1, 0.2, 0.3, 0.5], "robust_shuffle_rates": [0.25, 0.5, 1.0],
            "efficiency": {"seq_len": 512, "batch_size": 16, "repeats": 5}, "batch_size": 64,
        },
    },
    "00_how_to_use": {
        "ci": {"text_fraction": 0.25, "top_k_chars": 20},
        "full": {"text_fraction": 1.0, "top_k_chars": 40},
    },
    "01_history": {
        # eval_tokens: the first held-out tokens that every leaderboard row scores (None = the whole split);
        # addk_values: the k of the add-k sweep; char / word: one spec per neural model (its shape, then
        # training: steps, batch_size, block_size, lr); eval_interval / patience: early stopping on the
        # development tokens (None = train for `steps` without evaluating); cpu_threads: torch threads on a
        # CPU (None = PyTorch's default).
        "ci": {
            "eval_tokens": {"char": 30_000, "word": 6_000}, "addk_values": [0.001, 0.01, 0.1, 1.0],
            "eval_interval": None, "eval_steps": 10, "patience": None, "cpu_threads": 1,
            "char": {
                "mlp": {"context_size": 8, "n_embd": 32, "n_hidden": 256, "dropout": 0.0,
                        "steps": 150, "batch_size": 32, "block_size": 64, "lr": 2e-2},
                "lstm": {"n_embd": 64, "n_hidden": 256, "n_layer": 1, "dropout": 0.0,
                         "steps": 100, "batch_size": 32, "block_size": 64, "lr": 2e-2},
                "transformer": {"n_layer": 2, "n_head": 4, "n_embd": 96, "dropout": 0.0,
                                "steps": 300, "batch_size": 32, "block_size": 32, "lr": 5e-3},
            },
            "word": {
                "mlp": {"context_size": 4, "n_embd": 64, "n_hidden": 128, "dropout": 0.0,
                        "steps": 30, "batch_size": 16, "block_size": 32, "lr": 1e-2},
                "lstm": {"n_embd": 64, "n_hidden": 128, "n_layer": 1, "dropout": 0.0,
                         "steps": 30, "batch_size": 16, "block_size": 32, "lr": 2e-2},
                "transformer": {"n_layer": 2, "n_head": 4, "n_embd": 64, "dropout": 0.0,
                                "steps": 30, "batch_size": 16, "block_size": 32, "lr": 1e-2},
            },
        },
        "full": {
            "eval_tokens": {"char": None, "word": None}, "addk_values": [1e-4, 3e-4, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0],
            "eval_interval": 250, "eval_steps": 20, "patience": 6, "cpu_threads": None,
            "char": {
                "mlp": {"context_size": 12, "n_embd": 32, "n_hidden": 1024, "dropout": 0.2,
                        "steps": 8000, "batch_size": 256, "block_size": 64, "lr": 2e-3},
                "lstm": {"n_embd": 128, "n_hidden": 512, "n_layer": 2, "dropout": 0.2,
                         "steps": 4000, "batch_size": 64, "block_size": 128, "lr": 2e-3},
                "transformer": {"n_layer": 6, "n_head": 6, "n_embd": 384, "dropout": 0.2, "precision": "bf16-mixed",
                                "steps": 4000, "batch_size": 64, "block_size": 256, "lr": 1e-3},
            },
            "word": {
                "mlp": {"context_size": 4, "n_embd": 128, "n_hidden": 512, "dropout": 0.5,
                        "steps": 4000, "batch_size": 64, "block_size": 64, "lr": 1e-3},
                "lstm": {"n_embd": 400, "n_hidden": 400, "n_layer": 2, "dropout": 0.5, "tie_weights": True,
                         "steps": 6000, "batch_size": 32, "block_size": 64, "lr": 2e-3},
                "transformer": {"n_layer": 4, "n_head": 4, "n_embd": 256, "dropout": 0.4,
                                "steps": 6000, "batch_size": 32, "block_size": 128, "lr": 5e-4},
            },
        },
    },
    "02_tokenization": {
        # naive_*: the recount-per-merge derivation; openai_check_chars: the string-level GPT-2 derivation;
        # bpe_*: our BPE trained once on all of tinyshakespeare train, evaluated at each vocabulary size.
        "ci": {"naive_chars": 200_000, "naive_merges": 40, "openai_check_chars": 50_000, "bpe_max_vocab": 2048,
               "bpe_vocab_sizes": [256, 320, 384, 512, 768, 1024, 1536, 2048], "hf_vocab_sizes": [512, 1024, 2048]},
        "full": {"naive_chars": 1_000_000, "naive_merges": 100, "openai_check_chars": 1_000_000, "bpe_max_vocab": 8192,
                 "bpe_vocab_sizes": [256, 320, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192],
                 "hf_vocab_sizes": [512, 1024, 2048, 4096, 8192]},
    },
    "05_metrics": {
        # ppl_*: SmolLM2-135M on WikiText-2 test (ppl_tokens None = the whole split), one window, a stride sweep
        # (stride == window first: disjoint windows); error_rate_*: the simulated MT systems A and B;
        # rouge_documents: SQuAD paragraphs for ROUGE (the slice has 87).
        "ci": {"ppl_tokens": 1280, "ppl_window": 256, "ppl_strides": [256, 128, 64], "ppl_batch": 1,
               "error_rate_a": 0.10, "error_rate_b": 0.12, "rouge_documents": 30, "bootstrap_resamples": 1000},
        "full": {"ppl_tokens": None, "ppl_window": 1024, "ppl_strides": [1024, 512, 256, 128], "ppl_batch": 16,
                 "error_rate_a": 0.10, "error_rate_b": 0.12, "rouge_documents": 87, "bootstrap_resamples": 10_000},
    },
}


class Sizes(Mapping[str, Any]):
    """Read-only sizes of one notebook in one profile; read them as attributes or keys.

    >>> s = sizes("00_how_to_use", "ci"); s.text_fraction
    0.25
    """

    def __init__(self, notebook: str, profile: str, values: Mapping[str, Any]):
        self._notebook, self._profile = notebook, profile
        self._values = MappingProxyType(dict(values))

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(
                f"profile {self._profile!r} of notebook {self._notebook!r} has no size {key!r}; "
                f"it has {sorted(self._values)} (add it to llmbook.profiles.SIZES)"
            ) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Sizes({self._notebook!r}, {self._profile!r}, {dict(self._values)})"


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is a known profile name, else raise a ``ValueError`` naming the choices."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: use one of {PROFILES} (set it in the notebook's parameters cell)")
    return profile


def _table(notebook: str, profile: str) -> dict[str, Any]:
    """The entry of :data:`SIZES` for ``notebook`` in ``profile``, or an error naming what is known."""
    check_profile(profile)
    if notebook not in SIZES:
        raise KeyError(f"no sizes for notebook {notebook!r}: add an entry to llmbook.profiles.SIZES (known: {sorted(SIZES)})")
    return SIZES[notebook][profile]


def sizes(notebook: str, profile: str, dry_run: bool = False) -> Sizes:
    """The sizes of ``notebook`` (its file stem, e.g. ``"01_history"``) in ``profile``; cut down if ``dry_run``."""
    values = dry_run_sizes(notebook, profile) if dry_run else _table(notebook, profile)
    return Sizes(notebook, profile, values)


# ------------------------------------------------------------------------- dry runs

DRY_RUN_ENV = "LLMBOOK_DRY_RUN"
DRY_RUN_STEPS = 4
# Cuts by key name, wherever the key appears in a notebook's sizes: step counts, evaluation cadence and
# batch rows. Shapes (layers, widths, block sizes, vocabularies) are never cut: they are what a dry run checks.
_DRY_RUN_CUTS = {
    "steps": DRY_RUN_STEPS, "max_steps": DRY_RUN_STEPS, "ddp_steps": DRY_RUN_STEPS, "batch_size": 4,
    "eval_interval": 2, "eval_steps": 2, "warmup_steps": 1, "patience": 1,
}
# Per notebook, the data slices and sweeps a dry run replaces (merged into the cut sizes, key by key).
DRY_RUN_CAPS: dict[str, dict[str, Any]] = {
    "01_history": {"eval_tokens": {"char": 20_000, "word": 4_000}},
    "03_attention": {"variance_samples": 2000, "cost": {"seq_lens": [256, 512, 1024], "repeats": 1},
                     "bench": {"rounds": 2}},
    "04_pretraining": {"bpe_train_chars": 200_000, "bpe_val_chars": 60_000, "overfit_chars": 10_000},
    "05_metrics": {"ppl_tokens": 3000, "bootstrap_resamples": 1000},
    "06_evaluation": {"piqa_n": 40, "mmlu_subjects": ["management", "human_aging"], "mmlu_per_subject": 3,
                      "robust_n": 16, "search_trials": 9,
                      "efficiency": {"seq_len": 128, "batch_size": 4, "repeats": 2}},
}


def _cut(values: Any) -> Any:
    if isinstance(values, dict):
        return {key: (min(value, _DRY_RUN_CUTS[key]) if key in _DRY_RUN_CUTS and isinstance(value, int)
                      and not isinstance(value, bool) else _cut(value))
                for key, value in values.items()}
    return values


def _merge(base: dict[str, Any], caps: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in caps.items():
        if key not in base:
            raise KeyError(f"dry-run cap {key!r} is not a size of this notebook (sizes: {sorted(base)})")
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base[key], dict) else value
    return merged


def dry_run_sizes(notebook: str, profile: str = "full") -> dict[str, Any]:
    """``profile``'s sizes of ``notebook`` with the same shapes but training cut to a few steps.

    Every integer under a key of ``_DRY_RUN_CUTS`` (``steps``, ``max_steps``, ``batch_size``,
    ``eval_interval``, ...) is capped, at any depth; then :data:`DRY_RUN_CAPS` replaces the notebook's
    data slices. ``None`` (for example "no early stopping") stays ``None``.
    """
    return _merge(_cut(copy.deepcopy(_table(notebook, profile))), DRY_RUN_CAPS.get(notebook, {}))


def dry_run_requested() -> bool:
    """Whether ``$LLMBOOK_DRY_RUN`` asks for a dry run (``1``/``true``/``yes``; ``0``/``false``/empty: no)."""
    value = os.environ.get(DRY_RUN_ENV, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(f"${DRY_RUN_ENV}={value!r}: use 1 (a dry run) or 0 (a real run)")
