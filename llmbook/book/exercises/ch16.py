"""Checks for chapter 16, "Beyond dense, short, English text". Each checker recomputes the answer
with the package (llmbook.nn's MixtureOfExperts, load_balancing_loss and RotaryEmbedding,
llmbook.models' clip_loss, llmbook.tokenizers' fertility)."""
from __future__ import annotations

import torch

from ... import data
from ...models.clip import clip_loss
from ...nn.moe import MixtureOfExperts, load_balancing_loss
from ...nn.position import RotaryEmbedding
from ...tokenizers import GPT2Tokenizer, fertility
from . import exercise, integer, number

# 16.1: a Mixtral-like layer (Mixtral 8x7B: d_model 4096, d_ff 14336; the same ratio, 8 x smaller)
MOE_SHAPE = dict(d_model=512, d_ff=1792, n_experts=8, top_k=2)
# 16.3: head width, base, training length, factor, length read
NTK = dict(head_dim=64, base=10000.0, trained=1024, factor=2.0, length=4096)
# 16.5
SENTENCE = "我们明天去北京。"


def moe_counts(d_model: int, d_ff: int, n_experts: int, top_k: int) -> tuple[int, int]:
    """(total, active) parameters of a MixtureOfExperts, counted on a weightless (meta) copy."""
    with torch.device("meta"):
        layer = MixtureOfExperts(d_model, d_ff, n_experts, top_k)
    total = sum(p.numel() for p in layer.parameters())
    per_expert = sum(p.numel() for p in layer.experts[0].parameters())
    return total, total - (n_experts - top_k) * per_expert


@exercise("16.1", hint="Each SwiGLU expert has three d_model × d_ff matrices (gate, up, down); "
                       "the router is d_model × n_experts. A token runs through the router and its "
                       "top_k experts.")
def _moe_params(answer) -> bool:
    total, active = (integer(a) for a in answer)
    return (total, active) == moe_counts(**MOE_SHAPE)


def _router_cases():
    generator = torch.Generator().manual_seed(16)
    for tokens, n_experts, top_k in ((10, 4, 1), (32, 8, 2), (7, 3, 3), (50, 6, 2)):
        yield torch.randn(tokens, n_experts, generator=generator) * 2, top_k


@exercise("16.2", hint="probs = logits.softmax(-1); mark each token's top-k experts with a 1 "
                       "(scatter), average over tokens for f, average probs over tokens for P, "
                       "then n_experts * (f * P).sum().")
def _aux_loss(aux_loss) -> bool:
    for logits, top_k in _router_cases():
        got = torch.as_tensor(aux_loss(logits.clone(), top_k), dtype=torch.float)
        expected = load_balancing_loss(logits, top_k)
        if got.numel() != 1 or not torch.isclose(got.reshape(()), expected, atol=1e-5):
            return False
    return True


def ntk_base(head_dim: int, base: float, trained: int, factor: float, length: int) -> float:
    """The base dynamic scaling uses, read back from RotaryEmbedding's frequencies:
    θ_1 = base'^(-2/head_dim)."""
    rope = RotaryEmbedding(head_dim, max_len=length, base=base, scaling="dynamic", factor=factor,
                           original_max_len=trained)
    theta_1 = rope.frequencies(length).double()[1]
    return float(theta_1 ** (-head_dim / 2))


@exercise("16.3", hint="b' = b · (f · L'/L − (f − 1)) ** (d / (d − 2)) with L = 1024, L' = 4096, "
                       "f = 2 and d = 64.")
def _ntk_base(answer) -> bool:
    expected = ntk_base(**NTK)
    return abs(number(answer) - expected) <= 1e-3 * expected  # float32 frequencies: 3 digits or so


@exercise("16.4", hint="The labels are 0 … batch−1 (the diagonal). Cross-entropy over the rows "
                       "(image → caption), again over the columns (logits.T), and take the mean.")
def _clip(symmetric_loss) -> bool:
    generator = torch.Generator().manual_seed(4)
    for size in (2, 5, 16):
        logits = torch.randn(size, size, generator=generator) * 3
        got = torch.as_tensor(symmetric_loss(logits.clone()), dtype=torch.float)
        if got.numel() != 1 or not torch.isclose(got.reshape(()), clip_loss(logits), atol=1e-5):
            return False
    return True


@exercise("16.5", hint="gpt2 = GPT2Tokenizer.from_files(data.path('gpt2-bpe/encoder.json'), "
                       "data.path('gpt2-bpe/vocab.bpe')); len(gpt2.encode(text)) / len(text).")
def _fertility(answer) -> bool:
    gpt2 = GPT2Tokenizer.from_files(data.path("gpt2-bpe/encoder.json"),
                                    data.path("gpt2-bpe/vocab.bpe"))
    return abs(number(answer) - fertility(gpt2, [SENTENCE]).tokens_per_character) < 1e-6
