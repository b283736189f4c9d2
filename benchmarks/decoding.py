"""Decoding speed: llmbook.generate.generate with the KV cache against without it, in one run, and
SmolLM2's time to first token on this machine.

    python benchmarks/decoding.py                 # 500 new tokens (target: cache >= 5x tokens/s)
    python benchmarks/decoding.py --quick         # 100 new tokens, a smaller GPT
    python benchmarks/decoding.py --no-smollm2    # the GPT comparison only

Part 1, the book's GPT in nanoGPT's shakespeare_char shape (6 layers, 384 dims, 65 characters;
random weights, since speed does not depend on what the weights learned): greedy decoding of
``--new-tokens`` tokens after a 16-token prompt, with the cache (the prompt is processed once, then
one token per step) and without (every step recomputes the whole sequence, so a step costs more the
longer the sequence). Both must produce the same tokens, so the ratio is the price of recomputing
alone. The two are timed with :func:`llmbook.timing.interleaved_medians` (alternating order, median
of ``--rounds``).

Part 2, SmolLM2-135M-Instruct: the time to first token of a chat-templated question (the prefill
and one step: what a user waits before text appears; target < 2 s on a 2-core CPU), and the tokens
per second after it, through the streaming path of ``python -m llmbook.generate --chat``.

On a machine shared with other jobs, ``--threads 1`` avoids PyTorch's threads waiting on each other
(with two threads on two busy cores, a small step can take ten times longer).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

# benchmarks/tokenizers.py would shadow the `tokenizers` package that transformers imports.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parents[1]
if not os.environ.get("LLMBOOK_DATA_DIR") and (ROOT.parent / "shared" / "data").is_dir():
    os.environ["LLMBOOK_DATA_DIR"] = str(ROOT.parent / "shared" / "data")

import torch  # noqa: E402

from llmbook.generate import generate  # noqa: E402
from llmbook.models import GPT, GPTConfig  # noqa: E402
from llmbook.timing import interleaved_medians  # noqa: E402


def gpt_cache_ratio(new_tokens: int, n_layer: int, n_embd: int, rounds: int,
                    prompt_len: int = 16) -> float:
    """Tokens per second with and without the KV cache on a random book GPT; prints a table and
    returns the speed-up."""
    torch.manual_seed(0)
    # a character vocabulary (tinyshakespeare's 65), as the book's chapter-4 GPT: with GPT-2's
    # 50,257 tokens the output layer, computed for one position either way, would hide the saving
    config = GPTConfig(vocab_size=65, block_size=prompt_len + new_tokens, n_layer=n_layer,
                       n_head=max(1, n_embd // 64), n_embd=n_embd)
    model = GPT(config).eval()
    prompt = torch.randint(0, config.vocab_size, (1, prompt_len),
                           generator=torch.Generator().manual_seed(1))
    cached = generate(model, prompt, new_tokens, use_cache=True)
    # the same tokens first: timing two different computations would mean nothing
    uncached = generate(model, prompt, new_tokens, use_cache=False)
    assert torch.equal(cached, uncached), "the cache changed the tokens"
    medians = interleaved_medians({
        "with KV cache": lambda: generate(model, prompt, new_tokens, use_cache=True),
        "without (recompute)": lambda: generate(model, prompt, new_tokens, use_cache=False),
    }, rounds=rounds, warmup=0)
    print(f"\nbook GPT ({n_layer} layers, {n_embd} dims, {model.num_params() / 1e6:.1f} M "
          f"parameters), greedy, prompt {prompt_len} tokens, {new_tokens} new tokens, "
          f"{torch.get_num_threads()} threads, median of {rounds}")
    print(f"{'decoding':<24}{'seconds':>10}{'tokens/s':>12}")
    for name, seconds in medians.items():
        print(f"{name:<24}{seconds:>10.2f}{new_tokens / seconds:>12.1f}")
    ratio = medians["without (recompute)"] / medians["with KV cache"]
    print(f"KV cache speed-up at {new_tokens} new tokens: {ratio:.1f}x (target >= 5x at 500)")
    return ratio


def smollm2_first_token(new_tokens: int, repeats: int) -> float:
    """SmolLM2's median time to first token (seconds) of a chat prompt; also prints the decoding
    speed after it."""
    from llmbook.pretrained import load_smollm2

    start = time.perf_counter()
    model, tokenizer = load_smollm2(device="cpu")
    load_seconds = time.perf_counter() - start
    question = [{"role": "user", "content": "What does a KV cache store?"}]
    text = tokenizer.apply_chat_template(question, tokenize=False, add_generation_prompt=True)
    ids = torch.tensor([tokenizer.encode(text, add_special_tokens=False)])
    firsts, rates = [], []
    for _ in range(repeats):
        times: list[float] = []
        begin = time.perf_counter()
        out = generate(model, ids, new_tokens, eos_token_id=tokenizer.eos_token_id,
                       streamer=lambda _ids: times.append(time.perf_counter() - begin))
        n = out.size(1) - ids.size(1)
        firsts.append(times[0])
        if n > 1:
            rates.append((n - 1) / (times[-1] - times[0]))
    first = statistics.median(firsts)
    print(f"\nSmolLM2-135M-Instruct on {torch.get_num_threads()} threads (loaded in "
          f"{load_seconds:.1f} s): prompt {ids.size(1)} tokens, median of {repeats}")
    print(f"time to first token: {first:.3f} s (target < 2 s)")
    if rates:
        print(f"then {statistics.median(rates):.1f} tokens/s (KV cache, greedy, up to {new_tokens} "
              f"tokens)")
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--quick", action="store_true", help="100 new tokens, a 4-layer 256-dim GPT")
    add("--new-tokens", type=int, default=None, help="default 500 (100 with --quick)")
    add("--n-layer", type=int, default=None, help="default 6 (4 with --quick)")
    add("--n-embd", type=int, default=None, help="default 384 (256 with --quick)")
    add("--rounds", type=int, default=None,
        help="timed rounds (default 1 at 500 tokens, where the run without the cache takes about a "
             "minute; 3 with --quick)")
    add("--no-smollm2", action="store_true", help="skip SmolLM2's time to first token")
    add("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    quick = args.quick
    gpt_cache_ratio(args.new_tokens or (100 if quick else 500), args.n_layer or (4 if quick else 6),
                    args.n_embd or (256 if quick else 384), args.rounds or (3 if quick else 1))
    if not args.no_smollm2:
        smollm2_first_token(new_tokens=10 if quick else 30, repeats=2 if quick else 3)


if __name__ == "__main__":
    main()
