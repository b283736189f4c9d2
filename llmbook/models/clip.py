"""A tiny CLIP: an image encoder and a text encoder trained to agree, with CLIP's symmetric loss.

CLIP (Radford et al., 2021) maps an image and a caption into one embedding space. For a batch of
N matching (image, caption) pairs, the image embeddings u_i and text embeddings v_j
(L2-normalised) give an N × N matrix of similarities s_ij = ⟨u_i, v_j⟩ / τ with a learned
temperature τ. Pair i's caption should win row i (which caption fits image i?) and pair i's image
column i (which image fits caption i?): the loss is the mean of two cross-entropies with the
diagonal as the labels (InfoNCE, both ways),

    L = ½ [ CE(S, diag) + CE(Sᵀ, diag) ].

Nothing in it names a class: the model learns what captions say. **Zero-shot** classification
then writes each class as a caption ("a photo of a three") and picks the class whose text
embedding is the most similar to the image's.

The encoders here are as small as a 2-core CPU wants: an MLP on flattened pixels, and the mean of
word embeddings of the caption followed by a linear map.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CLIPConfig", "TinyCLIP", "clip_loss"]


@dataclass
class CLIPConfig:
    """The shape of a :class:`TinyCLIP`. ``temperature`` is τ at initialisation (CLIP: 0.07)."""

    image_dim: int = 64  # flattened pixels, e.g. 8 × 8
    vocab_size: int = 64
    embed_dim: int = 32  # the shared space
    hidden: int = 128  # the image MLP's hidden width
    word_dim: int = 32
    temperature: float = 0.07

    def __post_init__(self) -> None:
        for name in ("image_dim", "vocab_size", "embed_dim", "hidden", "word_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CLIPConfig.{name} must be a positive int, got {value!r}")
        if not 0 < self.temperature <= 1:
            raise ValueError(f"CLIPConfig.temperature must be in (0, 1], got {self.temperature}")


class TinyCLIP(nn.Module):
    """Two encoders into one space. ``forward(images, captions) -> logits (batch, batch)``, row i =
    image i against every caption.

    ``images``: ``(batch, image_dim)`` floats; ``captions``: ``(batch, words)`` word ids with
    ``pad_id=0`` as padding (ignored by the mean).
    """

    pad_id = 0

    def __init__(self, config: CLIPConfig):
        super().__init__()
        self.config = config
        self.image_encoder = nn.Sequential(
            nn.Linear(config.image_dim, config.hidden), nn.GELU(),
            nn.Linear(config.hidden, config.embed_dim))
        self.word_embedding = nn.Embedding(config.vocab_size, config.word_dim,
                                           padding_idx=self.pad_id)
        self.text_projection = nn.Linear(config.word_dim, config.embed_dim)
        # CLIP learns log(1 / τ) and clips 1 / τ at 100
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / config.temperature)))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """``(batch, image_dim)`` → unit vectors ``(batch, embed_dim)``."""
        if images.dim() != 2 or images.shape[-1] != self.config.image_dim:
            raise ValueError(f"images must have shape (batch, image_dim={self.config.image_dim}), "
                             f"got {tuple(images.shape)}; flatten each image first")
        return F.normalize(self.image_encoder(images), dim=-1)

    def encode_text(self, captions: torch.Tensor) -> torch.Tensor:
        """Word ids ``(batch, words)`` (0 = padding) → unit vectors ``(batch, embed_dim)``."""
        if captions.dim() != 2 or captions.dtype.is_floating_point:
            raise ValueError(f"captions must be a (batch, words) tensor of word ids, got "
                             f"{captions.dtype} {tuple(captions.shape)}")
        keep = (captions != self.pad_id).float()[..., None]  # (batch, words, 1)
        if bool((keep.sum(1) == 0).any()):
            raise ValueError("a caption is all padding: every caption needs at least one word")
        mean = (self.word_embedding(captions) * keep).sum(1) / keep.sum(1)
        return F.normalize(self.text_projection(mean), dim=-1)

    def similarity(self, image_embeddings: torch.Tensor, text_embeddings: torch.Tensor
                   ) -> torch.Tensor:
        """Scaled cosine similarities ``(n_images, n_texts)``: ⟨u_i, v_j⟩ / τ."""
        scale = self.logit_scale.clamp(max=math.log(100)).exp()
        return scale * image_embeddings @ text_embeddings.T

    def forward(self, images: torch.Tensor, captions: torch.Tensor) -> torch.Tensor:
        return self.similarity(self.encode_image(images), self.encode_text(captions))

    @torch.no_grad()
    def zero_shot(self, images: torch.Tensor, class_captions: torch.Tensor) -> torch.Tensor:
        """The class (row of ``class_captions`` ``(n_classes, words)``) whose caption is the most
        similar to each image: ``(batch,)`` ids."""
        return self(images, class_captions).argmax(dim=-1)


def clip_loss(logits: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE loss of a square matrix ``(batch, batch)`` of image–text logits
    whose diagonal holds the matching pairs: the mean of the image→text and text→image
    cross-entropies."""
    if logits.dim() != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"clip_loss needs a square (batch, batch) matrix of logits, "
                         f"got {tuple(logits.shape)}")
    labels = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
