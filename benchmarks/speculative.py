"""Speculative decoding: llmbook.generate.speculative_generate against plain greedy decoding of the
target, in one run, on the draft/target pair that notebooks/15_efficiency.ipynb trains.

    python benchmarks/speculative.py                  # the ci pair (trained here in about a minute)
    python benchmarks/speculative.py --profile full   # the full pair (a GPU run; long on a CPU)
    python benchmarks/speculative.py --k 2 3 4        # draft tokens per round to compare

The pair, from the chapter's sizes (``llmbook/book/sizes/ch15.py``): the target is the chapter's
"larger run" (``predict_model``), the draft the smallest model of its scaling grid
(``scaling_models[0]``), both character-level GPTs trained on tinyshakespeare for the grid's largest
budget with the chapter's training settings. Each is trained here with the chapter's seed, so the
pair is the chapter's own (bit for bit on the same machine and thread count).

Then ``--prompts`` prompts cut from the validation text are continued by ``--new-tokens``
characters: greedily by the target alone, and by speculative decoding for each ``--k``. The outputs
must be identical (checked); the times are medians of ``--rounds`` interleaved rounds
(:func:`llmbook.timing.interleaved_medians`), and the speed-up is greedy time / speculative time
(target > 1).

On a machine shared with other jobs, ``--threads 1`` avoids PyTorch's threads waiting on each other.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

# benchmarks/tokenizers.py would shadow the `tokenizers` package that transformers imports.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parents[1]
if not os.environ.get("LLMBOOK_DATA_DIR") and (ROOT.parent / "shared" / "data").is_dir():
    os.environ["LLMBOOK_DATA_DIR"] = str(ROOT.parent / "shared" / "data")

import torch  # noqa: E402

from llmbook import data  # noqa: E402
from llmbook.book.sizes import sizes as chapter_sizes  # noqa: E402
from llmbook.device import pick_device, seed_everything  # noqa: E402
from llmbook.generate import generate, speculative_generate  # noqa: E402
from llmbook.models import GPT  # noqa: E402
from llmbook.timing import interleaved_medians  # noqa: E402
from llmbook.train import Trainer  # noqa: E402

SEED = 0  # the chapter's seed


def train_pair(profile: str, device: str) -> tuple[GPT, GPT, torch.Tensor]:
    """(target, draft, validation ids): the chapter's pair, trained as the chapter trains it."""
    sizes = chapter_sizes("15_efficiency", profile)
    tokenizer, train_ids, val_ids = data.char_data()
    steps = max(sizes.scaling_steps)
    models = []
    for config in (sizes.predict_model, sizes.scaling_models[0]):
        seed_everything(SEED)
        model = GPT(replace(config, vocab_size=tokenizer.vocab_size))
        train_config = replace(sizes.scaling_train, max_steps=steps,
                               warmup_steps=max(1, steps // 10), seed=SEED)
        start = time.perf_counter()
        Trainer(model, train_ids, val_ids, train_config, device=device).train()
        print(f"trained {config.n_layer} layers x {config.n_embd} ({model.num_params():,} "
              f"parameters) for {steps} steps in {time.perf_counter() - start:.1f} s")
        models.append(model.eval())
    return models[0], models[1], val_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--profile", choices=("ci", "full"), default="ci", help="which of the chapter's pairs")
    add("--k", type=int, nargs="+", default=[2, 4], help="draft tokens per round to time")
    add("--prompts", type=int, default=4, help="prompts cut from the validation text")
    add("--prompt-len", type=int, default=16, help="characters per prompt")
    add("--new-tokens", type=int, default=None,
        help="new characters per prompt (default: what fits the context after the prompt)")
    add("--rounds", type=int, default=3, help="timed rounds (median)")
    add("--threads", type=int, default=None, help="torch.set_num_threads")
    add("--device", default=None, help="default: llmbook.device.pick_device()")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = str(pick_device(args.device))
    target, draft, val_ids = train_pair(args.profile, device)
    new_tokens = args.new_tokens or target.config.block_size - args.prompt_len
    step = len(val_ids) // args.prompts
    prompts = [val_ids[i * step:i * step + args.prompt_len][None].to(device)
               for i in range(args.prompts)]
    greedy = [generate(target, p, new_tokens) for p in prompts]
    timed = {"greedy (target only)": lambda: [generate(target, p, new_tokens) for p in prompts]}
    stats = {}
    for k in args.k:
        outs = [speculative_generate(target, draft, p, new_tokens, k=k) for p in prompts]
        assert all(torch.equal(o.tokens, g) for o, g in zip(outs, greedy)), \
            f"k={k}: speculative decoding changed the target's greedy tokens"
        stats[k] = (sum(o.accepted for o in outs) / max(1, sum(o.proposed for o in outs)),
                    sum(o.tokens_per_round * o.rounds for o in outs) / sum(o.rounds for o in outs))
        timed[f"speculative k={k}"] = lambda k=k: [
            speculative_generate(target, draft, p, new_tokens, k=k) for p in prompts]
    medians = interleaved_medians(timed, rounds=args.rounds, warmup=1, device=device)
    baseline = medians["greedy (target only)"]
    print(f"\n{args.prompts} prompts x {new_tokens} new characters on {device} "
          f"({torch.get_num_threads()} threads), median of {args.rounds}; outputs identical")
    print(f"{'decoding':<24}{'acceptance':>11}{'tokens/round':>14}{'seconds':>9}{'speed-up':>10}")
    print(f"{'greedy (target only)':<24}{'':>11}{1.0:>14.2f}{baseline:>9.2f}{1.0:>9.2f}x")
    for k, (acceptance, per_round) in stats.items():
        seconds = medians[f"speculative k={k}"]
        print(f"{'speculative k=' + str(k):<24}{acceptance:>11.2f}{per_round:>14.2f}"
              f"{seconds:>9.2f}{baseline / seconds:>9.2f}x")
    best = max(stats, key=lambda k: baseline / medians[f"speculative k={k}"])
    print(f"speed-up of speculative decoding (k={best}) over greedy decoding, measured in this "
          f"run: {baseline / medians[f'speculative k={best}']:.2f}x (target > 1)")


if __name__ == "__main__":
    main()
