"""Tests of llmbook.ngram: hand-computed toys, NLTK's estimators, torch's cross-entropy, real data."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbook import data
from llmbook.metrics import perplexity as metrics_perplexity
from llmbook.ngram import BOS, EOS, UNK, NGramLM, Vocabulary, word_tokens

TOY = ["a", "b", "a", "c"]


@pytest.fixture(scope="module")
def shakespeare() -> tuple[str, str]:
    """A 200k-character slice of the training text and 5k characters of the held-out text."""
    return data.load("tinyshakespeare", "train")[:200_000], data.load("tinyshakespeare", "val")[:5_000]


@pytest.fixture(scope="module")
def wikitext() -> tuple[list[str], list[str]]:
    return word_tokens(data.load("wikitext2", "val")), word_tokens(data.load("wikitext2", "test"))[:3_000]


# ---------------------------------------------------------------- hand-computed toys


def test_add_k_matches_a_hand_computed_toy():
    # <s> a b a c </s>: V = {<unk>, </s>, a, b, c} = 5; after "a": b once, c once, so c(a) = 2.
    lm = NGramLM(2, smoothing="add_k", k=0.5).fit(TOY)
    assert len(lm.vocab) == 5
    assert lm.prob("b", ["a"]) == pytest.approx((1 + 0.5) / (2 + 0.5 * 5), abs=1e-15)  # 1/3
    assert lm.prob("a", ["a"]) == pytest.approx(0.5 / 4.5, abs=1e-15)  # 1/9
    assert lm.prob(EOS, ["c"]) == pytest.approx(1.5 / 3.5, abs=1e-15)  # 3/7
    assert lm.prob("a", ["zzz"]) == pytest.approx(1 / 5, abs=1e-15)  # context <unk>, never seen: uniform
    assert lm.prob("a") == pytest.approx((1 + 0.5) / (1 + 0.5 * 5), abs=1e-15)  # the start: c(<s> a) = 1


def test_mle_matches_a_hand_computed_toy():
    lm = NGramLM(2, smoothing="mle").fit(TOY)
    assert lm.prob("b", "a") == 0.5 and lm.prob("a", "a") == 0.0 and lm.prob(EOS, "c") == 1.0
    assert lm.distribution(["zzz"]).sum() == 0.0  # a context never seen: no evidence, all zeros (as NLTK)
    assert lm.logprob("a", "a") == -math.inf
    assert lm.perplexity(["a", "a"]) == math.inf
    unigram = NGramLM(1, smoothing="mle").fit(TOY)  # 5 predictions: a, b, a, c, </s>
    assert unigram.prob("a") == pytest.approx(2 / 5) and unigram.prob(UNK) == 0.0


def test_kneser_ney_matches_a_hand_computed_toy():
    # Continuation counts N1+(. w): a <- {<s>, b} = 2; b, c, </s> = 1 each; <unk> = 0; N1+(..) = 5 bigram types,
    # 4 of the 5 tokens have a continuation. P1(w) = max(N1+(.w) - d, 0)/5 + d * 4/5 * 1/5.
    d = 0.75
    lm = NGramLM(2, smoothing="kneser_ney", discount=d).fit(TOY)
    p1 = {"a": 1.25 / 5 + 0.12, "b": 0.25 / 5 + 0.12, UNK: 0.12}
    assert lm.prob("a", ["zzz"]) == pytest.approx(p1["a"], abs=1e-15)  # unseen context: the unigram level
    assert lm.prob(UNK, ["zzz"]) == pytest.approx(p1[UNK], abs=1e-15)
    # after "a": c(a b) = c(a c) = 1, c(a) = 2, N1+(a .) = 2
    assert lm.prob("b", "a") == pytest.approx((1 - d) / 2 + d * 2 / 2 * p1["b"], abs=1e-15)
    assert lm.prob("a", "a") == pytest.approx(d * 2 / 2 * p1["a"], abs=1e-15)
    assert lm.continuation_count(["a"]) == 2 and lm.count(["a"]) == 2 and lm.count(["a", "b"]) == 1


def test_unigram_kneser_ney_is_absolute_discounting_with_a_uniform_floor():
    lm = NGramLM(1).fit(TOY)  # raw counts a=2, b=c=</s>=1 over 5 predictions, 4 types seen, V = 5
    assert lm.prob("a") == pytest.approx((2 - 0.75) / 5 + 0.75 * 4 / 5 / 5)
    assert lm.prob("never seen") == lm.prob(UNK) == pytest.approx(0.75 * 4 / 5 / 5)


# ---------------------------------------------------------------- distributions sum to one, on real data


@pytest.mark.parametrize("smoothing", ["kneser_ney", "add_k"])
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_character_distributions_sum_to_one(shakespeare, smoothing, n):
    train, held_out = shakespeare
    lm = NGramLM(n, smoothing=smoothing, k=0.1).fit(train)
    rng = np.random.default_rng(n)
    contexts = [held_out[i - n + 1: i] for i in rng.integers(n, len(held_out), 6)] + ["", "\x00\x01\x02\x03", "zzzz"]
    for context in contexts:
        by_token = np.array([lm.prob(w, context) for w in lm.vocab])  # one query per token: the scalar path
        assert by_token.sum() == pytest.approx(1.0, abs=1e-12), repr(context)
        np.testing.assert_allclose(lm.distribution(context), by_token, rtol=1e-12, atol=0)  # the vectorised path


@pytest.mark.parametrize("smoothing", ["kneser_ney", "add_k"])
def test_word_distributions_sum_to_one(wikitext, smoothing):
    train, test = wikitext
    lm = NGramLM(3, smoothing=smoothing, k=0.01).fit(train)
    rng = np.random.default_rng(0)
    for i in rng.integers(2, len(test), 8):
        assert lm.distribution(test[i - 2: i]).sum() == pytest.approx(1.0, abs=1e-10)
    context = test[10:12]  # the scalar path agrees with the vectorised one on a sample of the vocabulary
    sample = rng.choice(len(lm.vocab), 300, replace=False)
    by_token = np.array([lm.prob(lm.vocab[i], context) for i in sample])
    np.testing.assert_allclose(lm.distribution(context)[sample], by_token, rtol=1e-12, atol=0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from("abcde"), min_size=1, max_size=40), st.integers(1, 4),
       st.lists(st.sampled_from("abcdexy"), max_size=5), st.floats(0.05, 1.0))
def test_distributions_sum_to_one_for_any_corpus(corpus, n, context, discount):
    for lm in (NGramLM(n, discount=discount).fit(corpus), NGramLM(n, "add_k", k=discount).fit(corpus)):
        dist = lm.distribution(context)
        assert dist.sum() == pytest.approx(1.0, abs=1e-12)
        assert (dist > 0).all()
        assert lm.prob(context[-1] if context else "a", context) > 0


# ---------------------------------------------------------------- counts against Counter on real data


def test_counts_match_a_counter_of_the_padded_text(shakespeare):
    train = shakespeare[0][:50_000]
    n = 4
    lm = NGramLM(n).fit(train)
    padded = [BOS] * (n - 1) + list(train) + [EOS]
    for order in range(1, n + 1):
        counter = Counter(tuple(padded[p - order + 1: p + 1]) for p in range(n - 1, len(padded)))
        for gram, c in list(counter.items())[:: max(1, len(counter) // 50)]:
            assert lm.count(gram) == c
        assert sum(lm.count(g) for g in counter) == len(train) + 1
    # continuation count: distinct tokens before the gram, over the predicted positions
    for gram in ["e", "th", "the", "q", "\n\n"]:
        before = {padded[p - len(gram)] for p in range(n - 1, len(padded))
                  if tuple(padded[p - len(gram) + 1: p + 1]) == tuple(gram)}
        assert lm.continuation_count(gram) == len(before), gram
    assert lm.count("xyz") == 0 and lm.continuation_count("ζ") == 0


# ---------------------------------------------------------------- perplexity


def test_perplexity_equals_exp_of_torch_cross_entropy(shakespeare):
    train, held_out = shakespeare
    lm = NGramLM(3).fit(train)
    passage = held_out[:300]
    log_probs = np.log(np.stack([lm.distribution(passage[:i]) for i in range(len(passage) + 1)]))  # (301, V)
    targets = torch.tensor([lm.vocab.index(t) for t in list(passage) + [EOS]])
    torch_ppl = math.exp(F.cross_entropy(torch.tensor(log_probs), targets).item())
    assert lm.perplexity(passage) == pytest.approx(torch_ppl, rel=1e-10)
    np.testing.assert_allclose(lm.logprobs(passage), log_probs[np.arange(len(targets)), targets.numpy()], rtol=1e-12)


def test_perplexity_is_the_inverse_geometric_mean_probability(wikitext):
    train, test = wikitext
    lm = NGramLM(2).fit(train)
    sentence = test[:40]
    probs = [lm.prob(w, sentence[:i]) for i, w in enumerate(sentence)] + [lm.prob(EOS, sentence)]
    assert lm.perplexity(sentence) == pytest.approx(math.prod(probs) ** (-1 / len(probs)), rel=1e-9)
    assert lm.perplexity(sentence) == pytest.approx(metrics_perplexity(-lm.logprobs(sentence)), rel=1e-12)
    assert len(lm.logprobs(sentence)) == len(sentence) + 1


def test_more_context_lowers_character_perplexity(shakespeare):
    train, held_out = shakespeare
    ppl = [NGramLM(n).fit(train).perplexity(held_out) for n in (1, 2, 3)]
    assert ppl[0] > ppl[1] > ppl[2] > 1


def test_unknown_words_are_scored_as_unk(wikitext):
    train, _ = wikitext
    lm = NGramLM(2).fit(train)
    assert UNK in train  # WikiText-2 ships with <unk> in its text
    assert lm.prob("qwertyuiop", ["the"]) == lm.prob(UNK, ["the"]) > 0
    np.testing.assert_array_equal(lm.logprobs(["the", "qwertyuiop"]), lm.logprobs(["the", UNK]))


def test_min_count_maps_rare_training_tokens_to_unk():
    lm = NGramLM(1, min_count=2).fit(["a", "a", "b"])
    assert lm.vocab == [UNK, EOS, "a"]
    assert lm.count(["b"]) == lm.count([UNK]) == 1  # "b" is <unk> now


def test_shared_vocabulary_gets_the_end_marker():
    vocab = Vocabulary("hello world")
    lm = NGramLM(2, vocabulary=vocab).fit("hello")
    assert lm.vocab == vocab.itos + [EOS]
    assert lm.prob("w", "o") > 0  # in the vocabulary, never seen in "hello": smoothed, not zero


# ---------------------------------------------------------------- NLTK


def _nltk_grams(tokens: list[str], n: int) -> tuple[list[str], list[tuple[str, ...]]]:
    """Our padding for NLTK: the 1..n-grams ending at each predicted position (NLTK counts what it is given)."""
    padded = [BOS] * (n - 1) + tokens + [EOS]
    return padded, [tuple(padded[p - k + 1: p + 1]) for p in range(n - 1, len(padded)) for k in range(1, n + 1)]


NLTK_TOY = "the cat sat on the mat <unk> the dog sat on the log and the cat saw the dog".split()


def _contexts(padded: list[str], n: int, extra=()) -> set[tuple[str, ...]]:
    return {tuple(padded[i: i + n - 1]) for i in range(len(padded) - n + 2)} | set(extra)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_mle_agrees_with_nltk(n):
    from nltk.lm import MLE

    padded, grams = _nltk_grams(NLTK_TOY, n)
    ref = MLE(n)
    ref.fit([grams], vocabulary_text=padded)
    ours = NGramLM(n, smoothing="mle").fit(NLTK_TOY)
    for context in _contexts(padded, n, [("cat",) * (n - 1)]):  # ("cat", "cat") never occurs: both give 0
        for w in ours.vocab:
            assert ours.prob(w, list(context)) == pytest.approx(ref.score(w, list(context)), abs=1e-15)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("k", [1.0, 0.1])
def test_add_k_agrees_with_nltk_lidstone(n, k):
    """NLTK's Lidstone divides by len(vocab), which counts <s> as a possible next token; ours does not (<s>
    is never predicted). We hand NLTK a vocabulary without <s>, so NLTK maps <s> to its unknown label in
    training and queries alike: both vocabularies then hold the same number of tokens and the estimates
    agree exactly (on a toy without a real <unk>, whose contexts would otherwise merge with <s>)."""
    from nltk.lm import Laplace, Lidstone
    from nltk.lm.vocabulary import Vocabulary as NLTKVocabulary

    toy = [t for t in NLTK_TOY if t != UNK]
    padded, grams = _nltk_grams(toy, n)
    nltk_vocab = NLTKVocabulary([t for t in padded if t != BOS], unk_label=UNK)
    ref = Laplace(n, vocabulary=nltk_vocab) if k == 1.0 else Lidstone(k, n, vocabulary=nltk_vocab)
    ref.fit([grams])
    ours = NGramLM(n, smoothing="add_k", k=k).fit(toy)
    assert len(nltk_vocab) == len(ours.vocab)
    for context in _contexts(padded, n, [("cat",) * (n - 1)]):
        for w in ours.vocab:
            if w != UNK:
                assert ours.prob(w, list(context)) == pytest.approx(ref.score(w, list(context)), abs=1e-15)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_kneser_ney_agrees_with_nltk_on_a_toy_where_the_definitions_coincide(n):
    """NLTK's KneserNeyInterpolated computes the same recursion when (1) it counts exactly our n-grams (every
    1..n-gram ending at a predicted position), (2) it uses the same unknown label, and (3) every vocabulary
    token occurs as a continuation in training (here the toy contains <unk>): NLTK's lowest order is
    N1+(. w) / N1+(. .) with no discount and no uniform floor, ours discounts it and interpolates with 1/V,
    and the two coincide exactly when no vocabulary token has a zero continuation count."""
    from nltk.lm import KneserNeyInterpolated
    from nltk.lm.vocabulary import Vocabulary as NLTKVocabulary

    padded, grams = _nltk_grams(NLTK_TOY, n)
    ref = KneserNeyInterpolated(n, discount=0.75, vocabulary=NLTKVocabulary(padded, unk_label=UNK))
    ref.fit([grams])
    ours = NGramLM(n, smoothing="kneser_ney", discount=0.75).fit(NLTK_TOY)
    for context in _contexts(padded, n, [("dog",) * (n - 1), ("zebra",) * (n - 1)]):
        for w in ours.vocab:
            assert ours.prob(w, list(context)) == pytest.approx(ref.score(w, list(context)), abs=1e-14), (context, w)


def test_where_nltk_kneser_ney_differs_from_ours():
    """Documented differences: (1) NLTK gives probability 0 to a vocabulary token never seen as a
    continuation (ours: > 0 through the uniform floor); (2) with NLTK's own padded_everygram_pipeline, the
    lower orders' gamma uses raw follower counts while alpha uses continuation counts, so a distribution can
    sum to more than one (here after ("<s>", "<s>"), whose bigram (<s>, <s>) has no left context)."""
    from nltk.lm import KneserNeyInterpolated
    from nltk.lm.preprocessing import padded_everygram_pipeline

    toy = [t for t in NLTK_TOY if t != UNK]
    padded, grams = _nltk_grams(toy, 2)
    ref = KneserNeyInterpolated(2, discount=0.75)
    ref.fit([grams], vocabulary_text=padded)
    ours = NGramLM(2).fit(toy)
    assert ref.score(UNK, ["the"]) == 0.0 < ours.prob(UNK, ["the"])

    train, vocab = padded_everygram_pipeline(3, [toy])
    ref3 = KneserNeyInterpolated(3, discount=0.75)
    ref3.fit(train, vocab)
    nltk_sum = sum(ref3.score(w, [BOS, BOS]) for w in ref3.vocab)
    assert nltk_sum > 1.01
    assert NGramLM(3).fit(toy).distribution([BOS, BOS]).sum() == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------- generation


def test_generation_is_reproducible_and_stays_in_the_vocabulary(shakespeare):
    train, _ = shakespeare
    lm = NGramLM(4).fit(train)
    a, b = lm.generate(80, seed=1), lm.generate(80, seed=1)
    assert a == b and a != lm.generate(80, seed=2)
    assert set(a) <= set(lm.vocab) and EOS not in a
    continued = lm.generate(20, seed=0, context="ROMEO:\n")
    assert 0 < len(continued) <= 20


def test_generation_stops_at_the_end_marker():
    lm = NGramLM(2, smoothing="mle").fit(["x"])  # <s> -> x -> </s>: every sample is exactly "x"
    assert lm.generate(10, seed=0) == ["x"]
    assert lm.generate(0, seed=0) == []


# ---------------------------------------------------------------- vocabulary and tokens


def test_vocabulary_encodes_characters_and_words():
    vocab = Vocabulary("hello world")
    assert vocab.itos[0] == UNK and len(vocab) == 9
    text = "hold the world! 😀 ω"
    np.testing.assert_array_equal(vocab.encode(text), [vocab.stoi.get(c, 0) for c in text])  # fast path = dict path
    np.testing.assert_array_equal(vocab.encode(list(text)), vocab.encode(text))
    assert vocab.decode(vocab.encode("hello")) == list("hello")
    assert "h" in vocab and "z" not in vocab
    assert "Vocabulary(9 tokens" in repr(vocab)
    assert vocab.encode("").shape == (0,)


def test_word_tokens_marks_line_ends():
    assert word_tokens(" = A = \n\n b c \n") == ["=", "A", "=", "<eos>", "<eos>", "b", "c", "<eos>"]
    assert word_tokens("a b\nc", eos=None) == ["a", "b", "c"]


def test_repr_names_the_model():
    assert repr(NGramLM(3, "add_k", k=0.5)) == "NGramLM(n=3, smoothing='add_k', k=0.5, not fitted)"
    assert "V=5" in repr(NGramLM(2).fit(TOY))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 0}, "n must be a positive int"),
    ({"n": 2.5}, "n must be a positive int"),
    ({"n": 2, "smoothing": "witten_bell"}, "unknown smoothing"),
    ({"n": 2, "smoothing": "add_k", "k": -1.0}, "k must be a positive number"),
    ({"n": 2, "smoothing": "add_k", "k": 0}, "for no smoothing at all use smoothing='mle'"),
    ({"n": 2, "k": float("nan")}, "k must be a positive number"),
    ({"n": 2, "discount": 0.0}, r"discount must be in \(0, 1\]"),
    ({"n": 2, "discount": 1.5}, r"discount must be in \(0, 1\]"),
    ({"n": 2, "min_count": 0}, "min_count must be a positive int"),
])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NGramLM(**kwargs)


def test_bad_vocabulary_argument():
    with pytest.raises(TypeError, match="must be a llmbook.ngram.Vocabulary"):
        NGramLM(2, vocabulary=["a", "b"])
    with pytest.raises(ValueError, match="padding symbol"):
        NGramLM(2, vocabulary=Vocabulary([BOS, "a"])).fit(["a"])


def test_empty_corpus_is_an_error():
    with pytest.raises(ValueError, match="empty corpus"):
        NGramLM(2).fit([])
    with pytest.raises(ValueError, match="empty corpus"):
        NGramLM(2).fit("")
    with pytest.raises(ValueError, match="empty corpus"):
        Vocabulary([])


@pytest.mark.parametrize("call", [
    lambda lm: lm.prob("a", "b"), lambda lm: lm.logprob("a"), lambda lm: lm.perplexity("ab"),
    lambda lm: lm.generate(3), lambda lm: lm.vocab, lambda lm: lm.distribution(""), lambda lm: lm.count("a"),
])
def test_unfitted_model_is_an_error(call):
    with pytest.raises(RuntimeError, match=r"not fitted yet: call lm.fit\(tokens\) first"):
        call(NGramLM(2))


def test_non_string_tokens_are_an_error():
    with pytest.raises(TypeError, match="must contain str tokens, found int"):
        NGramLM(2).fit([1, 2, 3])
    with pytest.raises(TypeError, match="wrap an iterator in list"):
        NGramLM(2).fit(iter(["a", "b"]))
    with pytest.raises(TypeError, match="token must be a str"):
        NGramLM(2).fit("ab").prob(3, "a")
    with pytest.raises(TypeError, match="text must be a str"):
        word_tokens(["a"])


def test_bad_queries_are_errors():
    lm = NGramLM(2).fit(TOY)
    with pytest.raises(ValueError, match="n_tokens must be a non-negative int"):
        lm.generate(-1)
    with pytest.raises(ValueError, match="ngram must have 1 to n=2 tokens"):
        lm.count(["a", "b", "c"])
    with pytest.raises(ValueError, match="continuation counts exist for orders below n=2"):
        lm.continuation_count(["a", "b"])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        lm.vocabulary.decode([0, 99])
    with pytest.raises(ValueError, match="min_count must be a positive int"):
        Vocabulary(["a"], min_count=0)


def test_mle_generation_in_an_unseen_context_is_an_error():
    lm = NGramLM(2, smoothing="mle").fit(TOY)
    with pytest.raises(ValueError, match="never saw the context"):
        lm.generate(5, context=["zzz"])


# ---------------------------------------------------------------- chapter 1's exercise checkers


@pytest.mark.slow
def test_chapter_1_exercise_checkers(shakespeare):
    from llmbook.book.exercises import check
    from llmbook.models import MLPLM, MLPLMConfig

    train = data.load("tinyshakespeare", "train")
    vocab_size = len(set(train)) + 2  # the characters, <unk> and </s>
    assert check("01.1", (train.count("the") + 1) / (train.count("th") + vocab_size))
    assert not check("01.1", train.count("the") / train.count("th"))  # the MLE is not the answer
    words = word_tokens(data.load("wikitext2", "val"))
    before_york = {words[i - 1] for i in range(1, len(words)) if words[i] == "York"}
    assert check("01.2", len(before_york)) and not check("01.2", words.count("York"))
    nll = -NGramLM(5).fit(train).logprobs(data.load("tinyshakespeare", "val")[:10_000])
    assert check("01.3", nll.mean() / math.log(2)) and not check("01.3", nll.mean())
    V, c, m, h = 67, 8, 32, 256
    assert check("01.4", (V + 1) * m + c * m * h + h + h * V + V)
    assert check("01.4", MLPLM(MLPLMConfig(V, context_size=c, n_embd=m, n_hidden=h)).num_params())
    assert not check("01.4", V * m + c * m * h + h + h * V + V)  # forgot the padding row
    assert not check("01.2", "many")  # a wrong type is a wrong answer, not a crash
