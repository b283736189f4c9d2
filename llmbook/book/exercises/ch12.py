"""Checks for chapter 12, "Machine translation: an encoder–decoder from scratch". Each checker runs
the learner's code or recomputes the answer with the package (llmbook.models.seq2seq, torch) or
with the reference (sacrebleu's Chinese tokenizer)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...models.seq2seq import seq2seq_example
from . import exercise, number

# 12.1: teacher-forcing examples to build, (source, target), with start id 1 and end id 2.
PAIRS = [([7, 8, 9], [5, 6]), ([4], [3, 3, 4, 10]), ([11, 12], [])]
START, END = 1, 2

# 12.2: the logits of one decoder position over a 5-token vocabulary, the reference token, and the
# label smoothing.
SMOOTH_LOGITS, SMOOTH_TARGET, SMOOTH_EPS = [2.0, 0.5, -1.0, 0.0, 1.0], 4, 0.1

# 12.3: lines to tokenize as BLEU's "zh" tokenizer does.
ZH_LINES = ["我喜欢猫。", "他在2021年去了北京，买了3.5公斤苹果!", "Tom说：「Hello, world.」",
            "  这是 GPT-2 的分词器。 ", "价格是$100-200元（含税）"]


@exercise("12.1", hint="The decoder reads the target shifted right, so its input starts with the "
                       "start id: [START] + target. Its labels are what each position must "
                       "predict next: target + [END].")
def _teacher_forcing(make_example) -> bool:
    for source, target in PAIRS:
        got = make_example(list(source), list(target))
        want = seq2seq_example(source, target, START, END)
        if list(got.get("decoder_input_ids", [])) != want["decoder_input_ids"] or \
                list(got.get("labels", [])) != want["labels"]:
            return False
    return True


def smoothed_loss() -> float:
    """The label-smoothed cross-entropy of 12.2, by torch."""
    logits = torch.tensor([SMOOTH_LOGITS])
    return float(F.cross_entropy(logits, torch.tensor([SMOOTH_TARGET]), label_smoothing=SMOOTH_EPS))


@exercise("12.2", hint="The smoothed target puts 1 - eps + eps / V on the reference token and "
                       "eps / V on every other; the loss is -sum_i target_i * log p_i with p the "
                       "softmax of the logits (V = 5 here).")
def _label_smoothing(answer) -> bool:
    return math.isclose(number(answer), smoothed_loss(), rel_tol=1e-6, abs_tol=1e-9)


@exercise("12.3", hint="Put a space on both sides of every CJK character (and full-width or CJK "
                       "punctuation, U+3000-U+303F and U+FF00-U+FFEF), then cut the result with "
                       "llmbook.metrics.bleu.tokenize_13a, which splits off the punctuation and "
                       "squeezes the spaces.")
def _zh_tokenizer(tokenize) -> bool:
    from sacrebleu.tokenizers.tokenizer_zh import TokenizerZh

    reference = TokenizerZh()
    return all(tokenize(line) == reference(line) for line in ZH_LINES)
