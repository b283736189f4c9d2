"""Run profiles and chapter sizes: one notebook, two sizes, one module per chapter.

Each notebook has a papermill ``parameters`` cell with ``profile = "ci"``. ``ci`` fits a 2-core CPU in
well under three minutes per notebook; ``full`` is the size that reproduces the published figures a
chapter cites, on one GPU. Both run the same code: only the sizes differ.

A chapter's sizes live in one module beside this file, ``chNN.py`` for ``notebooks/NN_name.ipynb``,
with three tables side by side: ``CI``, ``FULL`` and ``DRY_RUN`` (the dry-run caps). Where a size is
a model or a training run, it is written as the package's own config (``GPTConfig(...)``,
``TrainConfig(...)``), so that the notebook builds the model and the trainer from it in one line. To
add a chapter, add its ``chNN.py``. A notebook reads its sizes as ``sizes = run.sizes`` and then
``sizes.char_train`` (attribute) or ``sizes["char_train"]`` (key).

A **dry run** (:func:`dry_run_sizes`; ``LLMBOOK_DRY_RUN=1`` or
``python -m llmbook.book execute --dry-run``) keeps a profile's model shapes but cuts every training
run to a few steps and the data to a slice, so the ``full`` code path can be executed on a CPU in
minutes before an hour of GPU time is spent on it. Its numbers mean nothing and are never checked
against bands.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib
import os
import pkgutil
from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["PROFILES", "Sizes", "sizes", "table", "chapters", "check_profile", "dry_run_sizes",
           "dry_run_requested", "DRY_RUN_ENV", "DRY_RUN_STEPS"]

PROFILES = ("ci", "full")


class Sizes(Mapping[str, Any]):
    """Read-only sizes of one notebook in one profile; read them as attributes or keys.

    >>> s = sizes("00_how_to_use", "ci"); s.text_fraction
    0.25
    """

    def __init__(self, notebook: str, profile: str, values: Mapping[str, Any]):
        self._notebook, self._profile = notebook, profile
        self._values = MappingProxyType(dict(values))

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(
                f"profile {self._profile!r} of notebook {self._notebook!r} has no size {key!r}; "
                f"it has {sorted(self._values)} (add it to {_module_name(self._notebook)})"
            ) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Sizes({self._notebook!r}, {self._profile!r}, {dict(self._values)})"


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is a known profile name, else raise a ``ValueError`` naming the choices."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: use one of {PROFILES} "
                         "(set it in the notebook's parameters cell)")
    return profile


def _module_name(notebook: str) -> str:
    return f"{__name__}.ch{notebook[:2]}"


def chapters() -> list[str]:
    """The modules that hold chapter sizes (``["ch00", "ch01", ...]``)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("ch"))


def table(notebook: str, profile: str) -> dict[str, Any]:
    """A deep copy of the ``CI`` or ``FULL`` table of ``notebook`` (its file stem, ``"01_history"``)."""
    check_profile(profile)
    prefix = notebook[:2]
    if not (prefix.isdigit() and f"ch{prefix}" in chapters()):
        raise KeyError(f"no sizes for notebook {notebook!r}: add llmbook/book/sizes/ch{prefix}.py with CI, "
                       f"FULL and DRY_RUN (known: {chapters()})")
    module = importlib.import_module(_module_name(notebook))
    return copy.deepcopy(getattr(module, profile.upper()))


def sizes(notebook: str, profile: str, dry_run: bool = False) -> Sizes:
    """The sizes of ``notebook`` (its file stem, e.g. ``"01_history"``) in ``profile``; cut down if
    ``dry_run``."""
    values = dry_run_sizes(notebook, profile) if dry_run else table(notebook, profile)
    return Sizes(notebook, profile, values)


# ------------------------------------------------------------------------- dry runs

DRY_RUN_ENV = "LLMBOOK_DRY_RUN"
DRY_RUN_STEPS = 4
# Cuts by name, wherever the name appears in a chapter's sizes (a key of a dict or a field of a config):
# step counts, evaluation cadence and batch rows. Shapes (layers, widths, block sizes, vocabularies) are
# never cut: they are what a dry run checks.
_DRY_RUN_CUTS = {
    "steps": DRY_RUN_STEPS, "max_steps": DRY_RUN_STEPS, "ddp_steps": DRY_RUN_STEPS, "batch_size": 4,
    "eval_interval": 2, "eval_steps": 2, "warmup_steps": 1, "patience": 1, "early_stopping_patience": 1,
    "sample_interval": 2,
}


def _capped(key: str, value: Any) -> Any:
    if key in _DRY_RUN_CUTS and isinstance(value, int) and not isinstance(value, bool):
        return min(value, _DRY_RUN_CUTS[key])
    return _cut(value)


def _cut(values: Any) -> Any:
    if isinstance(values, dict):
        return {key: _capped(key, value) for key, value in values.items()}
    if dataclasses.is_dataclass(values) and not isinstance(values, type):
        changes = {f.name: _capped(f.name, getattr(values, f.name)) for f in dataclasses.fields(values)
                   if f.init}
        return dataclasses.replace(values, **changes)
    return values


def _merge(base: dict[str, Any], caps: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in caps.items():
        if key not in base:
            raise KeyError(f"dry-run cap {key!r} is not a size of this notebook (sizes: {sorted(base)})")
        nested = isinstance(value, dict) and isinstance(base[key], dict)
        merged[key] = _merge(base[key], value) if nested else value
    return merged


def dry_run_sizes(notebook: str, profile: str = "full") -> dict[str, Any]:
    """``profile``'s sizes of ``notebook`` with the same shapes but training cut to a few steps.

    Every integer named in ``_DRY_RUN_CUTS`` (``steps``, ``max_steps``, ``batch_size``,
    ``eval_interval``, ...) is capped, at any depth, in dicts and in config dataclasses alike; then the
    chapter's ``DRY_RUN`` table replaces its data slices. ``None`` (for example "no early stopping")
    stays ``None``.
    """
    values = table(notebook, profile)  # checks that the chapter has sizes
    return _merge(_cut(values), importlib.import_module(_module_name(notebook)).DRY_RUN)


def dry_run_requested() -> bool:
    """Whether ``$LLMBOOK_DRY_RUN`` asks for a dry run (``1``/``true``/``yes``; ``0``/``false``/empty:
    no)."""
    value = os.environ.get(DRY_RUN_ENV, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(f"${DRY_RUN_ENV}={value!r}: use 1 (a dry run) or 0 (a real run)")
