"""Sizes of notebooks/00_how_to_use.ipynb: `ci` and `full` side by side, then the dry-run caps.
"""
from __future__ import annotations

CI = dict(text_fraction=0.25, top_k_chars=20)

FULL = dict(text_fraction=1.0, top_k_chars=40)

# What a dry run of the full profile replaces (merged key by key into the cut sizes).
DRY_RUN = dict()
