"""A conversation that keeps the model's KV cache from one turn to the next.

A chat model sees the whole conversation at every turn, written out by its chat template::

    <|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\nHello!<|im_end|>\\n<|im_start|>...

Recomputing every earlier turn each time costs as much as the conversation is long. The earlier
turns do not change, so their keys and values can stay in the cache: :class:`ChatSession` keeps the
token ids of the conversation and the cache, and at each turn feeds only the tokens that are new
(what the template adds for the user's message, and the end of the previous reply). The replies are
the ones a recomputation from scratch gives (``use_cache=False`` does that; the tests compare the
two).
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from .decoding import cached_length, check_model, generate, new_cache

__all__ = ["ChatSession", "plain_template", "end_of_text_id"]

Messages = list[dict[str, str]]


def end_of_text_id(tokenizer: Any) -> int | None:
    """The id that ends a text for ``tokenizer``: Hugging Face's ``eos_token_id``, or the book's
    GPT-2 tokenizer's ``<|endoftext|>``; ``None`` for a tokenizer without one (characters)."""
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        eos = getattr(tokenizer, "special_tokens", {}).get("<|endoftext|>")
    return eos


def plain_template(messages: Messages, add_generation_prompt: bool = False) -> str:
    """A chat template for models trained without one: ``role: content`` lines, then
    ``assistant: `` when a reply is wanted."""
    text = "".join(f"{m['role']}: {m['content']}\n" for m in messages)
    return text + ("assistant: " if add_generation_prompt else "")


class ChatSession:
    """A multi-turn conversation with ``model``: ``reply = session.say("Hi")``.

    Args:
        model: the book's ``GPT`` or a Hugging Face causal LM (eval mode).
        tokenizer: a Hugging Face tokenizer (its chat template is used when it has one) or one of
            the book's tokenizers (``encode`` / ``decode``; then :func:`plain_template` is used).
        system_prompt: the first message, with role ``system``, if given (:meth:`reset` starts
            again, with the same or another one).
        max_new_tokens: the longest reply, in tokens.
        use_cache: keep the KV cache across turns (``False`` recomputes the whole conversation at
            every step, the reference the cached replies must equal).
        template: ``template(messages, add_generation_prompt) -> str``, replacing the tokenizer's.
        **decoding: options of :func:`llmbook.generate.generate` (``do_sample``, ``temperature``,
            ``repetition_penalty``, ...). ``eos_token_id`` defaults to the tokenizer's
            (:func:`end_of_text_id`).

    Attributes:
        messages: the conversation, ``[{"role": ..., "content": ...}, ...]``.
        ids: ``(1, seq)`` every token of the conversation so far (the last reply's EOS included).
        cache: the KV cache, holding every position of ``ids`` but the last.
        recomputed: how many turns had to rebuild the cache (see :meth:`say`).
        system_prompt: the conversation's system prompt (``None``: none).
    """

    def __init__(self, model: Any, tokenizer: Any, *, system_prompt: str | None = None,
                 max_new_tokens: int = 256, use_cache: bool = True,
                 template: Callable[[Messages, bool], str] | None = None, **decoding: Any):
        check_model(model)
        for name in ("num_beams", "cache", "attention_mask", "use_cache", "streamer"):
            if name in decoding:
                raise ValueError(f"ChatSession sets {name} itself (one conversation, decoded token "
                                 f"by token, with its own cache): leave it out")
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.use_cache = max_new_tokens, use_cache
        self.decoding = dict(decoding)
        self.decoding.setdefault("eos_token_id", end_of_text_id(tokenizer))
        self.template = template or self._tokenizer_template()
        self.reset(system_prompt)

    def reset(self, system_prompt: str | None = None) -> None:
        """Start a new conversation (the cache emptied), with ``system_prompt`` if given."""
        self.system_prompt = system_prompt or None
        self.messages: Messages = []
        if system_prompt:
            self.messages.append({"role": "system", "content": system_prompt})
        self.ids = torch.zeros(1, 0, dtype=torch.long)
        self.text = ""  # the text that self.ids encode
        self.cache = new_cache(self.model) if self.use_cache else None
        self.recomputed = 0

    def _tokenizer_template(self) -> Callable[[Messages, bool], str]:
        if getattr(self.tokenizer, "chat_template", None):
            return lambda messages, add_generation_prompt: self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        return plain_template

    def _is_hf(self) -> bool:
        return hasattr(self.tokenizer, "apply_chat_template")

    def _encode(self, text: str) -> list[int]:
        if self._is_hf():  # the template already wrote the special tokens
            return self.tokenizer.encode(text, add_special_tokens=False)
        return self.tokenizer.encode(text)

    def _decode(self, ids: list[int], skip_special_tokens: bool) -> str:
        if self._is_hf():
            return self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)
        return self.tokenizer.decode(ids)

    def say(self, text: str, streamer: Callable[[torch.Tensor], None] | None = None) -> str:
        """Add the user's message ``text``; generate, record and return the assistant's reply.

        Only the text the conversation gained since the last turn is encoded and fed. If the
        template rewrites earlier turns (some drop old system prompts or reasoning), or a reply does
        not decode back to the text of its tokens, the new text no longer extends the old one: the
        conversation is then encoded again and the cache rebuilt (counted in ``recomputed``), which
        gives the same reply, only slower. ``streamer`` receives each new token id, as in
        :func:`llmbook.generate.generate`. If generation fails (a ``ValueError``: the
        conversation no longer fits the model's context), the message is taken back out, so the
        session stays usable (e.g. after :meth:`reset`).
        """
        if not isinstance(text, str):
            raise TypeError(f"say() takes the user's message as a str, got {type(text).__name__}")
        self.messages.append({"role": "user", "content": text})
        prompt = self.template(self.messages, True)
        if self.ids.size(1) > 0 and prompt.startswith(self.text):
            new = torch.tensor([self._encode(prompt[len(self.text):])], dtype=torch.long)
            ids = torch.cat([self.ids, new], dim=1)
        else:
            if self.ids.size(1) > 0:
                self.recomputed += 1
            ids = torch.tensor([self._encode(prompt)], dtype=torch.long)
            self.cache = new_cache(self.model) if self.use_cache else None
        try:
            out = generate(self.model, ids, self.max_new_tokens, use_cache=self.use_cache,
                           cache=self.cache, streamer=streamer, **self.decoding).cpu()
        except ValueError:  # e.g. the conversation outgrew the context: the turn did not happen
            self.messages.pop()
            raise
        new_tokens = out[0, ids.size(1):].tolist()
        eos = self.decoding.get("eos_token_id")
        eos = {eos} if isinstance(eos, int) else set(eos or ())
        end = next((i for i, t in enumerate(new_tokens) if t in eos), len(new_tokens))
        reply = self._decode(new_tokens[:end], skip_special_tokens=True)
        self.messages.append({"role": "assistant", "content": reply})
        # a single row stops right after its EOS: the ids end with the reply and its EOS
        self.ids = out
        self.text = prompt + self._decode(new_tokens, skip_special_tokens=False)
        return reply

    @property
    def cached_positions(self) -> int:
        """How many positions the cache holds (0 without a cache)."""
        return cached_length(self.cache) if self.cache is not None else 0
