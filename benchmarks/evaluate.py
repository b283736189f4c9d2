"""Evaluation speed: ours against request-by-request scoring and lm-evaluation-harness, in one run.

    python benchmarks/evaluate.py [--subjects 2] [--per-subject 4] [--piqa 24] [--rounds 1] [--threads N]
                                  [--batch-size 16] [--quick]

The reference is the plainest correct scorer, one forward pass per (context, continuation) request
(``batch_size=1``, no prefix sharing; identical model inputs are still merged, so it is, if anything, a
little faster than scoring every request). Ours batches requests of similar length and, for five-shot
MMLU, runs each subject's shared five-shot prefix once and reuses its keys and values. Both must give the
same log-likelihoods (checked to 1e-3 nats), so the ratio is the price of the simple loop. The two are
timed with :func:`llmbook.timing.interleaved_medians` (alternating order, median of ``--rounds``).

Then the same against lm-evaluation-harness (``lm_eval``, when installed): its Hugging Face
wrapper's ``HFLM.loglikelihood`` on the same model object, the same requests (our prompts, which
``tests/test_harness.py`` proves are the harness's) and the same CPU, both with ``--batch-size``
sequences per forward pass. Their log-likelihoods must agree to 1e-4 nats; the ratio printed is the
harness's seconds over ours, measured in this one run (issue 17's target: at least 1.5x on few-shot
MMLU, where ours computes each subject's five solved examples once and the harness every time).
``--quick`` measures that comparison alone, on fewer questions.
"""
from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

# benchmarks/tokenizers.py would shadow the `tokenizers` package that transformers imports.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parents[1]
if not os.environ.get("LLMBOOK_DATA_DIR") and (ROOT.parent / "shared" / "data").is_dir():
    os.environ["LLMBOOK_DATA_DIR"] = str(ROOT.parent / "shared" / "data")

import numpy as np  # noqa: E402

from llmbook import data  # noqa: E402
from llmbook.evaluate import fewshot_contexts, mmlu_items, multiple_choice, piqa_items  # noqa: E402
from llmbook.pretrained import load_smollm2  # noqa: E402
from llmbook.timing import interleaved_medians  # noqa: E402

SUBJECTS = ["management", "world_religions", "human_aging", "conceptual_physics", "marketing"]
SCORERS = {"request by request": dict(batch_size=1, share_prefix=False), "llmbook": dict(batch_size=16)}
HARNESS_ATOL = 1e-4  # nats: the harness sums a continuation's log-probs in float32, we in float64


def time_scorers(model, tokenizer, task: dict, rounds: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Median seconds of each scorer on ``task`` (timed interleaved), and the log-likelihoods it gave."""
    loglik = {}

    def score(name: str) -> None:
        result = multiple_choice(model, tokenizer, progress=False, **SCORERS[name], **task)
        loglik[name] = np.concatenate(result.loglikelihoods)

    seconds = interleaved_medians({name: partial(score, name) for name in SCORERS}, rounds=rounds, warmup=0)
    return seconds, loglik


def time_against_harness(model, tokenizer, task: dict, rounds: int, batch_size: int
                         ) -> tuple[dict[str, float], float]:
    """Median seconds of lm-evaluation-harness's ``HFLM.loglikelihood`` and of ours on the requests
    of ``task`` (timed interleaved), and the largest difference between their log-likelihoods."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    harness = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size,
                   device=str(model.device))
    shots = task.get("num_fewshot", 0)
    contexts = fewshot_contexts(task["items"], task.get("fewshot_items"), shots,
                                sampler=task.get("sampler", "random"))
    pairs = [(context, " " + choice)
             for context, item in zip(contexts, task["items"]) for choice in item["choices"]]
    requests = [Instance(request_type="loglikelihood", doc={}, arguments=pair, idx=i)
                for i, pair in enumerate(pairs)]
    loglik = {}

    def run_harness() -> None:
        scores = harness.loglikelihood(requests, disable_tqdm=True)
        loglik["harness"] = np.array([ll for ll, _ in scores])

    def run_ours() -> None:
        result = multiple_choice(model, tokenizer, progress=False, batch_size=batch_size, **task)
        loglik["llmbook"] = np.concatenate(result.loglikelihoods)

    seconds = interleaved_medians({"harness": run_harness, "llmbook": run_ours}, rounds=rounds,
                                  warmup=0)
    return seconds, float(np.abs(loglik["harness"] - loglik["llmbook"]).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=2)
    parser.add_argument("--per-subject", type=int, default=4)
    parser.add_argument("--piqa", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=1, help="timed runs of each scorer (the median is shown)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--batch-size", type=int, default=16,
                        help="sequences per forward pass, ours and the harness's")
    parser.add_argument("--quick", action="store_true",
                        help="only the comparison with lm-evaluation-harness, on fewer items")
    args = parser.parse_args()
    if args.quick:
        args.subjects, args.per_subject, args.piqa = 2, 3, 12
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
    for task in tasks.values():
        multiple_choice(model, tokenizer, task["items"][:2], progress=False)  # warm-up: first calls allocate
    if not args.quick:
        print(f"{'task':32s} {'request by request':>20s} {'llmbook':>10s} {'speed-up':>9s}")
        for name, task in tasks.items():
            seconds, loglik = time_scorers(model, tokenizer, task, args.rounds)
            np.testing.assert_allclose(loglik["llmbook"], loglik["request by request"], atol=1e-3)
            t_ours, t_plain = seconds["llmbook"], seconds["request by request"]
            print(f"{name:32s} {t_plain:18.1f} s {t_ours:8.1f} s {t_plain / t_ours:8.2f}×")

    try:
        import lm_eval
    except ImportError:
        print("lm-evaluation-harness is not installed (pip install lm-eval): no comparison with it")
        return
    harness_name = "lm-eval " + lm_eval.__version__
    print(f"\n{'task':32s} {harness_name:>20s} {'llmbook':>10s} {'speed-up':>9s} "
          f"{'max |Δ loglik|':>15s}")
    for name, task in tasks.items():
        seconds, worst = time_against_harness(model, tokenizer, task, args.rounds, args.batch_size)
        assert worst <= HARNESS_ATOL, f"{name}: the log-likelihoods differ by {worst:.2e} nats"
        t_ours, t_harness = seconds["llmbook"], seconds["harness"]
        ratio = t_harness / t_ours
        print(f"{name:32s} {t_harness:18.1f} s {t_ours:8.1f} s {ratio:8.2f}× {worst:15.1e}")


if __name__ == "__main__":
    main()
