"""Run profiles: one notebook, two sizes.

Each notebook has a papermill ``parameters`` cell with ``profile = "ci"``. ``ci`` fits a 2-core CPU in
well under three minutes per notebook; ``full`` is the size that reproduces the published figures a
chapter cites, on one GPU. Both run the same code: only the numbers in :data:`SIZES` differ.

To add a chapter, add one entry to :data:`SIZES` keyed by the notebook's file stem.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["PROFILES", "SIZES", "Sizes", "sizes", "check_profile"]

PROFILES = ("ci", "full")

# notebook stem -> profile -> sizes. Keys are free-form but say what they size (steps, n_layer, fraction...).
SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "00_how_to_use": {
        "ci": {"text_fraction": 0.25, "top_k_chars": 20},
        "full": {"text_fraction": 1.0, "top_k_chars": 40},
    },
}


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
                f"it has {sorted(self._values)} (add it to llmbook.profiles.SIZES)"
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
        raise ValueError(f"unknown profile {profile!r}: use one of {PROFILES} (set it in the notebook's parameters cell)")
    return profile


def sizes(notebook: str, profile: str) -> Sizes:
    """The sizes of ``notebook`` (its file stem, e.g. ``"01_history"``) in ``profile``."""
    check_profile(profile)
    if notebook not in SIZES:
        raise KeyError(f"no sizes for notebook {notebook!r}: add an entry to llmbook.profiles.SIZES (known: {sorted(SIZES)})")
    return Sizes(notebook, profile, SIZES[notebook][profile])
