"""Harness speed: llmbook.evaluate.multiple_choice against request-by-request scoring, measured in one run.

    python benchmarks/evaluate.py [--subjects 2] [--per-subject 4] [--piqa 24] [--threads N]

The reference is the plainest correct scorer, one forward pass per (context, continuation) request
(``batch_size=1``, no prefix sharing; identical model inputs are still merged, so it is, if anything, a
little faster than scoring every request). Ours batches requests of similar length and, for five-shot
MMLU, runs each subject's shared five-shot prefix once and reuses its keys and values. Both must give the
same log-likelihoods (checked to 1e-3 nats), so the ratio is the price of the simple loop.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# benchmarks/tokenizers.py would shadow the `tokenizers` package that transformers imports.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parents[1]
if not os.environ.get("LLMBOOK_DATA_DIR") and (ROOT.parent / "shared" / "data").is_dir():
    os.environ["LLMBOOK_DATA_DIR"] = str(ROOT.parent / "shared" / "data")

import numpy as np  # noqa: E402

from llmbook import data  # noqa: E402
from llmbook.evaluate import mmlu_items, multiple_choice, piqa_items  # noqa: E402
from llmbook.pretrained import load_smollm2  # noqa: E402

SUBJECTS = ["management", "world_religions", "human_aging", "conceptual_physics", "marketing"]


def timed(**kwargs):
    t0 = time.perf_counter()
    result = multiple_choice(progress=False, **kwargs)
    return result, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=2)
    parser.add_argument("--per-subject", type=int, default=4)
    parser.add_argument("--piqa", type=int, default=24)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    model, tokenizer = load_smollm2(device="cpu")
    test, dev = data.load("mmlu", "test"), data.load("mmlu", "dev")
    subjects = SUBJECTS[: args.subjects]
    mmlu = [it for s in subjects for it in mmlu_items(test, s)[: args.per_subject]]
    pools = {s: mmlu_items(dev, s) for s in subjects}
    piqa = piqa_items(data.load("piqa", "val")[: args.piqa])
    tasks = {
        f"MMLU 5-shot ({len(mmlu)} questions)": dict(items=mmlu, num_fewshot=5, fewshot_items=pools, sampler="first_n"),
        f"PIQA 0-shot ({len(piqa)} items)": dict(items=piqa),
    }
    print(f"{'task':32s} {'request by request':>20s} {'llmbook':>10s} {'speed-up':>9s}")
    for name, task in tasks.items():
        multiple_choice(model, tokenizer, task["items"][:2], progress=False)  # warm-up: first calls allocate
        ours, t_ours = timed(model=model, tokenizer=tokenizer, batch_size=16, **task)
        plain, t_plain = timed(model=model, tokenizer=tokenizer, batch_size=1, share_prefix=False, **task)
        np.testing.assert_allclose(np.concatenate(ours.loglikelihoods), np.concatenate(plain.loglikelihoods), atol=1e-3)
        print(f"{name:32s} {t_plain:18.1f} s {t_ours:8.1f} s {t_plain / t_ours:8.2f}×")


if __name__ == "__main__":
    main()
