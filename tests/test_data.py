"""llmbook.data: registry, resolution order, verification and loaders."""
from __future__ import annotations

import hashlib
import http.server
import os
import threading
from pathlib import Path

import pytest

from llmbook import data
from llmbook.cache import CACHE_ENV_VAR
from llmbook.data import DataError, DataFile

MANIFEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "MANIFEST.tsv"


def test_registry_covers_every_file_of_the_manifest():
    if not MANIFEST.is_file():
        pytest.skip("no ../shared/data/MANIFEST.tsv beside the project")
    rows = [line.split("\t") for line in MANIFEST.read_text().splitlines()[1:] if line.strip()]
    manifest = {r[0]: r[2] for r in rows}
    assert set(manifest) == set(data.REGISTRY)
    for name, sha in manifest.items():
        entry = data.REGISTRY[name]
        assert entry.sha256 == sha
        assert entry.url.startswith("https://") and entry.licence


@pytest.fixture()
def isolated(tmp_path, monkeypatch):
    """An empty mirror and cache, and a network that refuses every download."""
    mirror, cache = tmp_path / "mirror", tmp_path / "cache" / "data"
    mirror.mkdir()
    monkeypatch.setenv(data.ENV_VAR, str(mirror))
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))  # the data cache is its data/ folder

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    return mirror, cache


def _fake_entry(monkeypatch, name: str, payload: bytes, url: str = "https://example.invalid/x.txt") -> DataFile:
    entry = DataFile(name, len(payload), hashlib.sha256(payload).hexdigest(), url, "test")
    monkeypatch.setitem(data.REGISTRY, name, entry)
    return entry


def test_unknown_file_names_the_registry_and_the_variable():
    with pytest.raises(DataError, match=r"unknown data file 'tinyshakespeare/nope.txt'.*LLMBOOK_DATA_DIR.*Did you mean"):
        data.path("tinyshakespeare/nope.txt")


def test_unknown_dataset_and_split_list_the_choices():
    with pytest.raises(DataError, match=r"unknown dataset 'shakespeare': choose one of .*tinyshakespeare"):
        data.load("shakespeare")
    with pytest.raises(DataError, match=r"has no split 'test': choose one of \['train', 'val', 'all'\]"):
        data.load("tinyshakespeare", "test")


def test_mirror_file_is_used_when_present(isolated, monkeypatch):
    mirror, _ = isolated
    entry = _fake_entry(monkeypatch, "demo/a.txt", b"hello")
    (mirror / "demo").mkdir()
    (mirror / "demo" / "a.txt").write_bytes(b"hello")
    assert data.path(entry.name) == mirror / "demo" / "a.txt"


def test_missing_file_without_network_names_file_variable_and_url(isolated, monkeypatch):
    entry = _fake_entry(monkeypatch, "demo/missing.txt", b"data", url="https://example.invalid/missing.txt")
    with pytest.raises(DataError) as info:
        data.path(entry.name)
    message = str(info.value)
    assert "demo/missing.txt" in message and "LLMBOOK_DATA_DIR" in message
    assert "https://example.invalid/missing.txt" in message and "network is unreachable" in message


def test_corrupt_mirror_file_is_never_used_nor_replaced(isolated, monkeypatch):
    mirror, cache = isolated
    entry = _fake_entry(monkeypatch, "demo/b.txt", b"the real content")
    (mirror / "demo").mkdir()
    corrupt = mirror / "demo" / "b.txt"
    corrupt.write_bytes(b"tampered")
    with pytest.raises(DataError, match=r"demo/b.txt: the copy in the mirror LLMBOOK_DATA_DIR=.* is corrupt.*Delete it"):
        data.path(entry.name)
    assert corrupt.read_bytes() == b"tampered"  # not silently replaced
    assert not (cache / "demo" / "b.txt").exists()


def test_corrupt_cache_file_is_an_error(isolated, monkeypatch):
    _, cache = isolated
    entry = _fake_entry(monkeypatch, "demo/c.txt", b"good")
    (cache / "demo").mkdir(parents=True)
    (cache / "demo" / "c.txt").write_bytes(b"bad")
    with pytest.raises(DataError, match=r"the copy in the cache .* is corrupt.*https://example.invalid"):
        data.path(entry.name)


class _Server:
    """A local HTTP server standing in for the canonical URL."""

    def __init__(self, root: Path):
        handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
        handler.log_message = lambda *a: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc):
        self.httpd.shutdown()


def test_download_is_verified_cached_and_reused(tmp_path, monkeypatch):
    (tmp_path / "empty-mirror").mkdir()
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "empty-mirror"))
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    served = tmp_path / "www"
    served.mkdir()
    (served / "good.txt").write_bytes(b"downloaded content")
    (served / "bad.txt").write_bytes(b"not what the registry says")
    with _Server(served) as base:
        good = _fake_entry(monkeypatch, "demo/good.txt", b"downloaded content", url=f"{base}/good.txt")
        local = data.path(good.name)
        assert local == tmp_path / "cache" / "data" / "demo" / "good.txt"
        assert local.read_bytes() == b"downloaded content"
        bad = _fake_entry(monkeypatch, "demo/bad.txt", b"expected content", url=f"{base}/bad.txt")
        with pytest.raises(DataError, match=r"demo/bad.txt: the download from http://127.0.0.1:\d+/bad.txt has sha256 .* discarded"):
            data.path(bad.name)
        assert not (tmp_path / "cache" / "data" / "demo" / "bad.txt").exists()
        assert not list((tmp_path / "cache" / "data" / "demo").glob("*.part"))
    # the server is gone: the cached copy is still found (and verified)
    assert data.path(good.name).read_bytes() == b"downloaded content"


def test_tinyshakespeare_splits_are_nanogpt_s():
    text = data.load("tinyshakespeare", "all")
    train, val = data.load("tinyshakespeare", "train"), data.load("tinyshakespeare", "val")
    assert train + val == text and len(train) == int(len(text) * 0.9)
    assert text.startswith("First Citizen:")


def test_structured_loaders_return_plain_python():
    sst2 = data.load("sst2", "val")
    assert {item["label"] for item in sst2} == {0, 1} and all(isinstance(i["sentence"], str) for i in sst2)
    multi30k = data.load("multi30k", "test")
    assert len(multi30k) == 1000 and set(multi30k[0]) == {"en", "de", "fr"}
    mmlu = data.load("mmlu", "dev")
    assert len({i["subject"] for i in mmlu}) == 57 and all(len(i["choices"]) == 4 for i in mmlu)
    assert all(0 <= i["answer"] < 4 for i in mmlu)
    piqa = data.load("piqa", "val")
    assert len(piqa) == 1838 and {i["label"] for i in piqa} == {0, 1}
    squad = data.load("squad", "val")
    assert len(squad) == 626 and any(i["is_impossible"] for i in squad)
    assert all(i["answers"] or i["is_impossible"] for i in squad)
    bpe = data.load("gpt2-bpe", "all")
    assert len(bpe["encoder"]) == 50257 and len(bpe["merges"]) == 50000
    assert set(data.load("wikitext2")) == {"val", "test"} and data.splits("wikitext2") == ("val", "test")


def test_loaded_data_cannot_be_mutated_through_the_cache():
    first = data.load("sst2", "val")
    first[0]["label"] = 99
    assert data.load("sst2", "val")[0]["label"] != 99


def test_inconsistent_files_are_reported(monkeypatch):
    monkeypatch.setattr(data, "_read_lines_gz", lambda name: ["x"] if name.endswith(".en.gz") else ["x", "y"])
    with pytest.raises(DataError, match="different line counts"):
        data._multi30k("val")
    monkeypatch.setattr(data, "_read_text", lambda name: "1\n0\n1\n" if name.endswith(".lst") else '{"goal": "g", "sol1": "a", "sol2": "b"}\n')
    with pytest.raises(DataError, match="1 items but 3 labels"):
        data._piqa("val")


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data._cache_dir() == tmp_path / "llmbook" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data._cache_dir() == Path.home() / ".cache" / "llmbook" / "data"


def test_unusable_mirror_cache_and_names_are_data_errors(isolated, monkeypatch, tmp_path):
    """Each used to escape as a PermissionError, FileExistsError or TypeError, or fall back silently."""
    mirror, _ = isolated
    entry = _fake_entry(monkeypatch, "demo/x.txt", b"payload")
    with pytest.raises(DataError, match=r"a dataset name is a str, got list \['sst2'\]"):
        data.load(["sst2"])
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"LLMBOOK_DATA_DIR=.*nowhere is missing, not a folder"):
        data.path("demo/x.txt")
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "a-file"))
    with pytest.raises(DataError, match=r"is a file, not a folder"):
        data.path("demo/x.txt")
    monkeypatch.setenv(data.ENV_VAR, str(mirror))
    (mirror / "demo").mkdir()
    (mirror / "demo" / "x.txt").write_bytes(b"payload")
    def unreadable(file):  # what reading a file without permission raises (root, as in CI, reads anything)
        raise PermissionError(13, "Permission denied", str(file))

    with monkeypatch.context() as patch:
        patch.setattr(data, "sha256_file", unreadable)
        with pytest.raises(DataError, match=r"cannot be read \(Permission denied\).*example.invalid"):
            data.path("demo/x.txt")
    assert data.path("demo/x.txt") == mirror / "demo" / "x.txt"
    (mirror / "demo" / "x.txt").unlink()
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "blocked"))
    with pytest.raises(DataError, match=rf"cannot be written .* from {entry.url}. Set LLMBOOK_CACHE_DIR"):
        data.path("demo/x.txt")



def test_the_datasets_of_part_iv_have_disjoint_stable_splits():
    """ChnSentiCorp, Alpaca and HH-RLHF come unsplit: the hash splits cover every usable row once, keep a
    repeated text (or a shared prompt) inside one split, and do not depend on file order."""
    reviews = {split: [r["review"] for r in data.load("chnsenticorp", split)] for split in ("train", "val", "test")}
    assert sum(map(len, reviews.values())) == 7765  # 7,766 rows, one empty review left out
    assert not set(reviews["train"]) & (set(reviews["val"]) | set(reviews["test"]))
    assert 0.08 < len(reviews["test"]) / 7765 < 0.12 and {r["label"] for r in data.load("chnsenticorp", "test")} == {0, 1}
    alpaca = data.load("alpaca")
    assert len(alpaca["train"]) + len(alpaca["val"]) == 5000 and 400 < len(alpaca["val"]) < 600
    assert set(alpaca["val"][0]) == {"instruction", "input", "output"}
    prompt = lambda pair: pair["chosen"].split("\n\nAssistant:", 1)[0]  # noqa: E731
    hh = data.load("hh_rlhf")
    assert len(hh["train"]) + len(hh["test"]) == 2312
    assert not {prompt(p) for p in hh["train"]} & {prompt(p) for p in hh["test"]}
    assert all(p[k].startswith("\n\nHuman:") and "\n\nAssistant:" in p[k] for p in hh["test"] for k in p)


def test_banking77_labels_index_its_category_list():
    test = data.load("banking77", "test")
    assert len(test) == 3080 and len({r["label"] for r in test}) == 77
    assert {r["category"] for r in test if r["label"] == test[0]["label"]} == {test[0]["category"]}
