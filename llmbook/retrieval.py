r"""Retrieval for question answering: sparse (Okapi BM25) and dense (sentence embeddings), and the
metrics that score a ranking (recall@k, MRR).

Sparse retrieval scores a document by the query words it contains, weighted by how rare they are;
dense retrieval embeds the query and every document as vectors and ranks by cosine similarity, so
it can match a question to a paragraph that says the same thing in other words.

* :func:`tokenize` — the word tokenizer BM25 uses in the book (lowercase words);
* :class:`BM25` — Okapi BM25 exactly as the ``rank-bm25`` package's ``BM25Okapi`` defines it;
* :class:`DenseRetriever` — all-MiniLM-L6-v2-style embeddings (mean pooling, L2 normalisation);
* :func:`recall_at_k`, :func:`mrr` — how often, and how high, the right document comes back;
* :func:`retrieve` — the top ``k`` of either retriever for many questions;
* :func:`qa_messages`, :func:`rag_prompt` — the chat prompt of a reader: closed-book (the question
  alone) or open-book (numbered passages, then the question);
* :func:`generate_replies`, :func:`answer_questions`, :func:`answer_with_retrieval` — a chat model
  (SmolLM2-Instruct) answers from those prompts: retrieval-augmented generation (RAG).

Rankings are deterministic: documents are sorted by score, best first, and equal scores keep
corpus order (the smaller index first). ``k`` larger than the corpus is clipped: asking for the
top 10 of a 3-document corpus returns all 3 (the length of the result says so); ``k <= 0`` is an
error.

Only :class:`DenseRetriever` needs torch; it is imported when one is used, so BM25 needs NumPy only.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["tokenize", "BM25", "DenseRetriever", "recall_at_k", "mrr", "retrieve",
           "QA_INSTRUCTION", "QA_EXAMPLE", "qa_messages", "rag_prompt", "generate_replies",
           "answer_questions", "answer_with_retrieval"]

_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """Split ``text`` into lowercase words: maximal runs of letters, digits and underscores
    (Unicode ``\\w``); punctuation and whitespace separate words and are dropped.

    >>> tokenize("The Normans' duchy, founded in 911 (Rollo)!")
    ['the', 'normans', 'duchy', 'founded', 'in', '911', 'rollo']
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenize takes one text (a str), got {type(text).__name__}; "
                        f"for many texts use [tokenize(t) for t in texts]")
    return _WORD.findall(text.lower())


# ---------------------------------------------------------------- ranking helpers


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be a positive int (how many documents to return), got {k!r}")
    if k <= 0:
        raise ValueError(f"k must be >= 1 (how many documents to return), got {k}")
    return int(k)


def _best_first(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``min(k, n)`` highest of ``scores`` ``(n,)``, best first; ties: smaller index
    first.

    A stable sort of the negated scores keeps equal scores in corpus order, so the result does not
    depend on the sorting algorithm (``np.argsort(scores)[::-1]`` would reverse the ties).
    """
    return np.argsort(-scores, kind="stable")[:k]


# ---------------------------------------------------------------- BM25


class BM25:
    r"""Okapi BM25 over a tokenised corpus, as ``rank_bm25.BM25Okapi`` defines it.

    For a query :math:`q_1 \dots q_m` (a repeated word counts each time) and a document :math:`D`,

    .. math::
        \mathrm{score}(D, q) = \sum_{i=1}^{m} \mathrm{idf}(q_i)\,
            \frac{f(q_i, D)\,(k_1 + 1)}
                 {f(q_i, D) + k_1 \left(1 - b + b\,\frac{|D|}{\mathrm{avgdl}}\right)},

    where :math:`f(w, D)` is how often :math:`w` occurs in :math:`D`, :math:`|D|` the document's
    length in tokens and avgdl the mean length over the corpus. With :math:`N` documents,
    :math:`n(w)` of which contain :math:`w`,

    .. math:: \mathrm{idf}(w) = \ln(N - n(w) + 0.5) - \ln(n(w) + 0.5).

    A word in more than half of the documents would get a negative idf (containing it would
    *lower* a score); rank-bm25 replaces every negative idf by
    :math:`\epsilon \cdot \overline{\mathrm{idf}}`, with :math:`\overline{\mathrm{idf}}` the mean
    of the raw idfs over the whole vocabulary. Words not in the corpus contribute 0.

    :math:`k_1` sets how fast repeated occurrences saturate; :math:`b` how much long documents are
    penalised (0: not at all, 1: fully in proportion to their length). With :math:`k_1 = 0` each
    word present counts once, and a word absent from a document contributes 0 there (rank-bm25
    computes 0/0 = NaN for it).

    Args:
        corpus: the documents, each a list of tokens (e.g. ``[tokenize(p) for p in paragraphs]``).
            Some documents may be empty, not all of them.
        k1, b, epsilon: the parameters above (rank-bm25's defaults).

    Attributes:
        n_docs: :math:`N`; ``doc_len`` ``(n_docs,)``: the document lengths; ``avgdl``;
        ``idf``: word -> idf (after the floor); ``average_idf``: the mean raw idf.

    >>> bm25 = BM25([["a", "cat"], ["a", "dog"], ["a", "bird"]])
    >>> bm25.top_k(["dog"], 2)
    [1, 0]
    """

    def __init__(self, corpus: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75,
                 epsilon: float = 0.25) -> None:
        for name, value in (("k1", k1), ("b", b), ("epsilon", epsilon)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise TypeError(f"{name} must be a finite number, got {value!r}")
        if k1 < 0:
            raise ValueError(f"k1 must be >= 0 (term-frequency saturation; rank-bm25 uses 1.5), "
                             f"got {k1}")
        if not 0 <= b <= 1:
            raise ValueError(f"b must be in [0, 1] (length normalisation; rank-bm25 uses 0.75), "
                             f"got {b}")
        _check_corpus(corpus)
        self.k1, self.b, self.epsilon = float(k1), float(b), float(epsilon)

        self.n_docs = len(corpus)
        self.doc_len = np.array([len(doc) for doc in corpus], dtype=np.float64)
        self.avgdl = float(self.doc_len.sum()) / self.n_docs
        # An inverted index: word -> (the documents that contain it, how often each does). A query
        # word then touches only its own documents instead of every document in the corpus.
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for doc_id, doc in enumerate(corpus):
            for word, count in Counter(doc).items():
                ids, counts = postings.setdefault(word, ([], []))
                ids.append(doc_id)
                counts.append(count)
        self._postings = {word: (np.array(ids), np.array(counts, dtype=np.float64))
                          for word, (ids, counts) in postings.items()}

        n_containing = {word: len(ids) for word, (ids, _) in self._postings.items()}
        raw_idf = {word: math.log(self.n_docs - n + 0.5) - math.log(n + 0.5)
                   for word, n in n_containing.items()}
        self.average_idf = sum(raw_idf.values()) / len(raw_idf)
        floor = self.epsilon * self.average_idf
        self.idf = {word: (floor if value < 0 else value) for word, value in raw_idf.items()}
        # The length-dependent part of the denominator, the same for every query: (n_docs,)
        self._length_norm = self.k1 * (1 - self.b + self.b * self.doc_len / self.avgdl)

    def __len__(self) -> int:
        return self.n_docs

    def get_scores(self, query: Sequence[str]) -> np.ndarray:
        """BM25 scores ``(n_docs,)`` (float64) of every document for ``query``, a list of tokens
        tokenised like the corpus. An empty query, or one with no corpus word, scores every
        document 0."""
        _check_tokens(query, "query")
        scores = np.zeros(self.n_docs)
        for word in query:
            if word not in self._postings:
                continue
            doc_ids, counts = self._postings[word]
            saturation = counts * (self.k1 + 1) / (counts + self._length_norm[doc_ids])
            scores[doc_ids] += self.idf[word] * saturation
        return scores

    def top_k(self, query: Sequence[str], k: int) -> list[int]:
        """Indices of the ``k`` best documents for ``query`` (tokens), best first; ties keep corpus
        order; ``k`` larger than the corpus returns every document."""
        k = _check_k(k)
        return [int(i) for i in _best_first(self.get_scores(query), k)]


def _check_tokens(tokens: Any, what: str) -> None:
    if isinstance(tokens, str):
        raise TypeError(f"{what} is a str, but BM25 works on tokens: pass tokens: tokenize(text)")
    if not isinstance(tokens, Sequence):
        raise TypeError(f"{what} must be a list of str tokens, got {type(tokens).__name__}; "
                        f"pass tokens: tokenize(text)")
    if not all(isinstance(t, str) for t in tokens):
        raise TypeError(f"{what} must be a list of str tokens, got one holding non-str items; "
                        f"pass tokens: tokenize(text)")


def _check_corpus(corpus: Any) -> None:
    if isinstance(corpus, str) or not isinstance(corpus, Sequence):
        raise TypeError(f"corpus must be a list of documents, each a list of tokens, got "
                        f"{type(corpus).__name__}; build it with [tokenize(t) for t in texts]")
    if len(corpus) == 0:
        raise ValueError("the corpus is empty: BM25 needs at least one document to search")
    for i, doc in enumerate(corpus):
        _check_tokens(doc, f"document {i} of the corpus")
    if not any(len(doc) for doc in corpus):
        raise ValueError(f"all {len(corpus)} documents of the corpus are empty (no tokens): "
                         f"nothing to score; check the tokenizer (tokenize(text) gives the words)")


# ---------------------------------------------------------------- dense retrieval


class DenseRetriever:
    """Dense retrieval with a Hugging Face encoder (e.g. all-MiniLM-L6-v2 from
    :func:`llmbook.pretrained.load_minilm`).

    A text's embedding is the mean of its tokens' last hidden states over the attention mask
    (:func:`llmbook.models.mean_pool`), L2-normalised: what sentence-transformers computes for
    all-MiniLM-L6-v2 (Transformer -> Pooling(mean) -> Normalize). The documents are embedded once,
    here; :meth:`search` embeds the query and ranks the documents by the dot product with it,
    which for normalised embeddings is the cosine similarity.

    Args:
        encoder: a Hugging Face encoder (``encoder(**batch).last_hidden_state`` is
            ``(batch, seq, dim)``) or the book's :class:`llmbook.models.BERT` (which returns the
            hidden states), in eval mode.
        tokenizer: its tokenizer (called with ``padding=True, truncation=True``).
        texts: the documents (str), at least one.
        batch_size: texts per forward pass.
        normalize: L2-normalise the embeddings (all-MiniLM-L6-v2 does; scores are then cosines).
            With ``False`` the scores are plain dot products.
        max_length: longer texts are cut to this many tokens; 256 is all-MiniLM-L6-v2's
            ``max_seq_length`` in sentence-transformers (it was trained on at most 128).

    Attributes:
        texts: the documents; ``embeddings``: ``(n_docs, dim)`` float32 tensor on the CPU.
    """

    def __init__(self, encoder: Any, tokenizer: Any, texts: Sequence[str], batch_size: int = 64,
                 normalize: bool = True, max_length: int = 256) -> None:
        for name, value in (("batch_size", batch_size), ("max_length", max_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if getattr(encoder, "training", False):
            raise ValueError("the encoder is in training mode (dropout would make embeddings "
                             "random): call encoder.eval() first")
        self.encoder, self.tokenizer = encoder, tokenizer
        self.batch_size, self.normalize, self.max_length = batch_size, bool(normalize), max_length
        _check_texts(texts, "texts (the documents to search)")
        self.texts = list(texts)
        self.embeddings = self.embed(self.texts)

    def __len__(self) -> int:
        return len(self.texts)

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Embeddings ``(len(texts), dim)`` (float32, CPU) of ``texts``, in their order.

        Texts are encoded longest first (as sentence-transformers does), so each batch pads to
        similar lengths; mean pooling ignores the padding, so the order changes only the speed.
        """
        import torch
        import torch.nn.functional as F

        from .models import mean_pool

        _check_texts(texts, "texts")
        device = next(self.encoder.parameters()).device
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch_texts = [texts[i] for i in order[start:start + self.batch_size]]
                batch = self.tokenizer(batch_texts, padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt")
                inputs = {name: batch[name].to(device) for name in
                          ("input_ids", "token_type_ids", "attention_mask") if name in batch}
                output = self.encoder(**inputs)
                hidden = getattr(output, "last_hidden_state", output)  # HF output or a tensor
                pooled = mean_pool(hidden, inputs["attention_mask"])  # (batch, dim)
                if self.normalize:
                    pooled = F.normalize(pooled, p=2, dim=1)
                chunks.append(pooled.float().cpu())
        embeddings = torch.cat(chunks)
        result = torch.empty_like(embeddings)
        result[torch.tensor(order)] = embeddings  # back to the caller's order
        return result

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` documents most similar to ``query`` as ``(index, score)`` pairs, best first;
        ties keep corpus order; ``k`` larger than the corpus returns every document."""
        if not isinstance(query, str):
            raise TypeError(f"query must be one str, got {type(query).__name__}; "
                            f"for many queries use search_many(queries, k)")
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """:meth:`search` for each of ``queries``, embedded in batches (faster than one by one)."""
        k = _check_k(k)
        _check_texts(queries, "queries")
        scores = (self.embed(queries) @ self.embeddings.T).numpy()  # (n_queries, n_docs)
        return [[(int(i), float(row[i])) for i in _best_first(row, k)] for row in scores]


def _check_texts(texts: Any, what: str) -> None:
    if isinstance(texts, str):
        raise TypeError(f"{what} must be a list of str, got one str; wrap it: [text]")
    if not isinstance(texts, Sequence) or not all(isinstance(t, str) for t in texts):
        raise TypeError(f"{what} must be a list of str, got {type(texts).__name__}"
                        f"{' holding non-str items' if isinstance(texts, Sequence) else ''}")
    if len(texts) == 0:
        raise ValueError(f"{what} is empty: give at least one text")


# ---------------------------------------------------------------- metrics


def _gold_sets(ranked: Any, gold: Any) -> list[set[int]]:
    """Check ``ranked`` and ``gold`` (as :func:`recall_at_k` takes them); gold as sets of ints."""
    for name, value in (("ranked", ranked), ("gold", gold)):
        if isinstance(value, str) or not isinstance(value, (Sequence, np.ndarray)):
            raise TypeError(f"{name} must be a list with one entry per query (ranked: lists of "
                            f"document indices, best first; gold: an index or a set of them), "
                            f"got {type(value).__name__}")
    if len(ranked) != len(gold):
        raise ValueError(f"ranked has {len(ranked)} queries but gold has {len(gold)}: give one "
                         f"gold entry per ranking")
    if len(ranked) == 0:
        raise ValueError("no queries: ranked and gold are empty")
    sets = []
    for i, (ranking, answer) in enumerate(zip(ranked, gold)):
        if isinstance(ranking, (str, int, np.integer)) \
                or not isinstance(ranking, (Sequence, np.ndarray)):
            raise TypeError(f"ranked[{i}] must be a list of document indices (e.g. from top_k), "
                            f"got {ranking!r}")
        answer_set = {answer} if isinstance(answer, (int, np.integer)) else answer
        if isinstance(answer, bool) or not isinstance(answer_set, (set, frozenset)) \
                or not all(isinstance(a, (int, np.integer)) for a in answer_set):
            raise TypeError(f"gold[{i}] must be a document index (int) or a set of them, "
                            f"got {answer!r}")
        if not answer_set:
            raise ValueError(f"gold[{i}] is an empty set: every query needs a gold document")
        sets.append({int(a) for a in answer_set})
    return sets


def recall_at_k(ranked: Sequence[Sequence[int]], gold: Sequence[int | set[int]], k: int) -> float:
    """The fraction of queries with a gold document among their first ``k`` retrieved (0 to 1).

    ``ranked[i]``: query ``i``'s document indices, best first; ``gold[i]``: its gold document, or
    a set of them (e.g. every paragraph containing the answer), any one of which counts as a hit.
    This is DPR's "top-k retrieval accuracy"; with one gold document per query it is recall@k. A
    ranking shorter than ``k`` is used whole.

    >>> recall_at_k([[3, 1, 2], [0, 2, 1]], [1, {1, 5}], k=2)
    0.5
    """
    k = _check_k(k)
    sets = _gold_sets(ranked, gold)
    hits = [any(int(doc) in answer for doc in list(ranking)[:k])
            for ranking, answer in zip(ranked, sets)]
    return float(np.mean(hits))


def mrr(ranked: Sequence[Sequence[int]], gold: Sequence[int | set[int]],
        k: int | None = None) -> float:
    """Mean reciprocal rank: the mean over queries of 1 / (the rank of the first gold document),
    0 when none is retrieved (within the first ``k`` when ``k`` is given). Arguments as
    :func:`recall_at_k`.

    >>> mrr([[3, 1, 2], [0, 2, 1]], [1, {1, 5}])  # (1/2 + 1/3) / 2
    0.41666666666666663
    """
    cutoff = None if k is None else _check_k(k)
    sets = _gold_sets(ranked, gold)
    reciprocal = []
    for ranking, answer in zip(ranked, sets):
        ranks = (r for r, doc in enumerate(list(ranking)[:cutoff], start=1) if int(doc) in answer)
        first = next(ranks, None)
        reciprocal.append(0.0 if first is None else 1.0 / first)
    return float(np.mean(reciprocal))


# ---------------------------------------------------------------- retrieval-augmented answers


def retrieve(retriever: BM25 | DenseRetriever, queries: Sequence[str], k: int) -> list[list[int]]:
    """The indices of the ``k`` best documents for each of ``queries`` (str), best first, from a
    :class:`BM25` (the queries are split with :func:`tokenize`, as its corpus should be) or a
    :class:`DenseRetriever`."""
    _check_texts(queries, "queries")
    k = _check_k(k)
    if isinstance(retriever, BM25):
        return [retriever.top_k(tokenize(query), k) for query in queries]
    if isinstance(retriever, DenseRetriever):
        return [[index for index, _ in hits] for hits in retriever.search_many(queries, k)]
    raise TypeError(f"retriever must be a BM25 or a DenseRetriever, got {type(retriever).__name__}")


QA_INSTRUCTION = ("Answer the question with a short phrase: a few words, no full sentence. "
                  "If a context is given, copy the answer from it.")
# One worked example shown before the question, as an earlier turn of the conversation: small chat
# models follow a demonstrated format ("1889", not a sentence) better than a described one.
QA_EXAMPLE = ("When was the Eiffel Tower completed?",
              "The Eiffel Tower was completed in 1889 as the entrance arch to the World's Fair "
              "in Paris.", "1889")


def _user_message(question: str, passages: Sequence[str]) -> str:
    context = "".join(f"[{i}] {p.strip()}\n" for i, p in enumerate(passages, start=1))
    return (f"Context:\n{context}\n" if context else "") + f"Question: {question.strip()}"


def qa_messages(question: str, passages: Sequence[str] | None = None,
                instruction: str = QA_INSTRUCTION,
                example: tuple[str, str, str] | None = None) -> list[dict[str, str]]:
    """The chat messages that ask ``question``: a system message with ``instruction``, then the
    user's message: the question alone (closed-book, ``passages`` None or empty) or the passages
    numbered ``[1]``, ``[2]``, ... in the order given (best first), then the question.

    ``example`` ``(question, passage, answer)`` (e.g. :data:`QA_EXAMPLE`) inserts a worked example
    before it, as a user turn (with the passage only when ``passages`` are given) and the
    assistant's answer.

    >>> qa_messages("Who?", ["Rollo led them."])[1]["content"]
    'Context:\\n[1] Rollo led them.\\n\\nQuestion: Who?'
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"question must be a non-empty str, got {question!r}")
    passages = [] if passages is None else passages
    if isinstance(passages, str):
        raise TypeError("passages must be a list of str (one passage: [passage]), got one str")
    if passages:
        _check_texts(passages, "passages")
    messages = [{"role": "system", "content": instruction}]
    if example is not None:
        example_question, example_passage, example_answer = example
        messages += [{"role": "user", "content": _user_message(
                         example_question, [example_passage] if passages else [])},
                     {"role": "assistant", "content": example_answer}]
    return messages + [{"role": "user", "content": _user_message(question, passages)}]


def rag_prompt(tokenizer: Any, question: str, passages: Sequence[str] | None = None,
               instruction: str = QA_INSTRUCTION,
               example: tuple[str, str, str] | None = QA_EXAMPLE) -> str:
    """:func:`qa_messages` (with the worked :data:`QA_EXAMPLE` by default) written out by the
    tokenizer's chat template, ending where the assistant's answer begins
    (``add_generation_prompt=True``)."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("the tokenizer has no chat template: rag_prompt is for chat models "
                         "(e.g. SmolLM2-Instruct from llmbook.pretrained.load_smollm2)")
    return tokenizer.apply_chat_template(qa_messages(question, passages, instruction, example),
                                         tokenize=False, add_generation_prompt=True)


def generate_replies(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int = 16,
                     batch_size: int = 8) -> list[str]:
    """Greedy replies of a Hugging Face causal LM to ``prompts`` (texts already written by the chat
    template), in their order: each cut at the first end-of-turn (``tokenizer.eos_token_id``), at
    most ``max_new_tokens`` tokens, decoded without special tokens and stripped.

    Identical prompts are generated once (greedy decoding is deterministic), and the distinct
    prompts go longest first, ``batch_size`` at a time, so that each batch pads to similar
    lengths; they are left-padded, with an attention mask, through
    :func:`llmbook.generate.generate`. A reply does not depend on its batch: the tests compare
    batched replies with one-by-one ones.
    """
    from .generate import generate

    _check_texts(prompts, "prompts")
    for name, value in (("max_new_tokens", max_new_tokens), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if tokenizer.pad_token_id is None:
        raise ValueError("the tokenizer has no pad token, needed to batch prompts: set "
                         "tokenizer.pad_token = tokenizer.eos_token")
    eos = tokenizer.eos_token_id
    device = next(model.parameters()).device
    distinct = sorted(set(prompts), key=lambda text: (-len(text), text))
    reply_of: dict[str, str] = {}
    for begin in range(0, len(distinct), batch_size):
        texts = distinct[begin:begin + batch_size]
        batch = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left",
                          add_special_tokens=False)
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        out = generate(model, ids, max_new_tokens, attention_mask=mask, eos_token_id=eos,
                       pad_token_id=tokenizer.pad_token_id)
        for text, row in zip(texts, out[:, ids.shape[1]:].tolist()):
            end = row.index(eos) if eos in row else len(row)
            reply_of[text] = tokenizer.decode(row[:end], skip_special_tokens=True).strip()
    return [reply_of[text] for text in prompts]


def answer_questions(model: Any, tokenizer: Any, questions: Sequence[str],
                     passages: Sequence[Sequence[str]] | None = None, *, max_new_tokens: int = 16,
                     batch_size: int = 8) -> list[str]:
    """A chat model's answer to each question: closed-book (``passages`` None), or reading
    ``passages[i]`` (a list of texts; empty: closed-book for that question) for question ``i``.
    Prompts from :func:`rag_prompt`, replies from :func:`generate_replies` (one batched call, so
    several readers' questions can go together); only the reply's first line is kept."""
    _check_texts(questions, "questions")
    if passages is not None and len(passages) != len(questions):
        raise ValueError(f"give one list of passages per question: {len(passages)} lists for "
                         f"{len(questions)} questions")
    prompts = [rag_prompt(tokenizer, q, None if passages is None else passages[i])
               for i, q in enumerate(questions)]
    replies = generate_replies(model, tokenizer, prompts, max_new_tokens, batch_size)
    return [reply.split("\n")[0].strip() for reply in replies]


def answer_with_retrieval(model: Any, tokenizer: Any, questions: Sequence[str],
                          retriever: BM25 | DenseRetriever, texts: Sequence[str], k: int = 1, *,
                          max_new_tokens: int = 16, batch_size: int = 8
                          ) -> tuple[list[str], list[list[int]]]:
    """Retrieval-augmented generation: retrieve the ``k`` best of ``texts`` for each question
    (``retriever`` indexes ``texts``, in the same order), put them in the prompt, best first, and
    let the model answer. Returns ``(answers, rankings)``."""
    _check_texts(texts, "texts (the documents the retriever indexes)")
    if len(retriever) != len(texts):
        raise ValueError(f"the retriever indexes {len(retriever)} documents but {len(texts)} texts "
                         f"were given: pass the texts the retriever was built on")
    rankings = retrieve(retriever, questions, k)
    passages = [[texts[i] for i in ranking] for ranking in rankings]
    answers = answer_questions(model, tokenizer, questions, passages,
                               max_new_tokens=max_new_tokens, batch_size=batch_size)
    return answers, rankings
