r"""ROUGE (Lin, 2004): recall-oriented overlap between a summary and its reference, as rouge-score computes it.

Tokens: the text is lowercased, every run of characters other than ``a-z0-9`` becomes a space, and
(with ``use_stemmer=True``) tokens longer than 3 characters are reduced by the Porter stemmer.

* **ROUGE-N**: with :math:`c_x(g)` the count of n-gram :math:`g` in :math:`x`, prediction :math:`p` and
  reference :math:`r`, the overlap is :math:`m = \sum_g \min(c_p(g), c_r(g))`;
  :math:`P = m / |\text{n-grams}(p)|`, :math:`R = m / |\text{n-grams}(r)|`.
* **ROUGE-L**: :math:`P = \mathrm{LCS}(p, r) / |p|`, :math:`R = \mathrm{LCS}(p, r) / |r|`, with LCS the
  length of the longest common subsequence of the token lists (in order, not necessarily contiguous).
* **ROUGE-Lsum**: summary-level LCS. Texts are split into sentences at newlines; for each reference
  sentence, the *union* of its LCS tokens with every predicted sentence counts as hits (each token
  counted at most as often as it occurs in both summaries); :math:`P = \text{hits} / |p|`,
  :math:`R = \text{hits} / |r|`. Put one sentence per line to use it.

In every case :math:`F = 2PR / (P + R)` (0 when :math:`P + R = 0`). With several references, each
prediction takes, per ROUGE type, the reference with the best :math:`F` (rouge-score's
``score_multi``). :func:`rouge` averages P, R and F over the pairs.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

from ._checks import check_same_length, check_strings

__all__ = ["RougeScore", "rouge", "rouge_tokenize", "lcs_length"]

_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")
_SPACES = re.compile(r"\s+")
_VALID_TOKEN = re.compile(r"^[a-z0-9]+$")
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@dataclass(frozen=True)
class RougeScore:
    """Precision, recall and F-measure, each in [0, 1]."""

    precision: float
    recall: float
    fmeasure: float


def _porter_stem() -> Callable[[str], str]:
    """nltk's Porter stemmer (the one rouge-score uses), with a cache: words repeat a lot."""
    try:
        from nltk.stem import porter
    except ImportError:  # pragma: no cover - nltk is a dependency of the book
        raise ImportError("use_stemmer=True needs nltk's Porter stemmer: pip install nltk") from None
    stem, cache = porter.PorterStemmer().stem, {}

    def cached(word: str) -> str:
        if word not in cache:
            cache[word] = stem(word)
        return cache[word]

    return cached


def rouge_tokenize(text: str, stem: Callable[[str], str] | None = None) -> list[str]:
    """rouge-score's tokenizer: lowercase, non-alphanumerics → spaces, stem words longer than 3 characters."""
    tokens = _SPACES.split(_NON_ALPHANUMERIC.sub(" ", text.lower()))
    if stem is not None:
        tokens = [stem(t) if len(t) > 3 else t for t in tokens]
    return [t for t in tokens if _VALID_TOKEN.match(t)]


def _f(precision: float, recall: float) -> RougeScore:
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return RougeScore(precision, recall, f)


def _rouge_n(prediction: list[str], reference: list[str], n: int) -> RougeScore:
    pred = Counter(zip(*[prediction[i:] for i in range(n)]))
    ref = Counter(zip(*[reference[i:] for i in range(n)]))
    overlap = sum(min(count, pred[gram]) for gram, count in ref.items())
    return _f(overlap / max(sum(pred.values()), 1), overlap / max(sum(ref.values()), 1))


def _lcs_table(a: list[str], b: list[str]) -> list[list[int]]:
    """``table[i][j]`` = LCS length of ``a[:i]`` and ``b[:j]`` (dynamic programming, O(|a| |b|))."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        row, above, token = table[i], table[i - 1], a[i - 1]
        for j in range(1, len(b) + 1):
            row[j] = above[j - 1] + 1 if token == b[j - 1] else max(above[j], row[j - 1])
    return table


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists."""
    return _lcs_table(list(a), list(b))[-1][-1]


def _lcs_positions(reference: list[str], candidate: list[str]) -> list[int]:
    """Positions in ``reference`` of one LCS with ``candidate`` (rouge-score's backtracking order)."""
    table = _lcs_table(reference, candidate)
    i, j, positions = len(reference), len(candidate), []
    while i > 0 and j > 0:
        if reference[i - 1] == candidate[j - 1]:
            positions.append(i - 1)
            i, j = i - 1, j - 1
        elif table[i][j - 1] > table[i - 1][j]:
            j -= 1
        else:
            i -= 1
    return positions[::-1]


def _rouge_l(prediction: list[str], reference: list[str]) -> RougeScore:
    if not prediction or not reference:
        return RougeScore(0.0, 0.0, 0.0)
    lcs = lcs_length(reference, prediction)
    return _f(lcs / len(prediction), lcs / len(reference))


def _rouge_lsum(prediction: list[list[str]], reference: list[list[str]]) -> RougeScore:
    """Summary-level LCS over sentence lists (Lin 2004, section 3.2; ROUGE-1.5.5's no-double-counting)."""
    n_ref, n_pred = sum(map(len, reference)), sum(map(len, prediction))
    if not reference or not prediction or not n_ref or not n_pred:
        return RougeScore(0.0, 0.0, 0.0)
    ref_left, pred_left = Counter(t for s in reference for t in s), Counter(t for s in prediction for t in s)
    hits = 0
    for sentence in reference:
        union = sorted(set().union(*[_lcs_positions(sentence, p) for p in prediction]))
        for token in (sentence[i] for i in union):
            if ref_left[token] > 0 and pred_left[token] > 0:
                hits += 1
                ref_left[token] -= 1
                pred_left[token] -= 1
    return _f(hits / n_pred, hits / n_ref)


def _score_pair(prediction: str, reference: str, rouge_types: Sequence[str], stem) -> dict[str, RougeScore]:
    pred_tokens, ref_tokens = rouge_tokenize(prediction, stem), rouge_tokenize(reference, stem)
    scores = {}
    for rouge_type in rouge_types:
        if rouge_type == "rougeL":
            scores[rouge_type] = _rouge_l(pred_tokens, ref_tokens)
        elif rouge_type == "rougeLsum":
            sentences = lambda text: [rouge_tokenize(s, stem) for s in text.split("\n") if s]  # noqa: E731
            scores[rouge_type] = _rouge_lsum(sentences(prediction), sentences(reference))
        else:
            scores[rouge_type] = _rouge_n(pred_tokens, ref_tokens, int(rouge_type[5:]))
    return scores


def _check_types(rouge_types: Sequence[str]) -> list[str]:
    if isinstance(rouge_types, str):
        rouge_types = [rouge_types]
    rouge_types = list(rouge_types)
    if not rouge_types:
        raise ValueError(f"rouge_types is empty: ask for at least one of {ROUGE_TYPES} (or rougeN for any N >= 1)")
    for rouge_type in rouge_types:
        if rouge_type not in ("rougeL", "rougeLsum") and not (
            re.fullmatch(r"rouge[1-9][0-9]*", str(rouge_type))
        ):
            raise ValueError(f"unknown ROUGE type {rouge_type!r}: use rouge1, rouge2, ... (rougeN, N >= 1), rougeL or rougeLsum")
    return rouge_types


def rouge(
    predictions: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    rouge_types: Sequence[str] = ROUGE_TYPES,
    use_stemmer: bool = False,
    aggregate: bool = True,
) -> dict[str, RougeScore] | dict[str, list[RougeScore]]:
    """ROUGE of each prediction against its reference(s); formulas in the module docstring.

    ``references[i]`` is a string or a list of strings (several references: the best F per type).
    Returns ``{rouge_type: RougeScore}`` with P, R and F averaged over the pairs, or with
    ``aggregate=False`` one :class:`RougeScore` per pair (equal to rouge-score's ``RougeScorer.score``
    and ``score_multi``).
    """
    rouge_types = _check_types(rouge_types)
    predictions = check_strings(predictions, "predictions")
    if isinstance(references, str):
        raise ValueError("references must be a list (one reference, or a list of references, per prediction), got a str")
    references = list(references)
    check_same_length(predictions, references, "predictions", "references")
    reference_lists = []
    for i, refs in enumerate(references):
        refs = [refs] if isinstance(refs, str) else refs
        reference_lists.append(check_strings(refs, f"references[{i}]"))
    stem = _porter_stem() if use_stemmer else None

    per_pair: dict[str, list[RougeScore]] = {t: [] for t in rouge_types}
    for prediction, refs in zip(predictions, reference_lists):
        candidates = [_score_pair(prediction, ref, rouge_types, stem) for ref in refs]
        for rouge_type in rouge_types:
            per_pair[rouge_type].append(max((c[rouge_type] for c in candidates), key=lambda s: s.fmeasure))
    if not aggregate:
        return per_pair
    n = len(predictions)
    return {
        t: RougeScore(
            sum(s.precision for s in scores) / n, sum(s.recall for s in scores) / n, sum(s.fmeasure for s in scores) / n
        )
        for t, scores in per_pair.items()
    }
