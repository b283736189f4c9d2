"""A standing defence: generated inputs, good and bad, against the metrics and the data loader.

The other test modules check chosen cases and fuzz valid inputs; this one throws generated *bad*
inputs too (missing labels, mixed types, wrong lengths, NaN, infinities, empty lists, unknown names,
wrong types) and holds the package to one contract:

* a metric either returns the reference library's value (scikit-learn, sacrebleu, NumPy) or raises a
  ``ValueError``/``TypeError`` whose message names the problem; it never returns a number the
  reference would not, and never escapes with another exception (``KeyError``, ``IndexError``, ...);
* the data loader either returns the data or raises ``DataError``; a corrupt file in the mirror is
  never used and never replaced.

Where the reference accepts an input that the package refuses on purpose, the refusal is listed in
``DELIBERATE`` with the reason. Example counts are sized so the module runs in well under a minute
on two cores.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmbook import data
from llmbook import metrics as M
from llmbook.cache import CACHE_ENV_VAR
from llmbook.data import DataError

sklearn_metrics = pytest.importorskip("sklearn.metrics")
sacrebleu = pytest.importorskip("sacrebleu")

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Inputs the package refuses although scikit-learn gives a number, each for a stated reason.
DELIBERATE = {
    "missing": "a None/NaN label is a missing label; scikit-learn counts NaN as a class of its own",
    "empty": "no examples: scikit-learn returns 0 or NaN with a warning, which reads as a real score",
    "pos_label": "ROC/PR with labels other than 0/1 or -1/1 and no pos_label: which class is positive is "
                 "ambiguous (scikit-learn raises too, in most versions)",
    "one_class": "a ROC or PR curve of one class only: scikit-learn returns NaN (or 0) with a warning",
    "unaligned": "more reference sentences than hypotheses: sacrebleu zips the streams and drops the rest",
}


def _why_refused(exc: Exception) -> str | None:
    """The DELIBERATE key a refusal's message matches, or None."""
    text = str(exc)
    if "missing label" in text:
        return "missing"
    if "no examples" in text:
        return "empty"
    if "pos_label" in text:
        return "pos_label"
    if "needs both classes" in text or "needs at least one positive" in text:
        return "one_class"
    if "reference stream" in text and "but there are" in text:
        return "unaligned"
    return None


def _reference(call):
    """``(value, None)`` from the reference library, or ``(None, exception)`` if it raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return call(), None
        except Exception as exc:  # noqa: BLE001 -- any refusal by the reference counts as "raises"
            return None, exc


def _ours(call):
    try:
        return call(), None
    except (ValueError, TypeError) as exc:
        assert len(str(exc)) > 20, f"an error must say what is wrong and what to do, got {exc!r}"
        return None, exc


def _agree(ours_call, reference_call, equal) -> None:
    """The contract: equal values, or ours raises (and the reference raises too, or ours is DELIBERATE)."""
    value, error = _ours(ours_call)
    expected, ref_error = _reference(reference_call)
    if error is None:
        assert ref_error is None, f"the package returned {value!r} where the reference raises {ref_error!r}"
        assert equal(value, expected), f"package {value!r} != reference {expected!r}"
    elif ref_error is None:
        assert _why_refused(error) in DELIBERATE, (
            f"the package refused ({error}) an input the reference scores as {expected!r}, "
            f"and the refusal is not one of the deliberate ones"
        )


# ------------------------------------------------------------------ classification metrics

# Labels as users really pass them: clean ints, strings, bools, floats holding ints, and missing ones.
clean_label = st.sampled_from([0, 1, 2])
any_label = st.one_of(clean_label, st.sampled_from(["a", "b"]), st.just(None), st.just(float("nan")),
                      st.sampled_from([0.0, 1.0]))


@st.composite
def label_pairs(draw, label=any_label):
    n = draw(st.integers(0, 12))
    m = n if draw(st.booleans()) or n == 0 else draw(st.integers(0, 12))  # usually aligned
    return draw(st.lists(label, min_size=n, max_size=n)), draw(st.lists(label, min_size=m, max_size=m))


def _close(a, b) -> bool:
    return np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=0, atol=1e-12,
                       equal_nan=False)


@FAST
@given(st.one_of(label_pairs(), label_pairs(clean_label)))
def test_accuracy_and_confusion_matrix_equal_sklearn_or_refuse(pair):
    y_true, y_pred = pair
    _agree(lambda: M.accuracy(y_true, y_pred),
           lambda: sklearn_metrics.accuracy_score(y_true, y_pred), _close)
    _agree(lambda: M.confusion_matrix(y_true, y_pred),
           lambda: sklearn_metrics.confusion_matrix(y_true, y_pred), np.array_equal)


@FAST
@given(st.one_of(label_pairs(), label_pairs(clean_label)),
       st.sampled_from(["micro", "macro", "weighted", None, "binary"]))
def test_precision_recall_f1_equal_sklearn_or_refuse(pair, average):
    y_true, y_pred = pair

    def ours():
        result = M.precision_recall_f1(y_true, y_pred, average=average)
        return result.precision, result.recall, result.f1

    def reference():
        p, r, f, _ = sklearn_metrics.precision_recall_fscore_support(
            y_true, y_pred, average=average, zero_division=0)
        return p, r, f

    value, error = _ours(ours)
    expected, ref_error = _reference(reference)
    if error is None:
        assert ref_error is None, f"package returned {value} where scikit-learn raises {ref_error!r}"
        assert all(_close(a, b) for a, b in zip(value, expected))
    elif ref_error is None:
        # binary with one present class that is not pos_label: scikit-learn scores 0 silently
        assert _why_refused(error) in DELIBERATE or "pos_label" in str(error) or "binary" in str(error)


@st.composite
def scored_labels(draw):
    n = draw(st.integers(0, 10))
    kind = draw(st.sampled_from(["01", "-11", "ab", "012", "bool"]))
    alphabet = {"01": [0, 1], "-11": [-1, 1], "ab": ["a", "b"], "012": [0, 1, 2], "bool": [False, True]}[kind]
    labels = draw(st.lists(st.sampled_from(alphabet), min_size=n, max_size=n))
    finite = st.floats(-5, 5, allow_nan=False)
    score = st.one_of(finite, finite, finite, st.sampled_from([0.5, float("nan"), float("inf")]))
    scores = draw(st.lists(score, min_size=n, max_size=n + draw(st.sampled_from([0, 0, 0, 1]))))
    pos_label = draw(st.sampled_from([None, alphabet[-1]]))
    return labels, scores, pos_label


@FAST
@given(scored_labels())
def test_roc_auc_and_average_precision_equal_sklearn_or_refuse(case):
    labels, scores, pos_label = case
    def reference_auc():
        fpr, tpr, _ = sklearn_metrics.roc_curve(labels, scores, pos_label=pos_label)
        return sklearn_metrics.auc(fpr, tpr)

    _agree(lambda: M.roc_auc(labels, scores, pos_label=pos_label), reference_auc, _close)
    def reference_ap():
        if pos_label is None:
            return sklearn_metrics.average_precision_score(labels, scores)
        # average_precision_score reads three classes as multilabel; one class against the rest is this:
        return sklearn_metrics.average_precision_score(np.asarray(labels) == pos_label, scores)

    _agree(lambda: M.average_precision(labels, scores, pos_label=pos_label), reference_ap, _close)


# ------------------------------------------------------------------ numbers from losses and samples

nll = st.one_of(st.floats(0, 50), st.floats(-1, 0, exclude_max=True), st.sampled_from([1000.0, math.inf, math.nan]))


@FAST
@given(st.lists(nll, max_size=8))
def test_perplexity_is_exp_mean_or_refuses(nlls):
    value, error = _ours(lambda: M.perplexity(nlls))
    # -log p of p = 1 may round just below 0: the package allows -1e-6, and no more
    valid = nlls and all(math.isfinite(x) and x >= -1e-6 for x in nlls)
    if not valid:
        assert error is not None, f"perplexity({nlls}) returned {value} instead of refusing"
        return
    assert error is None
    mean = math.fsum(nlls) / len(nlls)
    assert value == (pytest.approx(math.exp(mean), rel=1e-12) if mean < 700 else math.inf)


@FAST
@given(st.lists(st.one_of(st.floats(-10, 10), st.sampled_from([math.nan, math.inf])), max_size=12),
       st.integers(-1, 50))
def test_bootstrap_ci_contains_the_mean_or_refuses(values, n_resamples):
    result, error = _ours(lambda: M.bootstrap_ci(values, n_resamples=n_resamples, seed=0))
    if not values or not all(math.isfinite(v) for v in values) or n_resamples < 1:
        assert error is not None, f"bootstrap_ci({values}, n_resamples={n_resamples}) returned {result}"
        return
    assert error is None
    assert min(values) - 1e-9 <= result.low <= result.high <= max(values) + 1e-9
    assert result.estimate == pytest.approx(float(np.mean(values)), abs=1e-9)


# ------------------------------------------------------------------ BLEU and chrF against sacrebleu

words = st.sampled_from(["the", "cat", "sat", "on", "mat", "a", "dog", ".", ",", "Der", "Hund", "猫"])
sentence = st.lists(words, max_size=9).map(" ".join)
not_text = st.one_of(st.none(), st.integers(), st.just(b"bytes"))


@FAST
@given(st.lists(st.one_of(sentence, sentence, sentence, not_text), max_size=4), st.data())
def test_corpus_bleu_and_chrf_equal_sacrebleu_or_refuse(hypotheses, draw):
    n_refs = draw.draw(st.sampled_from([len(hypotheses), len(hypotheses), len(hypotheses) + 1]))
    references = draw.draw(st.lists(sentence, min_size=n_refs, max_size=n_refs))
    _agree(lambda: M.corpus_bleu(hypotheses, [references]).score,
           lambda: sacrebleu.corpus_bleu(hypotheses, [references]).score,
           lambda a, b: abs(a - b) < 1e-9)
    _agree(lambda: M.corpus_chrf(hypotheses, [references]).score,
           lambda: sacrebleu.corpus_chrf(hypotheses, [references]).score,
           lambda a, b: abs(a - b) < 1e-9)


# ------------------------------------------------------------------ data loading

name_like = st.one_of(st.sampled_from(sorted(data.DATASETS)), st.text(max_size=12), st.none(), st.integers(),
                      st.lists(st.sampled_from(["sst2", "piqa"]), max_size=2), st.just("../sst2"))
split_like = st.one_of(st.sampled_from(["train", "val", "test", "dev", "all"]), st.text(max_size=6),
                       st.integers(), st.just(["val"]))


@FAST
@given(name_like, split_like)
def test_load_returns_data_or_a_data_error(name, split):
    """Wrong names, wrong splits and wrong types: DataError naming the choices, nothing else escapes."""
    if isinstance(name, str) and name in data.DATASETS and split in data.DATASETS[name].splits:
        return  # a valid request; loading every dataset is the other modules' job
    with pytest.raises(DataError) as caught:
        data.load(name, split)
    assert "choose one of" in str(caught.value) or "a dataset name is a str" in str(caught.value)


@FAST
@given(st.one_of(st.text(max_size=30), st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=2)))
def test_path_of_an_unregistered_name_is_a_data_error(name):
    if isinstance(name, str) and name in data.REGISTRY:
        return
    with pytest.raises(DataError, match="data file"):
        data.path(name)


@pytest.fixture()
def small_mirror(tmp_path, monkeypatch):
    """A mirror with one registered file, an empty cache and no network."""
    payload = b"a small registered file\n"
    import hashlib

    entry = data.DataFile("demo/file.txt", len(payload), hashlib.sha256(payload).hexdigest(),
                          "https://example.invalid/file.txt", "test")
    monkeypatch.setitem(data.REGISTRY, entry.name, entry)
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    return tmp_path, entry, payload


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=64), st.sampled_from(["file", "folder", "missing", "file-as-mirror"]))
def test_a_damaged_mirror_is_never_used_nor_replaced(small_mirror, monkeypatch, content, layout):
    """Any bytes in the mirror's copy other than the registered ones: DataError, and the copy is left as
    it was; a mirror variable that names a file or nothing: DataError naming the variable."""
    root, entry, payload = small_mirror
    mirror = root / f"mirror-{layout}"
    target = mirror / entry.name
    if layout == "file-as-mirror":
        mirror.write_bytes(content)
    elif layout != "missing":
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content) if layout == "file" else target.mkdir(exist_ok=True)
    monkeypatch.setenv(data.ENV_VAR, str(mirror))
    if layout == "file" and content == payload:
        assert data.path(entry.name) == target
        return
    with pytest.raises(DataError) as caught:
        data.path(entry.name)
    message = str(caught.value)
    assert entry.name in message and (data.ENV_VAR in message or "example.invalid" in message)
    if layout == "file":
        assert target.read_bytes() == content  # never replaced
    if layout == "file-as-mirror":
        assert mirror.read_bytes() == content
    assert not any(p.is_file() for p in Path(os.environ[CACHE_ENV_VAR]).rglob("*"))  # nothing half-written
