"""Benchmark: BPE training time, and GPT-2 encoding throughput against Hugging Face's Rust tokenizer.

1. Training: 1,000 merges (vocabulary 1,256) of ``llmbook.tokenizers.BPETokenizer.train`` on all of
   tinyshakespeare (1.1 M characters), next to Hugging Face ``tokenizers``' ``BpeTrainer`` on the same
   text. Target: ours <= 30 s on a CPU (incremental pair counts, not a recount per merge).
2. Encoding: ``llmbook.tokenizers.GPT2Tokenizer`` against ``transformers.GPT2TokenizerFast`` (Rust), both
   built from OpenAI's GPT-2 files, on tinyshakespeare: the whole text in one call, and its paragraphs
   as a batch (where Hugging Face runs on every core). Outputs are checked equal before timing. Ours is
   timed from an empty cache ("cold"), as a first encode would be. Target: within 20x of Rust.

    python benchmarks/tokenizers.py [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# `tokenizers` library that Hugging Face needs: take the folder off the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
if not os.environ.get("LLMBOOK_DATA_DIR"):  # the mirror beside the project, as in the tests
    mirror = Path(__file__).resolve().parents[2] / "shared" / "data"
    if mirror.is_dir():
        os.environ["LLMBOOK_DATA_DIR"] = str(mirror)

from llmbook import data  # noqa: E402
from llmbook.timing import interleaved_medians, median_seconds, seconds  # noqa: E402
from llmbook.tokenizers import BPETokenizer, GPT2Tokenizer  # noqa: E402

TRAIN_TARGET_S = 30.0
ENCODE_TARGET_RATIO = 20.0


def hf_bpe_train(text: str, vocab_size: int):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=0, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([text], trainer)
    return tokenizer


def training_benchmark(text: str, n_merges: int = 1000) -> float:
    vocab_size = 256 + n_merges
    trained: list[BPETokenizer] = []  # one run each: ours takes seconds, far above the timer's noise
    ours_s = seconds(lambda: trained.append(BPETokenizer.train(text, vocab_size)))
    hf_s = seconds(lambda: hf_bpe_train(text, vocab_size))
    assert len(trained[0].merges) == n_merges
    print(f"\nBPE training, {n_merges:,} merges on {len(text):,} characters of tinyshakespeare")
    print(f"{'trainer':<40}{'seconds':>10}")
    print(f"{'llmbook BPETokenizer.train (Python)':<40}{ours_s:>10.2f}")
    print(f"{'HF tokenizers BpeTrainer (Rust)':<40}{hf_s:>10.2f}")
    verdict = "OK" if ours_s <= TRAIN_TARGET_S else "OVER TARGET"
    print(f"ours: {ours_s:.2f} s (target <= {TRAIN_TARGET_S:.0f} s: {verdict}); ratio ours / HF: {ours_s / hf_s:.1f}x")
    return ours_s


def encoding_benchmark(text: str, rounds: int) -> float:
    from transformers import GPT2TokenizerFast

    files = data.path("gpt2-bpe/encoder.json"), data.path("gpt2-bpe/vocab.bpe")
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(files[0], Path(folder) / "vocab.json")
        shutil.copy(files[1], Path(folder) / "merges.txt")
        hf = GPT2TokenizerFast.from_pretrained(folder)
    rust = hf.backend_tokenizer
    ours = GPT2Tokenizer.from_files(*files)
    paragraphs = [p + "\n\n" for p in text.split("\n\n")]

    # Same tokens first: timing two different computations would mean nothing.
    assert ours.encode(text) == hf.encode(text) == rust.encode(text, add_special_tokens=False).ids, "encodings differ"
    batch = rust.encode_batch(paragraphs, add_special_tokens=False)
    assert [ours.encode(p) for p in paragraphs] == [e.ids for e in batch]
    n_tokens = len(ours.encode(text))

    # "Cold": our cache is cleared before every timed call (harmless before Rust's), so every distinct
    # word is merged again, as on a first call. The equality checks above were the warm-up.
    clear = ours._cache.clear
    cases = {
        "whole text, one call": {
            "ours": lambda: ours.encode(text),
            "hf": lambda: rust.encode(text, add_special_tokens=False),
        },
        f"{len(paragraphs):,} paragraphs, batch": {
            "ours": lambda: [ours.encode(p) for p in paragraphs],
            "hf": lambda: rust.encode_batch(paragraphs, add_special_tokens=False),
        },
    }
    rows = {}
    for name, fns in cases.items():
        medians = interleaved_medians(fns, rounds, warmup=0, setup=clear)
        rows[name] = medians["ours"], medians["hf"]
    warm = median_seconds(lambda: ours.encode(text), rounds, warmup=1)  # the warm-up fills the cache
    print(f"\nGPT-2 encoding of tinyshakespeare ({len(text):,} characters, {n_tokens:,} tokens), "
          f"median of {rounds} interleaved rounds, {os.cpu_count()} CPUs")
    print(f"{'input':<28}{'ours (s)':>10}{'HF Rust (s)':>13}{'ours tok/s':>13}{'HF tok/s':>12}{'ratio':>8}")
    worst = 0.0
    for name, (ours_s, hf_s) in rows.items():
        ratio = ours_s / hf_s
        worst = max(worst, ratio)
        print(f"{name:<28}{ours_s:>10.3f}{hf_s:>13.3f}{n_tokens / ours_s:>13,.0f}{n_tokens / hf_s:>12,.0f}{ratio:>7.1f}x")
    print(f"ours with a warm cache, whole text: {warm:.3f} s")
    verdict = "OK" if worst <= ENCODE_TARGET_RATIO else "OVER TARGET"
    print(f"worst ratio ours / HF: {worst:.1f}x (target <= {ENCODE_TARGET_RATIO:.0f}x: {verdict})")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per encoding measurement")
    parser.add_argument("--merges", type=int, default=1000, help="BPE merges to train")
    args = parser.parse_args()
    text = data.load("tinyshakespeare", "all")
    training_benchmark(text, args.merges)
    encoding_benchmark(text, args.rounds)


if __name__ == "__main__":
    main()
