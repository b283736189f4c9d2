"""llmbook.retrieval: BM25 equals rank-bm25 on SQuAD, dense retrieval equals a direct MiniLM
computation, recall@k and MRR equal a brute force, bad input gets clear errors, and both retrievers
find the gold SQuAD paragraph for most questions."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from llmbook import data
from llmbook.retrieval import BM25, DenseRetriever, mrr, recall_at_k, tokenize


@pytest.fixture(scope="module")
def squad():
    """(unique paragraphs, every question, the first 200 answerable questions, their gold
    paragraphs)."""
    rows = data.load("squad", "val")
    paragraphs = list(dict.fromkeys(row["context"] for row in rows))  # 87 paragraphs, corpus order
    answerable = [row for row in rows if not row["is_impossible"]][:200]
    gold = [paragraphs.index(row["context"]) for row in answerable]
    return paragraphs, [row["question"] for row in rows], answerable, gold


# ---------------------------------------------------------------- tokenize


def test_tokenize_lowercases_and_keeps_words():
    assert tokenize("The Normans' duchy, founded in 911 (Rollo)!") == \
        ["the", "normans", "duchy", "founded", "in", "911", "rollo"]
    assert tokenize("Norman-French  über_alles") == ["norman", "french", "über_alles"]
    assert tokenize("?!") == []
    with pytest.raises(TypeError, match=r"\[tokenize\(t\) for t in texts\]"):
        tokenize(["a", "b"])


# ---------------------------------------------------------------- BM25 against rank-bm25


@pytest.mark.parametrize("params", [{}, {"k1": 1.2, "b": 0.4, "epsilon": 0.5},
                                    {"k1": 0.5, "b": 1.0}])
def test_bm25_equals_rank_bm25_on_squad(squad, params):
    rank_bm25 = pytest.importorskip("rank_bm25")
    paragraphs, questions, _, _ = squad
    corpus = [tokenize(p) for p in paragraphs]
    ours, reference = BM25(corpus, **params), rank_bm25.BM25Okapi(corpus, **params)
    # words in more than half the paragraphs ("the", "of", ...) exercise the epsilon floor
    floored = [w for w, v in ours.idf.items() if v == ours.epsilon * ours.average_idf]
    assert len(floored) >= 3 and "the" in floored
    assert ours.idf == pytest.approx(reference.idf, abs=1e-12)
    assert ours.avgdl == reference.avgdl
    assert ours.average_idf == pytest.approx(reference.average_idf)
    assert len(ours) == len(paragraphs) == 87
    for question in questions:  # all 626 SQuAD questions, including unanswerable ones
        query = tokenize(question)
        scores = ours.get_scores(query)
        assert scores.shape == (87,) and scores.dtype == np.float64
        np.testing.assert_allclose(scores, reference.get_scores(query), rtol=0, atol=1e-9)
    # a query with repeated and unknown words
    query = ["normans", "normans", "zzz-not-a-word", "the"]
    np.testing.assert_allclose(ours.get_scores(query), reference.get_scores(query),
                               rtol=0, atol=1e-9)


def test_bm25_formula_by_hand():
    corpus = [["a", "b", "b"], ["a", "c"], ["a"], ["d", "a", "e", "f"]]
    bm25 = BM25(corpus, k1=1.5, b=0.75, epsilon=0.25)
    n, avgdl = 4, 10 / 4
    raw = {w: math.log(n - df + 0.5) - math.log(df + 0.5)
           for w, df in {"a": 4, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1}.items()}
    floor = 0.25 * sum(raw.values()) / len(raw)
    assert raw["a"] < 0 and bm25.idf["a"] == pytest.approx(floor)
    assert bm25.idf["b"] == raw["b"]

    def score(doc, query):
        norm = 1.5 * (1 - 0.75 + 0.75 * len(doc) / avgdl)
        idf = {**raw, "a": floor}
        return sum(idf.get(w, 0.0) * doc.count(w) * 2.5 / (doc.count(w) + norm) for w in query)

    query = ["b", "a", "x"]
    expected = [score(doc, query) for doc in corpus]
    np.testing.assert_allclose(bm25.get_scores(query), expected, rtol=1e-12)
    assert bm25.top_k(query, 4) == sorted(range(4), key=lambda i: (-expected[i], i))
    # k1 = 0: a word counts once however often it occurs; a missing one 0 (rank-bm25: 0/0 = NaN)
    binary = BM25(corpus, k1=0.0)
    np.testing.assert_allclose(binary.get_scores(query), [raw["b"] + floor, floor, floor, floor],
                               rtol=1e-12)


def test_bm25_top_k_ties_clipping_and_empty_query():
    corpus = [["x", "y"], ["z"], ["x", "y"], ["w"], ["x", "y"]]
    bm25 = BM25(corpus)
    assert bm25.top_k(["x"], 2) == [0, 2]  # equal scores keep corpus order
    assert bm25.top_k(["x"], 3) == [0, 2, 4]
    assert bm25.top_k(["x"], 100) == [0, 2, 4, 1, 3]  # k > corpus: every document
    assert bm25.top_k(["w"], np.int64(1)) == [3]  # a NumPy int is a fine k
    np.testing.assert_array_equal(bm25.get_scores([]), np.zeros(5))  # no words, no score
    assert BM25([["a"], []]).get_scores(["a"])[1] == 0  # an empty document is allowed


def test_bm25_top_k_equals_brute_force_on_squad(squad):
    paragraphs, questions, _, _ = squad
    bm25 = BM25([tokenize(p) for p in paragraphs])
    for question in questions[::20]:
        scores = bm25.get_scores(tokenize(question))
        expected = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:7]
        assert bm25.top_k(tokenize(question), 7) == expected


def test_bm25_bad_input():
    with pytest.raises(ValueError, match="corpus is empty"):
        BM25([])
    with pytest.raises(ValueError, match="all 2 documents of the corpus are empty"):
        BM25([[], []])
    with pytest.raises(TypeError, match=r"document 0 of the corpus is a str.*tokenize\(text\)"):
        BM25(["the normans", "france"])
    with pytest.raises(TypeError, match="list of documents"):
        BM25("the normans")
    with pytest.raises(TypeError, match="non-str items"):
        BM25([["a", 1]])
    with pytest.raises(TypeError, match="list of str tokens, got set"):
        BM25([{"a", "b"}])
    bm25 = BM25([["the", "normans"], ["france"]])
    with pytest.raises(TypeError, match=r"pass tokens: tokenize\(text\)"):
        bm25.get_scores("the normans")
    with pytest.raises(TypeError, match=r"pass tokens: tokenize\(text\)"):
        bm25.top_k("the normans", 1)
    for k in (0, -1):
        with pytest.raises(ValueError, match="k must be >= 1"):
            bm25.top_k(["normans"], k)
    for k in (1.5, True, None):
        with pytest.raises(TypeError, match="k must be a positive int"):
            bm25.top_k(["normans"], k)
    with pytest.raises(ValueError, match="b must be in"):
        BM25([["a"]], b=1.5)
    with pytest.raises(ValueError, match="k1 must be >= 0"):
        BM25([["a"]], k1=-1)
    with pytest.raises(TypeError, match="epsilon must be a finite number"):
        BM25([["a"]], epsilon=float("nan"))


# ---------------------------------------------------------------- dense retrieval with MiniLM


@pytest.fixture(scope="module")
def minilm_retriever(squad):
    """(HF MiniLM, its tokenizer, a DenseRetriever over the 87 SQuAD paragraphs); about 4 s to
    embed on 2 cores."""
    from llmbook.pretrained import load_minilm

    try:
        model, tokenizer = load_minilm(device="cpu")
    except Exception as exc:  # pragma: no cover - the package is installed in CI
        pytest.skip(f"MiniLM unavailable: {exc}")
    paragraphs = squad[0]
    return model, tokenizer, DenseRetriever(model, tokenizer, paragraphs, batch_size=16)


def direct_embedding(model, tokenizer, text, normalize=True):
    """One text alone (no padding): the plain mean of its token states, divided by its norm."""
    ids = tokenizer(text, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**ids).last_hidden_state[0]  # (seq, 384)
    vector = hidden.mean(dim=0)
    return vector / vector.norm() if normalize else vector


def test_dense_embeddings_equal_a_direct_computation(squad, minilm_retriever):
    model, tokenizer, retriever = minilm_retriever
    paragraphs = squad[0]
    assert retriever.embeddings.shape == (87, 384) and retriever.embeddings.dtype == torch.float32
    torch.testing.assert_close(retriever.embeddings.norm(dim=1), torch.ones(87))
    lengths = [len(tokenizer(p)["input_ids"]) for p in paragraphs]
    longest, shortest = int(np.argmax(lengths)), int(np.argmin(lengths))
    assert lengths[longest] > 256  # so truncation at 256 is exercised
    for i in sorted({longest, shortest, 0, 40}):
        expected = direct_embedding(model, tokenizer, paragraphs[i])
        torch.testing.assert_close(retriever.embeddings[i], expected, atol=2e-6, rtol=0)
    raw = DenseRetriever(model, tokenizer, paragraphs[:3], normalize=False).embeddings
    expected = direct_embedding(model, tokenizer, paragraphs[2], normalize=False)
    torch.testing.assert_close(raw[2], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.nn.functional.normalize(raw, dim=1), retriever.embeddings[:3],
                               atol=2e-6, rtol=0)


def test_dense_embeddings_equal_sentence_transformers(squad, minilm_retriever):
    st = pytest.importorskip("sentence_transformers")
    from llmbook.pretrained import minilm_dir

    encoder = st.SentenceTransformer(str(minilm_dir()), device="cpu")
    reference = encoder.encode(squad[0][:10], convert_to_tensor=True)
    torch.testing.assert_close(minilm_retriever[2].embeddings[:10], reference.cpu(),
                               atol=1e-5, rtol=0)


def test_dense_embeddings_with_the_books_bert(squad, minilm_retriever):
    from llmbook.hf import from_hf_bert

    model, tokenizer, retriever = minilm_retriever
    ours = from_hf_bert(model).eval()
    embeddings = DenseRetriever(ours, tokenizer, squad[0][:6]).embeddings
    torch.testing.assert_close(embeddings, retriever.embeddings[:6], atol=1e-5, rtol=0)


def test_dense_search_equals_brute_force(squad, minilm_retriever):
    model, tokenizer, retriever = minilm_retriever
    questions = squad[1][::60]
    batched = retriever.search_many(questions, 5)
    for n, (question, results) in enumerate(zip(questions, batched)):
        scores = (retriever.embeddings @ direct_embedding(model, tokenizer, question)).tolist()
        expected = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:5]
        assert [i for i, _ in results] == expected
        assert [s for _, s in results] == pytest.approx([scores[i] for i in expected], abs=1e-5)
        assert all(isinstance(i, int) and isinstance(s, float) for i, s in results)
        if n < 2:  # one query at a time gives the same
            one = retriever.search(question, 5)
            assert [i for i, _ in one] == expected
            assert [s for _, s in one] == pytest.approx([s for _, s in results], abs=1e-5)
    assert len(retriever.search(questions[0], 1000)) == len(retriever) == 87  # k > corpus: all


def test_dense_search_ties_keep_corpus_order(minilm_retriever):
    model, tokenizer, _ = minilm_retriever
    texts = ["a dog barks", "a cat", "a dog barks", "a dog barks"]
    retriever = DenseRetriever(model, tokenizer, texts)
    assert torch.equal(retriever.embeddings[0], retriever.embeddings[2])
    assert torch.equal(retriever.embeddings[0], retriever.embeddings[3])
    results = retriever.search("a dog barks", 4)
    assert [i for i, _ in results] == [0, 2, 3, 1]
    assert results[0][1] == pytest.approx(1.0, abs=1e-5)


def test_dense_bad_input(minilm_retriever):
    model, tokenizer, retriever = minilm_retriever
    with pytest.raises(ValueError, match="texts .* is empty"):
        DenseRetriever(model, tokenizer, [])
    with pytest.raises(TypeError, match=r"got one str; wrap it: \[text\]"):
        DenseRetriever(model, tokenizer, "one paragraph")
    with pytest.raises(TypeError, match="list of str, got list holding non-str items"):
        retriever.embed(["a", None])
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DenseRetriever(model, tokenizer, ["a"], batch_size=0)
    with pytest.raises(TypeError, match=r"search_many\(queries, k\)"):
        retriever.search(["who ruled Normandy?"], 3)
    with pytest.raises(ValueError, match="k must be >= 1"):
        retriever.search("who ruled Normandy?", 0)
    with pytest.raises(ValueError, match="queries is empty"):
        retriever.search_many([], 3)
    model.train()
    try:
        with pytest.raises(ValueError, match=r"training mode.*encoder.eval\(\)"):
            DenseRetriever(model, tokenizer, ["a"])
    finally:
        model.eval()


# ---------------------------------------------------------------- a real measurement


def test_bm25_and_dense_find_the_gold_squad_paragraph(squad, minilm_retriever):
    """200 answerable SQuAD questions over all 87 unique paragraphs: recall@5 > 0.5 for both
    (measured when written: BM25 0.93, dense 0.91). A broken scorer or embedding falls far below."""
    paragraphs, _, answerable, gold = squad
    questions = [row["question"] for row in answerable]
    bm25 = BM25([tokenize(p) for p in paragraphs])
    sparse = [bm25.top_k(tokenize(q), 5) for q in questions]
    dense = [[i for i, _ in hits] for hits in minilm_retriever[2].search_many(questions, 5)]
    for ranked in (sparse, dense):
        assert recall_at_k(ranked, gold, 5) > 0.5
        assert recall_at_k(ranked, gold, 1) <= recall_at_k(ranked, gold, 5)
        assert 0.5 < mrr(ranked, gold) <= recall_at_k(ranked, gold, 5)


# ---------------------------------------------------------------- recall@k and MRR


def test_recall_and_mrr_by_hand():
    ranked = [[3, 1, 2], [0, 2, 1], [4, 5], [7]]
    gold = [1, {1, 5}, {5, 9}, 6]
    # first gold at rank: query 0: 2 (doc 1); query 1: 3 (doc 1); query 2: 2 (doc 5); query 3: none
    assert recall_at_k(ranked, gold, 1) == 0.0
    assert recall_at_k(ranked, gold, 2) == 0.5
    assert recall_at_k(ranked, gold, 3) == 0.75
    assert recall_at_k(ranked, gold, 100) == 0.75  # a ranking shorter than k is used whole
    assert mrr(ranked, gold) == pytest.approx((1 / 2 + 1 / 3 + 1 / 2 + 0) / 4)
    assert mrr(ranked, gold, k=2) == pytest.approx((1 / 2 + 0 + 1 / 2 + 0) / 4)
    assert recall_at_k(np.array([[2, 0]]), [np.int64(0)], 2) == 1.0


def test_recall_and_mrr_equal_brute_force():
    rng = random.Random(0)
    for _ in range(50):
        n_docs, n_queries = rng.randint(1, 12), rng.randint(1, 8)
        ranked = [rng.sample(range(n_docs), rng.randint(0, n_docs)) for _ in range(n_queries)]
        gold = [set(rng.sample(range(n_docs), rng.randint(1, n_docs))) if rng.random() < 0.5
                else rng.randrange(n_docs) for _ in range(n_queries)]
        as_sets = [g if isinstance(g, set) else {g} for g in gold]
        ranks = [min([r.index(d) + 1 for d in g if d in r], default=math.inf)
                 for r, g in zip(ranked, as_sets)]
        for k in (1, 2, 5, 20):
            hits = sum(r <= k for r in ranks) / n_queries
            reciprocal = sum(1 / r for r in ranks if r <= k) / n_queries
            assert recall_at_k(ranked, gold, k) == pytest.approx(hits)
            assert mrr(ranked, gold, k) == pytest.approx(reciprocal)
        assert mrr(ranked, gold) == pytest.approx(sum(1 / r for r in ranks) / n_queries)


def test_recall_and_mrr_bad_input():
    with pytest.raises(ValueError, match="ranked has 2 queries but gold has 1"):
        recall_at_k([[0], [1]], [0], 1)
    with pytest.raises(ValueError, match="no queries"):
        mrr([], [])
    with pytest.raises(ValueError, match="k must be >= 1"):
        recall_at_k([[0]], [0], 0)
    with pytest.raises(ValueError, match=r"gold\[0\] is an empty set"):
        recall_at_k([[0]], [set()], 1)
    with pytest.raises(TypeError, match=r"gold\[0\] must be a document index"):
        recall_at_k([[0]], ["0"], 1)
    with pytest.raises(TypeError, match=r"ranked\[1\] must be a list of document indices"):
        mrr([[0], 3], [0, 3])
    with pytest.raises(TypeError, match="ranked must be a list with one entry per query"):
        recall_at_k(5, [0], 1)
