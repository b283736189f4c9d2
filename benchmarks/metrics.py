"""Corpus BLEU speed: llmbook.metrics.corpus_bleu against sacrebleu.corpus_bleu, measured in one run.

    python benchmarks/metrics.py [--pairs 10000] [--repeats 5]

Data: the first ``--pairs`` English sentences of Multi30k train as references and seeded perturbations
of them (word drops, substitutions, swaps) as hypotheses. Both implementations cache tokenized lines
(an LRU cache, as sacrebleu does), so each timing is reported twice: *cold* (every cache cleared before
the call: tokenization included) and *warm* (the same call repeated). The target: ours ≤ 1.5 × sacrebleu.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if not os.environ.get("LLMBOOK_DATA_DIR") and (ROOT.parent / "shared" / "data").is_dir():
    os.environ["LLMBOOK_DATA_DIR"] = str(ROOT.parent / "shared" / "data")

import sacrebleu  # noqa: E402
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a  # noqa: E402
from sacrebleu.tokenizers.tokenizer_re import TokenizerRegexp  # noqa: E402

from llmbook import data  # noqa: E402
from llmbook.metrics import corpus_bleu, tokenize_13a  # noqa: E402
from llmbook.timing import interleaved_medians  # noqa: E402

TARGET_RATIO = 1.5


def perturb(sentence: str, rng: random.Random, vocabulary: list[str], rate: float = 0.15) -> str:
    out = []
    for w in sentence.split():
        r = rng.random()
        if r < rate:
            continue
        out.append(rng.choice(vocabulary) if r < 2 * rate else w)
    if len(out) > 2 and rng.random() < 0.5:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    return " ".join(out)


def clear_caches() -> None:
    tokenize_13a.cache_clear()
    Tokenizer13a.__call__.cache_clear()
    TokenizerRegexp.__call__.cache_clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    references = [row["en"] for row in data.load("multi30k", "train")[: args.pairs]]
    vocabulary = sorted({w for r in references for w in r.split()})
    rng = random.Random(0)
    hypotheses = [perturb(r, rng, vocabulary) for r in references]

    # Same score first (timing two different computations would mean nothing); these first calls
    # also pay for imports and regex compilation.
    ours = corpus_bleu(hypotheses, [references])
    ref = sacrebleu.corpus_bleu(hypotheses, [references])
    assert abs(ours.score - ref.score) < 1e-9, (ours.score, ref.score)
    fns = {"llmbook": lambda: corpus_bleu(hypotheses, [references]),
           "sacrebleu": lambda: sacrebleu.corpus_bleu(hypotheses, [references])}
    rows = []
    for mode, setup in (("cold", clear_caches), ("warm", None)):
        medians = interleaved_medians(fns, args.repeats, warmup=1, setup=setup)
        rows.append((mode, medians["llmbook"], medians["sacrebleu"]))

    print(f"corpus BLEU on {len(hypotheses):,} sentence pairs (Multi30k train, perturbed), "
          f"median of {args.repeats} interleaved rounds")
    print(f"BLEU = {ours.score:.4f} (sacrebleu {ref.score:.4f})")
    print(f"{'caches':8s} {'llmbook (s)':>12s} {'sacrebleu (s)':>14s} {'ratio':>7s}")
    for mode, ours_s, ref_s in rows:
        print(f"{mode:8s} {ours_s:12.3f} {ref_s:14.3f} {ours_s / ref_s:7.2f}×")
    worst = max(o / r for _, o, r in rows)
    verdict = "OK" if worst <= TARGET_RATIO else "SLOWER THAN TARGET"
    print(f"worst ratio llmbook / sacrebleu = {worst:.2f}× (target ≤ {TARGET_RATIO}×): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
