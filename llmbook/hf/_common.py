"""What every Hugging Face conversion shares: float32 CPU copies of a state, and loading by name."""
from __future__ import annotations

import torch

__all__ = ["float_cpu_state", "load_tensors"]


def float_cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state dict as detached float32 tensors on the CPU."""
    return {k: v.detach().float().cpu() for k, v in module.state_dict().items()}


@torch.no_grad()
def load_tensors(module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy ``tensors`` into ``module``'s parameters and buffers of the same names (shapes must agree)."""
    own = module.state_dict()
    for name, tensor in tensors.items():
        if own[name].shape != tensor.shape:
            raise ValueError(f"{name}: shape {tuple(tensor.shape)} does not fit {tuple(own[name].shape)}")
        own[name].copy_(tensor)
