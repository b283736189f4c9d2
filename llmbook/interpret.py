r"""Looking inside a Transformer: the residual stream, the logit lens, linear probes, steering and
attention maps.

A decoder-only Transformer keeps one vector per position, the **residual stream**: the token
embedding, to which every block adds its output. With :math:`L` blocks there are :math:`L + 1`
states per position, :math:`h_0` (the embeddings) to :math:`h_L` (the last block's output); the
model's logits are :math:`W_U \, \mathrm{norm}(h_L)`. The tools here read and write that stream:

* :func:`residual_stream` captures :math:`h_0, \dots, h_L` with forward hooks;
* :func:`logit_lens` decodes every :math:`h_\ell` as if it were the last one,
  :math:`\log \mathrm{softmax}(W_U \, \mathrm{norm}(h_\ell))` (nostalgebraist, 2020): what each
  layer "would predict";
* :func:`layer_states` pools the stream of whole texts (mean or last token) and :func:`linear_probe`
  fits one logistic regression per layer on them (Alain and Bengio, 2016): where a property becomes
  linearly readable;
* :func:`steer` adds :math:`\alpha\, v` to the stream at one layer while the context is open
  (activation addition, Turner et al., 2023);
* :func:`attention_maps` returns every layer's attention weights.

Two model families are understood: the book's :class:`llmbook.models.GPT` (``blocks``, ``ln_f``,
``lm_head``) and Hugging Face causal LMs with a Llama-style body (``model.layers``, ``model.norm``,
``lm_head``; SmolLM2 from :func:`llmbook.pretrained.load_smollm2`) or GPT-2's (``transformer.h``,
``transformer.ln_f``, ``lm_head``).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["Parts", "parts", "residual_stream", "logit_lens", "layer_states", "linear_probe",
           "steer", "attention_maps"]


@dataclass(frozen=True)
class Parts:
    """The pieces of a decoder-only LM that the residual-stream tools need."""

    blocks: nn.ModuleList  # the L Transformer blocks, in order
    final_norm: nn.Module  # the norm between the last block and the unembedding
    unembed: nn.Module  # hidden (.., d) -> logits (.., vocab)
    kind: str  # "gpt" (the book's), "hf-llama" or "hf-gpt2"


def parts(model: nn.Module) -> Parts:
    """The blocks, final norm and unembedding of ``model`` (the book's GPT or a Hugging Face causal
    LM with a Llama- or GPT-2-style body); a ``TypeError`` names what is missing otherwise."""
    from .models import GPT

    if isinstance(model, GPT):
        if not model.config.norm_first:
            raise TypeError("the logit lens and the residual-stream tools need a pre-LN GPT "
                            "(norm_first=True): a post-LN block already normalises its output")
        return Parts(model.blocks, model.ln_f, model.lm_head, "gpt")
    body = getattr(model, "model", None)
    head = hasattr(model, "lm_head")
    if body is not None and hasattr(body, "layers") and hasattr(body, "norm") and head:
        return Parts(body.layers, body.norm, model.lm_head, "hf-llama")
    body = getattr(model, "transformer", None)
    if body is not None and hasattr(body, "h") and hasattr(body, "ln_f") and head:
        return Parts(body.h, body.ln_f, model.lm_head, "hf-gpt2")
    raise TypeError(
        f"{type(model).__name__} is not a model these tools know: pass the book's GPT or a Hugging "
        f"Face causal LM (e.g. LlamaForCausalLM from llmbook.pretrained.load_smollm2(), "
        f"GPT2LMHeadModel)"
    )


def _check_ids(input_ids: Any, attention_mask: Any = None) -> None:
    if (not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2
            or input_ids.dtype != torch.long):
        raise ValueError(f"input_ids must be a (batch, seq) torch.long tensor, got "
                         f"{type(input_ids).__name__} {tuple(getattr(input_ids, 'shape', ()))}; "
                         f"for one text use tokenizer(text, return_tensors='pt').input_ids")
    if input_ids.size(1) == 0:
        raise ValueError("input_ids has no tokens: give at least one")
    if attention_mask is not None and (not isinstance(attention_mask, torch.Tensor)
                                       or attention_mask.shape != input_ids.shape):
        raise ValueError(f"attention_mask must be a tensor shaped like input_ids "
                         f"{tuple(input_ids.shape)}, got "
                         f"{tuple(getattr(attention_mask, 'shape', ()))}")


def _run(model: nn.Module, kind: str, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
         **kwargs: Any) -> Any:
    """One forward pass; the book's GPT has no attention mask (right padding is harmless to a causal
    model: no real token sees the padding after it)."""
    if kind == "gpt":
        return model(input_ids)
    return model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **kwargs)


def _hidden_of(output: Any) -> torch.Tensor:
    """A block's output: a tensor (transformers 5, the book's GPT) or a tuple starting with it."""
    return output[0] if isinstance(output, tuple) else output


def _replace_hidden(output: Any, hidden: torch.Tensor) -> Any:
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


@torch.no_grad()
def residual_stream(model: nn.Module, input_ids: torch.Tensor,
                    attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The residual stream ``(n_layer + 1, batch, seq, d)``: index 0 is the input of the first block
    (the embeddings), index ``l`` the output of block ``l`` (before the final norm).

    Captured with forward hooks that are removed before returning, so the model is unchanged.
    (Hugging Face's ``output_hidden_states`` gives the same states except the last, which it
    returns after the final norm.)
    ``input_ids`` ``(batch, seq)``; ``attention_mask`` (Hugging Face models only) ``(batch, seq)``.
    """
    _check_ids(input_ids, attention_mask)
    found = parts(model)
    states: list[torch.Tensor] = []

    def take_input(module: nn.Module, args: tuple, kwargs: dict) -> None:
        states.append(args[0] if args else kwargs["hidden_states"])

    def take_output(module: nn.Module, args: tuple, output: Any) -> None:
        states.append(_hidden_of(output))

    handles = [found.blocks[0].register_forward_pre_hook(take_input, with_kwargs=True)]
    handles += [block.register_forward_hook(take_output) for block in found.blocks]
    try:
        _run(model, found.kind, input_ids, attention_mask)
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack(states)


@torch.no_grad()
def logit_lens(model: nn.Module, input_ids: torch.Tensor,
               attention_mask: torch.Tensor | None = None,
               positions: slice | Sequence[int] | None = None) -> torch.Tensor:
    r"""Next-token log-probabilities read off every layer: ``(n_layer + 1, batch, seq, vocab)``.

    Layer ``l``'s row is :math:`\log\mathrm{softmax}(W_U\,\mathrm{norm}(h_\ell))`, the model's own
    final norm and unembedding applied to the residual stream after ``l`` blocks; the last row is
    the model's own next-token distribution. ``positions`` (e.g. ``[-1]``) keeps only some
    positions, which saves memory with a large vocabulary:
    ``(n_layer + 1, batch, len(positions), vocab)``.
    """
    found = parts(model)
    stream = residual_stream(model, input_ids, attention_mask)
    if positions is not None:
        stream = stream[:, :, positions]
    return found.unembed(found.final_norm(stream)).float().log_softmax(dim=-1)


def _encode(tokenizer: Any, text: str) -> list[int]:
    ids = tokenizer.encode(text) if hasattr(tokenizer, "encode") else tokenizer(text)
    ids = list(ids)
    if not ids:
        raise ValueError(f"the text {text!r} encodes to no tokens: drop empty texts first")
    return ids


@torch.no_grad()
def layer_states(model: nn.Module, tokenizer: Any, texts: Sequence[str], pooling: str = "mean",
                 batch_size: int = 16, max_tokens: int = 64) -> torch.Tensor:
    """One vector per text and layer: ``(n_layer + 1, len(texts), d)`` float32 on the CPU.

    Each text is encoded with ``tokenizer.encode`` and cut to ``max_tokens``; batches are padded on
    the right (a causal model's real tokens never see right padding), and ``pooling`` is ``"mean"``
    (the mean over the text's tokens) or ``"last"`` (its last token, the only one that has read the
    whole text).
    """
    if pooling not in ("mean", "last"):
        raise ValueError(f"pooling must be 'mean' or 'last', got {pooling!r}")
    if isinstance(texts, str) or not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("texts must be a non-empty list of strings (one text per example)")
    for name, value in (("batch_size", batch_size), ("max_tokens", max_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    device = next(model.parameters()).device
    encoded = [_encode(tokenizer, text)[:max_tokens] for text in texts]
    pooled = []
    for start in range(0, len(encoded), batch_size):
        rows = encoded[start:start + batch_size]
        width = max(map(len, rows))
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = torch.tensor(row)
            mask[i, :len(row)] = 1
        stream = residual_stream(model, ids.to(device), mask.to(device)).float()  # (L+1, b, seq, d)
        if pooling == "mean":
            weights = mask.to(stream)[None, :, :, None]
            pooled.append((stream * weights).sum(2) / weights.sum(2))
        else:
            last = (mask.sum(1) - 1).to(device)  # index of each text's last real token
            pooled.append(stream[:, torch.arange(len(rows), device=device), last])
    return torch.cat(pooled, dim=1).cpu()


def linear_probe(train_states: Any, train_labels: Any, test_states: Any, test_labels: Any,
                 C: float = 1.0, max_iter: int = 2000) -> np.ndarray:
    """Test accuracy of a linear probe at every layer: ``(n_layers,)``.

    ``train_states`` ``(n_layers, n_train, d)`` and ``test_states`` ``(n_layers, n_test, d)`` (e.g.
    from :func:`layer_states`); one scikit-learn ``LogisticRegression`` (L2, inverse strength ``C``)
    is fitted per layer on standardised features (the scaler is fitted on the training states only:
    a few dimensions of the residual stream are orders of magnitude larger than the rest).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_x = np.asarray(train_states, dtype=np.float64)
    test_x = np.asarray(test_states, dtype=np.float64)
    train_y, test_y = np.asarray(train_labels), np.asarray(test_labels)
    if train_x.ndim != 3 or test_x.ndim != 3 or train_x.shape[::2] != test_x.shape[::2]:
        raise ValueError(f"states must be (n_layers, n_examples, d) with the same layers and d, "
                         f"got {train_x.shape} and {test_x.shape}")
    if train_y.shape != (train_x.shape[1],) or test_y.shape != (test_x.shape[1],):
        raise ValueError(f"one label per example: {train_x.shape[1]} train and "
                         f"{test_x.shape[1]} test states, got labels shaped {train_y.shape} and "
                         f"{test_y.shape}")
    if len(np.unique(train_y)) < 2:
        raise ValueError("train_labels hold a single class: a probe needs examples of at least two")
    accuracies = []
    for layer in range(train_x.shape[0]):
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
        probe.fit(train_x[layer], train_y)
        accuracies.append(float(np.mean(probe.predict(test_x[layer]) == test_y)))
    return np.array(accuracies)


@contextlib.contextmanager
def steer(model: nn.Module, layer: int, direction: torch.Tensor, alpha: float = 1.0,
          ) -> Iterator[None]:
    r"""While the context is open, add ``alpha * direction`` to the residual stream at ``layer``,
    at every position (activation addition).

    ``layer`` counts like :func:`residual_stream`: 0 adds to the embeddings (the first block's
    input), ``l >= 1`` to block ``l``'s output, so every later block reads the shifted stream.
    ``direction`` ``(d,)``. The hook is removed on leaving the context, also when an exception is
    raised inside it::

        with steer(model, 6, v, alpha=4.0):
            out = model.generate(...)
    """
    found = parts(model)
    n_layer = len(found.blocks)
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= n_layer:
        raise ValueError(f"layer must be an int in [0, {n_layer}] (0: the embeddings, l: the "
                         f"output of block l), got {layer!r}")
    if not isinstance(direction, torch.Tensor) or direction.dim() != 1:
        shape = tuple(getattr(direction, "shape", ()))
        raise ValueError(f"direction must be a 1-D tensor (d,), got shape {shape}")
    shift = None

    def shifted(hidden: torch.Tensor) -> torch.Tensor:
        nonlocal shift
        if hidden.size(-1) != direction.numel():
            raise ValueError(f"direction has {direction.numel()} dims but the residual stream has "
                             f"{hidden.size(-1)}")
        if shift is None or shift.device != hidden.device or shift.dtype != hidden.dtype:
            shift = (alpha * direction).to(device=hidden.device, dtype=hidden.dtype)
        return hidden + shift

    def add_to_input(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        if args:
            return (shifted(args[0]), *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": shifted(kwargs["hidden_states"])}

    def add_to_output(module: nn.Module, args: tuple, output: Any) -> Any:
        return _replace_hidden(output, shifted(_hidden_of(output)))

    if layer == 0:
        handle = found.blocks[0].register_forward_pre_hook(add_to_input, with_kwargs=True)
    else:
        handle = found.blocks[layer - 1].register_forward_hook(add_to_output)
    try:
        yield
    finally:
        handle.remove()


@torch.no_grad()
def attention_maps(model: nn.Module, input_ids: torch.Tensor,
                   attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Every layer's attention weights ``(n_layer, batch, n_head, seq, seq)``; row ``i`` of a map is
    how query position ``i`` spreads over the keys (it sums to 1).

    The book's GPT returns them from ``hidden_states(..., need_weights=True)``. A Hugging Face model
    computes them only with its "eager" attention: it is switched to it for this call and back.
    """
    _check_ids(input_ids, attention_mask)
    found = parts(model)
    if found.kind == "gpt":
        _, weights = model.hidden_states(input_ids, need_weights=True)
        return torch.stack(weights)
    before = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        output = _run(model, found.kind, input_ids, attention_mask, output_attentions=True)
    finally:
        model.set_attn_implementation(before)
    return torch.stack(output.attentions)
