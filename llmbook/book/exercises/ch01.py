"""Checks for chapter 1, "From n-grams to Transformers". Each checker computes the answer with the package."""
from __future__ import annotations

import math
from functools import lru_cache

from ... import data
from ...ngram import NGramLM, word_tokens
from . import exercise, integer


@lru_cache(maxsize=1)
def _char_train() -> str:
    return data.load("tinyshakespeare", "train")


@exercise("01.1", hint="Add-one smoothing: (c('the') + 1) / (c('th') + V), counts from the training text "
                       "(str.count works here) and V = len(NGramLM(3).fit(train).vocab): the characters plus <unk> and </s>.")
def _add_one_trigram(answer) -> bool:
    lm = NGramLM(3, smoothing="add_k", k=1.0).fit(_char_train())
    return abs(float(answer) - lm.prob("e", "th")) < 1e-12


@exercise("01.2", hint="Collect the set of words that come right before 'York' in word_tokens(data.load('wikitext2', 'val')) "
                       "and count them: that is N1+(• York).")
def _continuation_count(answer) -> bool:
    lm = NGramLM(2).fit(word_tokens(data.load("wikitext2", "val")))
    return integer(answer) == lm.continuation_count(["York"])


@exercise("01.3", hint="Bits per character = log2(perplexity) = mean NLL / ln 2; fit NGramLM(5) on the training text and "
                       "score val[:10_000] (the 10,001 predictions include </s>).")
def _bits_per_char(answer) -> bool:
    lm = NGramLM(5).fit(_char_train())
    val = data.load("tinyshakespeare", "val")[:10_000]
    return abs(float(answer) - math.log2(lm.perplexity(val))) < 1e-9


@exercise("01.4", hint="Count each matrix and bias of y = b + U tanh(d + H x): the embedding table has V + 1 rows "
                       "(one for padding), H is (c·m) × h, U is h × V; or build the model and sum p.numel().")
def _mlp_params(answer) -> bool:
    from ...models import MLPLM, MLPLMConfig

    return integer(answer) == MLPLM(MLPLMConfig(vocab_size=67, context_size=8, n_embd=32, n_hidden=256)).num_params()
