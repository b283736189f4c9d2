"""Train a character-level GPT on tinyshakespeare from the command line, on one process or many.

::

    python -m llmbook.train --max-steps 2000 --out history.json                     # one process
    torchrun --nproc_per_node=2 -m llmbook.train --max-steps 2000 --out h.json     # DDP, 2 processes
    python -m llmbook.train --checkpoint run --checkpoint-interval 250 --resume     # survives a kill

The defaults are nanoGPT's CPU configuration of ``shakespeare_char`` (4 layers, 4 heads, 128 dims,
block 64, batch 12, lr 1e-3, no dropout). ``--batch-size`` is the global batch: with N processes each
gets ``batch_size / N`` rows, so the losses do not depend on N. The main process writes the history
(and the final checkpoint, with ``--checkpoint``). With ``--checkpoint-interval`` it also saves every so
many steps, and ``--resume`` continues from the saved checkpoint (bit-identically, history included);
without ``--resume`` an existing checkpoint is never overwritten.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from ..data import char_data
from ..device import seed_everything
from .distributed import cleanup_distributed, init_distributed
from .trainer import TrainConfig, Trainer

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m llmbook.train", description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--n-layer", type=int, default=4)
    add("--n-head", type=int, default=4)
    add("--n-embd", type=int, default=128)
    add("--block-size", type=int, default=64)
    add("--batch-size", type=int, default=12, help="global batch (all processes together)")
    add("--grad-accum", type=int, default=1)
    add("--max-steps", type=int, default=2000)
    add("--lr", type=float, default=1e-3)
    add("--min-lr", type=float, default=1e-4)
    add("--warmup", type=int, default=100)
    add("--lr-decay-steps", type=int, default=None)
    add("--weight-decay", type=float, default=0.1)
    add("--beta2", type=float, default=0.99)
    add("--dropout", type=float, default=0.0)
    add("--eval-interval", type=int, default=250)
    add("--eval-steps", type=int, default=20)
    add("--precision", default="fp32", choices=["fp32", "bf16-mixed", "fp16-mixed"])
    add("--compile", action="store_true")
    add("--device", default=None)
    add("--backend", default=None, choices=["gloo", "nccl"], help="DDP backend (default: nccl with CUDA, else gloo)")
    add("--seed", type=int, default=1337)
    add("--max-chars", type=int, default=None, help="use only the first characters of each split")
    add("--out", type=Path, default=None, help="write the history here as JSON")
    add("--checkpoint", type=Path, default=None, help="save the final checkpoint here (and the periodic ones)")
    add("--checkpoint-interval", type=int, default=None,
        help="also save a checkpoint every this many steps (needs --checkpoint)")
    add("--resume", action="store_true",
        help="continue the run saved at --checkpoint if there is one (same settings; a longer --max-steps is "
             "allowed), else start it")
    add("--quiet", action="store_true")
    return p


def _check_writable(out: Path, parser: argparse.ArgumentParser) -> None:
    """Fail now, with the path, if the history cannot be written to ``out``."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".check"):
            pass
    except OSError as exc:
        parser.error(f"--out {out}: cannot write there ({exc.strerror or exc}); choose a writable path")
    if out.is_dir():
        parser.error(f"--out {out} is a folder: give a file name, e.g. {out / 'history.json'}")


def main(argv: list[str] | None = None) -> dict:
    """Run the training described by ``argv``; return the summary that ``--out`` writes."""
    from ..models import GPT, GPTConfig

    parser = _parser()
    args = parser.parse_args(argv)
    if (args.checkpoint_interval or args.resume) and args.checkpoint is None:
        parser.error("--checkpoint-interval and --resume need --checkpoint (where the run is saved)")
    resuming = args.resume and (args.checkpoint / "manifest.json").is_file()
    if args.checkpoint is not None and args.checkpoint.exists() and not args.resume:
        parser.error(f"{args.checkpoint} already exists: pass --resume to continue that run, or choose "
                     f"another --checkpoint (a new run would overwrite it)")
    if args.out is not None:
        _check_writable(args.out, parser)  # before hours of training, not after
    info = init_distributed(args.backend)
    try:
        seed_everything(args.seed)
        tokenizer, train_ids, val_ids = char_data(args.max_chars)
        model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                              n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout))
        config = TrainConfig(
            max_steps=args.max_steps, batch_size=args.batch_size, block_size=args.block_size,
            grad_accum_steps=args.grad_accum, lr=args.lr, min_lr=args.min_lr, warmup_steps=args.warmup,
            lr_decay_steps=args.lr_decay_steps, weight_decay=args.weight_decay, betas=(0.9, args.beta2),
            precision=args.precision, eval_interval=args.eval_interval or None, eval_steps=args.eval_steps,
            seed=args.seed, compile=args.compile, progress=not args.quiet,
            checkpoint_dir=str(args.checkpoint) if args.checkpoint_interval else None,
            checkpoint_interval=args.checkpoint_interval,
        )
        trainer = Trainer(model, train_ids, val_ids, config, device=args.device)
        if resuming:
            # A longer --max-steps extends the run; anything else must match the checkpoint's settings.
            trainer.load_checkpoint(str(args.checkpoint), allow_changes=("max_steps",))
        start = time.perf_counter()
        history = trainer.train()
        seconds = time.perf_counter() - start
        if args.checkpoint is not None:
            trainer.save_checkpoint(str(args.checkpoint))
        summary = {"world_size": info.world_size, "seconds": seconds, "n_params": model.num_params(),
                   "config": vars(args) | {"out": str(args.out), "checkpoint": str(args.checkpoint)},
                   "history": history.state_dict()}
        if args.out is not None and info.is_main:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(summary), encoding="utf-8")
        return summary
    finally:
        cleanup_distributed()
