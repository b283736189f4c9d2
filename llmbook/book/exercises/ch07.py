"""Checks for chapter 7, "Evaluating language models"."""
from __future__ import annotations

import math

from ... import data
from . import exercise, integer


@exercise("07.1", hint="fewshot_contexts(piqa_items(rows[:1]), piqa_items(rows[100:200]), num_fewshot=3, seed=7)[0] with rows = llmbook.data.load('piqa', 'val').")
def _piqa_three_shot_prompt(answer) -> bool:
    from ...evaluate import fewshot_contexts, piqa_items

    rows = data.load("piqa", "val")
    return answer == fewshot_contexts(piqa_items(rows[:1]), piqa_items(rows[100:200]), num_fewshot=3, seed=7)[0]


@exercise("07.2", hint="Solve 1.96 * sqrt(p (1 - p) / n) <= 0.02 for n and round up: n = ceil(1.96**2 p (1 - p) / 0.02**2).")
def _items_for_two_points(answer) -> bool:
    return integer(answer) == math.ceil(1.96**2 * 0.65 * 0.35 / 0.02**2)


@exercise("07.3", hint="acc takes argmax of the log-likelihoods; acc_norm divides each by len(choice) in characters first (llmbook.evaluate.predict).")
def _acc_and_acc_norm(answer) -> bool:
    from ...evaluate import predict

    choices, lls = ["Use a spoon.", "Use a spoon to stir it slowly."], [-9.0, -13.0]
    return tuple(integer(a) for a in answer) == (predict(lls, choices), predict(lls, choices, "chars"))


@exercise("07.4", hint="2 * llmbook.flops.matmul_parameters(model): every nn.Linear weight, the output projection included.")
def _smollm2_flops_per_token(answer) -> bool:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from ...flops import matmul_parameters
    from ...pretrained import SMOLLM2_CACHE_NAME, load_smollm2, models_cache_dir

    folder = models_cache_dir() / SMOLLM2_CACHE_NAME
    if not (folder / "config.json").is_file():
        load_smollm2(device="cpu")  # converts and caches the model once
    with torch.device("meta"):  # the architecture without allocating its weights
        skeleton = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(folder)))
    return abs(float(answer) - 2 * matmul_parameters(skeleton)) < 0.5
