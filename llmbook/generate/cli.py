"""Generate text from the command line: a prompt in, the continuation out, printed as it comes.

::

    python -m llmbook.generate "Once upon a time"                  # SmolLM2, greedy
    python -m llmbook.generate "Once upon a time" --temperature 0.8 --top-p 0.9 --seed 0
    python -m llmbook.generate "What is a KV cache?" --chat --max-new-tokens 80
    python -m llmbook.generate --chat                               # one user message per line
    python -m llmbook.generate "ROMEO:" --model runs/char-gpt       # a book GPT checkpoint

``--model`` is ``smollm2`` (SmolLM2-135M-Instruct, the default), the folder of a Hugging Face causal
LM, or a checkpoint of the book's GPT saved as
``save_checkpoint(path, model, extra=checkpoint_extra(model, tokenizer))``: the extra data records
the ``GPTConfig`` and the tokenizer, which the weights alone do not determine. ``--temperature 0``
(the default) is greedy decoding; a temperature above 0 samples. ``--chat`` wraps the prompt in the
model's chat template (for the book's GPT: ``role: text`` lines) and stops at the end of the reply;
without a prompt it reads one user message per line from standard input and keeps the KV cache
across the turns (``python -m llmbook.chat``, :mod:`llmbook.chat`, is the fuller chat loop, with
``/reset`` and ``/system``; it shares these options through :func:`add_model_options` and
:func:`add_decoding_options`). The text goes to standard output as it is decoded; the time to the
first token and the speed after it go to standard error.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any, Callable, TextIO

import torch

from .chat import ChatSession, end_of_text_id
from .decoding import generate

__all__ = ["main", "checkpoint_extra", "load_gpt_checkpoint", "load_model", "add_model_options",
           "add_decoding_options", "decoding_options", "prepare", "stream_reply"]


# ---------------------------------------------------------------- models


def checkpoint_extra(model: Any, tokenizer: Any) -> dict[str, Any]:
    """What a checkpoint of the book's GPT needs besides its weights to generate text; pass it as
    ``save_checkpoint(path, model, extra=checkpoint_extra(model, tokenizer))``.

    Records ``model.config`` (a ``GPTConfig``: the number of heads, for one, cannot be read from the
    weights) and the tokenizer: a ``CharTokenizer``'s characters, or the name ``"gpt2"`` for
    :class:`llmbook.tokenizers.GPT2Tokenizer` (rebuilt from the book's copy of GPT-2's files).
    """
    from ..models import GPT
    from ..tokenizers import CharTokenizer, GPT2Tokenizer

    if not isinstance(model, GPT):
        raise TypeError(f"checkpoint_extra describes a book GPT (llmbook.models.GPT), got "
                        f"{type(model).__name__}")
    if isinstance(tokenizer, CharTokenizer):
        spec: dict[str, Any] = {"kind": "char", "chars": "".join(tokenizer.chars)}
    elif isinstance(tokenizer, GPT2Tokenizer):
        spec = {"kind": "gpt2"}
    else:
        raise TypeError(f"checkpoint_extra records a CharTokenizer or a GPT2Tokenizer, got "
                        f"{type(tokenizer).__name__}")
    return {"gpt_config": dataclasses.asdict(model.config), "tokenizer": spec}


def _tokenizer_from_spec(spec: dict[str, Any]) -> Any:
    from .. import data
    from ..tokenizers import CharTokenizer, GPT2Tokenizer

    if spec.get("kind") == "char":
        return CharTokenizer(spec["chars"])
    if spec.get("kind") == "gpt2":
        return GPT2Tokenizer.from_files(data.path("gpt2-bpe/encoder.json"),
                                        data.path("gpt2-bpe/vocab.bpe"))
    raise ValueError(f"unknown tokenizer {spec!r} in the checkpoint: expected kind 'char' or "
                     f"'gpt2'")


def load_gpt_checkpoint(path: str | Path, device: str | None = None) -> tuple[Any, Any]:
    """``(GPT in eval mode, tokenizer)`` from a checkpoint saved with :func:`checkpoint_extra`."""
    from ..models import GPT, GPTConfig
    from ..train.checkpoint import STATE, CheckpointError, load_checkpoint

    path = Path(path)
    try:  # the recorded configuration first: the model must exist before its weights are loaded
        extra = torch.load(path / STATE, map_location="cpu", weights_only=True).get("extra", {})
    except (OSError, RuntimeError, EOFError) as exc:
        raise CheckpointError(f"cannot read {path / STATE}: {exc}; is {str(path)!r} a checkpoint "
                              f"directory?") from exc
    if "gpt_config" not in extra or "tokenizer" not in extra:
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not record its GPTConfig and tokenizer, which "
            f"generation needs (the weights give neither the number of heads nor the text of each "
            f"token id): save it with save_checkpoint(path, model, "
            f"extra=llmbook.generate.checkpoint_extra(model, tokenizer))")
    model = GPT(GPTConfig(**extra["gpt_config"]))
    load_checkpoint(path, model, restore_rng=False)  # verifies the checksums and the shapes
    if device is not None:
        model = model.to(device)
    return model.eval(), _tokenizer_from_spec(extra["tokenizer"])


def load_model(name: str, device: str | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for ``--model``: ``"smollm2"``, a Hugging Face model folder, or a
    book GPT checkpoint."""
    from ..pretrained import load_smollm2

    if name == "smollm2":
        return load_smollm2(device=device)
    folder = Path(name).expanduser()
    if (folder / "manifest.json").is_file():
        return load_gpt_checkpoint(folder, device)
    if (folder / "config.json").is_file():
        return load_smollm2(folder, device=device)  # loads any local Hugging Face causal LM
    raise FileNotFoundError(f"--model {name!r}: not 'smollm2', nor a checkpoint folder "
                            f"(manifest.json), nor a Hugging Face model folder (config.json)")


def _decode(tokenizer: Any, ids: list[int]) -> str:
    if hasattr(tokenizer, "apply_chat_template"):  # Hugging Face
        return tokenizer.decode(ids, skip_special_tokens=True)
    return tokenizer.decode(ids)


# ---------------------------------------------------------------- printing as tokens come


class _Printer:
    """Writes the text of the new tokens as they arrive, and times them.

    A token may hold part of a character (byte-level BPE), so what is printed is always the
    decoding of all new tokens so far minus what was already printed, held back while it ends in
    an incomplete character (U+FFFD).
    """

    def __init__(self, tokenizer: Any, out: TextIO, stop_ids: set[int]):
        self.tokenizer, self.out, self.stop_ids = tokenizer, out, stop_ids
        self.ids: list[int] = []
        self.printed = ""
        self.start = time.perf_counter()
        self.first: float | None = None  # seconds to the first token
        self.ended = False
        self.calls = 0  # tokens decoded, the EOS included
        self.streamed = True  # False: the tokens all came at the end (beam search)

    def __call__(self, next_ids: torch.Tensor) -> None:
        self.calls += 1
        if self.first is None:
            self.first = time.perf_counter() - self.start
        token = int(next_ids[0])
        if self.ended or token in self.stop_ids:
            self.ended = True
            return
        self.ids.append(token)
        text = _decode(self.tokenizer, self.ids)
        if not text.endswith("\ufffd") and text.startswith(self.printed):
            self.out.write(text[len(self.printed):])
            self.out.flush()
            self.printed = text

    def finish(self) -> str:
        text = _decode(self.tokenizer, self.ids)
        if text.startswith(self.printed):
            self.out.write(text[len(self.printed):])
        else:  # pragma: no cover - a decoding of more tokens that rewrote earlier text
            self.out.write("\n" + text)
        self.out.write("\n")
        self.out.flush()
        return text


# ---------------------------------------------------------------- main


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The options that choose and set up the model, shared with ``python -m llmbook.chat``."""
    add = parser.add_argument
    add("--model", default="smollm2",
        help="'smollm2' (default), a Hugging Face model folder, or a book GPT checkpoint")
    add("--seed", type=int, default=None, help="seed of the sampling RNG (torch.manual_seed)")
    add("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    add("--threads", type=int, default=None,
        help="CPU threads (torch.set_num_threads); 1 is faster on a machine busy with other jobs")


def add_decoding_options(parser: argparse.ArgumentParser, beams: bool = True,
                         max_new_tokens: int = 50) -> None:
    """The decoding options (each an argument of :func:`llmbook.generate.generate`), shared with
    ``python -m llmbook.chat``; ``beams=False`` leaves out beam search, which cannot stream."""
    add = parser.add_argument
    add("--max-new-tokens", type=int, default=max_new_tokens,
        help=f"the most tokens to generate (default {max_new_tokens})")
    add("--temperature", type=float, default=0.0, help="0 = greedy (default); > 0 samples")
    add("--top-k", type=int, default=None, help="sample among the k most likely tokens")
    add("--top-p", type=float, default=None,
        help="sample among the most likely tokens that hold this probability")
    add("--repetition-penalty", type=float, default=1.0, help="> 1 discourages repeated tokens")
    if beams:
        add("--num-beams", type=int, default=1, help="> 1: beam search (not with sampling)")
        add("--length-penalty", type=float, default=1.0,
            help="beam search: > 0 favours longer sequences")
        add("--early-stopping", action="store_true",
            help="beam search: stop once num_beams beams have ended")
    add("--no-cache", action="store_true", help="recompute every position at every step")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m llmbook.generate",
                                description=__doc__.split("\n\n")[0],
                                epilog="Each option is the argument of llmbook.generate.generate() "
                                       "of the same name.")
    p.add_argument("prompt", nargs="?", default=None,
                   help="the text to continue (with --chat: the user's message; leave it out to "
                        "chat line by line on standard input)")
    add_model_options(p)
    add_decoding_options(p)
    p.add_argument("--chat", action="store_true",
                   help="apply the chat template; without a prompt, chat on standard input")
    p.add_argument("--system", default=None, help="with --chat: a system prompt")
    return p


def decoding_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`llmbook.generate.generate` that the parsed options
    (:func:`add_decoding_options`) ask for, ``max_new_tokens`` and the cache aside."""
    options: dict[str, Any] = {"repetition_penalty": args.repetition_penalty}
    if args.temperature > 0 or args.top_k is not None or args.top_p is not None:
        options.update(do_sample=True, temperature=args.temperature or 1.0, top_k=args.top_k,
                       top_p=args.top_p)
    num_beams = getattr(args, "num_beams", 1)
    length_penalty = getattr(args, "length_penalty", 1.0)
    early_stopping = getattr(args, "early_stopping", False)
    if num_beams != 1 or length_penalty != 1.0 or early_stopping:
        # generate() says what is wrong with beam options without beams
        options.update(num_beams=num_beams, length_penalty=length_penalty,
                       early_stopping=early_stopping)
    return options


def prepare(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[Any, Any]:
    """Set the threads, load ``(model, tokenizer)`` for ``--model`` and seed the RNG; a bad option
    exits through ``parser.error`` (status 2) and says why."""
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    try:
        model, tokenizer = load_model(args.model, args.device)
    except (FileNotFoundError, ValueError, TypeError, RuntimeError) as exc:
        parser.error(str(exc))
    if args.seed is not None:
        torch.manual_seed(args.seed)  # the global RNG, which sampling draws from (as in HF)
    return model, tokenizer


def stop_ids(tokenizer: Any) -> set[int]:
    """The token ids that end a reply (:func:`~llmbook.generate.chat.end_of_text_id`), as a set."""
    eos = end_of_text_id(tokenizer)
    return {eos} if isinstance(eos, int) else set()


def _report(printer: _Printer, seconds: float, n_new: int, err: TextIO) -> dict[str, Any]:
    """Timings to standard error: the time to the first token and the speed after it (what a user
    feels: waiting, then reading), or for beam search, which prints at the end, the total only."""
    if printer.streamed and printer.first is not None:
        first = printer.first
        after = seconds - first
        rate = (n_new - 1) / after if n_new > 1 and after > 0 else float("nan")
        err.write(f"[{n_new} tokens in {seconds:.2f} s; first token after {first:.3f} s, then "
                  f"{rate:.1f} tokens/s]\n")
    else:
        first, rate = seconds, n_new / seconds if seconds > 0 else float("nan")
        err.write(f"[{n_new} tokens in {seconds:.2f} s ({rate:.1f} tokens/s), printed at the "
                  f"end]\n")
    return {"new_tokens": n_new, "seconds": seconds, "first_token_s": first, "tokens_per_s": rate}


def stream_reply(session: ChatSession, message: str, stdout: TextIO,
                 stderr: TextIO) -> dict[str, Any]:
    """One turn of ``session``: the reply to ``message`` written to ``stdout`` as it is decoded,
    the timings to ``stderr``; returns ``{"text", "new_tokens", "seconds", "first_token_s",
    "tokens_per_s"}``. A ``ValueError`` of :func:`generate` (e.g. the conversation outgrew the
    model's context) propagates, and the session is left as it was before the turn."""
    eos = session.decoding.get("eos_token_id")  # the ids that end the reply
    ends = {eos} if isinstance(eos, int) else set(eos or ())
    printer = _Printer(session.tokenizer, stdout, ends)
    session.say(message, streamer=printer)
    seconds = time.perf_counter() - printer.start
    text = printer.finish()
    return {"text": text, **_report(printer, seconds, printer.calls, stderr)}


def main(argv: list[str] | None = None, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> dict[str, Any]:
    """Run the command line ``argv``; return ``{"text", "new_tokens", "seconds", "first_token_s",
    "tokens_per_s"}`` of the (last) reply. A bad option exits with status 2 and says why."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    parser = _parser()
    args = parser.parse_args(argv)
    if args.prompt is None and not args.chat:
        parser.error("give a prompt, or --chat to chat on standard input")
    if args.prompt is not None and not args.prompt:
        parser.error("the prompt is empty: give some text to continue")
    if args.system is not None and not args.chat:
        parser.error("--system only applies with --chat")
    options = decoding_options(args)
    if args.chat and options.get("num_beams", 1) > 1:
        parser.error("--chat prints the reply as it is decoded, which beam search cannot: drop "
                     "--num-beams")
    model, tokenizer = prepare(parser, args)
    eos = end_of_text_id(tokenizer)  # generation stops there

    if args.chat:
        session = ChatSession(model, tokenizer, system_prompt=args.system,
                              max_new_tokens=args.max_new_tokens, use_cache=not args.no_cache,
                              eos_token_id=eos, **options)
        lines = (line.rstrip("\n") for line in stdin)
        messages = [args.prompt] if args.prompt is not None else lines
        result: dict[str, Any] = {}
        for message in messages:
            if message.strip():
                try:
                    result = stream_reply(session, message, stdout, stderr)
                except ValueError as exc:
                    parser.error(str(exc))
        return result

    def run(decode: Callable[[_Printer], int]) -> dict[str, Any]:
        printer = _Printer(tokenizer, stdout, stop_ids(tokenizer))
        try:
            n_new = decode(printer)
        except ValueError as exc:
            parser.error(str(exc))
        seconds = time.perf_counter() - printer.start
        text = printer.finish()
        return {"text": text, **_report(printer, seconds, n_new, stderr)}

    try:
        ids = torch.tensor([tokenizer.encode(args.prompt)], dtype=torch.long)
    except ValueError as exc:  # e.g. a character the model's character vocabulary lacks
        parser.error(str(exc))
    if ids.size(1) == 0:
        parser.error("the prompt encodes to no tokens: give some text to continue")

    def once(printer: _Printer) -> int:
        streams = options.get("num_beams", 1) == 1
        out = generate(model, ids, args.max_new_tokens, eos_token_id=eos,
                       use_cache=not args.no_cache, streamer=printer if streams else None,
                       **options)
        new = out[0, ids.size(1):]
        if not streams:  # beam search: the tokens are known only now
            printer.streamed = False
            for token in new:
                printer(token.view(1))
        return new.numel()

    return run(once)
