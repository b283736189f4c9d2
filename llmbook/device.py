"""Device choice, seeding and deterministic mode.

Every notebook calls :func:`pick_device` so that the same code runs on a laptop CPU, an Apple GPU
(``mps``) or an NVIDIA GPU without edits, and :func:`seed_everything` so that two runs of a notebook
print the same numbers.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["pick_device", "seed_everything", "set_deterministic"]


def pick_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: ``cuda`` → ``mps`` → ``cpu``.

    ``prefer`` (or the environment variable ``LLMBOOK_DEVICE``) forces a device, e.g. ``"cpu"`` to
    reproduce CI numbers on a GPU machine. Asking for a device that is not available is an error
    rather than a silent fallback, so a reported figure never comes from the wrong device.
    """
    choice = prefer or os.environ.get("LLMBOOK_DEVICE")
    if choice:
        choice = choice.lower()
        available = {
            "cpu": True,
            "cuda": torch.cuda.is_available(),
            "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available(),
        }
        kind = choice.split(":")[0]
        if kind not in available:
            raise ValueError(f"unknown device {choice!r}: use one of 'cuda', 'mps', 'cpu' (or unset LLMBOOK_DEVICE)")
        if not available[kind]:
            raise RuntimeError(f"device {choice!r} was requested but is not available here: use 'cpu' or unset LLMBOOK_DEVICE")
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch (all devices); return a seeded ``torch.Generator``.

    The returned generator lets code draw random numbers without touching the global state, which is
    what makes resumed training bit-identical.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def set_deterministic(enabled: bool = True) -> None:
    """Switch PyTorch's deterministic algorithms on or off.

    With ``enabled=True`` PyTorch raises an error when an operation has no deterministic
    implementation instead of silently giving run-to-run differences; cuBLAS needs the workspace
    setting below for that on CUDA.
    """
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=False)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled
