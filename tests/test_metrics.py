"""llmbook.metrics and llmbook.evaluate.perplexity against their reference implementations, on real data.

References: sacrebleu (BLEU, chrF, tokenizer, paired bootstrap), rouge-score (ROUGE), scikit-learn
(classification), scipy (bootstrap), the official SQuAD v1.1 evaluation logic (reproduced below),
Hugging Face transformers (perplexity), plus direct computations and hypothesis properties.
"""
from __future__ import annotations

import ast
import math
import random
import re
import string
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbook import data
from llmbook import metrics as M

sacrebleu = pytest.importorskip("sacrebleu")
SMOOTHING = ["none", "floor", "add-k", "exp"]
TOL = 1e-9


# ----------------------------------------------------------------------------------------------------------
# Real data: Multi30k test2016 (English references) and seeded perturbations of them as hypotheses.
# ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def multi30k():
    return data.load("multi30k", "test")


def perturb(sentence: str, rng: random.Random, vocabulary: list[str], rate: float = 0.15) -> str:
    """A plausible MT error model: drop, substitute or swap words."""
    words, out = sentence.split(), []
    for w in words:
        r = rng.random()
        if r < rate:
            continue  # drop
        out.append(rng.choice(vocabulary) if r < 2 * rate else w)  # substitute
    if len(out) > 2 and rng.random() < 0.5:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]  # swap neighbours
    return " ".join(out)


@pytest.fixture(scope="module")
def mt(multi30k):
    """(hypotheses, reference streams): stream 0 = Multi30k English; stream 1 = another perturbation of it
    with every 7th segment missing (None), for the multi-reference tests."""
    refs = [row["en"] for row in multi30k]
    vocabulary = sorted({w for r in refs for w in r.split()})
    rng = random.Random(0)
    hyps = [perturb(r, rng, vocabulary) for r in refs]
    second = [None if i % 7 == 3 else perturb(r, rng, vocabulary, 0.1) for i, r in enumerate(refs)]
    return hyps, refs, second


def assert_bleu_equal(ours, theirs, counts=True):
    assert abs(ours.score - theirs.score) < TOL
    assert np.allclose(ours.precisions, theirs.precisions, rtol=0, atol=TOL)
    assert abs(ours.bp - theirs.bp) < TOL
    assert (ours.sys_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len)
    if counts:
        assert list(ours.counts) == list(theirs.counts) and list(ours.totals) == list(theirs.totals)


# ----------------------------------------------------------------------------------------------------------
# BLEU
# ----------------------------------------------------------------------------------------------------------
def test_tokenize_13a_equals_sacrebleu(multi30k):
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    reference = Tokenizer13a()
    lines = [row[lang] for row in multi30k for lang in ("en", "de", "fr")]
    lines += ["&quot;Hi&quot; &amp; &lt;b&gt; 3.14, 1,000 and 5-6 (x) {y} [z] $9 <skipped> end-\nline ok."]
    for line in lines:
        assert M.tokenize_13a(line) == reference(line), line


def test_tokenize_zh_and_chinese_bleu_equal_sacrebleu():
    import sacrebleu
    from sacrebleu.tokenizers.tokenizer_zh import TokenizerZh

    from llmbook import data

    reference = TokenizerZh()
    wmt = data.load("wmt21_enzh", "test")
    lines = [row["zh"] for row in data.load("tatoeba", "test")[:2000]] + [row["zh"] for row in wmt]
    lines += ["Tom说：“我2021年去了北京, 买了3.5公斤苹果!” &quot;x&quot; <skipped> 𠀀 ‘引号’ —— 〇"]
    for line in lines:
        assert M.tokenize_zh(line) == reference(line), line
    hyps, refs = [row["zh_b"] for row in wmt[:300]], [row["zh"] for row in wmt[:300]]
    ours = M.corpus_bleu(hyps, [refs], tokenize="zh")
    theirs = sacrebleu.corpus_bleu(hyps, [refs], tokenize="zh")
    assert ours.score == pytest.approx(theirs.score, abs=1e-9) and ours.score > 10


@pytest.mark.parametrize("smooth_method", SMOOTHING)
@pytest.mark.parametrize("lowercase", [False, True])
def test_corpus_bleu_equals_sacrebleu(mt, smooth_method, lowercase):
    hyps, refs, _ = mt
    ours = M.corpus_bleu(hyps, [refs], smooth_method=smooth_method, lowercase=lowercase)
    theirs = sacrebleu.corpus_bleu(hyps, [refs], smooth_method=smooth_method, lowercase=lowercase)
    assert_bleu_equal(ours, theirs, counts=smooth_method != "add-k")  # sacrebleu reports add-k's smoothed counts
    assert 10 < ours.score < 90  # the perturbations leave a realistic, non-trivial score


@pytest.mark.parametrize("smooth_method", SMOOTHING)
def test_corpus_bleu_multiple_reference_streams(mt, smooth_method):
    hyps, refs, second = mt
    ours = M.corpus_bleu(hyps, [refs, second], smooth_method=smooth_method, tokenize="13a")
    theirs = sacrebleu.corpus_bleu(hyps, [refs, second], smooth_method=smooth_method)
    assert_bleu_equal(ours, theirs, counts=smooth_method != "add-k")
    assert ours.score > M.corpus_bleu(hyps, [refs], smooth_method=smooth_method).score  # more refs, more matches


def test_corpus_bleu_options_equal_sacrebleu(mt):
    hyps, refs, _ = mt
    for kwargs in (
        {"tokenize": "none"},
        {"use_effective_order": True},
        {"smooth_method": "floor", "smooth_value": 0.3},
        {"smooth_method": "add-k", "smooth_value": 2},
    ):
        assert_bleu_equal(M.corpus_bleu(hyps, [refs], **kwargs), sacrebleu.corpus_bleu(hyps, [refs], **kwargs), counts=False)
    short = [" ".join(h.split()[:2]) for h in hyps[:50]]  # segments shorter than 4 words
    for method in SMOOTHING:
        for eff in (False, True):
            ours = M.corpus_bleu(short, [refs[:50]], smooth_method=method, use_effective_order=eff)
            theirs = sacrebleu.corpus_bleu(short, [refs[:50]], smooth_method=method, use_effective_order=eff)
            assert_bleu_equal(ours, theirs, counts=False)
    assert str(M.corpus_bleu(hyps, [refs])) == str(sacrebleu.corpus_bleu(hyps, [refs]))


@pytest.mark.parametrize("smooth_method", SMOOTHING)
@pytest.mark.parametrize("effective_order", [True, False])
def test_sentence_bleu_equals_sacrebleu(mt, smooth_method, effective_order):
    hyps, refs, second = mt
    for i in range(0, len(hyps), 3):
        references = [refs[i]] if second[i] is None else [refs[i], second[i]]
        kwargs = dict(smooth_method=smooth_method, use_effective_order=effective_order)
        ours = M.sentence_bleu(hyps[i], references, **kwargs)
        theirs = sacrebleu.sentence_bleu(hyps[i], references, **kwargs)
        assert abs(ours.score - theirs.score) < TOL, (hyps[i], references, ours, theirs)
        assert np.allclose(ours.precisions, theirs.precisions, rtol=0, atol=TOL)


def test_corpus_bleu_is_not_mean_sentence_bleu(mt):
    hyps, refs, _ = mt
    corpus = M.corpus_bleu(hyps, [refs]).score
    mean_sentence = np.mean([M.sentence_bleu(h, [r]).score for h, r in zip(hyps, refs)])
    assert abs(corpus - mean_sentence) > 0.5


def test_bleu_statistics_sum_to_corpus_bleu(mt):
    hyps, refs, _ = mt
    stats = M.bleu_statistics(hyps, [refs])
    assert stats.shape == (len(hyps), 10)
    assert M.bleu_from_statistics(stats.sum(axis=0)).score == M.corpus_bleu(hyps, [refs]).score
    with pytest.raises(ValueError, match="2 \\+ 2 \\* max_ngram_order"):
        M.bleu_from_statistics([1, 2, 3])


# ----------------------------------------------------------------------------------------------------------
# chrF
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("word_order", [0, 2])
@pytest.mark.parametrize("eps_smoothing", [False, True])
def test_corpus_chrf_equals_sacrebleu(mt, word_order, eps_smoothing):
    hyps, refs, second = (x[:500] for x in mt)
    for streams in ([refs], [refs, second]):
        ours = M.corpus_chrf(hyps, streams, word_order=word_order, eps_smoothing=eps_smoothing)
        theirs = sacrebleu.corpus_chrf(hyps, streams, word_order=word_order, eps_smoothing=eps_smoothing)
        assert abs(ours.score - theirs.score) < TOL
        assert ours.name == theirs.name


def test_chrf_options_and_sentences_equal_sacrebleu(mt):
    from sacrebleu.metrics import CHRF

    hyps, refs, _ = mt
    ours = M.corpus_chrf(hyps, [refs], char_order=4, beta=1, remove_whitespace=False, lowercase=True)
    theirs = CHRF(char_order=4, beta=1, whitespace=True, lowercase=True).corpus_score(hyps, [refs])
    assert abs(ours.score - theirs.score) < TOL
    for h, r in zip(hyps[::5] + ["", "a", "."], refs[::5] + ["x", "", "."]):
        for word_order in (0, 2):
            a = M.sentence_chrf(h, [r], word_order=word_order).score
            b = sacrebleu.sentence_chrf(h, [r], word_order=word_order).score
            assert abs(a - b) < TOL, (h, r)


# ----------------------------------------------------------------------------------------------------------
# ROUGE (real multi-sentence text: SQuAD contexts, one sentence per line)
# ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def summaries():
    squad = data.load("squad", "val")
    contexts = list(dict.fromkeys(row["context"] for row in squad))[:40]
    rng = random.Random(1)
    vocabulary = sorted({w for c in contexts for w in c.split()})
    references, predictions = [], []
    for context in contexts:
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", context) if s][:4]
        references.append("\n".join(sentences))
        kept = [perturb(s, rng, vocabulary, 0.2) for s in sentences if rng.random() < 0.8] or [sentences[0]]
        predictions.append("\n".join(kept[::-1] if rng.random() < 0.3 else kept))
    return predictions, references


@pytest.mark.parametrize("use_stemmer", [False, True])
def test_rouge_equals_rouge_score(summaries, use_stemmer):
    from rouge_score import rouge_scorer

    predictions, references = summaries
    types = ["rouge1", "rouge2", "rouge3", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=use_stemmer)
    theirs = [scorer.score(r, p) for p, r in zip(predictions, references)]
    ours = M.rouge(predictions, references, rouge_types=types, use_stemmer=use_stemmer, aggregate=False)
    for t in types:
        for a, b in zip(ours[t], theirs):
            assert abs(a.precision - b[t].precision) < TOL
            assert abs(a.recall - b[t].recall) < TOL
            assert abs(a.fmeasure - b[t].fmeasure) < TOL
    mean = M.rouge(predictions, references, rouge_types=types, use_stemmer=use_stemmer)
    for t in types:
        assert abs(mean[t].fmeasure - np.mean([b[t].fmeasure for b in theirs])) < TOL


def test_rouge_stemming_matters_and_multi_reference(summaries):
    from rouge_score import rouge_scorer

    predictions, references = summaries
    plain = M.rouge(predictions, references, rouge_types=["rouge1"])["rouge1"].fmeasure
    stemmed = M.rouge(predictions, references, rouge_types=["rouge1"], use_stemmer=True)["rouge1"].fmeasure
    assert stemmed != plain
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"])
    multi = [[references[i], references[(i + 1) % len(references)]] for i in range(len(references))]
    ours = M.rouge(predictions, multi, rouge_types=["rouge1", "rougeL"], aggregate=False)
    for i, (p, refs) in enumerate(zip(predictions, multi)):
        theirs = scorer.score_multi(refs, p)
        for t in ("rouge1", "rougeL"):
            assert abs(ours[t][i].fmeasure - theirs[t].fmeasure) < TOL
    assert M.lcs_length("a b c d".split(), "b d a".split()) == 2


# ----------------------------------------------------------------------------------------------------------
# Classification: real predictions of a TF-IDF + logistic regression classifier on SST-2
# ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sst2_predictions():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    train, val = data.load("sst2", "train")[:3000], data.load("sst2", "val")
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2)
    x_train = vectorizer.fit_transform([r["sentence"] for r in train])
    classifier = LogisticRegression(max_iter=1000).fit(x_train, [r["label"] for r in train])
    probabilities = classifier.predict_proba(vectorizer.transform([r["sentence"] for r in val]))
    labels = np.array([r["label"] for r in val])
    return labels, probabilities


def test_binary_classification_equals_sklearn(sst2_predictions):
    from sklearn import metrics as skm

    labels, probabilities = sst2_predictions
    predicted = probabilities.argmax(axis=1)
    assert 0.65 < M.accuracy(labels, predicted) < 0.9
    assert M.accuracy(labels, predicted) == skm.accuracy_score(labels, predicted)
    for average in ("binary", "micro", "macro", "weighted"):
        ours = M.precision_recall_f1(labels, predicted, average=average)
        p, r, f, _ = skm.precision_recall_fscore_support(labels, predicted, average=average)
        assert np.allclose([ours.precision, ours.recall, ours.f1], [p, r, f], rtol=0, atol=1e-12), average
    ours = M.precision_recall_f1(labels, predicted, average="binary", pos_label=0)
    assert abs(ours.f1 - skm.f1_score(labels, predicted, pos_label=0)) < 1e-12
    assert np.array_equal(M.confusion_matrix(labels, predicted), skm.confusion_matrix(labels, predicted))
    scores = probabilities[:, 1]
    assert abs(M.roc_auc(labels, scores) - skm.roc_auc_score(labels, scores)) < 1e-12
    for ours, theirs in zip(M.roc_curve(labels, scores), skm.roc_curve(labels, scores, drop_intermediate=False)):
        assert np.allclose(ours, theirs, rtol=0, atol=1e-12)
    for ours, theirs in zip(M.pr_curve(labels, scores), skm.precision_recall_curve(labels, scores)):
        assert np.allclose(ours, theirs, rtol=0, atol=1e-12)
    assert abs(M.average_precision(labels, scores) - skm.average_precision_score(labels, scores)) < 1e-12


def test_roc_auc_is_the_mann_whitney_probability(sst2_predictions):
    labels, probabilities = sst2_predictions
    scores = np.round(probabilities[:, 1], 2)  # rounding creates ties
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert abs(M.roc_auc(labels, scores) - wins) < 1e-12


label_lists = st.lists(st.sampled_from(["cat", "dog", "owl", "eel"]), min_size=1, max_size=60)


@pytest.mark.filterwarnings("ignore:A single label was found")
@settings(max_examples=30, deadline=None)
@given(st.data())
def test_multiclass_equals_sklearn(draw):
    from sklearn import metrics as skm

    y_true = draw.draw(label_lists)
    y_pred = draw.draw(st.lists(st.sampled_from(["cat", "dog", "owl", "eel"]), min_size=len(y_true), max_size=len(y_true)))
    for average in ("micro", "macro", "weighted", None):
        ours = M.precision_recall_f1(y_true, y_pred, average=average)
        p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        assert np.allclose([ours.precision, ours.recall, ours.f1], [p, r, f], rtol=0, atol=1e-12)
        if average is None:
            assert np.array_equal(ours.support, s)
    labels = ["owl", "cat", "dog"]
    if set(labels) & set(y_true):  # scikit-learn refuses label lists that miss y_true entirely
        assert np.array_equal(M.confusion_matrix(y_true, y_pred, labels=labels), skm.confusion_matrix(y_true, y_pred, labels=labels))
    assert np.array_equal(M.confusion_matrix(y_true, y_pred), skm.confusion_matrix(y_true, y_pred))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 20)), min_size=2, max_size=80))
def test_roc_auc_equals_sklearn_with_ties(pairs):
    from sklearn import metrics as skm

    labels, scores = np.array([p[0] for p in pairs]), np.array([p[1] / 20 for p in pairs])
    if len(set(labels.tolist())) < 2:
        with pytest.raises(ValueError, match="needs both classes"):
            M.roc_auc(labels, scores)
        return
    assert abs(M.roc_auc(labels, scores) - skm.roc_auc_score(labels, scores)) < 1e-12
    assert abs(M.average_precision(labels, scores) - skm.average_precision_score(labels, scores)) < 1e-12


def test_expected_calibration_error_equals_direct_computation(sst2_predictions):
    labels, probabilities = sst2_predictions
    for n_bins in (5, 10, 15):
        # Direct: loop over Guo et al.'s bins (lo, hi].
        confidence, predicted = probabilities.max(axis=1), probabilities.argmax(axis=1)
        ece = 0.0
        for m in range(n_bins):
            lo, hi = m / n_bins, (m + 1) / n_bins
            in_bin = (confidence > lo) & (confidence <= hi)
            if in_bin.any():
                ece += in_bin.mean() * abs((predicted[in_bin] == labels[in_bin]).mean() - confidence[in_bin].mean())
        assert abs(M.expected_calibration_error(probabilities, labels, n_bins) - ece) < 1e-12
    assert abs(M.expected_calibration_error(probabilities[:, 1], labels) - M.expected_calibration_error(probabilities, labels)) < 1e-12
    bins = M.reliability_bins(probabilities.max(axis=1), probabilities.argmax(axis=1) == labels, 10)
    assert bins.counts.sum() == len(labels) and np.all(bins.counts[:4] == 0)  # top-label confidence >= 0.5
    perfect = np.eye(3)[[0, 1, 2, 1]]
    assert M.expected_calibration_error(perfect, [0, 1, 2, 1]) == 0.0
    assert M.expected_calibration_error(perfect, [1, 2, 0, 0]) == 1.0


# ----------------------------------------------------------------------------------------------------------
# SQuAD: the official v1.1 evaluation logic (evaluate-v1.1.py), reproduced as the reference
# ----------------------------------------------------------------------------------------------------------
def official_normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def official_f1_score(prediction, ground_truth):
    prediction_tokens = official_normalize_answer(prediction).split()
    ground_truth_tokens = official_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def official_exact_match_score(prediction, ground_truth):
    return official_normalize_answer(prediction) == official_normalize_answer(ground_truth)


def official_metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    return max(metric_fn(prediction, gt) for gt in ground_truths)


def test_squad_em_f1_equals_official_logic():
    items = [row for row in data.load("squad", "val") if not row["is_impossible"]]
    assert len(items) > 200
    rng = random.Random(2)
    predictions = []
    for row in items:  # realistic QA outputs: exact, decorated, too long, partial, wrong
        gold = row["answers"][0]
        words = row["context"].split()
        choice = rng.randrange(5)
        if choice == 0:
            predictions.append(gold)
        elif choice == 1:
            predictions.append(f"The {gold.upper()}!")
        elif choice == 2:
            start = row["context"].find(gold)
            predictions.append(row["context"][max(0, start - 20) : start + len(gold) + 15])
        elif choice == 3:
            predictions.append(" ".join(gold.split()[: max(1, len(gold.split()) // 2)]))
        else:
            i = rng.randrange(len(words))
            predictions.append(" ".join(words[i : i + 3]))
    references = [row["answers"] for row in items]
    ours = M.squad_em_f1(predictions, references)
    em = 100 * np.mean([official_metric_max_over_ground_truths(official_exact_match_score, p, g) for p, g in zip(predictions, references)])
    f1 = 100 * np.mean([official_metric_max_over_ground_truths(official_f1_score, p, g) for p, g in zip(predictions, references)])
    assert abs(ours.exact_match - em) < 1e-9 and abs(ours.f1 - f1) < 1e-9
    assert 20 < ours.exact_match < ours.f1 < 90
    assert ours.f1_per_item.shape == (len(items),)
    for text in (row["context"] for row in items[:50]):
        assert M.normalize_answer(text) == official_normalize_answer(text)


# ----------------------------------------------------------------------------------------------------------
# Bootstrap: equal to scipy.stats.bootstrap and to sacrebleu's paired bootstrap test
# ----------------------------------------------------------------------------------------------------------
def test_bootstrap_ci_equals_scipy(sst2_predictions):
    from scipy import stats

    labels, probabilities = sst2_predictions
    correct = (probabilities.argmax(axis=1) == labels).astype(float)
    ours = M.bootstrap_ci(correct, n_resamples=2000, confidence=0.9, seed=7)
    theirs = stats.bootstrap(
        (correct,), np.mean, n_resamples=2000, confidence_level=0.9, method="percentile", rng=np.random.default_rng(7)
    )
    assert abs(ours.low - theirs.confidence_interval.low) < 1e-12
    assert abs(ours.high - theirs.confidence_interval.high) < 1e-12
    assert abs(ours.standard_error - theirs.standard_error) < 1e-12
    assert ours.low < ours.estimate == correct.mean() < ours.high
    # A metric over resampled items: the same numbers when the metric is the mean.
    generic = M.bootstrap_ci(list(correct), metric=lambda xs: float(np.mean(xs)), n_resamples=2000, confidence=0.9, seed=7)
    assert abs(generic.low - ours.low) < 1e-12 and abs(generic.high - ours.high) < 1e-12
    assert "90% CI" in str(ours)


def test_paired_bootstrap_equals_sacrebleu(mt):
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import _paired_bs_test

    hyps, refs, _ = mt
    rng, vocabulary = random.Random(5), sorted({w for r in refs for w in r.split()})
    worse = [perturb(h, rng, vocabulary, 0.05) for h in hyps]  # a slightly worse system
    bleu = BLEU()
    stats_a, stats_b = bleu._extract_corpus_statistics(hyps, [refs]), None
    baseline = {"BLEU": (stats_a, bleu._aggregate_and_compute(stats_a))}
    _, result = _paired_bs_test(baseline, "b", worse, [refs], {"BLEU": bleu}, n_samples=300, seed=11)

    stats_a, stats_b = M.bleu_statistics(hyps, [refs]), M.bleu_statistics(worse, [refs])
    ours = M.paired_bootstrap(stats_a, stats_b, lambda s: M.bleu_from_statistics(s.sum(axis=0)).score, n_resamples=300, seed=11)
    assert abs(ours.score_b - result["BLEU"].score) < TOL
    assert ours.p_value == pytest.approx(result["BLEU"].p_value, abs=1e-12)
    assert ours.delta > 0 and ours.win_rate_a > 0.9 and ours.delta_low < ours.delta < ours.delta_high


def test_paired_bootstrap_on_values():
    rng = np.random.default_rng(0)
    a = rng.random(300)
    same = M.paired_bootstrap(a, a, n_resamples=200)
    assert same.delta == 0 and same.p_value == 1.0 and same.win_rate_a == same.win_rate_b == 0.0
    better = M.paired_bootstrap(a + 0.05, a, n_resamples=200)
    assert better.p_value < 0.01 and better.win_rate_a == 1.0
    noise = M.paired_bootstrap(a, rng.permutation(a), n_resamples=500)
    assert noise.p_value > 0.05


# ----------------------------------------------------------------------------------------------------------
# Perplexity
# ----------------------------------------------------------------------------------------------------------
def test_perplexity_conversions():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(50, 11, generator=g), torch.randint(0, 11, (50,), generator=g)
    nlls = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    loss = torch.nn.functional.cross_entropy(logits, targets)
    assert abs(M.perplexity(nlls) - math.exp(loss.item())) < 1e-5
    text = "Ein Mann mit einem orangefarbenen Hut, der etwas anstarrt. Grüße!"
    total = float(nlls.double().sum())
    n_words, n_bytes = len(text.split()), len(text.encode("utf-8"))
    assert M.word_perplexity(nlls, text) == pytest.approx(math.exp(total / n_words), rel=1e-12)
    assert M.byte_perplexity(nlls, text) == pytest.approx(math.exp(total / n_bytes), rel=1e-12)
    assert M.bits_per_byte(nlls, text) == pytest.approx(math.log2(M.byte_perplexity(nlls, text)), rel=1e-12)
    assert M.perplexity([0.0, 0.0]) == 1.0
    assert M.perplexity(nlls.numpy(), n_units=10) == pytest.approx(math.exp(total / 10), rel=1e-9)


# ----------------------------------------------------------------------------------------------------------
# Properties
# ----------------------------------------------------------------------------------------------------------
words = st.sampled_from(["a", "man", "dog", "runs", "the", "red", "ball", ",", ".", "3.5", "x-ray", "(big)", "&amp;"])
sentences = st.lists(words, min_size=4, max_size=12).map(" ".join)
text = st.lists(words, min_size=0, max_size=12).map(" ".join)


@settings(max_examples=80, deadline=None)
@given(st.lists(sentences, min_size=1, max_size=8))
def test_identical_hypothesis_and_reference_give_100(corpus):
    assert M.corpus_bleu(corpus, [corpus]).score == pytest.approx(100.0, abs=1e-9)
    assert M.sentence_bleu(corpus[0], [corpus[0]]).score == pytest.approx(100.0, abs=1e-9)
    assert M.corpus_chrf(corpus, [corpus]).score == pytest.approx(100.0, abs=1e-9)
    per_pair = M.rouge(corpus, corpus, aggregate=False)
    for i, text in enumerate(corpus):  # ROUGE-n is 1 when the text has n-grams at all (", , ," has no tokens)
        n_tokens = len(M.rouge_tokenize(text))
        for rouge_type, need in (("rouge1", 1), ("rouge2", 2), ("rougeL", 1), ("rougeLsum", 1)):
            assert per_pair[rouge_type][i].fmeasure == (pytest.approx(1.0) if n_tokens >= need else 0.0)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(text, text), min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_scores_in_bounds_order_invariant_and_equal_sacrebleu(pairs, rnd):
    hyps, refs = [h for h, _ in pairs], [r for _, r in pairs]
    bleu = M.corpus_bleu(hyps, [refs])
    assert 0.0 <= bleu.score <= 100.0 + TOL  # exp(log(p)) can land a few ulps above 100, as in sacrebleu
    assert abs(bleu.score - sacrebleu.corpus_bleu(hyps, [refs]).score) < TOL
    order = list(range(len(pairs)))
    rnd.shuffle(order)
    shuffled = M.corpus_bleu([hyps[i] for i in order], [[refs[i] for i in order]])
    assert abs(shuffled.score - bleu.score) < TOL  # corpus BLEU sums counts: the order of pairs is irrelevant
    chrf = M.corpus_chrf(hyps, [refs]).score
    assert 0.0 <= chrf <= 100.0 + TOL and abs(chrf - sacrebleu.corpus_chrf(hyps, [refs]).score) < TOL
    for method in SMOOTHING:
        s = M.sentence_bleu(hyps[0], [refs[0]], smooth_method=method).score
        assert 0.0 <= s <= 100.0 + TOL
        assert abs(s - sacrebleu.sentence_bleu(hyps[0], [refs[0]], smooth_method=method).score) < TOL
    for score in M.rouge(hyps, refs).values():
        assert 0.0 <= score.precision <= 1.0 and 0.0 <= score.recall <= 1.0 and 0.0 <= score.fmeasure <= 1.0


# ----------------------------------------------------------------------------------------------------------
# Bad input: a clear ValueError naming the fix
# ----------------------------------------------------------------------------------------------------------
def test_bad_input_bleu_and_chrf():
    with pytest.raises(ValueError, match="list of reference streams .* pass \\[refs\\]"):
        M.corpus_bleu(["a b"], ["a b"])
    with pytest.raises(ValueError, match="reference stream 0 has 1 sentences but there are 2 hypotheses"):
        M.corpus_bleu(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="references is empty"):
        M.corpus_bleu(["a"], [])
    with pytest.raises(ValueError, match="hypotheses is empty"):
        M.corpus_bleu([], [[]])
    with pytest.raises(ValueError, match=r"hypotheses\[1\] is int"):
        M.corpus_bleu(["a", 3], [["a", "b"]])
    with pytest.raises(ValueError, match="single str: wrap it in a list"):
        M.corpus_bleu("a b", [["a b"]])
    with pytest.raises(ValueError, match="hypothesis 0 has no reference"):
        M.corpus_bleu(["a"], [[None]])
    with pytest.raises(ValueError, match="unknown smooth_method"):
        M.corpus_bleu(["a"], [["a"]], smooth_method="laplace")
    with pytest.raises(ValueError, match="unknown tokenize"):
        M.corpus_bleu(["a"], [["a"]], tokenize="intl")
    with pytest.raises(ValueError, match="for a list of sentences use corpus_bleu"):
        M.sentence_bleu(["a"], ["a"])
    with pytest.raises(ValueError, match="references is empty"):
        M.sentence_bleu("a", [])
    with pytest.raises(ValueError, match="single str"):
        M.sentence_bleu("a", "a")
    with pytest.raises(ValueError, match=r"references\[0\]\[0\] is bytes"):
        M.corpus_chrf(["a"], [[b"a"]])
    with pytest.raises(ValueError, match="char_order \\+ word_order"):
        M.corpus_chrf(["a"], [["a"]], char_order=0)
    with pytest.raises(ValueError, match="for a list use corpus_chrf"):
        M.sentence_chrf(None, ["a"])


def test_bad_input_rouge_qa_classification():
    with pytest.raises(ValueError, match="predictions has 2 items but references has 1"):
        M.rouge(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="unknown ROUGE type"):
        M.rouge(["a"], ["a"], rouge_types=["rougeX"])
    with pytest.raises(ValueError, match="rouge_types is empty"):
        M.rouge(["a"], ["a"], rouge_types=[])
    with pytest.raises(ValueError, match=r"references\[0\] is empty"):
        M.rouge(["a"], [[]])
    with pytest.raises(ValueError, match="got a str"):
        M.rouge(["a"], "a")
    with pytest.raises(ValueError, match="has no gold answer .* is_impossible"):
        M.squad_em_f1(["x"], [[]])
    with pytest.raises(ValueError, match="predictions has 1 items but references has 2"):
        M.squad_em_f1(["x"], [["x"], ["y"]])
    with pytest.raises(ValueError, match=r"predictions\[0\] is NoneType"):
        M.squad_em_f1([None], [["x"]])
    with pytest.raises(ValueError, match="y_true has 3 labels but y_pred has 2"):
        M.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="take argmax"):
        M.precision_recall_f1([0, 1], [[0.2, 0.8], [0.6, 0.4]])
    with pytest.raises(ValueError, match="choose average='micro'"):
        M.precision_recall_f1([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="unknown average"):
        M.precision_recall_f1([0, 1], [0, 1], average="samples")
    with pytest.raises(ValueError, match="pos_label=2 is not a label"):
        M.precision_recall_f1([0, 1], [0, 1], pos_label=2)
    with pytest.raises(ValueError, match="labels has duplicates"):
        M.confusion_matrix([0, 1], [0, 1], labels=[0, 0])
    with pytest.raises(ValueError, match="no examples"):
        M.accuracy([], [])
    with pytest.raises(ValueError, match="positive class, e.g. probabilities"):
        M.roc_auc([0, 1], [[0.1, 0.9], [0.8, 0.2]])
    with pytest.raises(ValueError, match="NaN or infinity"):
        M.roc_auc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="one class against the rest with pos_label"):
        M.roc_auc([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="at least one positive"):
        M.pr_curve([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="apply softmax"):
        M.expected_calibration_error([[2.0, -1.0]], [0])
    with pytest.raises(ValueError, match="one class index per example"):
        M.expected_calibration_error([[0.5, 0.5]], [0, 1])
    with pytest.raises(ValueError, match="n_bins must be a positive int"):
        M.reliability_bins([0.5], [True], n_bins=0)


def test_bad_input_bootstrap_and_perplexity():
    with pytest.raises(ValueError, match="at least one item"):
        M.bootstrap_ci([])
    with pytest.raises(ValueError, match="n_resamples must be a positive int"):
        M.bootstrap_ci([1.0], n_resamples=0)
    with pytest.raises(ValueError, match="confidence must be .* between 0 and 1"):
        M.bootstrap_ci([1.0], confidence=95)
    with pytest.raises(ValueError, match="pass metric=callable"):
        M.bootstrap_ci(["a", "b"])
    with pytest.raises(ValueError, match="one-dimensional"):
        M.bootstrap_ci([[1.0, 2.0]])
    with pytest.raises(ValueError, match="metric must be a callable"):
        M.bootstrap_ci([1.0], metric="mean")
    with pytest.raises(ValueError, match="got 3 for system_a and 2 for system_b"):
        M.paired_bootstrap([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="nlls is empty"):
        M.perplexity([])
    with pytest.raises(ValueError, match="negate them"):
        M.perplexity([-2.0, -1.0])
    with pytest.raises(ValueError, match="NaN or infinity"):
        M.perplexity([float("inf")])
    with pytest.raises(ValueError, match="flatten it first"):
        M.perplexity([[1.0]])
    with pytest.raises(ValueError, match="n_units must be a positive int"):
        M.perplexity([1.0], n_units=0)
    with pytest.raises(ValueError, match="number of words of text"):
        M.word_perplexity([1.0], "   ")
    with pytest.raises(ValueError, match="text must be a str"):
        M.byte_perplexity([1.0], None)


# ----------------------------------------------------------------------------------------------------------
# The package's promise: metrics import nothing but NumPy and the standard library
# ----------------------------------------------------------------------------------------------------------
def test_metrics_import_only_numpy_and_stdlib():
    package = Path(M.__file__).parent
    allowed = set(sys.stdlib_module_names) | {"numpy", "__future__"}
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                lazy = root == "nltk" and module.name == "rouge.py"  # imported inside the function, for stemming
                assert root in allowed or lazy, f"{module.name} imports {name}"


# ----------------------------------------------------------------------------------------------------------
# Strided perplexity with a tiny random GPT-2 (Hugging Face)
# ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_gpt2():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=97, n_positions=64, n_embd=32, n_layer=2, n_head=4)
    model = transformers.GPT2LMHeadModel(config).eval()
    ids = torch.randint(0, 97, (150,), generator=torch.Generator().manual_seed(1))
    return model, ids


def hf_guide_strided_nll(model, ids, window, stride):
    """The loop of the Hugging Face guide "Perplexity of fixed-length models", with labels=-100 masking."""
    import torch

    ids, nll_sum, n_tokens, prev_end = ids[None], 0.0, 0, 0
    for begin in range(0, ids.size(1), stride):
        end = min(begin + window, ids.size(1))
        trg_len = end - prev_end
        input_ids = ids[:, begin:end]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            loss = model(input_ids, labels=target_ids).loss
        n_valid = (target_ids[:, 1:] != -100).sum().item()  # labels are shifted inside the model
        nll_sum += loss.item() * n_valid
        n_tokens += n_valid
        prev_end = end
        if end == ids.size(1):
            break
    return nll_sum, n_tokens


def test_strided_perplexity_equals_full_sequence(tiny_gpt2):
    import torch

    from llmbook.evaluate import strided_perplexity

    model, ids = tiny_gpt2
    ids = ids[:60]  # fits in one window
    with torch.no_grad():
        loss = model(ids[None], labels=ids[None]).loss.item()
    result = strided_perplexity(model, ids, window=64, stride=64)
    assert result["n_tokens"] == 59 and result["n_windows"] == 1
    assert result["nll_sum"] == pytest.approx(loss * 59, rel=1e-5)
    assert result["ppl"] == pytest.approx(math.exp(loss), rel=1e-5)
    assert M.perplexity([result["nll_sum"] / 59] * 59) == pytest.approx(result["ppl"], rel=1e-9)


@pytest.mark.parametrize("window,stride", [(64, 64), (64, 16), (32, 8), (48, 47), (12, 5)])
def test_strided_perplexity_equals_hf_guide(tiny_gpt2, window, stride):
    from llmbook.evaluate import strided_perplexity

    model, ids = tiny_gpt2
    nll_sum, n_tokens = hf_guide_strided_nll(model, ids, window, stride)
    result = strided_perplexity(model, ids, window=window, stride=stride)
    assert result["n_tokens"] == n_tokens
    assert result["nll_sum"] == pytest.approx(nll_sum, rel=1e-5)
    if stride < window:
        assert n_tokens == len(ids) - 1
    batched = strided_perplexity(model, ids[None], window=window, stride=stride, batch_size=4)
    assert batched["n_tokens"] == n_tokens and batched["nll_sum"] == pytest.approx(result["nll_sum"], rel=1e-5)


def test_strided_perplexity_accepts_plain_callables(tiny_gpt2):
    from llmbook.evaluate import strided_perplexity

    model, ids = tiny_gpt2
    reference = strided_perplexity(model, ids, window=32, stride=16)
    as_tensor = strided_perplexity(lambda x: model(x).logits, ids.tolist(), window=32, stride=16, device="cpu")
    as_tuple = strided_perplexity(lambda x: (model(x).logits, None), ids, window=32, stride=16)
    assert as_tensor["nll_sum"] == pytest.approx(reference["nll_sum"], rel=1e-6)
    assert as_tuple["nll_sum"] == pytest.approx(reference["nll_sum"], rel=1e-6)


def test_strided_perplexity_bad_input(tiny_gpt2):
    import torch

    from llmbook.evaluate import strided_perplexity

    model, ids = tiny_gpt2
    with pytest.raises(ValueError, match="must not exceed window"):
        strided_perplexity(model, ids, window=8, stride=16)
    with pytest.raises(ValueError, match="window must be a positive int"):
        strided_perplexity(model, ids, window=0, stride=1)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        strided_perplexity(model, ids[:1], window=8, stride=8)
    with pytest.raises(ValueError, match="tokenize the text first"):
        strided_perplexity(model, torch.rand(10), window=8, stride=8)
    with pytest.raises(ValueError, match="shape \\(n_tokens,\\)"):
        strided_perplexity(model, ids.reshape(2, 75), window=8, stride=8)
    with pytest.raises(TypeError, match="needs logits"):
        strided_perplexity(lambda x: "nothing", ids, window=8, stride=8)
    with pytest.raises(ValueError, match="expected \\(batch, seq, vocab\\)"):
        strided_perplexity(lambda x: model(x).logits[:, :-1], ids, window=8, stride=8)


# ----------------------------------------------------------------------------------------------------------
# Chapter 6's exercise checkers accept the right answers and reject wrong ones
# ----------------------------------------------------------------------------------------------------------
def test_chapter_5_exercise_checkers():
    from llmbook.book.exercises import check

    assert check("06.1", 20 ** 1.2) and not check("06.1", 20.0)
    rows = data.load("multi30k", "test")
    copy = sacrebleu.corpus_bleu([r["de"] for r in rows], [[r["en"] for r in rows]]).score  # the reference library
    assert check("06.2", copy) and not check("06.2", copy + 0.01)
    items = [r for r in data.load("squad", "val") if not r["is_impossible"]]
    predictions = [" ".join(r["context"].split()[:3]) for r in items]
    em = 100 * np.mean([official_metric_max_over_ground_truths(official_exact_match_score, p, r["answers"]) for p, r in zip(predictions, items)])
    f1 = 100 * np.mean([official_metric_max_over_ground_truths(official_f1_score, p, r["answers"]) for p, r in zip(predictions, items)])
    assert check("06.3", (em, f1)) and not check("06.3", (f1, em)) and not check("06.3", "no")
    val = data.load("sst2", "val")
    majority = Counter(r["label"] for r in data.load("sst2", "train")).most_common(1)[0][0]
    correct = np.array([r["label"] == majority for r in val], dtype=float)
    from scipy import stats

    ci = stats.bootstrap((correct,), np.mean, n_resamples=1000, method="percentile", rng=np.random.default_rng(0)).confidence_interval
    assert check("06.4", (ci.low, ci.high)) and not check("06.4", (ci.low, ci.high + 0.01))


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # scikit-learn's own
def test_bad_labels_and_scores_are_errors_where_scikit_learn_raises_too():
    """Each call used to return a wrong number (0.0, 0.5, 0.7, ...) where scikit-learn raises."""
    from sklearn import metrics as skm

    nan = float("nan")
    cases = [
        (M.accuracy, skm.accuracy_score, (["1", "0"], [1, 0]), "mixed label types"),
        (M.accuracy, skm.accuracy_score, ([1, 0], [1, None]), r"y_pred\[1\] is None, a missing label"),
        (lambda t, p: M.precision_recall_f1(t, p, average="macro"),
         lambda t, p: skm.precision_recall_fscore_support(t, p, average="macro"),
         ([1.0, nan], [1.0, nan]), r"y_true\[1\] is nan, a missing label"),
        # scikit-learn's roc_curve raises; its roc_auc_score quietly takes the larger label as positive
        (M.roc_auc, skm.roc_curve, ([1, 2, 2, 1], [0.1, 0.8, 0.6, 0.3]), "say which one is the positive"),
        (M.roc_curve, skm.roc_curve, ([1, 2, 2, 1], [0.1, 0.8, 0.6, 0.3]), "say which one is the positive"),
    ]
    for ours, theirs, args, message in cases:
        with pytest.raises(ValueError):
            theirs(*args)
        with pytest.raises(ValueError, match=message):
            ours(*args)
    # with the positive class named, the same labels give scikit-learn's number
    assert M.roc_auc([1, 2, 2, 1], [0.1, 0.8, 0.6, 0.3], pos_label=2) == skm.roc_auc_score(
        [1, 2, 2, 1], [0.1, 0.8, 0.6, 0.3]) == 1.0
    assert M.accuracy(["a", "b"], ["a", "a"]) == 0.5 and M.accuracy([True, False], [1, 0]) == 1.0
    with pytest.raises(ValueError, match=r"class indices 0 \.\. 1"):
        M.expected_calibration_error([[0.2, 0.8], [0.6, 0.4]], [5, 7])
    with pytest.raises(ValueError, match="class indices"):
        M.expected_calibration_error([[0.2, 0.8], [0.6, 0.4]], [0.5, 1.0])
    assert M.expected_calibration_error([[0.2, 0.8], [0.6, 0.4]], [1.0, 0.0]) == pytest.approx(0.3)
    with pytest.raises(ValueError, match=r"no NaN"):
        M.reliability_bins([0.5, nan], [1, 0], 2)
    with pytest.raises(ValueError, match="NaN or infinity"):
        M.bootstrap_ci([1.0, nan])
    assert M.perplexity([1000.0]) == math.inf and M.perplexity([700.0]) == pytest.approx(math.exp(700))


def test_ece_accepts_probability_rows_rounded_by_their_dtype():
    """A bfloat16 softmax's rows sum to 1 only within its rounding (here 2e-3): they used to be refused."""
    import torch

    torch.manual_seed(0)
    rows = torch.softmax(torch.randn(200, 10) * 2, dim=-1)
    labels = torch.randint(0, 10, (200,)).numpy()
    for low in (rows.to(torch.bfloat16), rows.to(torch.float16), rows.numpy().astype(np.float16)):
        as_float = (low.float().numpy() if hasattr(low, "float") and callable(low.float) else low.astype(float))
        bins = M.reliability_bins(as_float.max(axis=1), as_float.argmax(axis=1) == labels, 15)
        filled = bins.counts > 0
        expected = float(np.sum(bins.counts[filled] / 200 * np.abs(bins.accuracy - bins.confidence)[filled]))
        assert M.expected_calibration_error(low, labels) == pytest.approx(expected)
    with pytest.raises(ValueError, match="pass them in that dtype"):  # float32 copies keep float32's tolerance
        M.expected_calibration_error(rows.to(torch.bfloat16).float().numpy(), labels)
