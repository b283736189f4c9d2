"""Checks for chapter 15, "Scale and efficiency". Each checker recomputes the answer with the
package (llmbook.quant, llmbook.scaling) or from the formula the chapter derives."""
from __future__ import annotations

import math

import numpy as np

from ... import quant
from ...scaling import HOFFMANN, ChinchillaFit
from . import exercise, integer, number

# 15.1: SmolLM2-135M's MLP down-projection, (576 rows, 1536 columns), stored as Q4_1.
MATRIX_SHAPE = (576, 1536)

# 15.2: one block of 32 weights, quantised to Q8_0 by hand.
BLOCK = np.array([0.12, -0.5, 0.33, 0.0, 0.05, -0.02, 0.41, 0.25] * 4, dtype=np.float32)
BLOCK[9] = 1.27  # the largest magnitude: the scale is 1.27 / 127 = 0.01

# 15.3: a training budget in FLOPs, to split between parameters and tokens (Hoffmann's fit).
BUDGET_FLOPS = 1e21

# 15.4: a draft that agrees with the target with probability ALPHA at each guess, K guesses a round.
ALPHA, K = 0.7, 4


def q4_1_bytes(rows: int, cols: int) -> int:
    fmt = quant.QTYPES["Q4_1"]
    return rows * cols // fmt.block_size * fmt.bytes_per_block


@exercise("15.1", hint="Q4_1 cuts each row into blocks of 32 weights; a block stores a float16 "
                       "scale, a float16 minimum and 32 four-bit numbers (two per byte).")
def _q4_1_size(answer) -> bool:
    return integer(answer) == q4_1_bytes(*MATRIX_SHAPE)


@exercise("15.2", hint="d = max|x| / 127; each code is x / d rounded half away from zero, an int8. "
                       "np.round rounds halves to even: use "
                       "np.sign(v) * np.floor(np.abs(v) + 0.5).")
def _q8_0_codes(answer) -> bool:
    codes = np.asarray(answer).astype(np.int64).ravel()
    expected = quant.quantize(BLOCK, "Q8_0")[2:].view(np.int8).astype(np.int64)
    return codes.shape == expected.shape and bool(np.array_equal(codes, expected))


def compute_optimal_params(budget: float = BUDGET_FLOPS) -> float:
    fit = ChinchillaFit(objective=0.0, **HOFFMANN)
    return float(fit.compute_optimal(budget)[0])


@exercise("15.3", hint="Minimise E + A / N^alpha + B / D^beta with D = C / (6 N): set the "
                       "derivative in N to zero. N_opt = G (C / 6)^(beta / (alpha + beta)) with "
                       "G = (alpha A / (beta B))^(1 / (alpha + beta)).")
def _compute_optimal(answer) -> bool:
    return abs(math.log(number(answer)) - math.log(compute_optimal_params())) < 0.01


def expected_tokens_per_round(alpha: float = ALPHA, k: int = K) -> float:
    """1 + alpha + alpha^2 + ... + alpha^k: guess i is kept only if guesses 1..i all were, and the
    target always adds one token of its own."""
    return (1 - alpha ** (k + 1)) / (1 - alpha)


@exercise("15.4", hint="The round keeps guess i only if guesses 1..i are all right (probability "
                       "alpha^i), and always adds the target's own token: sum alpha^i for "
                       "i = 0..k.")
def _tokens_per_round(answer) -> bool:
    return abs(number(answer) - expected_tokens_per_round()) < 1e-6
