r"""N-gram language models: counting, maximum likelihood, add-k and interpolated Kneser-Ney.

An n-gram model predicts a token from the :math:`n-1` tokens before it,
:math:`P(w_i \mid w_{i-n+1}^{i-1})`, and estimates that table by counting.

Conventions (the same in :meth:`NGramLM.fit`, :meth:`NGramLM.logprobs` and :meth:`NGramLM.prob`):

* **Padding.** A token sequence is one document: it is left-padded with :math:`n-1` copies of ``<s>``
  so that every token has a full-length context, and ``</s>`` is appended and predicted at the end.
  ``<s>`` only ever appears in contexts: it is not in the predicted vocabulary. A sequence of
  :math:`N` tokens therefore makes :math:`N + 1` predictions.
* **Unknown tokens.** The vocabulary is closed: every training token seen at least ``min_count``
  times, plus ``</s>`` and ``<unk>``. Any other token, in training or at test time, is mapped to
  ``<unk>``, so :math:`P(\texttt{<unk>} \mid h)` is the probability of "some unknown token".
  (WikiText-2 already contains ``<unk>`` in its training text; for character-level Shakespeare
  ``<unk>`` is never seen in training and gets only the smoothed share.)
* **Logs** are natural logs (nats); :meth:`NGramLM.perplexity` is :math:`\exp` of the mean negative
  log-likelihood.

Estimators, for a context :math:`h` (the last :math:`n-1` tokens) and counts :math:`c(\cdot)` of the
training text, with :math:`V` the vocabulary size:

* ``"mle"``: :math:`P(w \mid h) = c(h w) / c(h)`; unseen n-grams get probability 0 (and a context never
  seen in training gives 0 for every token, as in NLTK's ``MLE``).
* ``"add_k"``: :math:`P(w \mid h) = (c(h w) + k) / (c(h) + k V)` (Laplace for :math:`k = 1`,
  Lidstone otherwise).
* ``"kneser_ney"``: interpolated Kneser-Ney {cite}`kneser1995improved,chen1999empirical` with one
  discount :math:`d`,

  .. math:: P_k(w \mid h) = \frac{\max(c_k(h w) - d, 0)}{\sum_v c_k(h v)}
            + \frac{d \, N_{1+}(h\,\bullet)}{\sum_v c_k(h v)} \, P_{k-1}(w \mid h'),

  where :math:`h'` drops the oldest token of :math:`h`, :math:`N_{1+}(h\,\bullet)` is the number of
  distinct tokens seen after :math:`h`, :math:`c_n` is the raw count at the highest order and, at every
  lower order, :math:`c_k(x) = N_{1+}(\bullet\, x)` is the *continuation count*: the number of distinct
  tokens seen just before :math:`x`. The recursion ends in the uniform distribution,
  :math:`P_0(w) = 1 / V`, so a token never seen in training still gets probability > 0. A context never
  seen (:math:`\sum_v c_k(h v) = 0`) hands all its mass to the lower order.

Implementation: tokens become integer ids; the n-grams of every order get ids by sorting integer keys
(``key = id(context) * (V + 1) + id(token)``) with :func:`numpy.unique`, and counts are
:func:`numpy.bincount` over those ids, so fitting a 5-gram model on a million characters and scoring
a hundred thousand tokens take about a second each (``benchmarks/ngram.py``).
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Iterable, Sequence

import numpy as np

__all__ = ["BOS", "EOS", "UNK", "SMOOTHINGS", "Vocabulary", "NGramLM", "word_tokens"]

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
SMOOTHINGS = ("mle", "add_k", "kneser_ney")


def word_tokens(text: str, eos: str | None = "<eos>") -> list[str]:
    """Split ``text`` into whitespace-separated words, with ``eos`` appended to every line.

    This is the word-level tokenization of WikiText-2 in PyTorch's ``word_language_model`` example
    (each line, empty ones included, ends with ``<eos>``); ``eos=None`` drops the line markers.

    >>> word_tokens(" = Title = \\n \\n It is .\\n")
    ['=', 'Title', '=', '<eos>', '<eos>', 'It', 'is', '.', '<eos>']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    tokens: list[str] = []
    for line in text.splitlines():
        tokens.extend(line.split())
        if eos is not None:
            tokens.append(eos)
    return tokens


def _check_tokens(tokens: Sequence[str] | str, what: str) -> Sequence[str] | str:
    if isinstance(tokens, str):
        return tokens  # a string is a sequence of characters
    if isinstance(tokens, (bytes, bytearray)) or not isinstance(tokens, Sequence):
        raise TypeError(f"{what} must be a str (characters) or a sequence of str tokens, got {type(tokens).__name__}; "
                        f"wrap an iterator in list(...)")
    bad = next((t for t in tokens if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"{what} must contain str tokens, found {type(bad).__name__} {bad!r}; "
                        f"decode ids back to tokens first")
    return tokens


class Vocabulary:
    """A closed vocabulary: token ↔ integer id, with an explicit unknown-token policy.

    The ids are: ``specials`` first (``unk`` is always id 0), then the kept tokens in sorted order.
    A token is kept when it occurs at least ``min_count`` times in ``tokens``; everything else maps to
    ``unk``. The same vocabulary encodes the text for every model of a leaderboard, so they all predict
    the same tokens.

    >>> vocab = Vocabulary("hello world")
    >>> vocab.encode("held!").tolist()        # '!' was never seen: it becomes <unk> (id 0)
    [4, 3, 5, 2, 0]
    """

    def __init__(self, tokens: Sequence[str] | str, min_count: int = 1, unk: str = UNK, specials: Iterable[str] = ()):
        if not isinstance(min_count, int) or isinstance(min_count, bool) or min_count < 1:
            raise ValueError(f"min_count must be a positive int (1 keeps every token), got {min_count!r}")
        tokens = _check_tokens(tokens, "tokens")
        counts = Counter(tokens)
        if not counts:
            raise ValueError("cannot build a vocabulary from an empty corpus: pass a non-empty sequence of tokens")
        head = [unk] + [s for s in dict.fromkeys(specials) if s != unk]
        kept = sorted(t for t, c in counts.items() if c >= min_count and t not in head)
        self.unk = unk
        self.min_count = min_count
        self.itos: list[str] = head + kept
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        self.unk_id = 0

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens, min_count={self.min_count}, unk={self.unk!r})"

    def encode(self, tokens: Sequence[str] | str) -> np.ndarray:
        """Token ids ``(len(tokens),)`` (int64); unknown tokens become ``unk_id``."""
        tokens = _check_tokens(tokens, "tokens")
        get, unk = self.stoi.get, self.unk_id
        if isinstance(tokens, str) and tokens:  # characters: one table lookup per code point instead of a dict lookup
            codes = np.frombuffer(tokens.encode("utf-32-le"), dtype=np.uint32)
            table = np.full(int(codes.max()) + 1, unk, dtype=np.int64)
            for token, i in self.stoi.items():
                if len(token) == 1 and ord(token) < len(table):
                    table[ord(token)] = i
            return table[codes]
        return np.array([get(t, unk) for t in tokens], dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``; an id outside ``[0, len(self))`` is an error."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < len(self.itos)]
        if bad:
            raise ValueError(f"ids {bad[:5]} are outside the vocabulary [0, {len(self.itos)}): were they made with this vocabulary?")
        return [self.itos[i] for i in ids]


class NGramLM:
    """An n-gram language model (module docstring for the formulas and conventions).

    >>> lm = NGramLM(3, smoothing="kneser_ney").fit("to be or not to be")
    >>> round(sum(lm.prob(w, "to ") for w in lm.vocab), 12)
    1.0

    Args:
        n: the order (1 = unigram, 2 = bigram, ...): a token is predicted from the ``n - 1`` before it.
        smoothing: ``"mle"``, ``"add_k"`` or ``"kneser_ney"``.
        k: the pseudo-count of ``"add_k"`` (``k = 1``: Laplace); must be > 0.
        discount: the absolute discount :math:`d` of ``"kneser_ney"``, in ``(0, 1]``.
        min_count: training tokens seen fewer times become ``<unk>`` (1 keeps them all).
        vocabulary: use this :class:`Vocabulary` instead of building one from the training text (``</s>``
            is added to the predicted tokens if missing; its ``unk`` is the unknown token).
    """

    def __init__(self, n: int, smoothing: str = "kneser_ney", k: float = 1.0, discount: float = 0.75, *,
                 min_count: int = 1, vocabulary: Vocabulary | None = None):
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive int (1 = unigram, 2 = bigram, ...), got {n!r}")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"unknown smoothing {smoothing!r}: use one of {SMOOTHINGS}")
        if not isinstance(k, (int, float)) or isinstance(k, bool) or not math.isfinite(k) or k <= 0:
            raise ValueError(f"k must be a positive number (k = 1 is Laplace smoothing), got {k!r}; "
                             f"for no smoothing at all use smoothing='mle'")
        if not isinstance(discount, (int, float)) or isinstance(discount, bool) or not 0 < discount <= 1:
            raise ValueError(f"discount must be in (0, 1] for Kneser-Ney probabilities to sum to one, got {discount!r}")
        if not isinstance(min_count, int) or isinstance(min_count, bool) or min_count < 1:
            raise ValueError(f"min_count must be a positive int (1 keeps every token), got {min_count!r}")
        if vocabulary is not None and not isinstance(vocabulary, Vocabulary):
            raise TypeError(f"vocabulary must be a llmbook.ngram.Vocabulary, got {type(vocabulary).__name__}")
        self.n, self.smoothing, self.k, self.discount = n, smoothing, float(k), float(discount)
        self.min_count = min_count
        self._given_vocabulary = vocabulary
        self.vocabulary: Vocabulary | None = None
        self._fitted = False

    def __repr__(self) -> str:
        extra = {"add_k": f", k={self.k}", "kneser_ney": f", discount={self.discount}"}.get(self.smoothing, "")
        state = f", V={len(self.vocab)}" if self._fitted else ", not fitted"
        return f"NGramLM(n={self.n}, smoothing={self.smoothing!r}{extra}{state})"

    # ------------------------------------------------------------------ vocabulary

    @property
    def vocab(self) -> list[str]:
        """The predicted tokens (``<unk>`` and ``</s>`` included, ``<s>`` not), in id order."""
        self._check_fitted()
        return list(self.vocabulary.itos)

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise RuntimeError("this NGramLM is not fitted yet: call lm.fit(tokens) first")

    def _padded_ids(self, tokens: Sequence[str] | str) -> np.ndarray:
        """``[<s>] * (n - 1) + ids(tokens) + [</s>]`` as int64 (``<s>`` has id ``V``)."""
        ids = self.vocabulary.encode(tokens)
        return np.concatenate([np.full(self.n - 1, self._bos, dtype=np.int64), ids, [self._eos]])

    def _context_ids(self, context: Sequence[str] | str) -> np.ndarray:
        """The last ``n - 1`` tokens of ``context`` as ids, left-padded with ``<s>`` (the start of a text)."""
        context = _check_tokens(context, "context")
        keep = list(context[max(0, len(context) - (self.n - 1)):]) if self.n > 1 else []
        ids = [self._bos if t == BOS else self.vocabulary.stoi.get(t, self.vocabulary.unk_id) for t in keep]
        return np.array([self._bos] * (self.n - 1 - len(ids)) + ids, dtype=np.int64)

    def _token_id(self, token: str) -> int:
        if not isinstance(token, str):
            raise TypeError(f"token must be a str, got {type(token).__name__} {token!r}")
        return self.vocabulary.stoi.get(token, self.vocabulary.unk_id)

    # ------------------------------------------------------------------ fitting

    def fit(self, tokens: Sequence[str] | str) -> "NGramLM":
        """Count the n-grams of ``tokens`` (a ``str`` is a sequence of characters); returns ``self``."""
        tokens = _check_tokens(tokens, "the training corpus")
        if len(tokens) == 0:
            raise ValueError("cannot fit an n-gram model on an empty corpus: pass a non-empty sequence of tokens")
        vocab = self._given_vocabulary or Vocabulary(tokens, self.min_count, specials=(EOS,))
        if EOS not in vocab:  # a shared vocabulary made for neural models: add the end marker
            vocab = _with_token(vocab, EOS)
        if BOS in vocab:
            raise ValueError(f"{BOS!r} is the padding symbol and cannot be a predicted token: remove it from the vocabulary")
        self.vocabulary = vocab
        V = len(vocab)
        self._V, self._base, self._bos, self._eos = V, V + 1, V, vocab.stoi[EOS]
        seq = self._padded_ids(tokens)
        targets = np.arange(self.n - 1, len(seq))  # the positions that are predicted

        # grams[k-1][p] = id of the k-gram ending at position p (-1 where p < k - 1).
        self._keys: list[np.ndarray | None] = [None]  # sorted keys of each order's grams (order 1: the ids)
        grams = [seq]
        for order in range(2, self.n + 1):
            prev = grams[-1]
            ids = np.full(len(seq), -1, dtype=np.int64)
            valid = prev[:-1] >= 0
            keys = prev[:-1][valid] * self._base + seq[1:][valid]
            if len(prev) and prev.max() * self._base + self._base >= 2**62:
                raise OverflowError("too many distinct n-grams for 64-bit keys")  # pragma: no cover
            unique, inverse = np.unique(keys, return_inverse=True)
            ids[1:][valid] = inverse
            self._keys.append(unique)
            grams.append(ids)
        sizes = [self._base] + [len(u) for u in self._keys[1:]]

        # Raw counts of every order at the predicted positions; continuation counts below the top.
        self._raw = [np.bincount(g[targets], minlength=s).astype(np.float64) for g, s in zip(grams, sizes)]
        self._cont: list[np.ndarray | None] = [None] * self.n
        for order in range(self.n - 1, 0, -1):  # N1+(. x) = distinct (order+1)-gram types ending in x
            higher = grams[order]  # ids of the (order+1)-grams
            suffix = np.full(sizes[order], -1, dtype=np.int64)
            at = higher >= 0
            suffix[higher[at]] = grams[order - 1][at]  # the order-gram ending at the same position
            seen = self._raw[order] > 0 if order == self.n - 1 else self._cont[order] > 0
            self._cont[order - 1] = np.bincount(suffix[seen], minlength=sizes[order - 1]).astype(np.float64)

        # Per order: the statistic c_k of the estimator, its sum over each context and N1+(h .).
        self._stat, self._total, self._types = [], [], []
        for order in range(1, self.n + 1):
            stat = self._raw[order - 1] if (order == self.n or self.smoothing != "kneser_ney") else self._cont[order - 1]
            self._stat.append(stat)
            if order == 1:
                self._total.append(stat.sum())
                self._types.append(float((stat > 0).sum()))
            else:
                prefix = self._keys[order - 1] // self._base  # the (order-1)-gram id of each order-gram
                self._total.append(np.bincount(prefix, weights=stat, minlength=sizes[order - 2]))
                self._types.append(np.bincount(prefix[stat > 0], minlength=sizes[order - 2]).astype(np.float64))
        self._fitted = True
        return self

    # ------------------------------------------------------------------ scoring

    def _lookup(self, order: int, context_ids: np.ndarray, token_ids: np.ndarray) -> np.ndarray:
        """Ids of the order-grams ``(context gram, token)``; -1 where never seen in training (or context -1)."""
        if order == 1:
            return token_ids.astype(np.int64)
        keys_sorted = self._keys[order - 1]
        keys = context_ids * self._base + token_ids
        where = np.searchsorted(keys_sorted, keys).clip(max=len(keys_sorted) - 1)
        found = (context_ids >= 0) & (keys_sorted[where] == keys)
        return np.where(found, where, -1)

    def _probabilities(self, contexts: list[np.ndarray], grams: list[np.ndarray]) -> np.ndarray:
        """P(w | h) from gram ids: ``grams[k-1]`` = id of the k-gram ending in the predicted token (-1 unseen),
        ``contexts[k-1]`` = id of its (k-1)-gram context (``contexts[0]`` unused), all of shape ``(m,)``."""
        n, V = self.n, self._V
        m = len(grams[0])

        def stats(order):  # (count of the gram, sum over its context, N1+(context .)) for each query
            g, stat = grams[order - 1], self._stat[order - 1]
            count = np.where(g >= 0, stat[np.maximum(g, 0)], 0.0)
            if order == 1:
                return count, np.full(m, self._total[0]), np.full(m, self._types[0])
            h = contexts[order - 1]
            hi = np.maximum(h, 0)
            total = np.where(h >= 0, self._total[order - 1][hi], 0.0)
            types = np.where(h >= 0, self._types[order - 1][hi], 0.0)
            return count, total, types

        if self.smoothing in ("mle", "add_k"):
            count, total, _ = stats(n)
            if self.smoothing == "add_k":
                return (count + self.k) / (total + self.k * V)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(total > 0, count / np.where(total > 0, total, 1.0), 0.0)
        d = self.discount
        p = np.full(m, 1.0 / V)
        for order in range(1, n + 1):
            count, total, types = stats(order)
            seen = total > 0
            safe = np.where(seen, total, 1.0)
            p = np.where(seen, np.maximum(count - d, 0.0) / safe + d * types / safe * p, p)
        return p

    def _stream_grams(self, seq: np.ndarray) -> list[np.ndarray]:
        """For a padded id sequence: ids of the k-gram ending at each position (-1 unseen), k = 1..n."""
        grams = [seq]
        for order in range(2, self.n + 1):
            prev = grams[-1]
            ids = np.full(len(seq), -1, dtype=np.int64)
            ids[1:] = self._lookup(order, prev[:-1], seq[1:])
            grams.append(ids)
        return grams

    def logprobs(self, tokens: Sequence[str] | str) -> np.ndarray:
        """Natural-log probability of each token of ``tokens`` and of the final ``</s>``, shape ``(len(tokens) + 1,)``.

        Token ``i`` is predicted from the ``n - 1`` tokens before it (``<s>`` before the start); unknown
        tokens are scored as ``<unk>``. ``-inf`` where the probability is 0 (possible only with ``"mle"``).
        """
        self._check_fitted()
        tokens = _check_tokens(tokens, "tokens")
        seq = self._padded_ids(tokens)
        grams = self._stream_grams(seq)
        at = np.arange(self.n - 1, len(seq))
        contexts = [None] + [grams[k - 2][at - 1] for k in range(2, self.n + 1)]
        p = self._probabilities(contexts, [g[at] for g in grams])
        with np.errstate(divide="ignore"):
            return np.log(p)

    def distribution(self, context: Sequence[str] | str = ()) -> np.ndarray:
        """``P(w | context)`` for every token ``w`` of :attr:`vocab`, shape ``(V,)``.

        Only the last ``n - 1`` tokens of ``context`` matter; a shorter context is the start of a text
        (left-padded with ``<s>``). Sums to 1 for ``"add_k"`` and ``"kneser_ney"``; for ``"mle"`` it is all
        zeros after a context never seen in training.
        """
        self._check_fitted()
        ctx = self._context_ids(context)
        ctx_grams = self._stream_grams(ctx) if self.n > 1 else []
        tokens = np.arange(self._V, dtype=np.int64)
        contexts, grams = [None], [tokens]
        for order in range(2, self.n + 1):
            h = np.full(self._V, ctx_grams[order - 2][-1], dtype=np.int64)  # the (order-1)-gram ending the context
            contexts.append(h)
            grams.append(self._lookup(order, h, tokens))
        return self._probabilities(contexts, grams)

    def prob(self, token: str, context: Sequence[str] | str = ()) -> float:
        """``P(token | context)``; an unknown ``token`` is scored as ``<unk>`` (see :meth:`distribution`)."""
        self._check_fitted()
        w = np.array([self._token_id(token)], dtype=np.int64)
        ctx = self._context_ids(context)
        seq = np.concatenate([ctx, w])
        grams = self._stream_grams(seq)
        contexts = [None] + [grams[k - 2][-2:-1] for k in range(2, self.n + 1)]
        return float(self._probabilities(contexts, [g[-1:] for g in grams])[0])

    def logprob(self, token: str, context: Sequence[str] | str = ()) -> float:
        """``ln P(token | context)`` (``-inf`` for probability 0)."""
        p = self.prob(token, context)
        return math.log(p) if p > 0 else -math.inf

    def perplexity(self, tokens: Sequence[str] | str) -> float:
        r"""``exp`` of the mean negative log-likelihood of ``tokens`` and the final ``</s>``:
        :math:`P(w_1 \dots w_N\,\texttt{</s>})^{-1/(N+1)}`. ``inf`` if a prediction has probability 0."""
        from .metrics import perplexity as _perplexity

        lp = self.logprobs(tokens)
        if not np.all(np.isfinite(lp)):
            return math.inf
        return _perplexity(-lp)

    # ------------------------------------------------------------------ counts and generation

    def count(self, ngram: Sequence[str] | str) -> int:
        """How often ``ngram`` (1 to ``n`` tokens, ``<s>`` allowed) ends at a predicted position of the training text."""
        order, g = self._gram_id(ngram)
        return int(self._raw[order - 1][g]) if g >= 0 else 0

    def continuation_count(self, ngram: Sequence[str] | str) -> int:
        r"""$N_{1+}(\bullet\,x)$: how many distinct tokens precede the ``len(ngram)``-gram $x$ in the training
        text (orders below ``n`` only: these are the counts Kneser-Ney uses below the top order)."""
        order, g = self._gram_id(ngram)
        if order == self.n:
            raise ValueError(f"continuation counts exist for orders below n={self.n}; got a {order}-gram")
        return int(self._cont[order - 1][g]) if g >= 0 else 0

    def _gram_id(self, ngram: Sequence[str] | str) -> tuple[int, int]:
        """``(order, id)`` of ``ngram`` among the training grams of its order (id -1: never seen)."""
        self._check_fitted()
        ngram = _check_tokens(ngram, "ngram")
        if not 1 <= len(ngram) <= self.n:
            raise ValueError(f"ngram must have 1 to n={self.n} tokens, got {len(ngram)}")
        ids = np.array([self._bos if t == BOS else self._token_id(t) for t in ngram], dtype=np.int64)
        g = int(ids[0])
        for order in range(2, len(ids) + 1):  # a k-gram's key is (id of its first k-1 tokens, last token)
            g = int(self._lookup(order, np.array([g]), ids[order - 1: order])[0])
        return len(ids), g

    def generate(self, n_tokens: int, seed: int | None = None, context: Sequence[str] | str = ()) -> list[str]:
        """Sample up to ``n_tokens`` tokens after ``context`` (the start of a text by default).

        Stops early if ``</s>`` is drawn (it is not returned). ``seed`` makes the sample reproducible.
        An ``"mle"`` model that reaches a context it never saw cannot continue and raises.
        """
        self._check_fitted()
        if not isinstance(n_tokens, int) or isinstance(n_tokens, bool) or n_tokens < 0:
            raise ValueError(f"n_tokens must be a non-negative int, got {n_tokens!r}")
        rng = np.random.default_rng(seed)
        history = list(_check_tokens(context, "context"))
        out: list[str] = []
        for _ in range(n_tokens):
            p = self.distribution(history)
            total = p.sum()
            if total <= 0:
                raise ValueError(f"the MLE model never saw the context {history[-(self.n - 1):]!r}, so it gives every "
                                 f"token probability 0; use smoothing='add_k' or 'kneser_ney'")
            token = self.vocabulary.itos[int(rng.choice(self._V, p=p / total))]
            if token == EOS:
                break
            out.append(token)
            history.append(token)
        return out


def _with_token(vocab: Vocabulary, token: str) -> Vocabulary:
    """A copy of ``vocab`` with ``token`` appended (ids of the existing tokens unchanged)."""
    copy = Vocabulary.__new__(Vocabulary)
    copy.unk, copy.min_count, copy.unk_id = vocab.unk, vocab.min_count, vocab.unk_id
    copy.itos = list(vocab.itos) + [token]
    copy.stoi = {t: i for i, t in enumerate(copy.itos)}
    return copy
