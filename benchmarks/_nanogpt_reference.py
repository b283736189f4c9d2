"""An independent reference for benchmark (b): nanoGPT's training recipe in plain PyTorch.

Written from nanoGPT's description (``model.py``, ``train.py``, ``config/train_shakespeare_char.py``),
sharing no code with ``llmbook.models`` or ``llmbook.train``: one fused q/k/v projection, no biases,
exact GELU, N(0, 0.02) initialisation with the residual projections scaled by 1/sqrt(2 n_layer), weight
tying, AdamW where every parameter of two or more dimensions decays, linear warmup then cosine decay,
gradient clipping at 1, random windows drawn with ``torch.randint``. If this loop and
``llmbook.train.Trainer`` reach the same validation loss, a gap to nanoGPT's published figure is not in
our trainer.
"""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn


class _Block(nn.Module):
    def __init__(self, d: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(d, bias=False)
        self.c_attn = nn.Linear(d, 3 * d, bias=False)
        self.attn_proj = nn.Linear(d, d, bias=False)
        self.ln_2 = nn.LayerNorm(d, bias=False)
        self.c_fc = nn.Linear(d, 4 * d, bias=False)
        self.mlp_proj = nn.Linear(4 * d, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        # the attention written out, not through SDPA: softmax(q k^T / sqrt(d_head) + causal mask) v
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.n_head)
        scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
        y = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.attn_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class ReferenceGPT(nn.Module):
    def __init__(self, vocab: int, block: int, n_layer: int, n_head: int, d: int):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(block, d)
        self.blocks = nn.ModuleList(_Block(d, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d, bias=False)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith(("attn_proj.weight", "mlp_proj.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


def reference_run(train_ids: torch.Tensor, val_ids: torch.Tensor, vocab: int, *, seed: int, n_layer: int = 4,
                  n_head: int = 4, d: int = 128, block: int = 64, batch: int = 12, iters: int = 2000,
                  lr: float = 1e-3, min_lr: float = 1e-4, warmup: int = 100, final_eval_batches: int = 200) -> dict:
    """Train with nanoGPT's CPU recipe; return the final validation loss on ``final_eval_batches`` windows."""
    torch.manual_seed(seed)
    model = ReferenceGPT(vocab, block, n_layer, n_head, d)
    params = [p for p in model.parameters()]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))
    generator = torch.Generator().manual_seed(seed)

    def windows(data: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.randint(len(data) - block, (n,), generator=generator).tolist()
        x = torch.stack([data[s:s + block] for s in starts])
        y = torch.stack([data[s + 1:s + 1 + block] for s in starts])
        return x, y

    start = time.perf_counter()
    for it in range(iters):
        if it < warmup:
            step_lr = lr * (it + 1) / (warmup + 1)
        else:
            ratio = (it - warmup) / (iters - warmup)
            step_lr = min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)
        for group in optimizer.param_groups:
            group["lr"] = step_lr
        loss = model(*windows(train_ids, batch))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    wall = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        val = sum(float(model(*windows(val_ids, batch))) for _ in range(final_eval_batches)) / final_eval_batches
    return {"seed": seed, "val_loss_more_batches": val, "wall_s": wall}
