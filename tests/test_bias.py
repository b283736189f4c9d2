"""llmbook.bias: WEAT's effect size and permutation p-value against direct computations."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from llmbook import bias


def vectors(n: int, seed: int, dim: int = 6, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.normal(size=(n, dim))
    out[:, 0] += shift
    return out


def cos(u: np.ndarray, v: np.ndarray) -> float:
    return float(u @ v / np.sqrt((u @ u) * (v @ v)))


def s_direct(w, A, B) -> float:
    return np.mean([cos(w, a) for a in A]) - np.mean([cos(w, b) for b in B])


@pytest.fixture(scope="module")
def sets():
    # X leans towards A's direction, Y does not: a positive effect
    A, B = vectors(7, 1, shift=2.0), vectors(5, 2, shift=-2.0)
    X, Y = vectors(6, 3, shift=0.8), vectors(6, 4, shift=-0.3)
    return X, Y, A, B


def test_effect_size_equals_the_formula_computed_word_by_word(sets):
    X, Y, A, B = sets
    s_x = [s_direct(x, A, B) for x in X]
    s_y = [s_direct(y, A, B) for y in Y]
    for ddof in (0, 1):
        expected = (np.mean(s_x) - np.mean(s_y)) / np.std(s_x + s_y, ddof=ddof)
        assert bias.weat_effect_size(X, Y, A, B, ddof=ddof) == pytest.approx(expected, rel=1e-12)
    assert bias.weat_statistic(X, Y, A, B) == pytest.approx(sum(s_x) - sum(s_y), rel=1e-12)
    np.testing.assert_allclose(bias.association(X, A, B), s_x, rtol=1e-12)
    assert bias.weat_effect_size(X, Y, A, B) > 0


def test_exact_p_value_equals_a_full_enumeration():
    A, B = vectors(4, 5, shift=1.5), vectors(4, 6, shift=-1.5)
    X, Y = vectors(3, 7, shift=0.6), vectors(4, 8)  # unequal sizes: C(7, 3) = 35 splits
    words = np.vstack([X, Y])
    observed = sum(s_direct(x, A, B) for x in X) - sum(s_direct(y, A, B) for y in Y)
    stats = []
    for chosen in itertools.combinations(range(7), 3):
        rest = [i for i in range(7) if i not in chosen]
        stats.append(sum(s_direct(words[i], A, B) for i in chosen)
                     - sum(s_direct(words[i], A, B) for i in rest))
    expected = np.mean(np.array(stats) >= observed - 1e-12)
    p, exact, n_splits = bias.weat_p_value(X, Y, A, B)
    assert exact and n_splits == 35
    assert p == pytest.approx(expected, abs=1e-15)
    assert p >= 1 / 35  # the observed split counts


def test_sampled_p_value_is_seeded_and_close_to_the_exact_one(sets):
    X, Y, A, B = sets  # C(12, 6) = 924 splits
    exact, is_exact, _ = bias.weat_p_value(X, Y, A, B)
    assert is_exact
    sampled, is_exact, n = bias.weat_p_value(X, Y, A, B, n_permutations=20_000, max_exact=10,
                                             seed=1)
    assert not is_exact and n == 20_000
    assert sampled == pytest.approx(exact, abs=0.01)
    again, _, _ = bias.weat_p_value(X, Y, A, B, n_permutations=20_000, max_exact=10, seed=1)
    assert again == sampled


def test_swapping_targets_or_attributes_flips_the_sign_and_scaling_changes_nothing(sets):
    X, Y, A, B = sets
    d = bias.weat_effect_size(X, Y, A, B)
    assert bias.weat_effect_size(Y, X, A, B) == pytest.approx(-d, rel=1e-12)
    assert bias.weat_effect_size(X, Y, B, A) == pytest.approx(-d, rel=1e-12)
    assert bias.weat_effect_size(Y, X, B, A) == pytest.approx(d, rel=1e-12)
    assert bias.weat_effect_size(3 * X, 0.5 * Y, 7 * A, B) == pytest.approx(d, rel=1e-12)
    p = bias.weat_p_value(X, Y, A, B)[0]
    p_swapped = bias.weat_p_value(Y, X, A, B)[0]
    assert p < 0.05 < p_swapped  # one-sided: the reversed hypothesis is not supported
    result = bias.weat(X, Y, A, B)
    assert (result.effect_size, result.p_value, result.exact) == (pytest.approx(d), p, True)


def test_published_word_lists():
    assert set(bias.WEAT_TESTS) == {"weat1", "weat2", "weat6", "weat7", "weat8"}
    for key, test in bias.WEAT_TESTS.items():
        size = 25 if key in ("weat1", "weat2") else 8
        for words in (test.x, test.y, test.a, test.b):
            assert len(words) == size and len(set(words)) == size, key
    assert bias.WEAT_TESTS["weat1"].a == bias.WEAT_TESTS["weat2"].a  # same pleasant words
    assert "Einstein" in bias.WEAT_TESTS["weat8"].x and "Donna" in bias.WEAT_TESTS["weat6"].y


def test_bad_input_is_refused(sets):
    X, Y, A, B = sets
    with pytest.raises(ValueError, match="all-zero vector"):
        bias.weat_effect_size(np.vstack([X, np.zeros(6)]), Y, A, B)
    with pytest.raises(ValueError, match="same model"):
        bias.weat_effect_size(X, Y, A[:, :4], B)
    with pytest.raises(ValueError, match="non-empty"):
        bias.weat_effect_size(X[:0], Y, A, B)
    with pytest.raises(ValueError, match="ddof"):
        bias.weat_effect_size(X, Y, A, B, ddof=2)
    with pytest.raises(ValueError, match="n_permutations"):
        bias.weat_p_value(X, Y, A, B, n_permutations=0)
