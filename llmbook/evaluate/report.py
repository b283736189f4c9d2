"""The report card: every model of the book on one benchmark suite, with CIs and published figures.

``python -m llmbook.evaluate report`` scores each model it is given on the suite (:data:`SUITE`),
sets the published figure beside each result where the model card gives one
(:data:`llmbook.evaluate.suites.PUBLISHED`), and writes a Markdown table and a figure::

    python -m llmbook.evaluate report                          # SmolLM2, the whole suite (slow)
    python -m llmbook.evaluate report --limit 50 --per-subject 1        # a seeded quick card
    python -m llmbook.evaluate report --extra-model runs/sft --gpt runs/gpt --out-dir card

* the language models (SmolLM2 always; ``--extra-model``: any Hugging Face causal LM folder, e.g. a
  fine-tuned or preference-optimised SmolLM2 of Part IV) are scored by log-likelihood on the
  multiple-choice suite (:func:`evaluate_suite`), zero-shot by default (the card's setting);
* the book's own GPTs (``--gpt``: a checkpoint written by :func:`save_gpt`) are character-level
  models of TinyShakespeare: they get their perplexity on its validation split
  (:func:`gpt_perplexity`), with a bootstrap interval over text chunks.

The notebook calls the same functions with a model already in memory (:func:`card_rows`,
:func:`write_report`), so its card and the command's agree item for item.
"""
from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..metrics import bootstrap_ci
from .scoring import MultipleChoiceResult, multiple_choice
from .suites import BENCHMARK_NAMES, PUBLISHED, add_run_options
from .tasks import TASKS, load_task

__all__ = ["SUITE", "CARD_METRIC", "CARD_MODEL", "evaluate_suite", "card_rows", "save_gpt",
           "gpt_perplexity", "markdown_table", "card_figure", "write_report", "main"]

SUITE = ("piqa", "arc_easy", "arc_challenge", "hellaswag", "mmlu_cloze", "mmlu", "cmmlu")
# The metric each benchmark is read with: acc_norm where the choices are texts of different lengths
# (the card's choice), acc where they are the letters A-D.
CARD_METRIC = {"piqa": "acc_norm", "arc_easy": "acc_norm", "arc_challenge": "acc_norm",
               "hellaswag": "acc_norm", "mmlu_cloze": "acc_norm", "mmlu": "acc", "cmmlu": "acc"}
_PUBLISHED_KEY = {"mmlu_cloze": "mmlu-cloze"}  # task name -> key of suites.PUBLISHED
CARD_MODEL = "SmolLM2-135M-Instruct"  # the model whose card PUBLISHED quotes
_BY_SUBJECT = ("mmlu", "mmlu_cloze", "cmmlu")
GPT_FORMAT = "llmbook-report-gpt-1"


def _check_tasks(tasks: Sequence[str]) -> list[str]:
    if isinstance(tasks, str):
        tasks = [tasks]
    unknown = [name for name in tasks if name not in TASKS]
    if unknown or not tasks:
        raise ValueError(f"unknown task(s) {unknown or tasks!r}: choose from {list(SUITE)}")
    return list(tasks)


def evaluate_suite(
    model: Any,
    tokenizer: Any,
    tasks: Sequence[str] = SUITE,
    limit: int | Mapping[str, int | None] | None = None,
    per_subject: int | None = None,
    subjects: Mapping[str, Sequence[str]] | None = None,
    num_fewshot: int = 0,
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = False,
) -> dict[str, MultipleChoiceResult]:
    """Score ``model`` on each of ``tasks`` (keys of :data:`llmbook.evaluate.tasks.TASKS`).

    ``limit`` seeded items of each benchmark (``None``: all; a dict gives each task its own);
    MMLU and CMMLU draw ``per_subject`` questions of each subject instead (of ``subjects[task]``
    if given, else of all). Every task runs ``num_fewshot``-shot (default 0, the SmolLM2 card's
    setting; PIQA, HellaSwag and ARC have no few-shot split in the book's data and always run
    0-shot).
    """
    tasks = _check_tasks(tasks)
    results = {}
    for name in tasks:
        if name in _BY_SUBJECT:
            chosen = None if subjects is None else subjects.get(name)
            task = load_task(name, seed=seed, subjects=chosen, per_subject=per_subject,
                             num_fewshot=num_fewshot if name != "mmlu_cloze" else 0)
        else:
            n = limit.get(name) if isinstance(limit, Mapping) else limit
            task = load_task(name, n=n, seed=seed, num_fewshot=0)
        results[name] = multiple_choice(model, tokenizer, **task, batch_size=batch_size, seed=seed,
                                        progress=progress)
    return results


def card_rows(model_name: str, results: Mapping[str, MultipleChoiceResult]) -> list[dict[str, Any]]:
    """One row per benchmark of ``results`` (:func:`evaluate_suite`): the card's metric
    (:data:`CARD_METRIC`), its 95 % interval and, for ``model_name == CARD_MODEL``, the published
    figure (``None`` where the card gives none, and for every other model: a fine-tuned SmolLM2
    is not the model of the card)."""
    rows = []
    for name, result in results.items():
        metric = CARD_METRIC[name]
        ci = result.acc_ci if metric == "acc" else result.acc_norm_ci
        key = _PUBLISHED_KEY.get(name, name)
        published = PUBLISHED.get((key, metric)) if model_name == CARD_MODEL else None
        rows.append({"model": model_name, "benchmark": BENCHMARK_NAMES.get(key, name),
                     "metric": metric, "n_items": result.n_items, "num_fewshot": result.num_fewshot,
                     "estimate": ci.estimate, "low": ci.low, "high": ci.high,
                     "published": published,
                     "inside": None if published is None else bool(ci.low <= published <= ci.high)})
    return rows


# ---------------------------------------------------------------- the book's GPTs: perplexity


def save_gpt(path: str | Path, model: torch.nn.Module, corpus: str = "tinyshakespeare") -> Path:
    """Save a character-level GPT of ``corpus`` (only ``"tinyshakespeare"``, whose characters
    :func:`llmbook.data.char_data` defines) so that ``report --gpt PATH`` can score it."""
    from ..train import save_checkpoint

    if corpus != "tinyshakespeare":
        raise ValueError(f"corpus={corpus!r}: the report scores character-level TinyShakespeare "
                         "GPTs only (their tokenizer is llmbook.data.char_data's)")
    extra = {"format": GPT_FORMAT, "gpt_config": asdict(model.config), "corpus": corpus}
    return save_checkpoint(path, model, extra=extra)


def gpt_perplexity(path: str | Path, max_tokens: int | None = 20_000, seed: int = 0,
                   device: str | torch.device = "cpu") -> dict[str, Any]:
    """Character-level perplexity of the GPT saved at ``path`` (:func:`save_gpt`) on
    TinyShakespeare's validation split (its first ``max_tokens`` characters; ``None``: all), with
    a 95 % interval.

    The text is cut into disjoint chunks of the model's ``block_size`` characters; the perplexity
    is :math:`\\exp` of the mean negative log-likelihood of the predicted characters, and the
    interval comes from resampling the chunks (:func:`llmbook.metrics.bootstrap_ci`).
    """
    from .. import data
    from ..models import GPT, GPTConfig
    from ..train import load_checkpoint

    extra = _read_extra(path)
    if extra.get("format") != GPT_FORMAT:
        raise ValueError(f"{path} is not a GPT saved for the report: save it with "
                         "llmbook.evaluate.report.save_gpt(path, model)")
    model = GPT(GPTConfig(**extra["gpt_config"]))
    load_checkpoint(path, model, restore_rng=False)
    model.to(device).eval()
    _, _, val_ids = data.char_data()
    ids = val_ids if max_tokens is None else val_ids[:max_tokens]
    block = model.config.block_size
    n_chunks = (len(ids) - 1) // block
    if n_chunks < 2:
        raise ValueError(f"max_tokens={max_tokens} leaves fewer than 2 chunks of {block} "
                         "characters: pass more (or None: all)")
    x = ids[:n_chunks * block].view(n_chunks, block)
    y = ids[1:n_chunks * block + 1].view(n_chunks, block)
    nll = []
    with torch.no_grad():
        for start in range(0, n_chunks, 32):
            logits, _ = model(x[start:start + 32].to(device))
            losses = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(),
                                                       y[start:start + 32].flatten().to(device),
                                                       reduction="none")
            nll.append(losses.view(-1, block).mean(dim=1).cpu())
    chunk_nll = torch.cat(nll).double().numpy()  # (n_chunks,) mean NLL per chunk, equal lengths
    ci = bootstrap_ci(chunk_nll, lambda c: math.exp(float(np.mean(c))), seed=seed)
    return {"model": Path(path).name, "benchmark": "TinyShakespeare val", "metric": "perplexity",
            "n_items": int(n_chunks * block), "num_fewshot": 0, "estimate": ci.estimate,
            "low": ci.low, "high": ci.high, "published": None, "inside": None}


def _read_extra(path: str | Path) -> dict[str, Any]:
    from ..train.checkpoint import STATE, CheckpointError

    state = Path(path) / STATE
    if not state.is_file():
        raise CheckpointError(f"no checkpoint at {path}: pass a folder written by "
                              "llmbook.evaluate.report.save_gpt")
    return torch.load(state, map_location="cpu", weights_only=False).get("extra", {})


# ---------------------------------------------------------------- the card: a table and a figure


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The card as a Markdown table: model, benchmark, metric, items, shots, estimate [95 % CI],
    published figure and whether the interval holds it."""
    lines = ["| model | benchmark | metric | items | shots | ours [95 % CI] | published | inside |",
             "|---|---|---|---:|---:|---|---:|:---:|"]
    for row in rows:
        fmt = "{:.1f}" if row["metric"] == "perplexity" else "{:.3f}"
        low, high = fmt.format(row["low"]), fmt.format(row["high"])
        ours = f"{fmt.format(row['estimate'])} [{low}, {high}]"
        published = "–" if row["published"] is None else f"{row['published']:.3f}"
        inside = "–" if row["inside"] is None else ("yes" if row["inside"] else "no")
        lines.append(f"| {row['model']} | {row['benchmark']} | {row['metric']} | "
                     f"{row['n_items']} | {row['num_fewshot']} | {ours} | {published} | {inside} |")
    return "\n".join(lines) + "\n"


def card_figure(rows: Sequence[Mapping[str, Any]], title: str = "Report card"):
    """Accuracies with their 95 % intervals (one row per model and benchmark) and the published
    figures; perplexities, if any, in a second panel. Returns the matplotlib figure."""
    from .. import plot

    accuracy = [r for r in rows if r["metric"] != "perplexity"]
    perplexity = [r for r in rows if r["metric"] == "perplexity"]
    groups = [group for group in (accuracy, perplexity) if group]
    if not groups:
        raise ValueError("no rows to draw: pass the rows of card_rows() or gpt_perplexity()")
    height = 1.2 + 0.35 * max(len(group) for group in groups)
    fig, axes = plot.figure(ncols=len(groups), width=5.5 * len(groups), height=height)
    for ax, group in zip(np.atleast_1d(axes), groups):
        labels = [f"{r['model']}: {r['benchmark']} ({r['metric']})" for r in group]
        y = np.arange(len(group))[::-1]
        est = np.array([r["estimate"] for r in group])
        err = np.array([[r["estimate"] - r["low"] for r in group],
                        [r["high"] - r["estimate"] for r in group]])
        ax.errorbar(est, y, xerr=err, fmt="o", capsize=3, label="ours, 95 % CI")
        published = [(r["published"], yy) for r, yy in zip(group, y) if r["published"] is not None]
        if published:
            ax.plot(*zip(*published), "x", color="C3", markersize=9, label="published (model card)")
        ax.set_yticks(y, labels)
        is_ppl = group is perplexity
        ax.set_xlabel("perplexity (characters)" if is_ppl else "accuracy")
        ax.set_ylabel("model: benchmark")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, fontsize=8)
    fig.suptitle(title)
    return fig


def write_report(rows: Sequence[Mapping[str, Any]], out_dir: str | Path,
                 title: str = "Report card") -> tuple[Path, Path]:
    """Write ``report.md`` (the table), ``report.png`` (the figure) and ``report.json`` (the rows)
    into ``out_dir``; return the paths of the table and the figure."""
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table, figure = out / "report.md", out / "report.png"
    note = ("\nCMMLU (Li et al., 2024) is licensed CC BY-NC-SA 4.0: non-commercial use, share "
            "alike.\n" if any(row["benchmark"] == "CMMLU" for row in rows) else "")
    table.write_text(f"# {title}\n\n" + markdown_table(rows) + note, encoding="utf-8")
    fig = card_figure(rows, title)
    fig.savefig(figure, dpi=120, bbox_inches="tight")
    plt.close(fig)
    (out / "report.json").write_text(json.dumps(list(rows), indent=1), encoding="utf-8")
    return table, figure


# ---------------------------------------------------------------- the command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m llmbook.evaluate report",
                                     description="The report card: every model on the suite, with "
                                                 "CIs and published figures.")
    parser.add_argument("--tasks", nargs="+", default=list(SUITE),
                        help=f"default: {' '.join(SUITE)}")
    parser.add_argument("--limit", type=int, default=None,
                        help="PIQA, HellaSwag, ARC: a seeded subset of this size (default: all)")
    parser.add_argument("--per-subject", type=int, default=None,
                        help="MMLU, CMMLU: a seeded subset of each subject (default: all)")
    parser.add_argument("--shots", type=int, default=0, help="MMLU and CMMLU few-shot examples")
    parser.add_argument("--extra-model", nargs="*", default=[], metavar="PATH",
                        help="more Hugging Face causal LMs (e.g. fine-tuned SmolLM2 folders)")
    parser.add_argument("--gpt", nargs="*", default=[], metavar="CKPT",
                        help="the book's GPT checkpoints (report.save_gpt): perplexity")
    parser.add_argument("--gpt-tokens", type=int, default=20_000,
                        help="TinyShakespeare validation characters for the GPT perplexity")
    parser.add_argument("--out-dir", type=Path, default=Path("report"),
                        help="where report.md, report.png and report.json go")
    add_run_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """``python -m llmbook.evaluate report ...`` (``argv`` without the word ``report``): score,
    print and write the card; return its rows."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        tasks = _check_tasks(args.tasks)
    except ValueError as exc:
        parser.error(str(exc))
    for option, value in (("--limit", args.limit), ("--per-subject", args.per_subject)):
        if value is not None and value < 1:  # before any model loads
            parser.error(f"{option} must be a positive int (or left out: all items), got {value}")
    if args.shots < 0:
        parser.error(f"--shots must be 0 or more, got {args.shots}")
    for checkpoint in args.gpt:
        if not Path(checkpoint).is_dir():
            parser.error(f"--gpt {checkpoint}: no such checkpoint folder (write one with "
                         "llmbook.evaluate.report.save_gpt)")

    from ..pretrained import load_smollm2

    if args.threads:
        torch.set_num_threads(args.threads)
    rows: list[dict[str, Any]] = []
    first = CARD_MODEL if args.model is None else Path(args.model).name
    models = [(first, args.model)]
    models += [(Path(path).name, path) for path in args.extra_model]
    for name, source in models:
        model, tokenizer = load_smollm2(source, device=args.device)
        results = evaluate_suite(model, tokenizer, tasks, args.limit, args.per_subject,
                                 num_fewshot=args.shots, seed=args.seed, batch_size=args.batch_size,
                                 progress=not args.quiet)
        rows += card_rows(name, results)
        del model
    for checkpoint in args.gpt:
        rows.append(gpt_perplexity(checkpoint, args.gpt_tokens, args.seed, args.device or "cpu"))
    table, figure = write_report(rows, args.out_dir)
    print(markdown_table(rows))
    print(f"wrote {table} and {figure}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))
    return rows
