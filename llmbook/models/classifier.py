r"""Sequence classifiers: an LSTM trained from scratch, and a classification head on a pretrained model.

Both map a batch of token ids ``(batch, seq)`` with its ``attention_mask`` ``(batch, seq)`` (1 = token,
0 = padding, right padding as tokenizers and :func:`llmbook.train.pad_batch` make it) to logits
``(batch, n_classes)``; :func:`classification_loss` is their cross-entropy (an objective for
:class:`llmbook.train.Trainer`) and :func:`predict` labels a list of examples.

* :class:`LSTMClassifier` is the sentiment project's model: embedding → LSTM → the final hidden state
  → dropout → linear. The LSTM reads each row only up to its last real token (a *packed* sequence),
  so padding a sentence into a longer batch never changes its logits.
* :class:`SequenceClassifier` puts a linear head (``score``) on a pooled summary of a pretrained
  backbone's last hidden states:

  .. math:: \mathrm{logits} = W \, \mathrm{pool}(H) + b, \qquad H = \mathrm{backbone}(x).

  ``pooling="mean"`` averages the real tokens (sentence-transformers' pooling, :func:`mean_pool`),
  ``"cls"`` takes position 0 (BERT's ``[CLS]``), ``"last"`` takes each row's last real token, the only
  position of a causal decoder that has read the whole input (Hugging Face's
  ``LlamaForSequenceClassification``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .bert import mean_pool
from .loss import check_token_ids, padding_mask

__all__ = ["LSTMClassifierConfig", "LSTMClassifier", "SequenceClassifier", "POOLINGS",
           "NearestCentroid",
           "classification_loss", "predict"]

POOLINGS = ("mean", "cls", "last")


@dataclass
class LSTMClassifierConfig:
    """Shape of an :class:`LSTMClassifier`.

    ``vocab_size`` is the number of token ids (the tokenizer's vocabulary, not the number of
    examples); ``pad_id`` is the id used for padding, whose embedding stays zero and untrained.
    """

    vocab_size: int
    n_classes: int = 2
    n_embd: int = 128
    hidden_size: int = 128
    n_layer: int = 1
    bidirectional: bool = False
    dropout: float = 0.0  # on the embeddings, between LSTM layers and before the linear layer
    pad_id: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_embd", "hidden_size", "n_layer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"LSTMClassifierConfig.{name} must be a positive int, got {value!r}")
        if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, int) or self.n_classes < 2:
            raise ValueError(f"LSTMClassifierConfig.n_classes must be an int >= 2, got {self.n_classes!r} "
                             f"(a yes/no task has 2 classes)")
        if not isinstance(self.bidirectional, bool):
            raise ValueError(f"LSTMClassifierConfig.bidirectional must be True or False, got "
                             f"{self.bidirectional!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LSTMClassifierConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if (isinstance(self.pad_id, bool) or not isinstance(self.pad_id, int)
                or not 0 <= self.pad_id < self.vocab_size):
            raise ValueError(f"LSTMClassifierConfig.pad_id must be a token id in [0, vocab_size="
                             f"{self.vocab_size}), got {self.pad_id!r}; reserve an id for padding in the "
                             f"vocabulary (e.g. id 0)")


def _lengths(attention_mask: torch.Tensor | None, input_ids: torch.Tensor) -> torch.Tensor:
    """The number of real tokens of each row ``(batch,)``, after checking that ``attention_mask`` is a
    valid right-padded mask (every row: ones, then zeros)."""
    batch, seq = input_ids.shape
    if attention_mask is None:
        return torch.full((batch,), seq, dtype=torch.long)
    padding_mask(attention_mask, (batch, seq))  # shape, 0/1 values, no empty rows
    mask = attention_mask.to(torch.long)
    lengths = mask.sum(dim=1)
    right_padded = torch.arange(seq, device=mask.device)[None, :] < lengths[:, None]
    if not bool((right_padded == mask.bool()).all()):
        raise ValueError("attention_mask must be right-padded (each row: its tokens, then the padding): the "
                         "LSTM reads a row up to its length; pad on the right (tokenizer.padding_side = "
                         "'right', or llmbook.train.pad_batch)")
    return lengths


class LSTMClassifier(nn.Module):
    """An LSTM sequence classifier: embedding → LSTM → final hidden state → dropout → linear.

    ``forward(input_ids (batch, seq), attention_mask (batch, seq) | None) -> logits (batch, n_classes)``.

    Each row is packed to its length (the number of ones in its mask; no mask: every position is a
    token), so the LSTM stops at the row's last real token and its final hidden state ``(hidden_size,)``
    does not depend on how much padding follows. With ``bidirectional=True`` a second LSTM reads each row
    backwards from its last real token, and the two final states are concatenated ``(2 * hidden_size,)``.
    With ``n_layer > 1`` the top layer's final state is used.
    """

    def __init__(self, config: LSTMClassifierConfig):
        super().__init__()
        if not isinstance(config, LSTMClassifierConfig):
            raise TypeError(f"LSTMClassifier needs an LSTMClassifierConfig, got {type(config).__name__}")
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.n_embd, padding_idx=config.pad_id)
        self.lstm = nn.LSTM(config.n_embd, config.hidden_size, num_layers=config.n_layer, batch_first=True,
                            bidirectional=config.bidirectional,
                            dropout=config.dropout if config.n_layer > 1 else 0.0)
        self.drop = nn.Dropout(config.dropout)
        n_directions = 2 if config.bidirectional else 1
        self.head = nn.Linear(n_directions * config.hidden_size, config.n_classes)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(batch, n_classes)`` of token ids ``input_ids`` ``(batch, seq)``, right-padded, with
        ``attention_mask`` ``(batch, seq)`` (1 = token, 0 = padding; ``None``: no padding)."""
        check_token_ids(input_ids, self.config.vocab_size, name="input_ids")
        if input_ids.size(1) == 0:
            raise ValueError("input_ids has no tokens (seq = 0): every example needs at least one token")
        lengths = _lengths(attention_mask, input_ids)
        x = self.drop(self.embed(input_ids))  # (batch, seq, n_embd)
        # pack_padded_sequence wants the lengths on the CPU; enforce_sorted=False keeps the batch order
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)  # h_n: (n_layer * n_directions, batch, hidden_size), batch order
        if self.config.bidirectional:  # the top layer's forward (-2) and backward (-1) final states
            final = torch.cat([h_n[-2], h_n[-1]], dim=-1)  # (batch, 2 * hidden_size)
        else:
            final = h_n[-1]  # (batch, hidden_size)
        return self.head(self.drop(final))


def _last_hidden_state(output: Any) -> torch.Tensor:
    """The ``(batch, seq, hidden)`` hidden states in a backbone's output: a Hugging Face model output's
    ``last_hidden_state``, or a plain tensor (as :class:`llmbook.models.BERT` returns)."""
    if isinstance(output, torch.Tensor):
        return output
    hidden = getattr(output, "last_hidden_state", None)
    if hidden is None:
        raise TypeError(f"the backbone returned a {type(output).__name__} without last_hidden_state: "
                        f"pass the base model, not one with a head (e.g. smollm.model for a "
                        f"LlamaForCausalLM, bert.bert for a BertForSequenceClassification)")
    return hidden


class SequenceClassifier(nn.Module):
    """A linear classification head ``score`` on a pooled summary of a backbone's last hidden states.

    ``forward(input_ids (batch, seq), attention_mask (batch, seq) | None) -> logits (batch, n_classes)``.

    Args:
        backbone: a module called as ``backbone(input_ids=..., attention_mask=...)`` that returns hidden
            states ``(batch, seq, hidden_size)``, as ``.last_hidden_state`` (Hugging Face's ``BertModel``,
            ``LlamaModel`` = ``LlamaForCausalLM.model``) or as a tensor (:class:`llmbook.models.BERT`).
        hidden_size: the backbone's width (``backbone.config.hidden_size`` for Hugging Face models).
        n_classes: the number of classes (≥ 2).
        pooling: ``"mean"``: the mean of the real tokens' states (:func:`mean_pool`); ``"cls"``: position
            0 (BERT's ``[CLS]``); ``"last"``: the rightmost real token of each row (a causal decoder's
            only position that has read the whole input; with left padding that is the last position).
        dropout: on the pooled vector, before ``score`` (``BertForSequenceClassification`` uses 0.1).
        bias: whether ``score`` has a bias (``LlamaForSequenceClassification``'s has none).
    """

    def __init__(self, backbone: nn.Module, hidden_size: int, n_classes: int, pooling: str = "mean", *,
                 dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise TypeError(f"backbone must be a torch.nn.Module, got {type(backbone).__name__}")
        if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 1:
            raise ValueError(f"hidden_size must be a positive int (the backbone's width, e.g. "
                             f"backbone.config.hidden_size), got {hidden_size!r}")
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r} "
                             f"(a yes/no task has 2 classes)")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}: use one of {POOLINGS} ('cls' for BERT-like "
                             f"encoders, 'last' for decoders, 'mean' for either)")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.backbone = backbone
        self.hidden_size = hidden_size
        self.n_classes = n_classes
        self.pooling = pooling
        self.drop = nn.Dropout(dropout)
        self.score = nn.Linear(hidden_size, n_classes, bias=bias)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """One vector per row ``(batch, hidden_size)`` from hidden states ``(batch, seq, hidden_size)`` and
        ``attention_mask`` ``(batch, seq)`` (1 = token, 0 = padding)."""
        if self.pooling == "mean":
            return mean_pool(hidden, attention_mask)
        if self.pooling == "cls":
            return hidden[:, 0]
        # "last": the rightmost real token; position * mask is largest there (right or left padding)
        positions = torch.arange(hidden.size(1), device=hidden.device)
        last = (positions[None, :] * (attention_mask != 0).to(torch.long)).argmax(dim=1)  # (batch,)
        return hidden[torch.arange(hidden.size(0), device=hidden.device), last]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(batch, n_classes)`` of ``input_ids`` ``(batch, seq)`` with ``attention_mask``
        ``(batch, seq)`` (1 = token, 0 = padding; ``None``: no padding)."""
        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
            raise ValueError(f"input_ids must be a (batch, seq) tensor of token ids, got shape "
                             f"{tuple(getattr(input_ids, 'shape', ()))}; add a batch dimension with "
                             f"input_ids[None]")
        if input_ids.size(1) == 0:
            raise ValueError("input_ids has no tokens (seq = 0): every example needs at least one token")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        else:
            padding_mask(attention_mask, tuple(input_ids.shape))  # shape, 0/1 values, no empty rows
        hidden = _last_hidden_state(self.backbone(input_ids=input_ids, attention_mask=attention_mask))
        if hidden.dim() != 3 or hidden.size(-1) != self.hidden_size:
            raise ValueError(f"the backbone's hidden states have shape {tuple(hidden.shape)}, expected "
                             f"(batch, seq, hidden_size={self.hidden_size}); set hidden_size to the "
                             f"backbone's width (backbone.config.hidden_size)")
        pooled = self.pool(hidden, attention_mask)  # (batch, hidden_size)
        return self.score(self.drop(pooled).to(self.score.weight.dtype))


def classification_loss(model: nn.Module, batch: dict[str, torch.Tensor],
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean cross-entropy of ``model(batch["input_ids"], batch["attention_mask"])`` ``(batch, n_classes)``
    against the class ids ``batch["label"]`` ``(batch,)``: an ``objective`` for
    :class:`llmbook.train.Trainer` on :class:`llmbook.train.Examples`. ``generator`` is unused (the
    objective's signature)."""
    del generator  # the loss draws nothing at random
    for key in ("input_ids", "label"):
        if key not in batch:
            raise KeyError(f"classification_loss needs batch[{key!r}]; the batch has {sorted(batch)}: "
                           f"give each example an 'input_ids' list and an int 'label' (pad them with "
                           f"llmbook.train.pad_batch)")
    labels = batch["label"]
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.dtype.is_floating_point:
        raise ValueError(f"batch['label'] must be a (batch,) tensor of int class ids, got "
                         f"{getattr(labels, 'dtype', type(labels).__name__)} of shape "
                         f"{tuple(getattr(labels, 'shape', ()))}")
    logits = model(batch["input_ids"], batch.get("attention_mask"))
    if logits.dim() != 2 or logits.size(0) != labels.size(0):
        raise ValueError(f"the model's logits have shape {tuple(logits.shape)}; expected (batch="
                         f"{labels.size(0)}, n_classes), one row per label")
    if labels.numel() and bool(((labels < 0) | (labels >= logits.size(1))).any()):
        raise ValueError(f"labels must be class ids in [0, n_classes={logits.size(1)}), got min "
                         f"{int(labels.min())} and max {int(labels.max())}")
    return F.cross_entropy(logits.float(), labels.long())


def _pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad lists of ids with ``pad_id``: ``(input_ids, attention_mask)``, each ``(batch, longest)``."""
    longest = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, :len(ids)] = torch.as_tensor(list(ids), dtype=torch.long)
        attention_mask[row, :len(ids)] = 1
    return input_ids, attention_mask


@torch.no_grad()
def predict(model: nn.Module, items: Sequence[dict[str, Any]], pad_id: int,
            batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Predicted labels ``(n,)`` and class probabilities ``(n, n_classes)`` (softmax of the logits) of
    ``items``, dicts with an ``"input_ids"`` list (other keys, like ``"label"``, are ignored).

    The model runs in eval mode (no dropout) without gradients, ``batch_size`` items at a time,
    right-padded with ``pad_id``; its train/eval mode is restored afterwards. Items are batched in order
    of length, which wastes less compute on padding (a padding-invariant model gives the same answers),
    and the results come back in the order of ``items``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if len(items) == 0:
        raise ValueError("predict got no items: give a non-empty list of {'input_ids': [...]} dicts")
    sequences = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "input_ids" not in item:
            got = f"keys {sorted(item)}" if isinstance(item, dict) else type(item).__name__
            raise ValueError(f"items[{i}] must be a dict with an 'input_ids' list of token ids, got {got}; "
                             f"tokenize the texts first")
        if len(item["input_ids"]) == 0:
            raise ValueError(f"items[{i}] has no tokens: every example needs at least one token id")
        sequences.append(item["input_ids"])
    device = next(model.parameters()).device
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    probabilities: list[torch.Tensor | None] = [None] * len(sequences)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            input_ids, attention_mask = _pad([sequences[i] for i in rows], pad_id)
            logits = model(input_ids.to(device), attention_mask.to(device))
            for row, p in zip(rows, torch.softmax(logits.float(), dim=-1).cpu()):
                probabilities[row] = p
    finally:
        model.train(was_training)
    probs = torch.stack(probabilities).numpy()  # type: ignore[arg-type]
    return probs.argmax(axis=1), probs


class NearestCentroid:
    """Label vectors by the nearest class mean (Euclidean distance): a classifier with nothing to
    train, for sentence embeddings (e.g. intents from MiniLM's, as in scikit-learn's
    ``NearestCentroid``, which it equals).

    On L2-normalised embeddings ``||x - c||² = 1 - 2 x·c + ||c||²``: the nearest centroid is almost
    the most cosine-similar one, with a penalty for classes whose examples disagree (a short mean).

    Args:
        features: ``(n, dim)`` training vectors (a tensor or an array).
        labels: ``(n,)`` their integer labels; every class must have at least one example.

    Attributes:
        classes: ``(n_classes,)`` the sorted labels; ``centroids``: ``(n_classes, dim)`` float64.
    """

    def __init__(self, features: Any, labels: Any):
        x, y = self._features(features), np.asarray(labels)
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"labels must be {len(x)} integers (one per row of features), got "
                             f"shape {y.shape} of {y.dtype}")
        self.classes = np.unique(y)
        if len(self.classes) < 2:
            raise ValueError(f"NearestCentroid needs examples of at least 2 classes, got "
                             f"{self.classes.tolist()}")
        self.centroids = np.stack([x[y == c].mean(axis=0) for c in self.classes])

    @staticmethod
    def _features(features: Any, dim: int | None = None) -> np.ndarray:
        if isinstance(features, torch.Tensor):
            features = features.detach().cpu().numpy()
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0 or (dim is not None and x.shape[1] != dim):
            want = f"(n, {dim})" if dim is not None else "(n, dim) with n >= 1"
            raise ValueError(f"features must be a 2-D array {want}, got shape {x.shape}: one "
                             f"embedding per row")
        return x

    def scores(self, features: Any) -> np.ndarray:
        """``(n, n_classes)`` minus the squared distance of each vector to each centroid (higher =
        nearer)."""
        x = self._features(features, self.centroids.shape[1])
        squared = ((x[:, None, :] - self.centroids[None, :, :]) ** 2).sum(axis=-1)
        return -squared

    def predict(self, features: Any) -> np.ndarray:
        """``(n,)`` the label of the nearest centroid of each vector (ties: the smaller label)."""
        return self.classes[self.scores(features).argmax(axis=1)]
