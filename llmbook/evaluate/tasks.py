"""Benchmark tasks as multiple-choice items, and the few-shot prompts built from them.

Every task becomes a list of items of one shape, a context and a few candidate continuations, one of
them right::

    {"context": "Question: How do I keep my bread fresh?\\nAnswer:",
     "choices": ["Keep it in a bread box.", "Keep it in the sun."],
     "label": 0}

Optional keys: ``"description"`` (a header put before the few-shot examples, e.g. MMLU's "The following
are multiple choice questions (with answers) about ...") and ``"subject"`` (selects the few-shot pool
when the pool is a dict). The scoring (:func:`llmbook.evaluate.multiple_choice`) knows nothing about
any task: it scores each choice as the continuation ``" " + choice`` of the context.

Tasks here, in lm-evaluation-harness's prompt formats (Gao et al., 2021):

* :func:`piqa_items`: PIQA (Bisk et al., 2020), ``"Question: {goal}\\nAnswer:"`` and the two solutions;
* :func:`mmlu_items`: MMLU (Hendrycks et al., 2021), lettered (``style="mc"``, the harness's ``mmlu``)
  or cloze (``style="cloze"``, the answer texts, as in the SmolLM2 evaluations).

**Adding a task** (HellaSwag, ARC, ...): write one function ``<task>_items(rows) -> list[Item]`` that
turns the rows of ``llmbook.data.load(<task>, split)`` into items in the harness's format for that
task (its ``doc_to_text`` is the context, its ``doc_to_choice`` the choices, its ``doc_to_target``
the label), export it from :mod:`llmbook.evaluate`, and test it against a prompt written out by hand,
as ``tests/test_evaluate.py`` does for PIQA and MMLU. A benchmark run of the book (a subset, a seed, a
command line) goes in :mod:`llmbook.evaluate.suites`.

Few-shot prompts (:func:`fewshot_contexts`) follow the harness too: ``description + Σ (shot.context +
delimiter + shot.answer + "\\n\\n") + item.context``, with shots drawn by ``random.Random(seed).sample``
from a separate pool (``sampler="random"``, the harness's default sampler) or taken in order
(``sampler="first_n"``, what the harness uses for MMLU).
"""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import numpy as np

__all__ = ["Item", "piqa_items", "mmlu_items", "mmlu_description", "fewshot_contexts", "check_items"]

FEWSHOT_DELIMITER = "\n\n"  # between few-shot examples, as in lm-evaluation-harness
SAMPLERS = ("random", "first_n")
MMLU_STYLES = ("mc", "cloze")


class _ItemKeys(TypedDict):
    context: str
    choices: list[str]
    label: int  # index of the right choice


class Item(_ItemKeys, total=False):
    """One multiple-choice item (see the module docstring); the last two keys are optional."""

    description: str  # put before the few-shot examples
    subject: str  # selects the few-shot pool


# ---------------------------------------------------------------- tasks


def piqa_items(data: Sequence[Mapping[str, Any]]) -> list[Item]:
    """PIQA items in lm-evaluation-harness's ``piqa`` format (Bisk et al., 2020).

    ``data`` is ``llmbook.data.load("piqa", "val")`` (``{goal, sol1, sol2, label}``). The context is
    ``"Question: {goal}\\nAnswer:"`` and the choices are the two solutions (scored as ``" " + sol``).
    """
    items: list[Item] = []
    for i, row in enumerate(data):
        missing = {"goal", "sol1", "sol2", "label"} - set(row)
        if missing:
            raise ValueError(f"PIQA row {i} lacks {sorted(missing)}: pass llmbook.data.load('piqa', 'val')")
        items.append({"context": f"Question: {row['goal']}\nAnswer:", "choices": [row["sol1"], row["sol2"]],
                      "label": int(row["label"])})
    return items


def mmlu_description(subject: str) -> str:
    """MMLU's header for ``subject`` (underscores read as spaces), as in lm-evaluation-harness."""
    return f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"


def _mmlu_lettered(row: Mapping[str, Any]) -> dict[str, Any]:
    letters = "ABCD"[: len(row["choices"])]
    lines = [row["question"].strip()] + [f"{letter}. {text}" for letter, text in zip(letters, row["choices"])]
    return {"context": "\n".join(lines) + "\nAnswer:", "choices": list(letters),
            "description": mmlu_description(row["subject"])}


def _mmlu_cloze(row: Mapping[str, Any]) -> dict[str, Any]:
    topic = row["subject"].replace("_", " ")
    context = f"The following are questions about {topic}.\nQuestion: {row['question']}\nAnswer:"
    return {"context": context, "choices": list(row["choices"])}


def mmlu_items(data: Sequence[Mapping[str, Any]], subject: str | None = None, style: str = "mc") -> list[Item]:
    """MMLU items (Hendrycks et al., 2021) in one of two prompt formats.

    ``data`` is ``llmbook.data.load("mmlu", split)`` (``{subject, question, choices, answer}``);
    ``subject`` keeps only that subject (``None`` keeps all).

    * ``style="mc"``: lm-evaluation-harness's ``mmlu`` task. The subject's header is the item's
      ``"description"`` and the context reads ``"{question}\\nA. {choice 0}\\nB. ...\\nD. {choice 3}\\nAnswer:"``;
      the choices are the letters ``"A"``..``"D"`` (scored as ``" A"``, ...).
    * ``style="cloze"``: the "MMLU (cloze)" format of the SmolLM evaluations (lighteval): the context is
      ``"The following are questions about {subject}.\\nQuestion: {question}\\nAnswer:"`` and the choices
      are the answer texts themselves, so a model needs no letter-matching skill; read ``acc_norm``.

    Every item carries its ``"subject"``, so a dict of per-subject dev items serves as the few-shot pool.
    """
    if style not in MMLU_STYLES:
        raise ValueError(f"unknown MMLU prompt style {style!r}: use 'mc' (letters, lm-evaluation-harness) "
                         "or 'cloze' (answer texts)")
    render = _mmlu_lettered if style == "mc" else _mmlu_cloze
    items = [render(row) | {"label": int(row["answer"]), "subject": row["subject"]}
             for row in data if subject is None or row["subject"] == subject]
    if not items:
        known = sorted({row["subject"] for row in data})
        raise ValueError(f"no MMLU items for subject {subject!r}: choose one of {known[:8]}... ({len(known)} subjects)")
    return items  # type: ignore[return-value]


# ---------------------------------------------------------------- checks


def _check_item(item: Any, where: str) -> None:
    if not isinstance(item, Mapping):
        raise TypeError(f"{where} must be a dict with 'context', 'choices' and 'label', got {type(item).__name__}")
    missing = {"context", "choices", "label"} - set(item)
    if missing:
        raise ValueError(f"{where} lacks the key(s) {sorted(missing)}: each item needs 'context', 'choices' and 'label'")
    if not isinstance(item["context"], str):
        raise TypeError(f"{where}['context'] must be a str, got {type(item['context']).__name__}")
    choices = item["choices"]
    if isinstance(choices, str) or not isinstance(choices, Sequence) or len(choices) < 2:
        raise ValueError(f"{where} has no choices to pick from ({choices!r}): 'choices' must be a list of at least two strings")
    for j, choice in enumerate(choices):
        if not isinstance(choice, str) or not choice:
            raise ValueError(f"{where}['choices'][{j}] = {choice!r}: every choice must be a non-empty string")
    label = item["label"]
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < len(choices):
        raise ValueError(f"{where}['label'] = {label!r} is out of range: it must be an int index into its "
                         f"{len(choices)} choices (0..{len(choices) - 1})")
    if "description" in item and not isinstance(item["description"], str):
        raise TypeError(f"{where}['description'] must be a str")


def check_items(items: Any, name: str = "items") -> None:
    """Raise a clear error unless ``items`` is a non-empty list of well-formed items (module docstring)."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise TypeError(f"{name} must be a list of dicts {{'context', 'choices', 'label'}}, got {type(items).__name__}")
    if len(items) == 0:
        raise ValueError(f"{name} is empty: pass at least one item {{'context': str, 'choices': [str, ...], 'label': int}}")
    for i, item in enumerate(items):
        _check_item(item, f"{name}[{i}]")


# ---------------------------------------------------------------- few-shot prompts


Pool = Sequence[Mapping[str, Any]]


def _render_shot(shot: Mapping[str, Any], target_delimiter: str) -> str:
    return shot["context"] + target_delimiter + shot["choices"][shot["label"]] + FEWSHOT_DELIMITER


def _check_pools(pools: Mapping[str | None, Pool], num_fewshot: int) -> None:
    for key, pool in pools.items():
        check_items(pool, "fewshot_items" if key is None else f"fewshot_items[{key!r}]")
        if num_fewshot > len(pool):
            of = "" if key is None else f" of {key!r}"
            raise ValueError(f"num_fewshot={num_fewshot} is larger than the few-shot pool{of} ({len(pool)} items): "
                             "lower num_fewshot or pass a larger pool")


def fewshot_contexts(
    items: Sequence[Mapping[str, Any]],
    fewshot_items: Pool | Mapping[str, Pool] | None = None,
    num_fewshot: int = 0,
    seed: int = 1234,
    sampler: str = "random",
    target_delimiter: str = " ",
) -> list[str]:
    """The full prompt (context) of every item: description, ``num_fewshot`` solved examples, the item.

    Shots come from ``fewshot_items`` (a list, or a dict ``{subject: list}`` read with each item's
    ``"subject"``). ``sampler="random"`` draws them with one ``random.Random(seed)`` per pool, item after
    item in order (lm-evaluation-harness's default sampler, whose default seed is 1234), so the prompts
    are a deterministic function of ``(items, pool, num_fewshot, seed)``; ``"first_n"`` takes the first
    ``num_fewshot`` of the pool. An item that also sits in the pool is never its own example.
    """
    if isinstance(num_fewshot, bool) or not isinstance(num_fewshot, int) or num_fewshot < 0:
        raise ValueError(f"num_fewshot must be a non-negative int, got {num_fewshot!r}")
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown few-shot sampler {sampler!r}: use one of {SAMPLERS}")
    if num_fewshot == 0:
        return [item.get("description", "") + item["context"] for item in items]
    if fewshot_items is None:
        raise ValueError(f"num_fewshot={num_fewshot} needs a pool of solved examples: pass fewshot_items "
                         "(e.g. MMLU's dev split)")
    by_subject = isinstance(fewshot_items, Mapping)
    pools: Mapping[str | None, Pool] = fewshot_items if by_subject else {None: fewshot_items}  # type: ignore[assignment]
    _check_pools(pools, num_fewshot)
    rngs: dict[str | None, random.Random] = {}
    contexts = []
    for i, item in enumerate(items):
        key = item.get("subject") if by_subject else None
        if key not in pools:
            raise ValueError(f"items[{i}] has subject {key!r} but fewshot_items has no pool for it "
                             f"(pools: {sorted(map(str, pools))[:8]})")
        pool = pools[key]
        in_pool = any(item == other for other in pool)
        n_draw = num_fewshot + 1 if in_pool else num_fewshot  # draw one spare, as the harness does
        if n_draw > len(pool):
            raise ValueError(f"items[{i}] is itself in the few-shot pool, which leaves fewer than "
                             f"num_fewshot={num_fewshot} other examples")
        if sampler == "random":
            drawn = rngs.setdefault(key, random.Random(seed)).sample(list(pool), n_draw)
        else:
            drawn = list(pool[:n_draw])
        shots = [shot for shot in drawn if shot != item][:num_fewshot]
        contexts.append(item.get("description", "")
                        + "".join(_render_shot(s, target_delimiter) for s in shots) + item["context"])
    return contexts
