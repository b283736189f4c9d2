"""Byte-level byte-pair encoding (BPE), trained from scratch.

BPE (Sennrich et al., 2016) starts from a small alphabet and repeatedly *merges* the most frequent
adjacent pair of tokens into a new token. Byte-level BPE (GPT-2, Radford et al., 2019) takes the 256
byte values as the alphabet, so every string, in any script, is encodable and nothing is ever
"unknown". Training follows GPT-2: the text is first cut into chunks by a regular expression (words
with their leading space, numbers, punctuation runs, whitespace), and merges never cross a chunk.

This module holds the machinery that :class:`BPETokenizer` (trained here) and
:class:`llmbook.tokenizers.GPT2Tokenizer` (OpenAI's files) share:

* :class:`ByteLevelBPE` encodes and decodes with any byte-level vocabulary and list of merges;
* :class:`BPETokenizer` adds :meth:`BPETokenizer.train`, :meth:`~BPETokenizer.save` and
  :meth:`~BPETokenizer.load`.

Ties between equally frequent pairs go to the smallest pair of ids, ``min(pairs, key=lambda p:
(-count[p], p))``, so training is deterministic.
"""
from __future__ import annotations

import heapq
import json
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Collection, Iterable, Iterator, Sequence

import regex

from ._ids import token_ids

__all__ = ["GPT2_SPLIT_PATTERN", "ByteLevelBPE", "BPETokenizer", "pretokenize", "merge_pair", "pair_counts"]

# GPT-2's pre-tokenizer (OpenAI's encoder.py): contractions, optional space + letters, optional space +
# digits, optional space + other symbols, whitespace not followed by a non-space, other whitespace.
GPT2_SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

FORMAT_VERSION = "llmbook-bpe-1"
_CACHE_LIMIT = 200_000  # chunks kept in an encoder's cache before it is cleared


def pretokenize(text: str, pattern: str = GPT2_SPLIT_PATTERN) -> list[str]:
    """Cut ``text`` into the chunks that BPE merges never cross (GPT-2's regular expression by default).

    ``"".join(pretokenize(text)) == text`` for every string: the pattern's last branch matches any
    whitespace and its other branches everything else. A custom ``pattern`` that skips characters
    would make the tokenizer drop them silently: that is a ``ValueError``.
    """
    chunks = regex.findall(pattern, text)
    check_coverage(chunks, text, pattern)
    return chunks


def check_coverage(chunks: Sequence[str], text: str, pattern: str) -> None:
    """Raise a ``ValueError`` if the pre-tokenizer's ``chunks`` do not add up to ``text``."""
    if sum(map(len, chunks)) == len(text):
        return  # findall's matches do not overlap: the same length means every character is in one
    covered, at = [], 0
    for match in regex.finditer(pattern, text):
        if match.start() > at:
            covered.append((at, text[at:match.start()]))
        at = match.end()
    gap_at, gap = covered[0] if covered else (at, text[at:])
    raise ValueError(
        f"the pre-tokenizer pattern {pattern!r} skips {gap[:20]!r} at character {gap_at}: those characters "
        f"would be dropped from the encoding. Use a pattern that matches every character (GPT-2's ends "
        f"with \\s+ and the others cover the rest; add |\\s+|. to a custom one)"
    )


def utf8_chunk(chunk: str, text: str) -> bytes:
    """``chunk`` (a piece of ``text``) as UTF-8; a lone surrogate, which has no UTF-8 bytes, is a
    ``ValueError`` that says where it is and where it usually comes from."""
    try:
        return chunk.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start]
        raise ValueError(
            f"the text holds a lone surrogate {bad!r} at character {text.index(bad)}: it is not valid Unicode "
            f"and has no UTF-8 bytes. It usually comes from bytes decoded with errors='surrogateescape'; "
            f"decode them with errors='replace' instead"
        ) from None


def pair_counts(ids: Sequence[int], counts: dict | None = None, weight: int = 1) -> dict[tuple[int, int], int]:
    """Add ``weight`` for each adjacent pair of ``ids`` to ``counts`` (a new dict if ``None``); return it.

    Overlapping pairs count each time: ``(a, a)`` occurs twice in ``[a, a, a]``.
    """
    counts = {} if counts is None else counts
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + weight
    return counts


def merge_pair(ids: Sequence[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace each occurrence of ``pair`` in ``ids``, scanning left to right, by ``new_id``.

    >>> merge_pair([1, 1, 1, 2], (1, 1), 9)
    [9, 1, 2]
    """
    out, i, n = [], 0, len(ids)
    first, second = pair
    while i < n:
        if i < n - 1 and ids[i] == first and ids[i + 1] == second:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class ByteLevelBPE:
    """Encode ``str -> list[int]`` and decode ``list[int] -> str`` with a byte-level BPE vocabulary.

    Args:
        vocab: token id -> the bytes it stands for. Each of the 256 single bytes must be a token.
        merges: the merges in priority order (rank 0 first), as pairs of token ids ``(a, b)``; the merged
            token ``vocab[a] + vocab[b]`` must be in ``vocab``.
        pattern: the pre-tokenizer's regular expression (:data:`GPT2_SPLIT_PATTERN` by default).
        special_tokens: control strings with a token of their own (e.g. GPT-2's ``"<|endoftext|>"``);
            their ids must be in ``vocab``. Text that contains one is refused by :meth:`encode` unless
            it is allowed (see there): text must not become a control token by accident or by attack.

    Encoding a chunk applies, again and again, the merge of lowest rank among the chunk's adjacent
    pairs, as GPT-2 does. Chunks repeat a lot in real text, so the result of each chunk is cached.
    """

    def __init__(
        self,
        vocab: dict[int, bytes],
        merges: Sequence[tuple[int, int]],
        pattern: str = GPT2_SPLIT_PATTERN,
        special_tokens: dict[str, int] | None = None,
    ):
        self.vocab: dict[int, bytes] = dict(vocab)
        self.merges: list[tuple[int, int]] = [tuple(m) for m in merges]
        self.pattern = pattern
        self.special_tokens: dict[str, int] = dict(special_tokens or {})
        # A special token's bytes may equal an ordinary token's ("<s>" could also be merged from text):
        # merges and byte lookups must find the ordinary one, so special ids are left out here.
        special_ids = set(self.special_tokens.values())
        ids_of_bytes = {token: i for i, token in self.vocab.items() if i not in special_ids}
        missing = [b for b in range(256) if bytes([b]) not in ids_of_bytes]
        if missing:
            raise ValueError(
                f"a byte-level vocabulary needs a token for each of the 256 bytes; {len(missing)} are missing "
                f"(first: {missing[:5]}). Add them to the vocabulary."
            )
        self._byte_ids = [ids_of_bytes[bytes([b])] for b in range(256)]
        # pair -> (rank, id of the merged token): the table that encoding looks merges up in.
        self._merge_table: dict[tuple[int, int], tuple[int, int]] = {}
        for rank, (a, b) in enumerate(self.merges):
            if a not in self.vocab or b not in self.vocab:
                raise ValueError(f"merge {rank} {(a, b)} uses a token id that is not in the vocabulary")
            merged = ids_of_bytes.get(self.vocab[a] + self.vocab[b])
            if merged is None:
                raise ValueError(
                    f"merge {rank} {(a, b)} makes {self.vocab[a] + self.vocab[b]!r}, which is not in the vocabulary"
                )
            self._merge_table.setdefault((a, b), (rank, merged))
        for text, i in self.special_tokens.items():
            if i not in self.vocab:
                raise ValueError(f"special token {text!r} has id {i}, which is not in the vocabulary")
        self._split = regex.compile(pattern)
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        """Number of token ids (``max id + 1``; the ids are ``0 .. vocab_size - 1``)."""
        return max(self.vocab) + 1

    def __len__(self) -> int:
        return self.vocab_size

    def _merges_of(self, chunk: bytes) -> Iterator[list[int]]:
        """The ids of ``chunk`` before any merge, then after each merge, applied by rank."""
        ids = [self._byte_ids[b] for b in chunk]
        table = self._merge_table
        yield ids
        while len(ids) > 1:
            # the adjacent pair with the lowest merge rank; pairs that are no merge rank as infinity
            best_rank, best = None, None
            for pair in zip(ids, ids[1:]):
                entry = table.get(pair)
                if entry is not None and (best_rank is None or entry[0] < best_rank):
                    best_rank, best = entry[0], pair
            if best is None:
                break
            ids = merge_pair(ids, best, table[best][1])
            yield ids

    def encode_chunk(self, chunk: bytes) -> list[int]:
        """Encode one pre-tokenized chunk (as bytes): start from its bytes and apply merges by rank."""
        *_, ids = self._merges_of(chunk)
        return ids

    def merge_steps(self, chunk: str) -> list[list[str]]:
        """How one chunk (a word, with its leading space if any) is built: its bytes as text, then the
        tokens after each merge, in the order :meth:`encode_chunk` applies them. Each step merges one
        adjacent pair; a merge that happens twice in the word counts once
        (``llmbook.diagrams.bpe_merges`` draws the result).

        >>> tok.merge_steps("lower")  # doctest: +SKIP
        [['l', 'o', 'w', 'e', 'r'], ['l', 'o', 'w', 'er'], ['lo', 'w', 'er'], ['low', 'er'], ['lower']]
        """
        steps: list[list[int]] = []
        for ids in self._merges_of(chunk.encode("utf-8")):
            if not steps:  # the bytes, before any merge
                steps.append(ids)
                continue
            current = steps[-1]
            while len(current) > len(ids):  # one pair merged in several places: a step per place
                at = next(k for k in range(len(ids)) if current[k] != ids[k])
                current = current[:at] + [ids[at]] + current[at + 2 :]
                steps.append(current)
        return [[self.vocab[i].decode("utf-8", errors="replace") for i in ids] for ids in steps]

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of ``text`` as ordinary text: a special token's string is encoded like any other
        characters, so the result never holds a special token (tiktoken's ``encode_ordinary``)."""
        if not isinstance(text, str):
            raise TypeError(f"encode() takes a str, got {type(text).__name__}; decode bytes with .decode('utf-8') first")
        return self._encode_ordinary(text)

    def _chunk_ids(self, chunk: str, text: str) -> list[int]:
        """The ids of one pre-tokenizer chunk of ``text``, from the cache when it was seen before."""
        ids = self._cache.get(chunk)
        if ids is None:
            ids = self.encode_chunk(utf8_chunk(chunk, text))
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[chunk] = ids
        return ids

    def _encode_ordinary(self, text: str) -> list[int]:
        chunks = self._split.findall(text)
        check_coverage(chunks, text, self.pattern)
        return [i for chunk in chunks for i in self._chunk_ids(chunk, text)]

    def encode_iterable(self, pieces: Iterable[str]) -> Iterator[int]:
        """The ids of ``encode_ordinary("".join(pieces))``, produced while ``pieces`` (parts of one text,
        e.g. the lines of a file) stream in: memory holds one pre-tokenizer chunk, not the text.

        The last two chunks of what has arrived may still change with the next piece: a word cut in two
        grows, and ``'`` + ``r`` become the contraction ``'re`` when an ``e`` follows. So they wait;
        every chunk before them is final (the pattern looks at most one chunk ahead). Special tokens are
        never produced (ordinary text)."""
        pending = ""
        for piece in pieces:
            if not isinstance(piece, str):
                raise TypeError(f"encode_iterable takes pieces of text (str), got {type(piece).__name__}")
            pending += piece
            chunks = self._split.findall(pending)
            check_coverage(chunks, pending, self.pattern)
            for chunk in chunks[:-2]:
                yield from self._chunk_ids(chunk, pending)
            pending = "".join(chunks[-2:])
        if pending:
            yield from self._encode_ordinary(pending)

    def encode(self, text: str, *, allowed_special: Collection[str] | str = (),
               disallowed_special: Collection[str] | str = "all") -> list[int]:
        """Token ids of ``text``: ``str -> list[int]`` of length ``(n_tokens,)``.

        Special tokens follow tiktoken's contract. Their strings in ``text`` are an error by default:
        text from a user that could become ``<|endoftext|>`` (or a chat turn marker) lets the user forge
        control tokens (prompt injection). ``allowed_special`` lists the special tokens to encode as
        their token where their string occurs (``"all"``: every one, as Hugging Face's tokenizer does);
        ``disallowed_special`` the ones that raise (``"all"``: every one not allowed; ``()``: none,
        their strings are encoded as ordinary text, like :meth:`encode_ordinary`).
        """
        if not isinstance(text, str):
            raise TypeError(f"encode() takes a str, got {type(text).__name__}; decode bytes with .decode('utf-8') first")
        specials = set(self.special_tokens)
        allowed = specials if allowed_special == "all" else set(allowed_special)
        disallowed = specials - allowed if disallowed_special == "all" else set(disallowed_special)
        unknown = sorted((allowed | disallowed) - specials)
        if unknown:
            raise ValueError(f"{unknown} are not special tokens of this tokenizer (it has {sorted(specials)})")
        for special in sorted(disallowed):
            if special in text:
                raise ValueError(
                    f"the text contains the special token {special!r} (at character {text.index(special)}), "
                    f"which text may not produce unless asked: encode(text, allowed_special={{{special!r}}}) "
                    f"encodes it as the special token, encode_ordinary(text) as ordinary characters"
                )
        allowed = {s for s in allowed if s in text}
        if not allowed:
            return self._encode_ordinary(text)
        split = regex.compile("(" + "|".join(regex.escape(s) for s in sorted(allowed, key=len, reverse=True)) + ")")
        out: list[int] = []
        for i, part in enumerate(split.split(text)):
            if i % 2:  # the odd parts are the special tokens that split() captured
                out.append(self.special_tokens[part])
            elif part:
                out.extend(self._encode_ordinary(part))
        return out

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes that ``ids`` stand for. Raises ``ValueError`` naming the first unknown id."""
        vocab, ids = self.vocab, token_ids(ids)  # ints, NumPy ints, 0-d integer tensors; no bools, floats
        try:
            return b"".join([vocab[i] for i in ids])
        except KeyError as exc:
            raise ValueError(
                f"unknown token id {exc.args[0]}: this tokenizer's ids are 0..{self.vocab_size - 1}; "
                f"was the sequence encoded with another tokenizer?"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids`` (``list[int] -> str``). Bytes that do not form valid UTF-8 on their own (a
        sequence cut inside a character) become U+FFFD, as in GPT-2; whole encodings round-trip exactly."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes of one token."""
        return self.decode_bytes([token_id])


def check_special_tokens(special_tokens: Sequence[str]) -> list[str]:
    """``special_tokens`` as a list after checking each is a distinct, non-empty, encodable string."""
    if isinstance(special_tokens, str):
        raise TypeError(f"special_tokens is a list of strings; got the string {special_tokens!r} "
                        f"(write [{special_tokens!r}])")
    special_tokens = list(special_tokens)
    for s in special_tokens:
        if not isinstance(s, str) or not s:
            raise ValueError(f"a special token must be a non-empty str, got {s!r}")
        utf8_chunk(s, s)  # a lone surrogate has no bytes to stand for
    repeated = sorted({s for s in special_tokens if special_tokens.count(s) > 1})
    if repeated:
        raise ValueError(f"special tokens {repeated} are listed more than once")
    return special_tokens


class BPETokenizer(ByteLevelBPE):
    """Byte-level BPE with ids ``0..255`` for the bytes, ``256 + i`` for the token made by merge ``i``
    and, after the merges, one id for each special token, in the order given.

    >>> tok = BPETokenizer.train("low lower lowest " * 50, vocab_size=260)
    >>> tok.decode(tok.encode("lowest")) == "lowest"
    True
    """

    def __init__(self, merges: Sequence[tuple[int, int]] = (), pattern: str = GPT2_SPLIT_PATTERN,
                 special_tokens: Sequence[str] = ()):
        vocab = {i: bytes([i]) for i in range(256)}
        for i, (a, b) in enumerate(merges):
            if a not in vocab or b not in vocab:
                raise ValueError(
                    f"merge {i} {(a, b)} refers to a token that does not exist yet (ids must be < {256 + i})"
                )
            vocab[256 + i] = vocab[a] + vocab[b]
        special_ids = {s: len(vocab) + k for k, s in enumerate(check_special_tokens(special_tokens))}
        vocab.update({i: s.encode("utf-8") for s, i in special_ids.items()})
        super().__init__(vocab, merges, pattern, special_ids)

    @classmethod
    def train(
        cls, text: str, vocab_size: int, pattern: str = GPT2_SPLIT_PATTERN, verbose: bool = False,
        special_tokens: Sequence[str] = (),
    ) -> "BPETokenizer":
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text``.

        Pair counts are kept up to date *incrementally*: a merge only touches the chunks that contain the
        merged pair, so training costs about the number of affected chunks per merge, not a recount of the
        corpus. Distinct chunks are counted once with their frequency. If the text runs out of pairs
        before ``vocab_size`` is reached, training stops early with a warning.

        Args:
            text: the training corpus (non-empty).
            vocab_size: the final number of tokens, at least 256 (the byte alphabet).
            pattern: the pre-tokenizer's regular expression.
            verbose: print each merge.
            special_tokens: control strings (``"<|endoftext|>"``, chat turn markers) that get one token
                each, counted in ``vocab_size``, with the ids after the merges. Where they occur in
                ``text`` they are cut out before counting: a special token is never split into pieces
                nor merged with its neighbours, and no merge is learnt from its characters.
        """
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
            raise TypeError(f"vocab_size must be an int, got {type(vocab_size).__name__} {vocab_size!r}")
        special_tokens = check_special_tokens(special_tokens)
        if vocab_size < 256 + len(special_tokens):
            raise ValueError(
                f"vocab_size={vocab_size} is below the byte alphabet and the {len(special_tokens)} special "
                f"tokens: a byte-level BPE has 256 byte tokens before any merge, so use vocab_size >= "
                f"{256 + len(special_tokens)} (256 + the number of merges + the number of special tokens)"
            )
        if not isinstance(text, str):
            raise TypeError(f"train() takes the corpus as a str, got {type(text).__name__}")
        if not text:
            raise ValueError("empty training corpus: BPE learns its merges from text, pass a non-empty string")

        # Distinct chunks ("words") and how often each occurs: merges never cross a chunk.
        # Special tokens are taken out of the text first; the ordinary text between them is pre-tokenized.
        parts = [text]
        if special_tokens:
            by_length = sorted(special_tokens, key=len, reverse=True)  # "<|a|>x" before "<|a|>"
            parts = regex.split("|".join(regex.escape(s) for s in by_length), text)
        chunk_freq = Counter(chunk for part in parts for chunk in pretokenize(part, pattern))
        words: list[list[int]] = [list(utf8_chunk(chunk, text)) for chunk in chunk_freq]
        freqs: list[int] = list(chunk_freq.values())

        counts: dict[tuple[int, int], int] = {}
        where: dict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> indices of words containing it
        for w, (word, freq) in enumerate(zip(words, freqs)):
            for pair in zip(word, word[1:]):
                counts[pair] = counts.get(pair, 0) + freq
                where[pair].add(w)
        # A max-heap of (-count, pair) with lazy deletion: stale entries are skipped when popped.
        heap = [(-c, p) for p, c in counts.items()]
        heapq.heapify(heap)

        merges: list[tuple[int, int]] = []
        for new_id in range(256, vocab_size - len(special_tokens)):
            best = None
            while heap:
                neg, pair = heapq.heappop(heap)
                if counts.get(pair) == -neg:
                    best = pair
                    break
            if best is None:
                warnings.warn(
                    f"the training text has no pair left to merge after {len(merges)} merges: the vocabulary has "
                    f"{256 + len(merges) + len(special_tokens)} tokens, not the {vocab_size} asked for "
                    f"(train on more text)",
                    stacklevel=2,
                )
                break
            merges.append(best)
            if verbose:
                print(f"merge {len(merges)}: {best} -> {new_id} ({-neg} occurrences)")
            changed: set[tuple[int, int]] = set()
            for w in where.pop(best):
                word, freq = words[w], freqs[w]
                merged = merge_pair(word, best, new_id)
                if len(merged) == len(word):
                    continue  # stale index: the pair left this word in an earlier merge
                # Take the word's old pairs out of the counts and put its new pairs in.
                for pair in zip(word, word[1:]):
                    counts[pair] -= freq
                    changed.add(pair)
                for pair in zip(merged, merged[1:]):
                    counts[pair] = counts.get(pair, 0) + freq
                    where[pair].add(w)
                    changed.add(pair)
                words[w] = merged
            for pair in changed:
                c = counts[pair]
                if c > 0:
                    heapq.heappush(heap, (-c, pair))
                else:
                    del counts[pair]
        return cls(merges, pattern, special_tokens)

    def save(self, path: str | Path) -> Path:
        """Write the merges, the pattern and the special tokens to ``path`` as JSON; :meth:`load` reads
        it back."""
        path = Path(path)
        specials = sorted(self.special_tokens, key=self.special_tokens.__getitem__)
        payload = {"format": FORMAT_VERSION, "pattern": self.pattern, "merges": [list(m) for m in self.merges],
                   "special_tokens": specials}
        path.write_text(json.dumps(payload), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "BPETokenizer":
        """Read a tokenizer written by :meth:`save`."""
        path = Path(path)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:  # not UTF-8, or not JSON
            raise ValueError(f"{path} is not a tokenizer saved by BPETokenizer.save (invalid JSON: {exc})") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"{path} is not a tokenizer saved by BPETokenizer.save (expected format {FORMAT_VERSION!r})"
            )
        merges, pattern = payload.get("merges"), payload.get("pattern")
        specials = payload.get("special_tokens", [])  # files written before special tokens have none
        well_formed = isinstance(pattern, str) and isinstance(merges, list) and all(
            isinstance(m, list) and len(m) == 2 and all(type(i) is int for i in m) for m in merges
        ) and isinstance(specials, list) and all(isinstance(t, str) for t in specials)
        if not well_formed:
            raise ValueError(f"{path} is not a tokenizer saved by BPETokenizer.save: its merges (pairs of ids), "
                             f"its pattern (a str) or its special tokens (strs) are missing or malformed")
        try:
            regex.compile(pattern)
        except regex.error as exc:
            raise ValueError(f"{path}: the saved pattern {pattern!r} is not a regular expression ({exc})") from None
        return cls([tuple(m) for m in merges], pattern, specials)
