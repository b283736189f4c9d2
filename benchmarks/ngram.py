"""Speed of llmbook.ngram.NGramLM against NLTK's nltk.lm, measured in the same run.

    python benchmarks/ngram.py

Fits a Kneser-Ney model and scores held-out text (perplexity) on tinyshakespeare characters and
WikiText-2 words. NLTK's interpolated Kneser-Ney recomputes continuation counts by scanning every
n-gram for each query, so it runs on a small slice only; the table gives both times on that slice and
the ratio, then our times on the whole corpora (the sizes chapter 1's notebook uses).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if not os.environ.get("LLMBOOK_DATA_DIR") and (ROOT.parent / "shared" / "data").is_dir():
    os.environ["LLMBOOK_DATA_DIR"] = str(ROOT.parent / "shared" / "data")

from llmbook import data  # noqa: E402
from llmbook.ngram import BOS, EOS, NGramLM, word_tokens  # noqa: E402
from llmbook.timing import interleaved_medians, seconds  # noqa: E402

ROUNDS = 3  # interleaved rounds of the llmbook / NLTK comparison (the median is reported)


def nltk_kneser_ney(train, test, n):
    """NLTK fitted on exactly our n-grams (see tests/test_ngram.py), scoring every test prediction."""
    from nltk.lm import KneserNeyInterpolated
    from nltk.lm.vocabulary import Vocabulary

    padded = [BOS] * (n - 1) + list(train) + [EOS]
    grams = [tuple(padded[p - k + 1: p + 1]) for p in range(n - 1, len(padded)) for k in range(1, n + 1)]
    model = KneserNeyInterpolated(n, discount=0.75, vocabulary=Vocabulary(padded, unk_label="<unk>"))
    model.fit([grams])
    test_padded = [BOS] * (n - 1) + list(test) + [EOS]
    return sum(model.logscore(test_padded[p], test_padded[p - n + 1: p]) for p in range(n - 1, len(test_padded)))


def main() -> None:
    chars_train, chars_test = data.load("tinyshakespeare", "train"), data.load("tinyshakespeare", "val")
    words_train, words_test = word_tokens(data.load("wikitext2", "val")), word_tokens(data.load("wikitext2", "test"))
    rows = []
    for name, train, test, n, train_slice, test_slice in (
        ("chars, 3-gram", chars_train, chars_test, 3, 20_000, 500),
        ("words, 3-gram", words_train, words_test, 3, 5_000, 200),
    ):
        small_train, small_test = train[:train_slice], test[:test_slice]
        medians = interleaved_medians({"llmbook": lambda: NGramLM(n).fit(small_train).perplexity(small_test),
                                       "nltk": lambda: nltk_kneser_ney(small_train, small_test, n)},
                                      ROUNDS, warmup=0)
        rows.append((f"{name}: fit {train_slice:,} + score {test_slice:,}", medians["llmbook"], medians["nltk"]))
    print(f"{'task (median of ' + str(ROUNDS) + ' interleaved rounds)':48s} {'llmbook':>10s} {'nltk':>10s} "
          f"{'nltk / llmbook':>15s}")
    for task, ours, theirs in rows:
        print(f"{task:48s} {ours:9.3f}s {theirs:9.3f}s {theirs / ours:14.0f}x")
    print("\nllmbook on the whole corpora (fit the training split, score the held-out split):")
    for name, train, test in (("tinyshakespeare characters", chars_train, chars_test), ("WikiText-2 words", words_train, words_test)):
        for n in (3, 5):
            lm, perplexities = NGramLM(n), []
            fit_s = seconds(lambda: lm.fit(train))
            score_s = seconds(lambda: perplexities.append(lm.perplexity(test)))
            ppl = perplexities[0]
            print(f"  {name:28s} {n}-gram KN: fit {len(train):>9,} tokens in {fit_s:5.2f}s, "
                  f"score {len(test):>7,} in {score_s:5.2f}s (perplexity {ppl:.2f})")


if __name__ == "__main__":
    main()
