"""llmbook.device, llmbook.cache, plot, the book machinery (sizes, results, exercises) and llmbook.start."""
from __future__ import annotations

import importlib
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import llmbook
import dataclasses

from llmbook import cache, device, plot
from llmbook.book import exercises, results
from llmbook.book import sizes as profiles


def test_pick_device_order_and_override(monkeypatch):
    monkeypatch.delenv("LLMBOOK_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert device.pick_device().type == expected
    assert device.pick_device("cpu").type == "cpu"
    monkeypatch.setenv("LLMBOOK_DEVICE", "cpu")
    assert device.pick_device().type == "cpu"


def test_pick_device_refuses_unknown_or_unavailable(monkeypatch):
    with pytest.raises(ValueError, match="unknown device 'tpu': use one of 'cuda', 'mps', 'cpu'"):
        device.pick_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="'cuda' was requested but is not available here: use 'cpu'"):
        device.pick_device("cuda")


def test_pick_device_falls_through_to_mps_then_cpu(monkeypatch):
    monkeypatch.delenv("LLMBOOK_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert device.pick_device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert device.pick_device().type == "cpu"


def test_seed_everything_makes_all_generators_repeat():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    gen = device.seed_everything(7)
    first, first_gen = draw(), torch.rand(1, generator=gen)
    gen = device.seed_everything(7)
    assert draw() == first and torch.equal(torch.rand(1, generator=gen), first_gen)
    device.seed_everything(8)
    assert draw() != first
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="seed must be a non-negative int"):
            device.seed_everything(bad)


def test_deterministic_switch():
    try:
        device.set_deterministic(True)
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        device.set_deterministic(False)
    assert not torch.are_deterministic_algorithms_enabled()


def test_profiles_give_sizes_per_notebook():
    ci, full = profiles.sizes("00_how_to_use", "ci"), profiles.sizes("00_how_to_use", "full")
    assert ci.text_fraction < full.text_fraction and ci["top_k_chars"] == 20 and len(ci) == 2
    assert set(ci) == set(full)
    assert "Sizes('00_how_to_use', 'ci'" in repr(ci)
    with pytest.raises(AttributeError, match=r"has no size 'n_steps'; it has .*add it to llmbook\.book\.sizes\.ch00"):
        ci.n_steps
    with pytest.raises(AttributeError):
        ci._hidden


NOTEBOOK_STEMS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_every_notebook_has_one_sizes_module_with_both_profiles_and_the_same_keys():
    assert [f"ch{stem[:2]}" for stem in NOTEBOOK_STEMS] == profiles.chapters()
    for notebook in NOTEBOOK_STEMS:
        ci, full = profiles.table(notebook, "ci"), profiles.table(notebook, "full")
        assert set(ci) == set(full), notebook
        for key in ci:  # a size is the same kind of thing in both profiles (a GPTConfig stays a GPTConfig)
            assert type(ci[key]) is type(full[key]) or None in (ci[key], full[key]), (notebook, key)


def _leaves(values, path=()):
    if dataclasses.is_dataclass(values):
        values = {f.name: getattr(values, f.name) for f in dataclasses.fields(values)}
    if isinstance(values, dict):
        for key, value in values.items():
            yield from _leaves(value, path + (key,))
    else:
        yield path, values


def test_dry_run_keeps_the_shapes_and_cuts_the_training():
    cut_keys = set(profiles._DRY_RUN_CUTS)
    for notebook in NOTEBOOK_STEMS:
        full = dict(_leaves(profiles.table(notebook, "full")))
        dry = dict(_leaves(profiles.dry_run_sizes(notebook)))
        assert set(dry) == set(full), notebook  # the same sizes, no key lost or invented
        caps = importlib.import_module(f"llmbook.book.sizes.ch{notebook[:2]}").DRY_RUN
        cap_paths = [path for path, _ in _leaves(caps)]
        capped = {path for path in full if any(path[:len(c)] == c for c in cap_paths)}
        for path, value in full.items():
            if path in capped:
                continue
            if path[-1] in cut_keys and isinstance(value, int) and not isinstance(value, bool):
                assert dry[path] == min(value, profiles._DRY_RUN_CUTS[path[-1]]), (notebook, path)
            else:
                assert dry[path] == value, (notebook, path)  # layers, widths, block sizes: untouched
    transformer = profiles.dry_run_sizes("01_history")["char"]["transformer"]  # configs are cut too
    assert transformer["model"].n_embd == 384 and transformer["train"].max_steps == profiles.DRY_RUN_STEPS
    assert transformer["train"].early_stopping_patience == 1 and transformer["train"].eval_interval == 2
    assert profiles.dry_run_sizes("01_history")["eval_tokens"] == {"char": 20_000, "word": 4_000}
    ci_mlp = profiles.dry_run_sizes("01_history", "ci")["char"]["mlp"]["train"]
    assert ci_mlp.eval_interval is None and ci_mlp.early_stopping_patience is None  # None stays None
    full = profiles.table("01_history", "full")["char"]["transformer"]
    assert full["train"].max_steps == 4000 and full["train"].eval_interval == 250  # the table is not touched
    dry = profiles.sizes("04_pretraining", "full", dry_run=True)
    assert dry.char_train.max_steps == profiles.DRY_RUN_STEPS and dry.char.n_embd == 384
    assert dry.char_train.eval_steps == 2 and profiles.table("04_pretraining", "full")["char_train"].eval_steps == 200


def test_dry_run_caps_name_real_sizes_and_the_switch_is_strict(monkeypatch):
    from llmbook.book.sizes import ch00

    monkeypatch.setattr(ch00, "DRY_RUN", {"text_fractoin": 0.1})
    with pytest.raises(KeyError, match="dry-run cap 'text_fractoin' is not a size of this notebook"):
        profiles.dry_run_sizes("00_how_to_use")
    with pytest.raises(KeyError, match="no sizes for notebook '99_nothing'"):
        profiles.dry_run_sizes("99_nothing")
    for value, wanted in (("", False), ("0", False), ("false", False), ("1", True), ("TRUE", True), ("yes", True)):
        monkeypatch.setenv(profiles.DRY_RUN_ENV, value)
        assert profiles.dry_run_requested() is wanted, value
    monkeypatch.setenv(profiles.DRY_RUN_ENV, "maybe")
    with pytest.raises(ValueError, match=r"LLMBOOK_DRY_RUN='maybe': use 1 \(a dry run\) or 0"):
        profiles.dry_run_requested()


def test_a_dry_run_is_marked_and_never_passes_the_bands(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    monkeypatch.setenv(profiles.DRY_RUN_ENV, "1")
    run = llmbook.start("01_history", "full", device="cpu")
    assert run.dry_run and run.sizes.char["lstm"]["train"].max_steps == 4
    assert "DRY RUN of the 'full' profile" in capsys.readouterr().out
    results.record("char_ppl_kn5", 4.79)
    saved = results.load("01_history")
    assert saved["dry_run"] is True and saved["profile"] == "full"
    bands = {"full": {"char_ppl_kn5": {"min": 4.7, "max": 4.9}}}
    assert results.check_bands(saved, bands) == [
        "these 'full' results come from a dry run (LLMBOOK_DRY_RUN=1): they are not checked against bands"]
    monkeypatch.setenv(profiles.DRY_RUN_ENV, "0")
    run = llmbook.start("01_history", "full", device="cpu")
    assert not run.dry_run and run.sizes.char["lstm"]["train"].max_steps == 4000
    assert "dry_run" not in results.load("01_history")


def test_profile_errors_name_the_choices():
    with pytest.raises(ValueError, match=r"unknown profile 'gpu': use one of \('ci', 'full'\)"):
        profiles.sizes("00_how_to_use", "gpu")
    with pytest.raises(KeyError, match="no sizes for notebook '99_nothing': add llmbook/book/sizes/ch99.py"):
        profiles.sizes("99_nothing", "ci")


def test_record_writes_values_with_profile_device_and_seconds(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    run = llmbook.start("00_how_to_use", "ci", seed=3, device="cpu")
    assert run.sizes.top_k_chars == 20 and run.device.type == "cpu"
    assert results.record("loss", np.float32(1.5)) == 1.5
    assert results.record("tokens", torch.tensor(12)) == 12
    saved = json.loads((tmp_path / "00_how_to_use.json").read_text())
    assert saved["profile"] == "ci" and saved["device"] == "cpu"
    assert saved["results"]["loss"]["value"] == 1.5 and saved["results"]["tokens"]["value"] == 12
    assert saved["results"]["loss"]["seconds"] >= 0
    assert results.load("00_how_to_use") == saved


def test_record_refuses_bad_values(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path))
    results.start("demo", "ci", "cpu")
    with pytest.raises(ValueError, match="non-finite value nan"):
        results.record("x", float("nan"))
    with pytest.raises(TypeError, match="takes a real number, got str"):
        results.record("x", "1.0")
    with pytest.raises(TypeError, match="got bool"):
        results.record("x", True)
    with pytest.raises(ValueError, match="non-empty string name"):
        results.record("", 1.0)
    results._current.clear()
    with pytest.raises(RuntimeError, match=r"call llmbook.start\(notebook, profile\)"):
        results.record("x", 1.0)
    with pytest.raises(FileNotFoundError, match="no results recorded for 'absent'"):
        results.load("absent")


def test_results_dir_default(monkeypatch, tmp_path):
    monkeypatch.delenv(results.ENV_VAR, raising=False)
    monkeypatch.delenv(cache.CACHE_ENV_VAR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert results.results_dir() == Path.home() / ".cache" / "llmbook" / "results"
    monkeypatch.setenv(cache.CACHE_ENV_VAR, str(tmp_path))
    assert results.results_dir() == tmp_path / "results"  # one cache root for results, data and models
    from llmbook import data, pretrained

    assert data._cache_dir() == tmp_path / "data" and pretrained.models_cache_dir() == tmp_path / "models"
    with pytest.raises(ValueError, match="one plain folder name"):
        cache.cache_dir("../elsewhere")


def test_check_bands_reports_every_kind_of_problem():
    recorded = {"profile": "ci", "results": {"a": {"value": 1.0}, "b": {"value": 5.0}, "c": {"value": 0.0}}}
    expected = {"ci": {"a": {"min": 0.5, "max": 1.5}, "b": {"max": 4.0}, "d": {"min": 0}}}
    problems = results.check_bands(recorded, expected)
    assert any(p.startswith("b = 5.0 is outside its band [-inf, 4.0]") for p in problems)
    assert any("d: expected a recorded value" in p for p in problems)
    assert any("c was recorded but has no band" in p for p in problems)
    assert not any(p.startswith("a") for p in problems)
    assert results.check_bands(recorded, {"full": {}}) == ["no expected bands for profile 'ci'"]


def test_book_style_and_figure():
    plot.use_book_style()
    import matplotlib

    assert matplotlib.rcParams["axes.spines.top"] is False
    fig, axes = plot.figure(ncols=2)
    assert len(axes) == 2
    axes[0].bar(["a", "b"], [1.0, 2.5])
    plot.bar_labels(axes[0], "{:.1f}")
    assert [t.get_text() for t in axes[0].texts] == ["1.0", "2.5"]
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_exercise_check_passes_fails_and_hints(capsys):
    from llmbook import data

    text = data.load("tinyshakespeare", "all")
    assert exercises.check("00.1", len(set(text))) is True
    assert "✅" in capsys.readouterr().out
    assert exercises.check("00.1", len(set(text)) + 1) is False
    out = capsys.readouterr().out
    assert "❌" in out and "Hint:" in out
    assert exercises.check("00.1", None) is False
    assert "not attempted yet" in capsys.readouterr().out
    assert exercises.check("00.3", "not a number") is False
    assert "ValueError" in capsys.readouterr().out
    with pytest.raises(KeyError, match="unknown exercise '99.9'"):
        exercises.check("99.9", 1)


def test_exercise_ids_are_unique():
    exercises._load_all()
    with pytest.raises(ValueError, match="registered twice"):
        exercises.exercise("00.1", hint="dup")(lambda answer: True)


def _declared_distributions() -> set[str]:
    """Distribution names that pyproject.toml declares (dependencies and every extra), normalised."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values()
                                              for r in extra]
    return {re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def _imported_modules(package: Path) -> dict[str, str]:
    """Top-level module imported → the first file that imports it, over every module of ``package``."""
    import ast

    found: dict[str, str] = {}
    for file in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(file.relative_to(package.parent)))
    return found


def test_every_import_of_the_package_is_declared_in_pyproject():
    import importlib.metadata
    import sys

    owners = importlib.metadata.packages_distributions()
    declared = _declared_distributions()
    undeclared = []
    for module, where in sorted(_imported_modules(Path(llmbook.__file__).parent).items()):
        if module == "llmbook" or module in sys.stdlib_module_names:
            continue
        distributions = {d.lower().replace("_", "-") for d in owners.get(module, [module])}
        if not distributions & declared:
            undeclared.append(f"{module} (imported by {where}; distribution {sorted(distributions)})")
    assert not undeclared, "declare these in pyproject.toml: " + "; ".join(undeclared)


def test_an_integer_answer_must_be_a_whole_number(capsys):
    """int() truncates: 65.9 used to pass as 65. Whole floats and NumPy/torch integers still pass."""
    import math

    from llmbook import data
    from llmbook.book.exercises import integer

    n_chars = len(set(data.load("tinyshakespeare", "all")))
    assert exercises.check("00.1", n_chars + 0.9) is False
    assert "whole number" in capsys.readouterr().out
    for right in (n_chars, float(n_chars), np.int64(n_chars), torch.tensor(n_chars)):
        assert exercises.check("00.1", right) is True, right
    assert exercises.check("03.2", 4 * (512 * 512 + 512) + 0.7) is False
    assert exercises.check("03.2", 4 * (512 * 512 + 512)) is True
    n = math.ceil(1.96**2 * 0.65 * 0.35 / 0.02**2)
    assert exercises.check("07.2", n + 0.99) is False and exercises.check("07.2", n) is True
    assert exercises.check("07.3", (0.9, 1.9)) is False
    assert integer(1e6) == 1_000_000
    for wrong in (True, "3", 2.5, float("nan"), np.float32(0.5), None):
        with pytest.raises(ValueError, match="whole number"):
            integer(wrong)


def test_results_refuse_arrays_escaping_names_corrupt_files_and_bad_bands(tmp_path, monkeypatch):
    """Each used to escape as an unhelpful error or, for '../escape', write outside the results folder."""
    monkeypatch.setenv(results.ENV_VAR, str(tmp_path / "results"))
    for name in ("../escape", "", ".hidden", "a/b"):
        with pytest.raises(ValueError, match="file stem as the name"):
            results.start(name, "ci", "cpu")
    assert not (tmp_path / "escape.json").exists()
    results.start("demo", "ci", "cpu")
    for array in (np.array([1.0, 2.0]), torch.tensor([1.0, 2.0])):
        with pytest.raises(TypeError, match="one number, got an array of 2 elements"):
            results.record("x", array)
    assert results.record("x", np.array([3.0])) == 3.0
    (tmp_path / "results" / "demo.json").write_text("{half")
    with pytest.raises(ValueError, match="demo.json is corrupt"):
        results.load("demo")
    recorded = {"profile": "ci", "results": {"a": {"value": 1.0}}}
    assert results.check_bands(recorded, {"ci": {"a": {"min": "0"}}}) == [
        "a: the band {'min': '0'} needs numbers for min and max"]
    results._current.clear()


def test_every_figure_carries_a_description_read_from_its_labels():
    import matplotlib.pyplot as plt
    from IPython.core.interactiveshell import InteractiveShell

    fig, axes = plot.figure(ncols=2)
    fig.suptitle("Loss and accuracy")
    axes[0].plot([0, 1], [2.0, 1.0], label="train")
    axes[0].plot([0, 1], [2.1, 1.4], label="validation")
    axes[0].set(title="Loss", xlabel="step", ylabel="cross-entropy (nats)")
    axes[0].legend()
    axes[1].imshow([[0.0, 1.0], [1.0, 0.0]])
    text = plot.alt_text(fig)
    assert text.startswith("Loss and accuracy.")
    assert ("Panel 'Loss'; x axis: step; y axis: cross-entropy (nats); series: train, validation." in text)
    assert "A panel; an image or heat map." in text
    empty, _ = plot.figure()
    assert plot.alt_text(empty) == "A panel."
    bars, ax = plot.figure()
    ax.barh(["doctor", "nurse"], [0.1, -0.2])
    ax.set(xlabel="log p(he) - log p(she)", xscale="symlog")
    bars.canvas.draw()  # tick labels exist once drawn, as when the figure is shown
    assert plot.alt_text(bars) == ("A panel; x axis: log p(he) - log p(she); "
                                   "y axis: categories doctor, nurse.")

    assert plot.describe_figures() is False  # no kernel here: nothing registered
    shell = InteractiveShell.instance()
    try:
        assert plot.describe_figures() is True
        data, metadata = shell.display_formatter.format(fig)
        assert data["image/png"][:4] == b"\x89PNG" or str(data["image/png"]).startswith("iVBOR")
        assert metadata["image/png"]["alt"] == text
    finally:
        InteractiveShell.clear_instance()
        plt.close("all")
