"""Sizes of notebooks/14_dialogue.ipynb: `ci` and `full` side by side, then the dry-run caps.

Dialogue: SmolLM2-135M-Instruct answers ``chat_new_tokens`` tokens at most per turn, and the
``system_questions`` yes/no questions ``system_new_tokens`` at most, with and without a system
prompt. The task-oriented assistant detects BANKING77 intents from MiniLM embeddings, with
``intent_train_per_class`` training examples per intent (None: all) and ``intent_test_items`` test
questions (None: all 3,080). Stories: SmolLM2 with LoRA (``story_lora``) on the query and value
projections of its last ``story_lora_layers`` layers, trained with ``story_train`` on TinyStories
training stories cut to ``story_tokens`` tokens; the held-out perplexity is on the first
``heldout_stories`` validation stories, cut the same way; ``sample_new_tokens`` tokens per
sample. Choosing an approach: SST-2's first ``sst2_test_items`` test sentences, the MiniLM probe
trained on ``probe_train_items`` training sentences, few-shot SmolLM2 with ``fewshot_k``
examples; latencies are medians of ``latency_repeats`` runs.
"""
from __future__ import annotations

from llmbook.train import TrainConfig

_CI = dict(precision="fp32", progress=False)  # every TrainConfig of the profile
_FULL = dict(precision="bf16-mixed", progress=False)

CI = dict(
    chat_new_tokens=24, system_questions=8, system_new_tokens=10,
    intent_train_per_class=8, intent_test_items=240,
    story_lora=dict(r=8, alpha=16, target_modules=["q_proj", "v_proj"]), story_lora_layers=4,
    story_tokens=64, heldout_stories=16,
    story_train=TrainConfig(max_steps=8, batch_size=4, lr=0.002, warmup_steps=1,
                            weight_decay=0.0, eval_interval=None, **_CI),
    sample_new_tokens=24,
    sst2_test_items=96, probe_train_items=512, fewshot_k=4, latency_repeats=3,
)

FULL = dict(
    chat_new_tokens=96, system_questions=12, system_new_tokens=24,
    intent_train_per_class=None, intent_test_items=None,
    story_lora=dict(r=16, alpha=32, target_modules=["q_proj", "v_proj"]), story_lora_layers=30,
    story_tokens=256, heldout_stories=221,
    story_train=TrainConfig(max_steps=500, batch_size=16, lr=0.0005, warmup_steps=50,
                            weight_decay=0.0, eval_interval=None, **_FULL),
    sample_new_tokens=128,
    sst2_test_items=None, probe_train_items=None, fewshot_k=8, latency_repeats=20,
)

# Dry run: the full shapes with every training cut to a few steps (see llmbook.book.sizes).
DRY_RUN = dict(chat_new_tokens=16, system_questions=4, system_new_tokens=8,
               intent_train_per_class=4, intent_test_items=100, story_tokens=64,
               heldout_stories=8, sample_new_tokens=12, sst2_test_items=32,
               probe_train_items=128, latency_repeats=3)
