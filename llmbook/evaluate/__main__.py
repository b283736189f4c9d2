"""``python -m llmbook.evaluate <benchmark> ...``: score a model on a benchmark from the terminal.

HellaSwag, ARC and CMMLU run here, through :func:`llmbook.evaluate.tasks.load_task` (the same items,
prompts and seeds as a notebook that calls it)::

    python -m llmbook.evaluate hellaswag --limit 200          # a seeded 200 of the 10,042 items
    python -m llmbook.evaluate arc_easy                       # all 2,376 test questions, zero-shot
    python -m llmbook.evaluate arc_challenge --limit 100 --out arc_c.json
    python -m llmbook.evaluate cmmlu --per-subject 5          # 5-shot, 5 questions x 67 subjects
    python -m llmbook.evaluate cmmlu --subjects chinese_history --shots 0
    python -m llmbook.evaluate report --limit 50 --per-subject 1   # the report card (report.py)

Every other command (``piqa``, ``mmlu``, ...) is :func:`llmbook.evaluate.suites.main`'s.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from . import suites
from .scoring import multiple_choice
from .tasks import load_task

COMMANDS = ("hellaswag", "arc_easy", "arc_challenge", "cmmlu")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m llmbook.evaluate", description=__doc__.splitlines()[0],
        epilog="piqa, mmlu and the other commands: python -m llmbook.evaluate piqa --help; "
               "the report card: python -m llmbook.evaluate report --help")
    parser.add_argument("benchmark", choices=COMMANDS)
    parser.add_argument("--limit", type=int, default=None,
                        help="HellaSwag, ARC: a seeded random subset of this size (default: all)")
    parser.add_argument("--subjects", nargs="+", default=None,
                        help="CMMLU subjects (default: all 67)")
    parser.add_argument("--per-subject", type=int, default=None,
                        help="CMMLU: a seeded subset of each subject")
    parser.add_argument("--shots", type=int, default=None,
                        help="CMMLU few-shot examples from the dev split (default 5; the others "
                             "run 0-shot)")
    suites.add_run_options(parser)
    return parser


def run_command(argv: Sequence[str]) -> dict[str, Any]:
    """Run one of :data:`COMMANDS`: load the model, score the benchmark, print its figures."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.benchmark == "cmmlu" and args.limit is not None:
        parser.error("--limit is not a CMMLU option: use --per-subject or --subjects")
    if args.benchmark != "cmmlu" and (args.subjects or args.per_subject or args.shots):
        parser.error(f"--subjects, --per-subject and --shots are CMMLU options; {args.benchmark} "
                     "runs zero-shot on --limit items")
    try:  # bad sizes and subjects, before the model loads
        task = load_task(args.benchmark, n=args.limit, seed=args.seed, subjects=args.subjects,
                         per_subject=args.per_subject, num_fewshot=args.shots)
    except ValueError as exc:
        parser.error(str(exc))

    import torch

    from ..pretrained import load_smollm2

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_smollm2(args.model, device=args.device)
    result = multiple_choice(model, tokenizer, **task, batch_size=args.batch_size, seed=args.seed,
                             progress=not args.quiet)
    return suites.report(args.benchmark, result, args.out,
                         title=suites.BENCHMARK_NAMES[args.benchmark])


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | list[dict[str, Any]] | None:
    """:data:`COMMANDS` run here, ``report`` in :mod:`llmbook.evaluate.report`; everything else
    goes to :func:`llmbook.evaluate.suites.main`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:
        from .report import main as report_main

        return report_main(argv[1:])
    if argv and argv[0] in COMMANDS:
        return run_command(argv)
    if argv[:1] in ([], ["-h"], ["--help"]):
        _parser().print_help()
        print()
    return suites.main(argv)


if __name__ == "__main__":
    main()
