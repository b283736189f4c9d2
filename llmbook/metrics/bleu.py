r"""BLEU (Papineni et al., 2002), exactly as sacrebleu computes it (Post, 2018).

BLEU compares a system's *hypotheses* with human *references* by counting shared word n-grams.
For n-gram order :math:`n` the **modified (clipped) precision** over the corpus is

.. math:: p_n = \frac{\sum_{s} \sum_{g \in \text{n-grams}(h_s)} \min\!\big(c_{h_s}(g),\ \max_{r \in R_s} c_{r}(g)\big)}
                     {\sum_{s} \sum_{g \in \text{n-grams}(h_s)} c_{h_s}(g)},

(a hypothesis n-gram counts at most as often as it occurs in one reference). With :math:`c` the total
hypothesis length and :math:`r` the total length of the references closest in length to each
hypothesis (ties → the shorter), the **brevity penalty** is :math:`\mathrm{BP} = 1` if :math:`c \ge r`
else :math:`e^{1 - r/c}`, and

.. math:: \mathrm{BLEU} = 100 \cdot \mathrm{BP} \cdot \exp\Big(\frac{1}{N}\sum_{n=1}^{N} \log p_n\Big),
          \qquad N = 4.

Counts are summed over the corpus *before* dividing, so corpus BLEU is not the mean of sentence BLEUs.
A zero :math:`p_n` makes BLEU zero; smoothing (Chen & Cherry, 2014) avoids that for short segments:

* ``none``: no smoothing;
* ``floor`` (method 1): a zero count becomes ``smooth_value`` (default 0.1): :math:`p_n = \epsilon / t_n`;
* ``add-k`` (method 2): :math:`p_n = (m_n + k) / (t_n + k)` for :math:`n \ge 2` (default :math:`k = 1`);
* ``exp`` (method 3, NIST's mteval-v13a): the :math:`k`-th order with no match gets :math:`p_n = 1 / (2^k t_n)`.

Text is first lowercased (optionally) and tokenized with the ``13a`` tokenizer of mteval-v13a.pl
(:func:`tokenize_13a`), the WMT standard. Everything here is checked against sacrebleu to 1e-9.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from ._checks import check_reference_streams, check_strings

__all__ = [
    "BLEUScore",
    "SMOOTH_DEFAULTS",
    "TOKENIZERS",
    "tokenize_13a",
    "tokenize_zh",
    "corpus_bleu",
    "sentence_bleu",
    "bleu_statistics",
    "bleu_from_statistics",
]

MAX_NGRAM_ORDER = 4
# Default smoothing values (Chen & Cherry, 2014); None: the method takes no value.
SMOOTH_DEFAULTS: dict[str, float | None] = {"none": None, "floor": 0.1, "add-k": 1, "exp": None}

# mteval-v13a's language-dependent rules (for Western languages), in the order they apply.
_RULES_13A = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),  # most punctuation becomes its own token
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # period and comma, unless preceded by a digit ...
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # ... or followed by one (keeps 3.14 and 1,000 whole)
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # dash after a digit
]


def _split_punctuation(line: str) -> str:
    """The regular expressions shared by ``13a`` and ``zh`` (sacrebleu's ``TokenizerRegexp``)."""
    for pattern, replacement in _RULES_13A:
        line = pattern.sub(replacement, line)
    return " ".join(line.split())


@lru_cache(maxsize=2**16)  # references are re-tokenized for every system scored against them
def tokenize_13a(line: str) -> str:
    """Tokenize like mteval-v13a.pl (sacrebleu's default ``13a``); returns the tokens joined by spaces.

    >>> tokenize_13a("Hello, world! It costs $3.50-ish.")
    'Hello , world ! It costs $ 3.50 - ish .'
    """
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:  # undo the XML escapes of the SGML test sets
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return _split_punctuation(f" {line} ")


# The code-point ranges of sacrebleu's ``zh`` tokenizer, as it writes them. Two limits, "\u20000"
# and "\u2f800", are Python strings of two characters ("\u2000" + "0", "\u2f80" + "0"): compared as
# strings they cover U+2001..U+2A6D and U+2F81..U+2FA1 (general punctuation, curly quotes included),
# not the supplementary ideographs their comments name. Kept as written, so that scores stay equal.
_ZH_RANGES = [("\u3400", "\u4db5"), ("\u4e00", "\u9fa5"), ("\u9fa6", "\u9fbb"), ("\uf900", "\ufa2d"),
              ("\ufa30", "\ufa6a"), ("\ufa70", "\ufad9"), ("\u20000", "\u2a6d6"), ("\u2f800", "\u2fa1d"),
              ("\uff00", "\uffef"), ("\u2e80", "\u2eff"), ("\u3000", "\u303f"), ("\u31c0", "\u31ef"),
              ("\u2f00", "\u2fdf"), ("\u2ff0", "\u2fff"), ("\u3100", "\u312f"), ("\u31a0", "\u31bf"),
              ("\ufe10", "\ufe1f"), ("\ufe30", "\ufe4f"), ("\u2600", "\u26ff"), ("\u2700", "\u27bf"),
              ("\u3200", "\u32ff"), ("\u3300", "\u33ff")]


@lru_cache(maxsize=2**16)
def _is_zh(char: str) -> bool:
    return any(low <= char <= high for low, high in _ZH_RANGES)


@lru_cache(maxsize=2**16)
def tokenize_zh(line: str) -> str:
    """Tokenize like sacrebleu's ``zh``: every Chinese character (and CJK or full-width punctuation
    mark) becomes a word of its own, and the rest is cut by 13a's punctuation rules (without 13a's
    XML unescaping). BLEU on Chinese is therefore a character n-gram BLEU.

    >>> tokenize_zh("我2021年去了北京, 买了3.5公斤!")
    '我 2021 年 去 了 北 京 , 买 了 3.5 公 斤 !'
    """
    spaced = "".join(f" {char} " if _is_zh(char) else char for char in line.strip())
    return _split_punctuation(spaced)


def _tokenize_none(line: str) -> str:
    return line


TOKENIZERS: dict[str, Callable[[str], str]] = {"13a": tokenize_13a, "zh": tokenize_zh, "none": _tokenize_none}


@dataclass(frozen=True)
class BLEUScore:
    """A BLEU score and its parts. ``score`` and ``precisions`` are on a 0-100 scale.

    ``counts[n-1]`` / ``totals[n-1]``: clipped matches / hypothesis n-grams of order ``n`` (before
    smoothing); ``bp``: brevity penalty; ``sys_len`` / ``ref_len``: hypothesis / effective reference
    length in tokens.
    """

    score: float
    counts: list[int] = field(repr=False)
    totals: list[int] = field(repr=False)
    precisions: list[float]
    bp: float
    sys_len: int
    ref_len: int

    @property
    def ratio(self) -> float:
        """Hypothesis length / reference length."""
        return self.sys_len / self.ref_len if self.ref_len else 0.0

    def __str__(self) -> str:
        precisions = "/".join(f"{p:.1f}" for p in self.precisions)
        return (
            f"BLEU = {self.score:.2f} {precisions} (BP = {self.bp:.3f} ratio = {self.ratio:.3f} "
            f"hyp_len = {self.sys_len:d} ref_len = {self.ref_len:d})"
        )


def _check_options(smooth_method: str, tokenize: str, max_ngram_order: int) -> Callable[[str], str]:
    if smooth_method not in SMOOTH_DEFAULTS:
        raise ValueError(f"unknown smooth_method {smooth_method!r}: use one of {sorted(SMOOTH_DEFAULTS)}")
    if tokenize not in TOKENIZERS:
        raise ValueError(f"unknown tokenize {tokenize!r}: use one of {sorted(TOKENIZERS)} ('13a' is the WMT standard)")
    if not isinstance(max_ngram_order, int) or max_ngram_order < 1:
        raise ValueError(f"max_ngram_order must be a positive int, got {max_ngram_order!r}")
    return TOKENIZERS[tokenize]


def _ngrams(tokens: list[str], n: int) -> Counter:
    """Counts of the n-grams of order ``n`` (tuples of ``n`` tokens)."""
    return Counter(zip(*[tokens[i:] for i in range(n)]))


def bleu_statistics(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str | None]],
    *,
    lowercase: bool = False,
    tokenize: str = "13a",
    max_ngram_order: int = MAX_NGRAM_ORDER,
) -> np.ndarray:
    """Sufficient statistics of BLEU, one row per segment: shape ``(n_segments, 2 + 2 * max_ngram_order)``.

    Row ``s`` is ``[hyp_len, ref_len, matches_1..N, totals_1..N]`` (integers). Summing rows and calling
    :func:`bleu_from_statistics` gives corpus BLEU; any subset of rows gives the BLEU of that subset,
    which is what makes bootstrap resampling of corpus BLEU cheap. ``references`` as in
    :func:`corpus_bleu`.
    """
    tokenizer = _check_options("none", tokenize, max_ngram_order)
    hypotheses = check_strings(hypotheses, "hypotheses")
    streams = check_reference_streams(references, len(hypotheses))

    def preprocess(sentence: str) -> list[str]:
        if lowercase:
            sentence = sentence.lower()
        return tokenizer(sentence.rstrip()).split()

    orders = range(1, max_ngram_order + 1)
    stats = np.zeros((len(hypotheses), 2 + 2 * max_ngram_order), dtype=np.int64)
    for s, hypothesis in enumerate(hypotheses):
        # Clip counts: the most times each n-gram occurs in any one reference.
        ref_lens, ref_counts = [], [Counter() for _ in orders]
        for stream in streams:
            if stream[s] is None:  # no reference in this stream for this segment
                continue
            tokens = preprocess(stream[s])
            ref_lens.append(len(tokens))
            for n in orders:
                counts, merged = _ngrams(tokens, n), ref_counts[n - 1]
                if not merged:
                    merged.update(counts)
                else:
                    for gram, count in counts.items():
                        if count > merged[gram]:
                            merged[gram] = count
        tokens = preprocess(hypothesis)
        hyp_len = len(tokens)
        # The reference length closest to the hypothesis length; on a tie, the shorter one.
        ref_len = min(ref_lens, key=lambda length: (abs(hyp_len - length), length))
        row = stats[s]
        row[0], row[1] = hyp_len, ref_len
        for n in orders:
            ref = ref_counts[n - 1]
            matches = 0
            for gram, count in _ngrams(tokens, n).items():
                if gram in ref:
                    matches += min(count, ref[gram])
            row[1 + n] = matches
            row[1 + max_ngram_order + n] = max(hyp_len - n + 1, 0)
    return stats


def bleu_from_statistics(
    statistics: Sequence[int] | np.ndarray,
    *,
    smooth_method: str = "exp",
    smooth_value: float | None = None,
    use_effective_order: bool = False,
    max_ngram_order: int = MAX_NGRAM_ORDER,
) -> BLEUScore:
    """BLEU from summed sufficient statistics ``[sys_len, ref_len, matches_1..N, totals_1..N]``.

    ``use_effective_order``: average only over the orders for which the hypothesis has n-grams (useful
    for sentence BLEU of segments shorter than N tokens). The module docstring gives the formulas.
    """
    _check_options(smooth_method, "13a", max_ngram_order)
    statistics = [int(x) for x in statistics]
    if len(statistics) != 2 + 2 * max_ngram_order:
        raise ValueError(
            f"BLEU statistics must have 2 + 2 * max_ngram_order = {2 + 2 * max_ngram_order} entries, got {len(statistics)}"
        )
    if smooth_value is None:
        smooth_value = SMOOTH_DEFAULTS[smooth_method]
    sys_len, ref_len = statistics[0], statistics[1]
    counts = statistics[2 : 2 + max_ngram_order]
    totals = statistics[2 + max_ngram_order :]
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    precisions = [0.0] * max_ngram_order
    if not any(counts):  # no match at all: BLEU is 0 whatever the smoothing
        return BLEUScore(0.0, counts, totals, precisions, bp, sys_len, ref_len)

    correct, total = list(counts), list(totals)
    smooth_exp = 1.0
    effective_order = max_ngram_order
    for n in range(1, max_ngram_order + 1):
        if smooth_method == "add-k" and n > 1:
            correct[n - 1] += smooth_value
            total[n - 1] += smooth_value
        if total[n - 1] == 0:  # the hypothesis has no n-grams of this order (or higher)
            break
        if use_effective_order:
            effective_order = n
        if correct[n - 1] == 0:
            if smooth_method == "exp":
                smooth_exp *= 2
                precisions[n - 1] = 100.0 / (smooth_exp * total[n - 1])
            elif smooth_method == "floor":
                precisions[n - 1] = 100.0 * smooth_value / total[n - 1]
        else:
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1]
    if any(p == 0.0 for p in precisions[:effective_order]):
        score = 0.0  # log 0 = -inf: one order with no match and no smoothing zeroes the geometric mean
    else:
        score = bp * math.exp(sum([math.log(p) for p in precisions[:effective_order]]) / effective_order)
    return BLEUScore(score, counts, totals, precisions, bp, sys_len, ref_len)


def corpus_bleu(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str | None]],
    smooth_method: str = "exp",
    smooth_value: float | None = None,
    force: bool = False,
    lowercase: bool = False,
    tokenize: str = "13a",
    use_effective_order: bool = False,
    max_ngram_order: int = MAX_NGRAM_ORDER,
) -> BLEUScore:
    """Corpus BLEU of ``hypotheses`` against one or more reference streams (sacrebleu's conventions).

    ``references`` is a list of *streams*: ``references[k][i]`` is the k-th reference of
    ``hypotheses[i]`` (``None`` where a segment has fewer references). One reference per sentence:
    ``corpus_bleu(hyps, [refs])``. ``force`` is accepted for compatibility with sacrebleu (which only
    uses it to silence a warning about tokenized input). Formulas: see the module docstring.
    """
    _check_options(smooth_method, tokenize, max_ngram_order)
    stats = bleu_statistics(
        hypotheses, references, lowercase=lowercase, tokenize=tokenize, max_ngram_order=max_ngram_order
    )
    return bleu_from_statistics(
        stats.sum(axis=0),
        smooth_method=smooth_method,
        smooth_value=smooth_value,
        use_effective_order=use_effective_order,
        max_ngram_order=max_ngram_order,
    )


def sentence_bleu(
    hypothesis: str,
    references: Sequence[str],
    smooth_method: str = "exp",
    smooth_value: float | None = None,
    lowercase: bool = False,
    tokenize: str = "13a",
    use_effective_order: bool = True,
    max_ngram_order: int = MAX_NGRAM_ORDER,
) -> BLEUScore:
    """BLEU of one ``hypothesis`` against its ``references`` (a list of strings), as sacrebleu's
    ``sentence_bleu``: the corpus formula on a one-segment corpus, with the effective order on by
    default. BLEU is a corpus metric: sentence BLEU is noisy and its average is not corpus BLEU."""
    if not isinstance(hypothesis, str):
        raise ValueError(
            f"hypothesis must be a str, got {type(hypothesis).__name__}: for a list of sentences use corpus_bleu"
        )
    references = check_strings(references, "references")
    return corpus_bleu(
        [hypothesis],
        [[r] for r in references],
        smooth_method=smooth_method,
        smooth_value=smooth_value,
        lowercase=lowercase,
        tokenize=tokenize,
        use_effective_order=use_effective_order,
        max_ngram_order=max_ngram_order,
    )
