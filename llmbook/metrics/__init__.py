"""Evaluation metrics, each checked against its reference implementation in ``tests/test_metrics.py``.

=========================  ==========================================================  ===============
function                   what                                                        reference
=========================  ==========================================================  ===============
perplexity, word_/byte_    perplexity from per-token NLLs, per token / word / byte     (definition)
corpus_bleu, sentence_bleu BLEU with sacrebleu's arguments, 13a tokenizer, smoothing    sacrebleu
corpus_chrf                chrF / chrF++                                               sacrebleu
rouge                      ROUGE-N, ROUGE-L, ROUGE-Lsum, optional Porter stemming       rouge-score
accuracy, precision_...    classification metrics, confusion matrix, ROC / PR curves    scikit-learn
expected_calibration_error ECE and reliability-diagram bins                            (definition)
squad_em_f1                SQuAD v1.1 exact match and token F1                         official script
bootstrap_ci, paired_...   bootstrap confidence intervals, paired bootstrap test        scipy, sacrebleu
distinct_n, repetition_... distinct-n, seq-rep-n, self-BLEU (diversity of generations)  NLTK, sacrebleu
=========================  ==========================================================  ===============

Depends on nothing but NumPy and the standard library (``use_stemmer=True`` in :func:`rouge` imports
nltk's Porter stemmer, as rouge-score does). Each function's docstring gives its formula.
"""
from __future__ import annotations

from .bleu import (BLEUScore, bleu_from_statistics, bleu_statistics, corpus_bleu, sentence_bleu, tokenize_13a,
                   tokenize_zh)
from .bootstrap import BootstrapCI, PairedBootstrapResult, bootstrap_ci, paired_bootstrap
from .chrf import CHRFScore, chrf_from_statistics, chrf_statistics, corpus_chrf, sentence_chrf
from .classification import (
    PRF,
    ReliabilityBins,
    accuracy,
    average_precision,
    confusion_matrix,
    expected_calibration_error,
    pr_curve,
    precision_recall_f1,
    reliability_bins,
    roc_auc,
    roc_curve,
)
from .diversity import distinct_n, ngrams, repetition_rate, self_bleu
from .perplexity import bits_per_byte, byte_perplexity, perplexity, word_perplexity
from .qa import SquadScore, normalize_answer, squad_em_f1
from .rouge import RougeScore, lcs_length, rouge, rouge_tokenize

__all__ = [
    # perplexity
    "perplexity", "word_perplexity", "byte_perplexity", "bits_per_byte",
    # translation
    "BLEUScore", "corpus_bleu", "sentence_bleu", "tokenize_13a", "tokenize_zh", "bleu_statistics", "bleu_from_statistics",
    "CHRFScore", "corpus_chrf", "sentence_chrf", "chrf_statistics", "chrf_from_statistics",
    # summarization
    "RougeScore", "rouge", "rouge_tokenize", "lcs_length",
    # classification
    "PRF", "ReliabilityBins", "accuracy", "precision_recall_f1", "confusion_matrix", "roc_curve", "roc_auc",
    "pr_curve", "average_precision", "reliability_bins", "expected_calibration_error",
    # question answering
    "SquadScore", "normalize_answer", "squad_em_f1",
    # statistics
    "BootstrapCI", "PairedBootstrapResult", "bootstrap_ci", "paired_bootstrap",
    # diversity of generated text
    "distinct_n", "repetition_rate", "self_bleu", "ngrams",
]
