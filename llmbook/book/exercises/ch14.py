"""Checks for chapter 14, "Dialogue, stories and choosing an approach". Each checker recomputes the
answer with the package (llmbook.models.classifier.NearestCentroid, llmbook.metrics) or from the
rule the chapter states."""
from __future__ import annotations

import math

import numpy as np

from ...metrics import perplexity
from ...models.classifier import NearestCentroid
from . import exercise, integer, number

# 14.1: tokens the template and the user's message add at each turn (the system prompt is in the
# first), and the reply's tokens (its end-of-turn token included).
USER_TOKENS, REPLY_TOKENS = [31, 12, 17], [20, 25, 9]

# 14.3: held-out stories as (summed negative log-likelihood in nats, tokens scored).
STORY_NLLS = [(120.5, 60), (98.2, 64), (143.0, 58), (40.1, 30)]


def cache_answer(user: list[int], reply: list[int]) -> tuple[int, int]:
    """(positions fed with the cache kept across turns, positions fed when each turn starts from
    an empty cache and caches only within the turn)."""
    kept = sum(user) + sum(reply) - 1  # every token once, but the last reply's end-of-turn
    fresh, so_far = 0, 0
    for u, r in zip(user, reply):
        fresh += so_far + u + (r - 1)  # the whole conversation's prefill, then one per new token
        so_far += u + r
    return kept, fresh


@exercise("14.1", hint="With the cache kept, every token goes through the model once, except the "
                       "last reply's end-of-turn token (never fed). Without it, turn t prefills "
                       "the whole conversation so far plus its own user tokens, then feeds "
                       "reply - 1 tokens one by one.")
def _cache_across_turns(answer) -> bool:
    kept, fresh = (integer(a) for a in answer)
    return (kept, fresh) == cache_answer(USER_TOKENS, REPLY_TOKENS)


@exercise("14.2", hint="Average the training vectors of each class (the centroids), then give each "
                       "query the label of the centroid at the smallest Euclidean distance.")
def _nearest_centroid(nearest_centroid) -> bool:
    rng = np.random.default_rng(14)
    for n_classes, dim in [(3, 2), (7, 16)]:
        labels = rng.integers(0, n_classes, size=120)
        labels[:n_classes] = np.arange(n_classes)  # every class present
        x = rng.normal(size=(n_classes, dim))[labels] + rng.normal(scale=1.2, size=(120, dim))
        predicted = np.asarray(nearest_centroid(x[:80], labels[:80], x[80:]))
        expected = NearestCentroid(x[:80], labels[:80]).predict(x[80:])
        if predicted.shape != expected.shape or not np.array_equal(predicted, expected):
            return False
    return True


def story_answer() -> tuple[float, float]:
    """(perplexity of the stories pooled, mean of each story's own perplexity)."""
    nll = [n for n, _ in STORY_NLLS]
    tokens = sum(t for _, t in STORY_NLLS)
    return perplexity(nll, tokens), float(np.mean([math.exp(n / t) for n, t in STORY_NLLS]))


@exercise("14.3", hint="Pooled: exp(total NLL / total tokens), every token weighs the same. Per "
                       "story: exp(nll / tokens) for each, then their mean; short hard stories "
                       "pull it up.")
def _story_perplexity(answer) -> bool:
    pooled, mean = (number(a) for a in answer)
    expected_pooled, expected_mean = story_answer()
    return (math.isclose(pooled, expected_pooled, rel_tol=1e-6)
            and math.isclose(mean, expected_mean, rel_tol=1e-6))
