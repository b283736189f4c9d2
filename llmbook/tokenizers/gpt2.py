"""GPT-2's tokenizer, read from OpenAI's two files and encoded with :class:`~llmbook.tokenizers.bpe.ByteLevelBPE`.

OpenAI ships GPT-2's byte-level BPE as ``encoder.json`` (token string -> id, 50,257 entries) and
``vocab.bpe`` (50,000 merges, one ``left right`` pair of token strings per line, most frequent first).
The token strings are not raw bytes: to keep the files printable, each byte is written as a visible
Unicode character by :func:`bytes_to_unicode` (a space becomes ``Ġ``, a newline ``Ċ``). Reading the files
undoes that mapping, after which GPT-2 is an ordinary byte-level BPE with the regex pre-tokenizer of
:data:`~llmbook.tokenizers.bpe.GPT2_SPLIT_PATTERN`.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from .bpe import GPT2_SPLIT_PATTERN, ByteLevelBPE

__all__ = ["GPT2Tokenizer", "bytes_to_unicode", "END_OF_TEXT"]

END_OF_TEXT = "<|endoftext|>"


@lru_cache(maxsize=None)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map (a bijection of the 256 bytes).

    The 188 bytes that are printable Latin-1 characters (``!`` .. ``~``, ``¡`` .. ``¬``, ``®`` .. ``ÿ``)
    map to themselves; the 68 others (controls, space, soft hyphen...) map, in byte order, to the
    characters from U+0100 on. So byte 32 (space) is ``chr(256 + 32) = 'Ġ'``.
    """
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


class GPT2Tokenizer(ByteLevelBPE):
    """GPT-2's byte-level BPE tokenizer (50,257 tokens), identical to Hugging Face's ``GPT2TokenizerFast``.

    >>> tok = GPT2Tokenizer.from_files(data.path("gpt2-bpe/encoder.json"), data.path("gpt2-bpe/vocab.bpe"))
    >>> tok.encode("Hello world")
    [15496, 995]

    ``"<|endoftext|>"`` is the special token 50256. Its string in a text is refused unless allowed:
    ``encode(text, allowed_special="all")`` makes it the token, as Hugging Face's tokenizer always does;
    ``encode_ordinary(text)`` encodes it as ordinary characters (see :meth:`ByteLevelBPE.encode`).
    """

    @classmethod
    def from_files(cls, encoder_json: str | Path, vocab_bpe: str | Path) -> "GPT2Tokenizer":
        """Read OpenAI's ``encoder.json`` (token string -> id) and ``vocab.bpe`` (ranked merges)."""
        encoder_json, vocab_bpe = Path(encoder_json), Path(vocab_bpe)
        for file, what in ((encoder_json, "encoder.json"), (vocab_bpe, "vocab.bpe")):
            if not file.is_file():
                raise FileNotFoundError(
                    f"GPT-2's {what} not found at {file}: pass the path of OpenAI's file "
                    f"(llmbook.data.path('gpt2-bpe/{what}') gives the book's copy)"
                )
        encoder: dict[str, int] = json.loads(encoder_json.read_text(encoding="utf-8"))
        byte_decoder = {ch: b for b, ch in bytes_to_unicode().items()}
        special = {s: i for s, i in encoder.items() if s == END_OF_TEXT}
        vocab: dict[int, bytes] = {}
        for token, i in encoder.items():
            if token in special:
                vocab[i] = token.encode("utf-8")
                continue
            try:
                vocab[i] = bytes(byte_decoder[ch] for ch in token)
            except KeyError as exc:
                raise ValueError(
                    f"{encoder_json}: token {token!r} has the character {exc.args[0]!r}, which is not one of GPT-2's "
                    f"byte characters; is this GPT-2's encoder.json?"
                ) from None
        merges = []
        lines = vocab_bpe.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines):
            if n == 0 and line.startswith("#version"):
                continue  # the header line
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or parts[0] not in encoder or parts[1] not in encoder:
                raise ValueError(
                    f"{vocab_bpe}, line {n + 1}: {line!r} is not a merge of two tokens of {encoder_json.name}; "
                    f"are the two files from the same tokenizer?"
                )
            merges.append((encoder[parts[0]], encoder[parts[1]]))
        return cls(vocab, merges, GPT2_SPLIT_PATTERN, special_tokens=special)
