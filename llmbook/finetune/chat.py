"""Conversations to token ids, with the loss on the assistant's tokens only (instruction tuning).

A chat model reads a conversation rendered by its *chat template* (a Jinja template shipped with the
tokenizer). SmolLM2's renders every message as::

    <|im_start|>{role}\\n{content}<|im_end|>\\n

Supervised fine-tuning trains the model to write the assistant's turns, not to predict the user's
questions or the template's markup: ``labels`` are ``-100`` (ignored by the loss) everywhere except on
the assistant's content and the end-of-turn token that closes it (which teaches the model to stop).

Where the assistant's tokens are is found with the template itself, not by parsing its output: the
conversation up to an assistant turn, rendered with the generation prompt (``<|im_start|>assistant\\n``),
is a prefix of the conversation including that turn. The tokens between the two renderings are the
turn. This holds for any template with the *prefix property* (rendering more messages only appends
tokens), which is checked, not assumed.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["chat_tokens", "IGNORE_INDEX", "ROLES"]

IGNORE_INDEX = -100  # the label PyTorch's cross-entropy (and Hugging Face's models) skip
ROLES = ("system", "user", "assistant")


def _template_ids(tokenizer: Any, messages: list[dict], add_generation_prompt: bool) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, tokenize=True,
                                        add_generation_prompt=add_generation_prompt)
    if isinstance(ids, Mapping) or hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding
        ids = ids["input_ids"]
    return [int(i) for i in ids]


def _check_messages(messages: Sequence[Mapping[str, str]]) -> None:
    if isinstance(messages, (str, Mapping)) or not isinstance(messages, Sequence):
        raise TypeError(f"messages must be a list of {{'role': ..., 'content': ...}} dicts, got "
                        f"{type(messages).__name__}")
    if not messages:
        raise ValueError("the conversation is empty: give at least a user message and an assistant "
                         "reply, e.g. [{'role': 'user', 'content': 'Hi'}, "
                         "{'role': 'assistant', 'content': 'Hello!'}]")
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise ValueError(f"message {i} must be a dict with 'role' and 'content', got {message!r}")
        if message["role"] not in ROLES:
            raise ValueError(f"message {i} has role {message['role']!r}; the roles are {ROLES} "
                             f"(rename it, e.g. 'human' -> 'user', 'bot' -> 'assistant')")
        if not isinstance(message["content"], str):
            raise ValueError(f"message {i}'s content must be a string, got "
                             f"{type(message['content']).__name__}")
    if messages[0]["role"] == "assistant":
        raise ValueError("the conversation starts with an assistant turn, which has no prompt to answer: "
                         "start it with a user (or system) message")
    if not any(message["role"] == "assistant" for message in messages):
        raise ValueError("the conversation has no assistant turn, so there is nothing to learn (every label "
                         "would be -100): end it with {'role': 'assistant', 'content': <the reply>}")


def _end_of_turn(tokenizer: Any, turn: list[int]) -> int:
    """How many tokens of ``turn`` (an assistant turn as the template renders it) to label: up to and
    including its last special token (the end-of-turn marker, e.g. ``<|im_end|>``), leaving out the
    separator the template writes after it (a newline); the whole turn if it has no special token."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    for index, token in getattr(tokenizer, "added_tokens_decoder", {}).items():
        if getattr(token, "special", False):
            special.add(int(index))
    for position in range(len(turn) - 1, -1, -1):
        if turn[position] in special:
            return position + 1
    return len(turn)


def _not_prefix_error(what: str) -> ValueError:
    return ValueError(
        f"the tokenizer's chat template is not prefix-stable ({what}), so the assistant's tokens cannot be "
        f"located by rendering the conversation turn by turn; use a template whose rendering of the first "
        f"k messages is a prefix of the rendering of all of them"
    )


def chat_tokens(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> tuple[list[int], list[int]]:
    """Token ids of a conversation and labels that train on the assistant's turns only.

    Args:
        tokenizer: a Hugging Face tokenizer with a chat template (``tokenizer.chat_template``).
        messages: ``[{"role": "system" | "user" | "assistant", "content": str}, ...]`` with at least one
            assistant turn.

    Returns:
        ``(input_ids, labels)``, two lists of the same length ``seq``. ``input_ids`` equals
        ``tokenizer.apply_chat_template(messages, tokenize=True)``; ``labels[t] = input_ids[t]`` on the
        tokens of assistant turns (content and end-of-turn token, not the ``<|im_start|>assistant\\n``
        header) and ``-100`` elsewhere. As for Hugging Face models, labels are not shifted: the model
        shifts them (position ``t`` predicts token ``t + 1``).
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"{type(tokenizer).__name__} has no chat template (tokenizer.chat_template is "
                         f"empty): use the tokenizer of an instruction-tuned model (e.g. load_smollm2()'s) "
                         f"or set tokenizer.chat_template to a Jinja template")
    _check_messages(messages)
    messages = [dict(message) for message in messages]
    input_ids = _template_ids(tokenizer, messages, add_generation_prompt=False)
    labels = [IGNORE_INDEX] * len(input_ids)
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = _template_ids(tokenizer, messages[:i], add_generation_prompt=True)
        through = _template_ids(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if before == _template_ids(tokenizer, messages[:i], add_generation_prompt=False):
            raise ValueError("the chat template ignores add_generation_prompt, so where the assistant's "
                             "header ends is unknown; use a template that writes the header when asked")
        if through[: len(before)] != before:
            raise _not_prefix_error(f"messages up to {i} plus the assistant header are not a prefix of "
                                    f"messages up to and including {i}")
        if input_ids[: len(through)] != through:
            raise _not_prefix_error(f"messages up to and including {i} are not a prefix of the whole "
                                    f"conversation")
        turn = through[len(before):]
        start, stop = len(before), len(before) + _end_of_turn(tokenizer, turn)
        labels[start:stop] = input_ids[start:stop]
    return input_ids, labels
