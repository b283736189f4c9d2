"""Benchmark: llmbook.nn.MultiHeadAttention against torch.nn.MultiheadAttention, and SDPA throughput on a GPU.

CPU (always): forward + backward at batch 8, sequence 256, d_model 256, 8 heads. The two modules are
timed in interleaved rounds after a warm-up, and the ratio of medians is printed (target: ours ≤ 1.1×).

GPU (``--gpu``, or automatically when CUDA is available): bf16, sequence 1k … 8k, the achieved TFLOP/s of
the fused ``F.scaled_dot_product_attention`` path that ``MultiHeadAttention`` takes, for the attention
core alone and for the whole module (projections included), causal and not.

    python benchmarks/attention.py            # CPU table (+ GPU table if CUDA is available)
    python benchmarks/attention.py --gpu      # insist on the GPU table (error if no CUDA)
    python benchmarks/attention.py --no-gpu   # CPU only
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from llmbook.nn import MultiHeadAttention, load_torch_multihead_attention
from llmbook.timing import interleaved_medians


def cpu_benchmark(batch=8, seq=256, d_model=256, n_heads=8, warmup=5, rounds=30, threads=None) -> float:
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
    ours = load_torch_multihead_attention(MultiHeadAttention(d_model, n_heads), theirs)
    x = torch.randn(batch, seq, d_model)
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()

    def run_ours():
        ours(x_ours).sum().backward()

    def run_theirs():
        theirs(x_theirs, x_theirs, x_theirs, need_weights=False)[0].sum().backward()

    # same numbers first: a benchmark of two different computations would mean nothing
    torch.testing.assert_close(ours(x), theirs(x, x, x, need_weights=False)[0], atol=1e-5, rtol=0)
    med = interleaved_medians({"llmbook.nn.MultiHeadAttention": run_ours, "torch.nn.MultiheadAttention": run_theirs},
                              rounds, warmup, device="cpu")
    ratio = med["llmbook.nn.MultiHeadAttention"] / med["torch.nn.MultiheadAttention"]
    print(f"\nCPU forward+backward, batch {batch}, seq {seq}, d_model {d_model}, {n_heads} heads, "
          f"{torch.get_num_threads()} threads, median of {rounds} interleaved rounds")
    print(f"{'module':<32}{'ms / iter':>12}")
    for name, t in med.items():
        print(f"{name:<32}{t * 1e3:>12.2f}")
    print(f"ratio ours / torch: {ratio:.3f}x (target <= 1.1x)")
    return ratio


def gpu_benchmark(seqs=(1024, 2048, 4096, 8192), d_model=1024, n_heads=16, tokens=16384, warmup=3, rounds=10) -> None:
    device = torch.device("cuda")
    dtype = torch.bfloat16
    head_dim = d_model // n_heads
    print(f"\nGPU {torch.cuda.get_device_name()} bf16, d_model {d_model}, {n_heads} heads (head_dim {head_dim}), "
          f"batch = {tokens} tokens / seq; median of {rounds}")
    print(f"{'seq':>6}{'batch':>6}{'causal':>8}{'SDPA fwd':>11}{'SDPA f+b':>11}{'MHA f+b':>10}   (TFLOP/s)")
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_model, n_heads).to(device, dtype)
    for seq in seqs:
        batch = max(1, tokens // seq)
        for causal in (False, True):
            q, k, v = (torch.randn(batch, n_heads, seq, head_dim, device=device, dtype=dtype, requires_grad=True) for _ in range(3))
            x = torch.randn(batch, seq, d_model, device=device, dtype=dtype, requires_grad=True)
            # FLOPs: QKᵀ and (weights)V are 2·seq²·head_dim each per head; causal computes half of them
            attn_flops = 4 * batch * n_heads * seq * seq * head_dim * (0.5 if causal else 1.0)
            proj_flops = 4 * 2 * batch * seq * d_model * d_model  # q, k, v, out projections

            def sdpa_fwd():
                with torch.no_grad():
                    F.scaled_dot_product_attention(q, k, v, is_causal=causal)

            def sdpa_fwd_bwd():
                F.scaled_dot_product_attention(q, k, v, is_causal=causal).sum().backward()

            def mha_fwd_bwd():
                mha(x, causal=causal).sum().backward()

            med = interleaved_medians({"f": sdpa_fwd, "fb": sdpa_fwd_bwd, "m": mha_fwd_bwd}, rounds, warmup, device=device)
            # backward costs 2.5× the forward for attention (5 matmuls vs 2), 2× for the linear layers
            tf = lambda flops, t: flops / t / 1e12  # noqa: E731
            print(f"{seq:>6}{batch:>6}{str(causal):>8}{tf(attn_flops, med['f']):>11.1f}"
                  f"{tf(3.5 * attn_flops, med['fb']):>11.1f}{tf(3.5 * attn_flops + 3 * proj_flops, med['m']):>10.1f}")
            del q, k, v, x
    torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu", action="store_true", help="run the GPU table (error if CUDA is unavailable)")
    parser.add_argument("--no-gpu", action="store_true", help="skip the GPU table even if CUDA is available")
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU comparison")
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds for the CPU comparison")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.gpu and not torch.cuda.is_available():
        raise SystemExit("--gpu was given but CUDA is not available on this machine")
    if not args.no_cpu:
        cpu_benchmark(rounds=args.rounds, threads=args.threads)
    if (args.gpu or torch.cuda.is_available()) and not args.no_gpu:
        gpu_benchmark()


if __name__ == "__main__":
    main()
