"""Evaluating language models on benchmarks: log-likelihood scoring, few-shot prompts, accuracy with CIs.

* :func:`multiple_choice` — lm-evaluation-harness style multiple-choice evaluation (``acc``, ``acc_norm``);
* :func:`loglikelihoods` — the summed log-probability of continuations given contexts, batched;
* :func:`piqa_items`, :func:`mmlu_items` — the benchmarks in lm-evaluation-harness's prompt formats;
* :func:`run_piqa`, :func:`run_mmlu` — the chapter's benchmark runs (also ``python -m llmbook.evaluate``);
* :func:`strided_perplexity` — sliding-window perplexity of a long text (chapter "Metrics");
* :func:`char_noise`, :func:`shuffle_words` — seeded perturbations for robustness tests;
* :func:`profile_model` — parameters, FLOPs (:mod:`llmbook.flops`), latency, throughput, memory.
"""
from __future__ import annotations

from .efficiency import EfficiencyReport, count_parameters, profile_model
from .multiple_choice import (
    MultipleChoiceResult,
    fewshot_contexts,
    loglikelihoods,
    mmlu_items,
    multiple_choice,
    piqa_items,
    predict,
)
from .perplexity import strided_perplexity
from .robustness import char_noise, shuffle_words
from .suites import PUBLISHED, mmlu_subset, piqa_subset, run_mmlu, run_piqa

__all__ = [
    "EfficiencyReport",
    "MultipleChoiceResult",
    "PUBLISHED",
    "mmlu_subset",
    "piqa_subset",
    "run_mmlu",
    "run_piqa",
    "char_noise",
    "count_parameters",
    "profile_model",
    "shuffle_words",
    "fewshot_contexts",
    "loglikelihoods",
    "mmlu_items",
    "multiple_choice",
    "piqa_items",
    "predict",
    "strided_perplexity",
]
