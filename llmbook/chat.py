"""Chat with a model on the command line: one message per line in, the reply streamed out.

::

    python -m llmbook.chat                                  # SmolLM2-135M-Instruct, greedy
    python -m llmbook.chat --system "Answer in one sentence." --temperature 0.7 --top-p 0.9
    python -m llmbook.chat --model runs/story-gpt --max-new-tokens 60   # a book GPT checkpoint
    printf 'Hi!\\nWhat is a KV cache?\\n' | python -m llmbook.chat      # a scripted conversation

Each line of standard input is the user's next message; the reply is printed to standard output
as it is decoded, and the conversation, with its KV cache, carries on to the next line
(:class:`llmbook.generate.ChatSession`). Lines that start with ``/`` are commands:

* ``/reset``: forget the conversation (the system prompt stays);
* ``/system TEXT``: a new system prompt, and a new conversation (``/system`` alone: none);
* ``/help``: this list; ``/quit``: stop (as the end of the input does).

A message that starts with ``/`` is sent by doubling it (``//etc`` sends ``/etc``). The options
(``--model``, ``--max-new-tokens``, ``--temperature``, ``--top-k``, ``--top-p``,
``--repetition-penalty``, ``--seed``, ...) are those of ``python -m llmbook.generate``
(:mod:`llmbook.generate.cli`) but beam search, which cannot print a reply as it is decoded. The
replies are the only thing written to standard output; the timings of each reply, the answers to
commands and the errors go to standard error, without progress bars.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from .generate import cli
from .generate.chat import ChatSession
from .generate.processors import check_sampling_options

__all__ = ["main", "build_parser", "COMMANDS"]

COMMANDS = {
    "/reset": "forget the conversation (the system prompt stays)",
    "/system": "/system TEXT sets a new system prompt and starts again; /system alone removes it",
    "/help": "list the commands",
    "/quit": "stop (as the end of the input does)",
}


def build_parser() -> argparse.ArgumentParser:
    """The options of ``python -m llmbook.chat``: the model and decoding options of
    ``python -m llmbook.generate`` (without beam search) and ``--system``."""
    parser = argparse.ArgumentParser(
        prog="python -m llmbook.chat", description=__doc__.split("\n\n")[0],
        epilog="Commands: " + "; ".join(f"{name}: {what}" for name, what in COMMANDS.items()))
    cli.add_model_options(parser)
    cli.add_decoding_options(parser, beams=False, max_new_tokens=256)
    parser.add_argument("--system", default=None, help="a system prompt")
    return parser


def _help() -> str:
    return "".join(f"  {name:8} {what}\n" for name, what in COMMANDS.items())


def main(argv: list[str] | None = None, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> list[dict[str, Any]]:
    """Run the chat loop with the options ``argv`` until the input ends or ``/quit``; return one
    ``{"text", "new_tokens", "seconds", "first_token_s", "tokens_per_s"}`` per reply. A bad option
    exits with status 2 and says why."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.max_new_tokens < 1:
        parser.error(f"--max-new-tokens must be at least 1, got {args.max_new_tokens}")
    if args.temperature < 0:
        parser.error(f"--temperature must be 0 (greedy) or above (sampling), got "
                     f"{args.temperature}")
    options = cli.decoding_options(args)
    try:  # before the model loads: a bad option fails at once, not at the first message
        check_sampling_options(options.get("top_k"), options.get("top_p"),
                               options["repetition_penalty"])
    except ValueError as exc:
        parser.error(str(exc))
    model, tokenizer = cli.prepare(parser, args)
    session = ChatSession(model, tokenizer, system_prompt=args.system,
                          max_new_tokens=args.max_new_tokens, use_cache=not args.no_cache,
                          **options)
    interactive = getattr(stdin, "isatty", lambda: False)()
    if interactive:
        stderr.write("Chat: one message per line; /help lists the commands.\n")
    replies: list[dict[str, Any]] = []
    while True:
        if interactive:
            stderr.write("> ")
            stderr.flush()
        line = stdin.readline()
        if not line:  # the end of the input
            break
        message = line.rstrip("\r\n")
        if not message.strip():
            continue
        if message.startswith("/") and not message.startswith("//"):
            command, _, rest = message.partition(" ")
            if command == "/quit":
                break
            if command == "/reset":
                session.reset(session.system_prompt)
                stderr.write("[a new conversation]\n")
            elif command == "/system":
                session.reset(rest.strip() or None)
                stderr.write(f"[a new conversation, system prompt: {session.system_prompt!r}]\n")
            elif command == "/help":
                stderr.write(_help())
            else:
                stderr.write(f"[unknown command {command!r}; the commands are:]\n{_help()}"
                             f"[to send a message that starts with '/', write '//']\n")
            continue
        if message.startswith("//"):
            message = message[1:]
        try:
            replies.append(cli.stream_reply(session, message, stdout, stderr))
        except ValueError as exc:  # e.g. the conversation outgrew the model's context
            stderr.write(f"[no reply: {exc}]\n[/reset starts a new conversation]\n")
    return replies


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess in the tests
    main()
