"""LoRA: low-rank adaptation of a frozen model's linear layers (Hu et al., 2022, arXiv:2106.09685).

A linear layer ``y = x W^T + b`` with ``W`` of shape ``(out, in)`` is fine-tuned by learning a low-rank
update instead of ``W`` itself::

    y = x W^T + b  +  (alpha / r) · B(A(dropout(x)))        A: (r, in),  B: (out, r),  r << min(in, out)

``W`` and ``b`` stay frozen; only ``A`` and ``B`` (``r · (in + out)`` numbers instead of ``in · out``)
are trained. ``A`` starts as PyTorch's default for a linear layer (Kaiming-uniform with ``a = sqrt(5)``)
and ``B`` at zero, so a fresh adapter changes nothing: training starts from the pretrained model
exactly. ``alpha / r`` keeps the size of the update comparable across ranks, so a learning rate found
for one rank transfers to another.

The names and the arithmetic are those of the ``peft`` library (``lora_A``, ``lora_B``, ``scaling``, the
``target_modules`` matching rule), so that its LoRA and this one give the same numbers on the same
weights (``tests/test_finetune.py``). After training, :func:`merge_lora` folds ``(alpha / r) · B A``
into ``W``: the merged model is a plain model of the original shape, at no extra cost per token.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["LoRALinear", "apply_lora", "merge_lora", "lora_state_dict", "lora_disabled",
           "lora_layers", "trainable_parameters"]


def _check_rank_and_alpha(r: int, alpha: float, dropout: float) -> None:
    if isinstance(r, bool) or not isinstance(r, int) or r <= 0:
        raise ValueError(f"the LoRA rank r must be a positive int, got {r!r}; typical values are 4 to 64")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ValueError(f"LoRA's alpha must be a positive number (the update is scaled by alpha / r), "
                         f"got {alpha!r}; a common choice is alpha = 2 * r")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"LoRA's dropout must be in [0, 1), got {dropout!r}")


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update: ``base(x) + (alpha / r) · B(A(dropout(x)))``.

    Args:
        base: the layer to adapt, ``in_features -> out_features``; kept as ``self.base`` (not copied).
        r: the rank of the update, ``1 <= r <= min(in_features, out_features)``.
        alpha: the update is scaled by ``scaling = alpha / r``.
        dropout: dropout on the adapter's input only (the base layer sees ``x`` unchanged).

    Input ``(..., in_features)``, output ``(..., out_features)``. ``lora_A`` (``in -> r``) and ``lora_B``
    (``r -> out``) are ``nn.Linear`` layers without bias, as in ``peft``.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear adapts an nn.Linear, got {type(base).__name__}; pick linear layers "
                            f"(apply_lora's target_modules names them)")
        _check_rank_and_alpha(r, alpha, dropout)
        in_features, out_features = base.in_features, base.out_features
        if r > min(in_features, out_features):
            raise ValueError(
                f"LoRA rank r={r} exceeds the layer's smaller side min(in={in_features}, "
                f"out={out_features}) = {min(in_features, out_features)}: the update B·A would not be "
                f"low-rank; use r <= "
                f"{min(in_features, out_features)} (or fine-tune this layer fully)"
            )
        self.base = base
        base.requires_grad_(False)  # W (and its bias) stay frozen: only A and B learn
        self.r = r
        self.alpha = alpha
        self.scaling = alpha / r
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        # A: (r, in), B: (out, r) as weights of nn.Linear layers, so lora_B(lora_A(x)) = x A^T B^T
        self.lora_A = nn.Linear(in_features, r, bias=False, **factory)
        self.lora_B = nn.Linear(r, out_features, bias=False, **factory)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.enabled = True  # False inside lora_disabled(): the base layer alone
        self.reset_lora_parameters()

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    @property
    def weight(self) -> torch.Tensor:
        """The weight this layer applies, ``W + (alpha / r) · B A``, ``(out, in)`` (``W`` while disabled).

        For code that reads ``layer.weight`` instead of calling the layer: ``llmbook``'s attention
        concatenates the query, key and value weights into one matmul, and would otherwise use ``W``
        and silently skip the adapter. The frozen ``W`` itself is ``self.base.weight``.
        """
        if not self.enabled:
            return self.base.weight
        if self.training and isinstance(self.dropout, nn.Dropout):
            raise RuntimeError(
                "this model reads the adapted layer's .weight instead of calling the layer, which cannot "
                "apply LoRA's dropout to the adapter's input: use dropout=0.0 for this layer, or call it"
            )
        return self.base.weight + self.delta_weight().to(self.base.weight.dtype)

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base.bias

    @torch.no_grad()
    def reset_lora_parameters(self) -> None:
        """``A`` as PyTorch's default linear initialisation (Kaiming-uniform, ``a = sqrt(5)``; bound
        ``1 / sqrt(in_features)``), ``B = 0``: the adapter starts as the identity update."""
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def delta_weight(self) -> torch.Tensor:
        """The update to the base weight, ``(alpha / r) · B A``, shape ``(out_features, in_features)``."""
        return (self.lora_B.weight @ self.lora_A.weight) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.base(x)
        if not self.enabled:
            return result
        return result + self.lora_B(self.lora_A(self.dropout(x))) * self.scaling

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, scaling={self.scaling:g}"


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """Every :class:`LoRALinear` of ``model``, by its dotted module name."""
    return {name: module for name, module in model.named_modules() if isinstance(module, LoRALinear)}


def _matches(name: str, target: str) -> bool:
    # peft's rule for a list of names: the full dotted name, or its ending after a dot
    return name == target or name.endswith("." + target)


def _linear_names_hint(model: nn.Module, limit: int = 8) -> str:
    leaves: list[str] = []
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if isinstance(module, nn.Linear) and leaf not in leaves:
            leaves.append(leaf)
    if not leaves:
        return f"{type(model).__name__} has no nn.Linear layers at all"
    more = f" (and {len(leaves) - limit} more)" if len(leaves) > limit else ""
    return f"the nn.Linear layers of {type(model).__name__} are named {leaves[:limit]}{more}"


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def apply_lora(model: nn.Module, r: int, alpha: float, target_modules: Sequence[str],
               dropout: float = 0.0) -> nn.Module:
    """Wrap the named linear layers of ``model`` in :class:`LoRALinear`, in place; freeze everything else.

    Args:
        model: any ``nn.Module`` (a Hugging Face model, an ``llmbook`` GPT, ...).
        r, alpha, dropout: as for :class:`LoRALinear`, the same for every adapted layer.
        target_modules: names of the layers to adapt, matched as ``peft`` does: a module is adapted when
            its full dotted name equals a target or ends with ``"." + target`` (``"q_proj"`` adapts the
            query projection of every layer; ``"model.layers.0.self_attn.q_proj"`` only layer 0's).

    Returns:
        ``model`` itself, with every parameter frozen except the ``lora_A`` / ``lora_B`` weights.

    Raises:
        ValueError: a bad rank or alpha, a target that matches no module, a model that already has LoRA.
        TypeError: a target that matches a module that is not an ``nn.Linear``.
    """
    _check_rank_and_alpha(r, alpha, dropout)
    if isinstance(target_modules, str) or not isinstance(target_modules, Sequence) or not target_modules:
        raise TypeError(f"target_modules must be a non-empty list of module names, got {target_modules!r}; "
                        f"e.g. target_modules=['q_proj', 'v_proj']")
    if lora_layers(model):
        raise ValueError(f"{type(model).__name__} already has LoRA adapters: apply_lora once per model "
                         f"(call merge_lora(model) first to stack a new adapter on the merged weights)")
    modules = dict(model.named_modules())
    chosen: list[str] = []
    for target in target_modules:
        matched = [name for name in modules if name and _matches(name, target)]
        if not matched:
            raise ValueError(f"target module {target!r} matches no module of {type(model).__name__}; "
                             f"{_linear_names_hint(model)}")
        for name in matched:
            if not isinstance(modules[name], nn.Linear):
                raise TypeError(f"target module {target!r} matches {name!r}, a "
                                f"{type(modules[name]).__name__}, not an nn.Linear: LoRA here adapts linear "
                                f"layers only; {_linear_names_hint(modules[name])}")
            if name not in chosen:
                chosen.append(name)
    # Every wrapper is built (and so checked) before the model is touched: a refused call changes nothing.
    wrappers = {name: LoRALinear(modules[name], r, alpha, dropout) for name in chosen}
    model.requires_grad_(False)  # the pretrained weights stay as they are
    for name, wrapper in wrappers.items():
        wrapper.lora_A.requires_grad_(True)
        wrapper.lora_B.requires_grad_(True)
        _set_submodule(model, name, wrapper)
    return model


@torch.no_grad()
def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its layer: each :class:`LoRALinear` becomes an ``nn.Linear`` with weight
    ``W + (alpha / r) · B A`` (and the same bias). In place; returns ``model``.

    The merged weight is a new tensor, so a base weight shared with another layer (GPT-2's ``lm_head``
    tied to the token embedding) is left unchanged for that other layer. Parameters keep their
    ``requires_grad`` (frozen stays frozen: call ``model.requires_grad_(True)`` to train them all).
    """
    layers = lora_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no LoRA adapters to merge; "
                         f"apply_lora(model, ...) first")
    for name, layer in layers.items():
        base = layer.base
        merged = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None,
                           device=base.weight.device, dtype=base.weight.dtype)
        delta = layer.delta_weight().to(base.weight.dtype)
        merged.weight = nn.Parameter(base.weight + delta, requires_grad=base.weight.requires_grad)
        if base.bias is not None:
            merged.bias = base.bias
        _set_submodule(model, name, merged)
    return model


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapters' weights, under the names ``model.state_dict()`` gives them
    (``...q_proj.lora_A.weight``): what to save after LoRA training (restore with
    ``model.load_state_dict(state, strict=False)``)."""
    layers = lora_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no LoRA adapters; apply_lora(model, ...) first")
    state = {}
    for name, layer in layers.items():
        for part in ("lora_A", "lora_B"):
            state[f"{name}.{part}.weight"] = getattr(layer, part).weight.detach()
    return state


@contextmanager
def lora_disabled(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the block, ``model`` computes as its base model (every adapter switched off), e.g. DPO's
    reference model without a second copy of the weights. Restored on exit, even after an error."""
    layers = list(lora_layers(model).values())
    if not layers:
        raise ValueError(f"{type(model).__name__} has no LoRA adapters, so disabling them would change "
                         f"nothing: apply_lora(model, ...) first, or keep a frozen copy as the reference")
    previous = [layer.enabled for layer in layers]
    for layer in layers:
        layer.enabled = False
    try:
        yield model
    finally:
        for layer, was in zip(layers, previous):
            layer.enabled = was


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts (a tensor shared by two layers counts once), as
    ``peft``'s ``get_nb_trainable_parameters``."""
    params = list(model.parameters())  # parameters() yields a shared tensor once
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
