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

Tasks here, in lm-evaluation-harness's prompt formats (Gao et al., 2021; version 0.4, whose task
configurations ``tests/test_harness.py`` runs against these functions):

* :func:`piqa_items`: PIQA (Bisk et al., 2020), ``"Question: {goal}\\nAnswer:"`` and the two solutions;
* :func:`mmlu_items`: MMLU (Hendrycks et al., 2021), lettered (``style="mc"``, the harness's ``mmlu``)
  or cloze (``style="cloze"``, the answer texts, as in the SmolLM2 evaluations);
* :func:`hellaswag_items`: HellaSwag (Zellers et al., 2019), ``"{activity}: {context}"`` cleaned of
  WikiHow's markup, and the four endings;
* :func:`arc_items`: ARC-Easy and ARC-Challenge (Clark et al., 2018),
  ``"Question: {question}\\nAnswer:"`` and the answer texts;
* :func:`cmmlu_items`: CMMLU (Li et al., 2024), MMLU's lettered format in Chinese (``"...\\n答案："``,
  a Chinese header per subject).

:func:`load_task` turns a benchmark's name (a key of :data:`TASKS`) into its items, few-shot pool
and sampler, the keyword arguments of :func:`llmbook.evaluate.multiple_choice`, with seeded subsets.

**Adding a task**: write one function ``<task>_items(rows) -> list[Item]`` that turns the rows of
``llmbook.data.load(<task>, split)`` into items in the harness's format for that task (its
``doc_to_text`` is the context, its ``doc_to_choice`` the choices, its ``doc_to_target`` the label),
add it to :data:`TASKS`, export it from :mod:`llmbook.evaluate`, test it against a prompt written
out by hand (``tests/test_evaluate.py``) and against the harness's own task configuration
(``tests/test_harness.py``). A benchmark run of the book (a subset, a seed, a command line) goes in
:mod:`llmbook.evaluate.suites` or the command line, ``llmbook/evaluate/__main__.py``.

Few-shot prompts (:func:`fewshot_contexts`) follow the harness too: ``description + Σ (shot.context +
delimiter + shot.answer + "\\n\\n") + item.context``, with shots drawn by ``random.Random(seed).sample``
from a separate pool (``sampler="random"``, the harness's default sampler) or taken in order
(``sampler="first_n"``, what the harness uses for MMLU).
"""
from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import numpy as np

__all__ = [
    "Item", "piqa_items", "mmlu_items", "mmlu_description", "hellaswag_items",
    "hellaswag_preprocess", "split_hellaswag_context", "arc_items", "cmmlu_items",
    "cmmlu_description", "CMMLU_SUBJECTS_ZH", "TASKS", "load_task", "seeded_subset",
    "fewshot_contexts", "check_items",
]

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


def _lettered(row: Mapping[str, Any], answer_cue: str, task: str) -> dict[str, Any]:
    """The question, the lettered choices and ``answer_cue`` on lines of their own; the letters are
    the choices: ``"{question}\\nA. {choice 0}\\n...\\nD. {choice 3}\\n{answer_cue}"``."""
    n = len(row["choices"])
    if not 2 <= n <= 4:
        raise ValueError(f"{task} question {row['question'][:40]!r} has {n} choices: the lettered "
                         "format has the letters A to D, so it needs 2 to 4")
    letters = "ABCD"[:n]
    lines = [row["question"].strip()]
    lines += [f"{letter}. {text}" for letter, text in zip(letters, row["choices"])]
    return {"context": "\n".join(lines) + "\n" + answer_cue, "choices": list(letters)}


def _mmlu_lettered(row: Mapping[str, Any]) -> dict[str, Any]:
    return _lettered(row, "Answer:", "MMLU") | {"description": mmlu_description(row["subject"])}


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


def _label(value: Any, n_choices: int, where: str, fix: str) -> int:
    """``value`` as an index into ``n_choices`` choices, or a clear error (a missing label too)."""
    if value is None or value == "":
        raise ValueError(f"{where} has no label, so it cannot be scored: {fix}")
    try:
        label = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where} has the label {value!r}, not an index into its choices: "
                         f"{fix}") from None
    if not 0 <= label < n_choices:
        raise ValueError(f"{where} has the label {label}, outside its {n_choices} choices "
                         f"(0..{n_choices - 1}): {fix}")
    return label


def hellaswag_preprocess(text: str) -> str:
    """lm-evaluation-harness's clean-up of HellaSwag text (its ``hellaswag/utils.py``).

    The WikiHow half of HellaSwag carries markup: ``" [title]"`` becomes ``". "`` (a title ends a
    sentence), every other bracketed span (``[header]``, ``[step]``, ``[substeps]``, ...) is
    dropped, then each double space becomes one. The text is stripped *before* the replacements,
    as in the harness, so an ending that began with ``[substeps]`` keeps the space after it.
    """
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


_LAST_SENTENCE_BREAK = re.compile(r"^(.*[.!?]) (.*)$", re.DOTALL)


def split_hellaswag_context(ctx: str) -> tuple[str, str]:
    """``(ctx_a, ctx_b)`` of a HellaSwag context known only as ``ctx = ctx_a + " " + ctx_b``.

    The harness capitalises ``ctx_b`` (the first words of the sentence that the endings complete),
    so it needs the split, which the mirrored text file lost. In HellaSwag ``ctx_a`` is whole
    sentences: a context that ends a sentence has no ``ctx_b`` (every WikiHow item of the
    validation split), otherwise ``ctx_b`` is what follows the last sentence break (every
    ActivityNet item). On the validation items whose original fields ``tests/test_harness.py``
    holds, this recovers both exactly.
    """
    if ctx.endswith((".", "!", "?")):
        return ctx, ""
    match = _LAST_SENTENCE_BREAK.match(ctx)
    return (match.group(1), match.group(2)) if match else ("", ctx)


def hellaswag_items(data: Sequence[Mapping[str, Any]]) -> list[Item]:
    """HellaSwag items in lm-evaluation-harness's ``hellaswag`` format (Zellers et al., 2019).

    ``data`` is ``llmbook.data.load("hellaswag", "val")`` (``{activity_label, ctx, label,
    endings}``) or rows of the original files, which also hold ``ctx_a`` and ``ctx_b``. As in the
    harness, the context is ``hellaswag_preprocess(activity_label + ": " + ctx_a + " " +
    ctx_b.capitalize())`` and each ending is cleaned by :func:`hellaswag_preprocess` too. The
    endings differ in length: read ``acc_norm``.

    The mirrored file was cleaned by another script, which drops the bracketed markers (and with
    them the leading space the harness leaves on an ending that began with ``[substeps]``); its rows
    give only ``ctx``, split back by :func:`split_hellaswag_context`. Contexts and endings without
    such markers (all ActivityNet items, most WikiHow ones) come out exactly as the harness's.
    """
    items: list[Item] = []
    fix = "HellaSwag's test labels are hidden: evaluate on llmbook.data.load('hellaswag', 'val')"
    for i, row in enumerate(data):
        has_parts = "ctx_a" in row and "ctx_b" in row  # the original files; the mirror has ctx only
        missing = {"activity_label", "endings", "label"} - set(row)
        if not has_parts and "ctx" not in row:
            missing.add("ctx")
        if missing:
            raise ValueError(f"HellaSwag row {i} lacks {sorted(missing)}: pass "
                             "llmbook.data.load('hellaswag', 'val')")
        if has_parts:
            ctx_a, ctx_b = row["ctx_a"], row["ctx_b"]
        else:
            ctx_a, ctx_b = split_hellaswag_context(row["ctx"])
        endings = list(row["endings"])
        if not endings:
            raise ValueError(f"HellaSwag row {i} has no endings: each item needs its four endings")
        context = row["activity_label"] + ": " + ctx_a + " " + ctx_b.capitalize()
        items.append({"context": hellaswag_preprocess(context),
                      "choices": [hellaswag_preprocess(ending) for ending in endings],
                      "label": _label(row["label"], len(endings), f"HellaSwag row {i}", fix)})
    return items


ARC_QUERY_PREFIX = "Question: "


def arc_items(data: Sequence[Mapping[str, Any]]) -> list[Item]:
    """ARC items in lm-evaluation-harness's ``arc_easy`` and ``arc_challenge`` format.

    ARC (Clark et al., 2018): ``data`` is ``llmbook.data.load("arc_easy", "test")`` or
    ``load("arc_challenge", "test")`` (``{query, choices, gold}``, ``query`` being
    ``"Question: {question}"``). The context is ``"Question: {question}\\nAnswer:"`` and the
    choices are the answer texts (scored as ``" " + text``).
    """
    items: list[Item] = []
    fix = "pass llmbook.data.load('arc_easy', 'test') or load('arc_challenge', 'test')"
    for i, row in enumerate(data):
        missing = {"query", "choices", "gold"} - set(row)
        if missing:
            raise ValueError(f"ARC row {i} lacks {sorted(missing)}: {fix}")
        if not str(row["query"]).startswith(ARC_QUERY_PREFIX):
            raise ValueError(f"ARC row {i}: the query {str(row['query'])[:40]!r} does not start "
                             f"with {ARC_QUERY_PREFIX!r}: {fix}")
        choices = list(row["choices"])
        if not choices:
            raise ValueError(f"ARC row {i} has no choices: {fix}")
        items.append({"context": row["query"] + "\nAnswer:", "choices": choices,
                      "label": _label(row["gold"], len(choices), f"ARC row {i}", fix)})
    return items


# The Chinese names of CMMLU's 67 subjects, as in its prompts and in lm-evaluation-harness's
# per-subject task files (tests/test_harness.py compares them).
CMMLU_SUBJECTS_ZH: dict[str, str] = {
    "agronomy": "农学", "anatomy": "解剖学", "ancient_chinese": "古汉语", "arts": "艺术学",
    "astronomy": "天文学", "business_ethics": "商业伦理",
    "chinese_civil_service_exam": "中国公务员考试", "chinese_driving_rule": "中国驾驶规则",
    "chinese_food_culture": "中国饮食文化", "chinese_foreign_policy": "中国外交政策",
    "chinese_history": "中国历史", "chinese_literature": "中国文学",
    "chinese_teacher_qualification": "中国教师资格", "clinical_knowledge": "临床知识",
    "college_actuarial_science": "大学精算学", "college_education": "大学教育学",
    "college_engineering_hydrology": "大学工程水文学", "college_law": "大学法律",
    "college_mathematics": "大学数学", "college_medical_statistics": "大学医学统计",
    "college_medicine": "大学医学", "computer_science": "计算机科学",
    "computer_security": "计算机安全", "conceptual_physics": "概念物理学",
    "construction_project_management": "建设工程管理", "economics": "经济学",
    "education": "教育学", "electrical_engineering": "电气工程", "elementary_chinese": "小学语文",
    "elementary_commonsense": "小学常识", "elementary_information_and_technology": "小学信息技术",
    "elementary_mathematics": "初等数学", "ethnology": "民族学", "food_science": "食品科学",
    "genetics": "遗传学", "global_facts": "全球事实", "high_school_biology": "高中生物",
    "high_school_chemistry": "高中化学", "high_school_geography": "高中地理",
    "high_school_mathematics": "高中数学", "high_school_physics": "高中物理学",
    "high_school_politics": "高中政治", "human_sexuality": "人类性行为",
    "international_law": "国际法学", "journalism": "新闻学", "jurisprudence": "法理学",
    "legal_and_moral_basis": "法律与道德基础", "logical": "逻辑学", "machine_learning": "机器学习",
    "management": "管理学", "marketing": "市场营销", "marxist_theory": "马克思主义理论",
    "modern_chinese": "现代汉语", "nutrition": "营养学", "philosophy": "哲学",
    "professional_accounting": "专业会计", "professional_law": "专业法学",
    "professional_medicine": "专业医学", "professional_psychology": "专业心理学",
    "public_relations": "公共关系", "security_study": "安全研究", "sociology": "社会学",
    "sports_science": "体育学", "traditional_chinese_medicine": "中医中药", "virology": "病毒学",
    "world_history": "世界历史", "world_religions": "世界宗教",
}


def cmmlu_description(subject: str) -> str:
    """CMMLU's header for ``subject``, as in lm-evaluation-harness: in Chinese, "The following are
    single-choice questions about {subject}; give the letter of the right answer directly"."""
    if subject not in CMMLU_SUBJECTS_ZH:
        raise ValueError(f"unknown CMMLU subject {subject!r}: choose one of "
                         "llmbook.data.CMMLU_SUBJECTS")
    return f"以下是关于{CMMLU_SUBJECTS_ZH[subject]}的单项选择题，请直接给出正确答案的选项。\n\n"


def cmmlu_items(data: Sequence[Mapping[str, Any]], subject: str | None = None) -> list[Item]:
    """CMMLU items (Li et al., 2024) in lm-evaluation-harness's ``cmmlu`` format.

    ``data`` is ``llmbook.data.load("cmmlu", split)`` (``{subject, question, choices, answer}``;
    ``"dev"`` holds the few-shot examples, ``"test"`` the questions); ``subject`` keeps only that
    subject. MMLU's lettered format in Chinese: the context is
    ``"{question}\\nA. ...\\nD. ...\\n答案："`` ("答案：" is "Answer:"), the choices are
    ``"A"``..``"D"`` (scored as ``" A"``, ...) and :func:`cmmlu_description` is the
    ``"description"``. Every item carries its ``"subject"``, so a dict of per-subject dev items
    serves as the few-shot pool.
    """
    items: list[Item] = []
    fix = "pass llmbook.data.load('cmmlu', 'dev' or 'test')"
    for i, row in enumerate(data):
        missing = {"subject", "question", "choices", "answer"} - set(row)
        if missing:
            raise ValueError(f"CMMLU row {i} lacks {sorted(missing)}: {fix}")
        if subject is not None and row["subject"] != subject:
            continue
        item = _lettered(row, "答案：", "CMMLU") | {"description": cmmlu_description(row["subject"])}
        item["label"] = _label(row["answer"], len(item["choices"]), f"CMMLU row {i}", fix)
        items.append(item | {"subject": row["subject"]})  # type: ignore[arg-type]
    if not items:
        raise ValueError(f"no CMMLU items for subject {subject!r}: choose one of "
                         "llmbook.data.CMMLU_SUBJECTS")
    return items


# ---------------------------------------------------------------- benchmarks by name


def seeded_subset(rows: Sequence[Any], n: int | None, seed: int) -> list[Any]:
    """``n`` of ``rows`` drawn without replacement with ``numpy.random.default_rng(seed)``, kept in
    their original order (``None``: all); the draw of :func:`llmbook.evaluate.piqa_subset`."""
    if n is None:
        return list(rows)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"a subset size must be a positive int or None (all), got {n!r}")
    if n > len(rows):
        raise ValueError(f"asked for {n} items but there are {len(rows)}: ask for fewer, or None "
                         "for all")
    keep = np.sort(np.random.default_rng(seed).choice(len(rows), n, replace=False))
    return [rows[i] for i in keep]


# name: (dataset, split, format, few-shot split or None, default num_fewshot). The few-shot splits
# are the harness's; the training splits of PIQA, HellaSwag and ARC are not mirrored, so those run
# zero-shot, their harness default.
TASKS: dict[str, tuple[str, str, str, str | None, int]] = {
    "piqa": ("piqa", "val", "piqa", None, 0),
    "hellaswag": ("hellaswag", "val", "hellaswag", None, 0),
    "arc_easy": ("arc_easy", "test", "arc", None, 0),
    "arc_challenge": ("arc_challenge", "test", "arc", None, 0),
    "mmlu": ("mmlu", "test", "mmlu", "dev", 5),
    "mmlu_cloze": ("mmlu", "test", "mmlu_cloze", None, 0),
    "cmmlu": ("cmmlu", "test", "cmmlu", "dev", 5),
}


def _format(kind: str, rows: Sequence[Mapping[str, Any]], subject: str | None = None) -> list[Item]:
    if kind == "mmlu":
        return mmlu_items(rows, subject)
    if kind == "mmlu_cloze":
        return mmlu_items(rows, subject, style="cloze")
    if kind == "cmmlu":
        return cmmlu_items(rows, subject)
    return {"piqa": piqa_items, "hellaswag": hellaswag_items, "arc": arc_items}[kind](rows)


def _check_sizes(name: str, by_subject: bool, n: int | None, subjects: Sequence[str] | None,
                 per_subject: int | None, num_fewshot: int, fewshot_split: str | None) -> None:
    if isinstance(num_fewshot, bool) or not isinstance(num_fewshot, int) or num_fewshot < 0:
        raise ValueError(f"num_fewshot must be a non-negative int, got {num_fewshot!r}")
    if num_fewshot and fewshot_split is None:
        raise ValueError(f"{name} has no few-shot split in the book's data (its training split is "
                         "not mirrored): use num_fewshot=0")
    if by_subject and n is not None:
        raise ValueError(f"{name} is drawn per subject: use per_subject (and subjects), not n")
    if not by_subject and (subjects is not None or per_subject is not None):
        raise ValueError(f"{name} has no subjects: use n for a subset")
    bad_size = isinstance(per_subject, bool) or not isinstance(per_subject, int) or per_subject < 1
    if per_subject is not None and bad_size:
        raise ValueError(f"per_subject must be a positive int or None (all), got {per_subject!r}")


def load_task(
    name: str,
    n: int | None = None,
    seed: int = 0,
    subjects: Sequence[str] | None = None,
    per_subject: int | None = None,
    num_fewshot: int | None = None,
) -> dict[str, Any]:
    """Benchmark ``name`` (a key of :data:`TASKS`) as the keyword arguments of ``multiple_choice``.

    Returns ``{"items", "num_fewshot", "fewshot_items", "sampler"}``: run it with
    ``multiple_choice(model, tokenizer, **load_task("arc_easy"))``. Subsets are drawn by
    :func:`seeded_subset`: ``n`` items of the whole split or, for MMLU and CMMLU, ``per_subject``
    items of each of ``subjects`` (default: all, in alphabetical order), the rows that
    :func:`llmbook.evaluate.run_piqa` and :func:`llmbook.evaluate.run_mmlu` draw. Few-shot
    examples come from the subject's dev split in order (``sampler="first_n"``, as in the harness).
    """
    from .. import data

    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}: choose one of {sorted(TASKS)}")
    dataset, split, kind, fewshot_split, default_shots = TASKS[name]
    num_fewshot = default_shots if num_fewshot is None else num_fewshot
    by_subject = dataset in ("mmlu", "cmmlu")
    _check_sizes(name, by_subject, n, subjects, per_subject, num_fewshot, fewshot_split)
    rows = data.load(dataset, split)
    if by_subject:
        known = data.MMLU_SUBJECTS if dataset == "mmlu" else data.CMMLU_SUBJECTS
        subjects = list(known) if subjects is None else list(subjects)
        unknown = sorted(set(subjects) - set(known))
        if unknown:
            raise ValueError(f"unknown {name} subject(s) {unknown}: see llmbook.data."
                             f"{dataset.upper()}_SUBJECTS")
        chosen = []
        for subject in subjects:
            of_subject = [r for r in rows if r["subject"] == subject]
            size = None if per_subject is None else min(per_subject, len(of_subject))  # fewer: all
            chosen += seeded_subset(of_subject, size, seed)
        rows = chosen
    else:
        rows = seeded_subset(rows, n, seed)
    items = _format(kind, rows)
    pools = None
    if num_fewshot:
        shots = data.load(dataset, fewshot_split)
        pools = {s: _format(kind, shots, s) for s in sorted({item["subject"] for item in items})}
    return {"items": items, "num_fewshot": num_fewshot, "fewshot_items": pools,
            "sampler": "first_n"}


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
    if label is None:
        raise ValueError(f"{where} has no label (None), so it cannot be scored: give the index of "
                         "its right choice (an unlabelled split, such as HellaSwag's test split, "
                         "cannot be evaluated)")
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
