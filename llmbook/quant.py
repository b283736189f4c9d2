"""Block quantisation as llama.cpp's GGUF files store weights: Q8_0, Q4_0 and Q4_1.

A weight matrix is cut, along its last dimension, into blocks of 32 numbers. Each block keeps one
or two float16 numbers for the whole block (a *scale* ``d``, and for Q4_1 a *minimum* ``m``) and one
small integer per weight:

* **Q8_0** (8.5 bits per weight): ``d = max|x| / 127``, ``q = round(x / d)`` in ``[-127, 127]``
  (rounding half away from zero), stored as int8; ``x ≈ d · q``. 2 + 32 = 34 bytes per block.
* **Q4_0** (4.5 bits): ``d = x_max / -8`` where ``x_max`` is the weight of largest magnitude (with
  its sign), ``q = trunc(x / d + 8.5)`` clipped to ``[0, 15]``; ``x ≈ d · (q - 8)``. The extreme
  weight lands exactly on ``q = 0`` (``-8``), so it is stored without error. 2 + 16 = 18 bytes.
* **Q4_1** (5 bits): an asymmetric grid from the block's minimum to its maximum,
  ``d = (x_max - x_min) / 15``, ``m = x_min``, ``q = trunc((x - m) / d + 0.5)`` in ``[0, 15]``;
  ``x ≈ d · q + m``. 2 + 2 + 16 = 20 bytes.

Two 4-bit numbers share a byte: weight ``j`` of the first half of a block sits in the low nibble of
byte ``j``, weight ``j`` of the second half in its high nibble. The scale used to *compute* ``q`` is
the float32 one; only the stored scale is rounded to float16 (as ggml does), so :func:`quantize`
gives the same bytes as ``gguf.quants.quantize``, which the tests check.

Why blocks: one scale per block means an outlier (a weight far larger than its neighbours) only
coarsens the grid of its own 32 weights, not of the whole matrix.

>>> blocks = quantize(weight.numpy(), "Q4_0")            # uint8, (..., cols // 32 * 18)
>>> restored = dequantize(blocks, "Q4_0", weight.shape)  # float32, the weight's shape
>>> q_model, report = quantize_model(model, "Q8_0")      # a copy whose matrices went through Q8_0
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["QTYPES", "BLOCK_SIZE", "BlockFormat", "quantize", "dequantize", "quantize_model",
           "QuantReport", "bits_per_weight"]

BLOCK_SIZE = 32  # weights per block in all three formats


@dataclass(frozen=True)
class BlockFormat:
    """The layout of one block format: ``block_size`` weights take ``bytes_per_block`` bytes."""

    name: str
    block_size: int
    bytes_per_block: int


QTYPES = {
    "Q8_0": BlockFormat("Q8_0", BLOCK_SIZE, 2 + BLOCK_SIZE),  # fp16 d, 32 int8
    "Q4_0": BlockFormat("Q4_0", BLOCK_SIZE, 2 + BLOCK_SIZE // 2),  # fp16 d, 32 nibbles
    "Q4_1": BlockFormat("Q4_1", BLOCK_SIZE, 2 + 2 + BLOCK_SIZE // 2),  # fp16 d, fp16 m, 32 nibbles
}


def bits_per_weight(qtype: str) -> float:
    """Storage per weight in bits, scales included: 8.5 (Q8_0), 4.5 (Q4_0), 5.0 (Q4_1)."""
    fmt = _format(qtype)
    return 8 * fmt.bytes_per_block / fmt.block_size


def _format(qtype: str) -> BlockFormat:
    if qtype not in QTYPES:
        raise ValueError(f"unknown qtype {qtype!r}: use one of {sorted(QTYPES)} (GGUF's names)")
    return QTYPES[qtype]


def _as_blocks(array: np.ndarray, fmt: BlockFormat) -> np.ndarray:
    """``array`` as float32 blocks ``(n_blocks, block_size)``, after checking it can be cut so."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    if array.ndim == 0 or not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"quantize() takes a floating-point array of at least one dimension, got "
                        f"dtype {array.dtype} with shape {array.shape}")
    if array.shape[-1] % fmt.block_size:
        raise ValueError(f"the last dimension ({array.shape[-1]}) of an array of shape "
                         f"{array.shape} is not a multiple of {fmt.name}'s block size "
                         f"{fmt.block_size}: blocks run along rows, so pad the rows to a multiple "
                         f"of {fmt.block_size} or leave this tensor in float")
    if not np.isfinite(array).all():
        raise ValueError("the array holds NaN or infinite values: a block's scale would be "
                         "meaningless; find where they come from before quantising")
    return array.astype(np.float32).reshape(-1, fmt.block_size)


def _round_half_away_from_zero(x: np.ndarray) -> np.ndarray:
    """C's ``roundf``: 2.5 -> 3, -2.5 -> -3 (NumPy's ``round`` goes to the even neighbour)."""
    magnitude = np.abs(x)
    whole = np.floor(magnitude)
    return np.sign(x) * (whole + (magnitude - whole >= 0.5))


def _inverse(scale: np.ndarray) -> np.ndarray:
    """1 / scale, and 0 for an all-zero block (scale 0): its weights are then all stored as 0."""
    with np.errstate(divide="ignore"):
        return np.where(scale == 0, np.float32(0), np.float32(1) / scale).astype(np.float32)


def _pack_nibbles(q: np.ndarray) -> np.ndarray:
    """(n, 32) values in [0, 15] -> (n, 16) bytes: first half in the low nibbles, second in the
    high ones."""
    half = q.shape[1] // 2
    return (q[:, :half] | (q[:, half:] << 4)).astype(np.uint8)


def _unpack_nibbles(packed: np.ndarray) -> np.ndarray:
    """(n, 16) bytes -> (n, 32) values in [0, 15] (the inverse of :func:`_pack_nibbles`)."""
    return np.concatenate([packed & 0x0F, packed >> 4], axis=1)


def _fp16_bytes(values: np.ndarray) -> np.ndarray:
    """(n, 1) float32 -> (n, 2) bytes of their float16 (little-endian, as GGUF stores them)."""
    return values.astype("<f2").view(np.uint8)


def _fp16_values(raw: np.ndarray) -> np.ndarray:
    """(n, 2) bytes -> (n, 1) float32."""
    return np.ascontiguousarray(raw).view("<f2").astype(np.float32)


def quantize(array: np.ndarray | torch.Tensor, qtype: str) -> np.ndarray:
    """Quantise ``array`` ``(..., cols)`` block by block along its last dimension.

    Args:
        array: floating-point array (or tensor); ``cols`` must be a multiple of 32.
        qtype: ``"Q8_0"``, ``"Q4_0"`` or ``"Q4_1"``.

    Returns:
        ``uint8`` array ``(..., cols // 32 * bytes_per_block)``: the packed blocks of each row, byte
        for byte what ``gguf.quants.quantize`` writes.
    """
    fmt = _format(qtype)
    x = _as_blocks(array, fmt)  # (n_blocks, 32) float32
    if qtype == "Q8_0":
        scale = np.abs(x).max(axis=1, keepdims=True) / np.float32(127)
        q = _round_half_away_from_zero(x * _inverse(scale)).astype(np.int8).view(np.uint8)
        packed = np.concatenate([_fp16_bytes(scale), q], axis=1)
    elif qtype == "Q4_0":
        # the weight of largest magnitude, sign included, is mapped to -8 (q = 0)
        extreme = np.take_along_axis(x, np.abs(x).argmax(axis=1)[:, None], axis=1)
        scale = extreme / np.float32(-8)
        q = np.trunc(x * _inverse(scale) + np.float32(8.5)).clip(0, 15).astype(np.uint8)
        packed = np.concatenate([_fp16_bytes(scale), _pack_nibbles(q)], axis=1)
    else:  # Q4_1
        low, high = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
        scale = (high - low) / np.float32(15)
        q = np.trunc((x - low) * _inverse(scale) + np.float32(0.5)).clip(0, 15).astype(np.uint8)
        packed = np.concatenate([_fp16_bytes(scale), _fp16_bytes(low), _pack_nibbles(q)], axis=1)
    shape = np.shape(array)
    return packed.reshape(*shape[:-1], shape[-1] // fmt.block_size * fmt.bytes_per_block)


def dequantize(blocks: np.ndarray, qtype: str, shape: Sequence[int]) -> np.ndarray:
    """The float32 array of ``shape`` that the packed ``blocks`` (from :func:`quantize`) stand for.

    Args:
        blocks: ``uint8`` array whose size is ``prod(shape) / 32 * bytes_per_block``.
        qtype: the format the blocks were written in.
        shape: the shape of the original array.
    """
    fmt = _format(qtype)
    shape = tuple(int(s) for s in shape)
    if not shape or shape[-1] % fmt.block_size:
        raise ValueError(f"shape {shape} cannot hold {fmt.name} blocks: its last dimension must be "
                         f"a multiple of {fmt.block_size}")
    blocks = np.asarray(blocks)
    if blocks.dtype != np.uint8:
        raise TypeError(f"blocks must be the uint8 array quantize() returns, got {blocks.dtype}")
    n_blocks = int(np.prod(shape)) // fmt.block_size
    if blocks.size != n_blocks * fmt.bytes_per_block:
        raise ValueError(f"{blocks.size} bytes cannot be {n_blocks} {fmt.name} blocks of "
                         f"{fmt.bytes_per_block} bytes (the array of shape {shape}): was it "
                         f"quantised to another qtype or shape?")
    raw = blocks.reshape(n_blocks, fmt.bytes_per_block)
    if qtype == "Q8_0":
        x = _fp16_values(raw[:, :2]) * raw[:, 2:].view(np.int8).astype(np.float32)
    elif qtype == "Q4_0":
        q = _unpack_nibbles(raw[:, 2:]).astype(np.float32) - np.float32(8)
        x = _fp16_values(raw[:, :2]) * q
    else:  # Q4_1
        q = _unpack_nibbles(raw[:, 4:]).astype(np.float32)
        x = _fp16_values(raw[:, :2]) * q + _fp16_values(raw[:, 2:4])
    return x.reshape(shape)


# ---------------------------------------------------------------- whole models


@dataclass
class QuantReport:
    """What :func:`quantize_model` did: ``n_quantized`` weights in ``quantized`` matrices went
    through ``qtype``; sizes in bytes of the model stored in float32 and stored with those matrices
    as blocks (every other parameter stays float32, as llama.cpp keeps norms and biases)."""

    qtype: str
    quantized: list[str]
    skipped: list[str]
    n_quantized: int
    bytes_fp32: int
    bytes_quantized: int

    @property
    def size_ratio(self) -> float:
        """bytes_quantized / bytes_fp32."""
        return self.bytes_quantized / self.bytes_fp32


def quantize_model(model: nn.Module, qtype: str, *, inplace: bool = False,
                   ) -> tuple[nn.Module, QuantReport]:
    """Pass every weight matrix of ``model`` through ``qtype`` and back (fake quantisation).

    The matrices are the weights of ``nn.Linear`` and ``nn.Embedding`` layers whose rows are a
    multiple of 32 long (a tied weight, such as GPT's shared ``wte``/``lm_head``, once); each is
    replaced by ``dequantize(quantize(W))``, so the model computes exactly what a runtime that reads
    the blocks would compute in float32. Biases and norms stay as they are.

    Args:
        model: the book's GPT (``llmbook.models.GPT``) or any ``nn.Module`` (e.g. SmolLM2).
        qtype: ``"Q8_0"``, ``"Q4_0"`` or ``"Q4_1"``.
        inplace: change ``model`` itself instead of a deep copy (saves memory for a large model).

    Returns:
        ``(quantised model, QuantReport)``; ``report.bytes_quantized`` counts the blocks' real size.
    """
    fmt = _format(qtype)
    if not isinstance(model, nn.Module):
        raise TypeError(f"quantize_model() takes an nn.Module, got {type(model).__name__}")
    target = model if inplace else copy.deepcopy(model)
    names = {id(p): name for name, p in target.named_parameters()}  # tied weights: one name
    done: set[int] = set()
    quantized, skipped, n_quantized = [], [], 0
    with torch.no_grad():
        for module in target.modules():
            if not isinstance(module, (nn.Linear, nn.Embedding)) or id(module.weight) in done:
                continue
            weight = module.weight
            done.add(id(weight))
            if weight.shape[-1] % fmt.block_size:
                skipped.append(names[id(weight)])
                continue
            array = weight.detach().float().cpu().numpy()
            restored = dequantize(quantize(array, qtype), qtype, array.shape)
            weight.copy_(torch.from_numpy(restored).to(weight.dtype))
            quantized.append(names[id(weight)])
            n_quantized += weight.numel()
    n_total = sum(p.numel() for p in target.parameters())
    bytes_blocks = n_quantized // fmt.block_size * fmt.bytes_per_block
    report = QuantReport(qtype, quantized, skipped, n_quantized, bytes_fp32=4 * n_total,
                         bytes_quantized=4 * (n_total - n_quantized) + bytes_blocks)
    return target, report
