"""Checkpoints that resume bit-identically and never leave a half-written file behind.

A checkpoint is a directory::

    ckpt/
      model.safetensors   the weights (safetensors: no pickle, memory-mappable; tied weights stored once)
      state.pt            optimizer, scheduler, grad scaler, RNG states (Python, NumPy, torch CPU and
                          CUDA, the batch generator), the step and any extra data (torch.save)
      manifest.json       format version and the sha256 of both files, written last

Writing goes to a temporary sibling directory (``.ckpt.tmp-*``) that replaces the target only when
every file is complete: the previous checkpoint is moved aside (``.ckpt.old-*/ckpt``), the new one
renamed into place, the old one deleted. A kill at any moment leaves a loadable checkpoint: if it
falls between the two renames, :func:`load_checkpoint` finds the complete new one (or else the previous
one) beside the target, and the next save removes the package's stale temporaries. A save never
deletes what the package did not write: a target that is a file, or a folder holding anything but
checkpoint files, is refused. Loading verifies the manifest and the checksums and reads everything
before touching the model: a missing or corrupt checkpoint raises :class:`CheckpointError` and leaves
the model, optimizer and RNGs unchanged.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..data import sha256_file

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state"]

FORMAT = "llmbook-checkpoint-1"
WEIGHTS, STATE, MANIFEST = "model.safetensors", "state.pt", "manifest.json"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupt or does not fit the model. The message says which."""


def rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every random-number state that training touches, as plain Python/tensor data."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Restore what :func:`rng_state` saved (the CUDA states only where CUDA is available)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None:
        if "generator" not in state:
            raise CheckpointError("the checkpoint holds no batch-generator state, but a generator was passed to restore")
        generator.set_state(state["generator"])


def _unique_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with tied tensors (same storage) kept once, under their first name."""
    seen: set[tuple[int, int]] = set()
    unique = {}
    for name, tensor in model.state_dict().items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        if key in seen:
            continue
        seen.add(key)
        unique[name] = tensor.detach().cpu().contiguous()
    return unique


def _temporaries(target: Path) -> list[Path]:
    """The package's own temporary siblings of ``target``: unfinished or finished new checkpoints
    (``.name.tmp-*``) and previous ones moved aside (``.name.old-*``), each checked to hold nothing else."""
    found = []
    for kind, allowed in (("tmp", {WEIGHTS, STATE, MANIFEST}), ("old", {target.name})):
        for folder in target.parent.glob(f".{target.name}.{kind}-*"):
            if folder.is_dir() and not folder.is_symlink() and {p.name for p in folder.iterdir()} <= allowed:
                found.append(folder)
    return found


def _check_target(target: Path) -> None:
    """Refuse to replace what save_checkpoint did not write: a file, or a folder with other files."""
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise CheckpointError(f"{str(target)!r} exists and is not a checkpoint directory: choose another path "
                              f"(a checkpoint never replaces a file it did not write)")
    if target.is_dir():
        others = sorted(p.name for p in target.iterdir() if p.name not in (WEIGHTS, STATE, MANIFEST))
        if others:
            raise CheckpointError(
                f"{str(target)!r} holds files that are not part of a checkpoint ({', '.join(others[:5])}): "
                f"saving would delete them; save into a new folder, e.g. {str(target / 'checkpoint')!r}"
            )


def _fsync(file: Path) -> None:
    with open(file, "rb") as f:
        os.fsync(f.fileno())


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    *,
    step: int = 0,
    generator: torch.Generator | None = None,
    scaler: torch.amp.GradScaler | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory at ``path`` atomically; return its path.

    ``model`` may be wrapped in DDP (its ``module`` is saved). ``extra`` holds any other picklable
    plain data (history, config) and comes back from :func:`load_checkpoint`.
    """
    target = Path(path)
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        save_file(_unique_tensors(model), tmp / WEIGHTS, metadata={"format": FORMAT})
        torch.save(
            {
                "step": int(step),
                "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict() if scaler is not None else None,
                "rng": rng_state(generator),
                "extra": extra or {},
            },
            tmp / STATE,
        )
        for name in (WEIGHTS, STATE):
            _fsync(tmp / name)
        manifest = {"format": FORMAT, "step": int(step), "sha256": {n: sha256_file(tmp / n) for n in (WEIGHTS, STATE)}}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        _fsync(tmp / MANIFEST)
        # Swap: move the previous checkpoint aside, then rename the new one into place. A kill between
        # the two renames leaves both beside the target, where load_checkpoint finds them.
        if target.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, aside / target.name)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # The new checkpoint is in place: the previous one and what earlier killed saves left are stale.
    for stale in _temporaries(target):
        shutil.rmtree(stale, ignore_errors=True)
    return target


def _recovered(target: Path) -> Path:
    """``target``, or, where a save was killed between its two renames, the checkpoint it left beside
    the target: the complete new one (its manifest is written last) if any, else the previous one."""
    if target.exists():
        return target
    # a finished new copy (.tmp-*) holds the files itself; a previous one moved aside (.old-*) holds them
    # in a folder named like the target
    complete = [folder for p in _temporaries(target) for folder in (p, p / target.name)
                if (folder / MANIFEST).is_file()]
    if not complete:
        return target

    def step(folder: Path) -> int:
        try:
            return int(json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["step"])
        except (ValueError, KeyError, TypeError):
            return -1

    return max(complete, key=lambda folder: (step(folder), folder.stat().st_mtime))


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {str(path)!r}: check the path (save one with save_checkpoint first)")
    manifest_file = path / MANIFEST
    if not path.is_dir() or not manifest_file.is_file():
        raise CheckpointError(
            f"{str(path)!r} is not a complete checkpoint directory (no {MANIFEST}); it may be a partial write "
            f"or another file: point to a directory written by save_checkpoint"
        )
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        expected = manifest["sha256"]
        if not (isinstance(expected, dict) and all(isinstance(expected.get(n), str) for n in (WEIGHTS, STATE))):
            raise TypeError(f"its sha256 entry is {expected!r}, not a digest per file")
    except (ValueError, KeyError, TypeError) as exc:  # ValueError: not UTF-8, not JSON
        raise CheckpointError(f"checkpoint {str(path)!r} has a corrupt {MANIFEST} ({type(exc).__name__}: "
                              f"{exc}); the checkpoint cannot be trusted") from exc
    if manifest.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(path)!r} has format {manifest.get('format')!r}, expected {FORMAT!r}")
    for name in (WEIGHTS, STATE):
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"checkpoint {str(path)!r} is missing {name}; it is incomplete, use another checkpoint")
        if sha256_file(file) != expected.get(name):
            raise CheckpointError(
                f"checkpoint {str(path)!r} is corrupt: the sha256 of {name} does not match its manifest "
                f"(truncated or modified file); use another checkpoint"
            )
    try:
        weights = load_file(path / WEIGHTS)
        state = torch.load(path / STATE, map_location="cpu", weights_only=True)
    except (SafetensorError, RuntimeError, OSError, EOFError, ValueError) as exc:  # pragma: no cover - checksums catch these first
        raise CheckpointError(f"checkpoint {str(path)!r} could not be read: {exc}") from exc
    return weights, state


def _check_weights(model: nn.Module, weights: dict[str, torch.Tensor], where: str) -> None:
    expected = model.state_dict()
    unique = _unique_tensors(model)
    missing = sorted(set(unique) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {where!r} does not fit this model: missing {missing[:5]}, unexpected {unexpected[:5]}; "
            f"build the model with the configuration the checkpoint was saved from"
        )
    for name, tensor in weights.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"checkpoint {where!r} does not fit this model: {name} has shape {tuple(tensor.shape)} in the "
                f"checkpoint but {tuple(expected[name].shape)} in the model; use the same configuration"
            )


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    *,
    generator: torch.Generator | None = None,
    scaler: torch.amp.GradScaler | None = None,
    restore_rng: bool = True,
    check_extra: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` into the given objects.

    Returns ``{"step": int, "extra": dict}``. Everything is read and checked before anything is
    changed; on any problem a :class:`CheckpointError` says what and nothing is modified.
    ``check_extra(extra)``, if given, runs with the other checks and may raise to refuse the checkpoint.
    """
    path = _recovered(Path(path))
    weights, state = _read(path)
    if check_extra is not None:
        check_extra(state["extra"])
    raw = getattr(model, "module", model)
    _check_weights(raw, weights, str(path))
    if optimizer is not None and state["optimizer"] is None:
        raise CheckpointError(f"checkpoint {str(path)!r} holds no optimizer state but an optimizer was passed")
    if optimizer is not None:
        saved_sizes = [len(g["params"]) for g in state["optimizer"]["param_groups"]]
        sizes = [len(g["params"]) for g in optimizer.param_groups]
        if saved_sizes != sizes:
            raise CheckpointError(
                f"checkpoint {str(path)!r}: the optimizer's parameter groups have sizes {saved_sizes}, "
                f"this optimizer's {sizes}; build it the same way (same model, same weight-decay groups)"
            )
    if restore_rng and generator is not None and "generator" not in state["rng"]:
        raise CheckpointError(f"checkpoint {str(path)!r} holds no batch-generator state, but a generator was passed")
    # All checks passed: now change things.
    with torch.no_grad():
        own = raw.state_dict()
        for name, tensor in weights.items():
            own[name].copy_(tensor)
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    if restore_rng:
        set_rng_state(state["rng"], generator)
    return {"step": state["step"], "extra": state["extra"]}
