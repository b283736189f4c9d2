"""Evaluating language models on benchmarks: log-likelihood scoring, few-shot prompts, accuracy with CIs.

Three layers, each a module:

* :mod:`~llmbook.evaluate.engine` — the model's side: :func:`loglikelihoods`, the summed
  log-probability of continuations given contexts, batched (and the one forward pass that
  :func:`strided_perplexity` shares);
* :mod:`~llmbook.evaluate.tasks` — the benchmarks' side: :func:`piqa_items`, :func:`mmlu_items`,
  :func:`hellaswag_items`, :func:`arc_items`, :func:`cmmlu_items` in lm-evaluation-harness's prompt
  formats (``tests/test_harness.py`` checks them and the log-likelihoods against the harness itself),
  :func:`fewshot_contexts`, :func:`load_task` (new tasks are added here);
* :mod:`~llmbook.evaluate.scoring` — :func:`multiple_choice` (``acc``, ``acc_norm`` with bootstrap
  CIs), :func:`predict`, :class:`MultipleChoiceResult`.

Around them: :func:`run_piqa`, :func:`run_mmlu` and :func:`published_comparison` (the chapter's runs,
also ``python -m llmbook.evaluate``); :func:`strided_perplexity` (chapter "Metrics");
:func:`char_noise`, :func:`shuffle_words` (seeded perturbations for robustness tests);
:func:`profile_model` (parameters, FLOPs from :mod:`llmbook.flops`, latency, throughput, memory).

Trust in the numbers (the chapter "Evaluation you can trust"):
:mod:`~llmbook.evaluate.judges` (pairwise LLM-as-judge against human preferences:
:func:`judge_pairs`), :mod:`~llmbook.evaluate.contamination` (n-gram overlap of benchmarks and
training corpora: :func:`overlap_table`) and :mod:`~llmbook.evaluate.report` (the report card,
``python -m llmbook.evaluate report``).
"""
from __future__ import annotations

from .contamination import ngram_set, overlap_table, overlapping
from .efficiency import EfficiencyReport, count_parameters, profile_model
from .engine import loglikelihoods
from .judges import JudgeResult, hh_pairs, judge_pairs
from .perplexity import strided_perplexity
from .robustness import char_noise, shuffle_words
from .scoring import MultipleChoiceResult, multiple_choice, predict
from .suites import PUBLISHED, mmlu_subset, piqa_subset, published_comparison, run_mmlu, run_piqa
from .tasks import (TASKS, arc_items, cmmlu_items, fewshot_contexts, hellaswag_items, load_task, mmlu_items,
                    piqa_items)

__all__ = [
    "EfficiencyReport",
    "MultipleChoiceResult",
    "PUBLISHED",
    "mmlu_subset",
    "piqa_subset",
    "published_comparison",
    "run_mmlu",
    "run_piqa",
    "char_noise",
    "count_parameters",
    "profile_model",
    "shuffle_words",
    "fewshot_contexts",
    "TASKS",
    "arc_items",
    "cmmlu_items",
    "hellaswag_items",
    "load_task",
    "loglikelihoods",
    "mmlu_items",
    "multiple_choice",
    "piqa_items",
    "predict",
    "strided_perplexity",
    "JudgeResult",
    "hh_pairs",
    "judge_pairs",
    "ngram_set",
    "overlap_table",
    "overlapping",
]
