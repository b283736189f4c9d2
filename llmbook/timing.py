"""Timing code fairly: warm-up, a device sync around each call, interleaved repeats, the median.

One helper serves the benchmarks, :func:`llmbook.evaluate.profile_model` and the notebooks. Two
functions timed one after the other can see different machines: a background job starts, the CPU
clocks down. Interleaving (A B, B A, A B, ...) exposes both to the same drift, and the median ignores
the odd slow round.

>>> medians = interleaved_medians({"ours": lambda: f(x), "torch": lambda: g(x)}, rounds=10)
>>> medians["ours"] / medians["torch"]
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Mapping

import torch

__all__ = ["seconds", "interleaved_medians", "median_seconds"]


def _sync(device: torch.device | str | None) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn: Callable[[], Any], device: torch.device | str | None = None) -> float:
    """Wall-clock seconds of one call of ``fn()``; on a CUDA ``device`` queued kernels are waited for
    before and after, so the time is the work's and not the launch's."""
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def interleaved_medians(fns: Mapping[str, Callable[[], Any]], rounds: int, warmup: int = 1,
                        device: torch.device | str | None = None,
                        setup: Callable[[], Any] | None = None) -> dict[str, float]:
    """Median seconds per call of each function, after ``warmup`` untimed calls of each, timed over
    ``rounds`` rounds in alternating order (forward on even rounds, reversed on odd ones).

    ``setup()``, if given, runs untimed before every timed call (e.g. clearing a cache)."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive int, got {rounds!r}")
    if not fns:
        raise ValueError("give at least one function to time")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            if setup is not None:
                setup()
            times[name].append(seconds(fns[name], device))
    return {name: statistics.median(values) for name, values in times.items()}


def median_seconds(fn: Callable[[], Any], repeats: int, warmup: int = 1,
                   device: torch.device | str | None = None,
                   setup: Callable[[], Any] | None = None) -> float:
    """Median seconds of ``repeats`` timed calls of ``fn()`` after ``warmup`` untimed ones."""
    return interleaved_medians({"fn": fn}, repeats, warmup, device, setup)["fn"]
