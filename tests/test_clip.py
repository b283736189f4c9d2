"""CLIP's loss against a hand computation (log-softmax sums), torch's cross-entropy and Hugging
Face's ``image_text_contrastive_loss``; the tiny model's shapes, unit embeddings and zero-shot rule;
clear errors."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from llmbook.models import CLIPConfig, TinyCLIP, clip_loss


def test_clip_loss_by_hand():
    logits = torch.randn(5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    n = logits.shape[0]
    # image -> text: row i, label i; text -> image: column i, label i
    image_to_text = -sum(logits[i, i] - torch.logsumexp(logits[i, :], 0) for i in range(n)) / n
    text_to_image = -sum(logits[i, i] - torch.logsumexp(logits[:, i], 0) for i in range(n)) / n
    expected = (image_to_text + text_to_image) / 2
    torch.testing.assert_close(clip_loss(logits), expected)
    labels = torch.arange(n)
    both_ways = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    torch.testing.assert_close(clip_loss(logits), both_ways)


def test_clip_loss_equals_hf():
    from transformers.models.clip.modeling_clip import image_text_contrastive_loss as hf_clip_loss

    logits = torch.randn(7, 7, generator=torch.Generator().manual_seed(1))
    # HF's argument is the text-by-image matrix; the loss is symmetric in the transpose
    torch.testing.assert_close(clip_loss(logits), hf_clip_loss(logits.T))


def test_clip_loss_extremes():
    # a perfect diagonal with large margins costs ~0; identical logits cost log(n)
    assert clip_loss(torch.eye(4) * 100).item() < 1e-6
    torch.testing.assert_close(clip_loss(torch.zeros(4, 4)), torch.tensor(math.log(4)))


def test_tiny_clip_shapes_and_zero_shot():
    torch.manual_seed(0)
    model = TinyCLIP(CLIPConfig(image_dim=64, vocab_size=20, embed_dim=8))
    images = torch.rand(6, 64)
    captions = torch.tensor([[3, 4, 0], [5, 0, 0], [6, 7, 8], [3, 0, 0], [9, 2, 0], [1, 1, 1]])
    logits = model(images, captions)
    assert logits.shape == (6, 6)
    torch.testing.assert_close(model.encode_image(images).norm(dim=-1), torch.ones(6))
    # padding does not change a caption's embedding
    torch.testing.assert_close(model.encode_text(torch.tensor([[3, 4]])),
                               model.encode_text(captions[:1]))
    # the initial temperature is CLIP's 0.07
    cosines = model.encode_image(images) @ model.encode_text(captions).T
    torch.testing.assert_close(logits, cosines / 0.07)
    assert torch.equal(model.zero_shot(images, captions[:3]), logits[:, :3].argmax(-1))
    loss = clip_loss(logits)
    loss.backward()
    assert model.logit_scale.grad is not None


def test_clip_bad_inputs():
    with pytest.raises(ValueError, match="square"):
        clip_loss(torch.zeros(3, 4))
    model = TinyCLIP(CLIPConfig(image_dim=64, vocab_size=10))
    with pytest.raises(ValueError, match="flatten each image first"):
        model.encode_image(torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match="all padding"):
        model.encode_text(torch.tensor([[0, 0]]))
    with pytest.raises(ValueError, match="temperature must be in"):
        CLIPConfig(temperature=0.0)
