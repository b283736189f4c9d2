"""Models, one readable file each (config dataclass + module), built on :mod:`llmbook.nn`.

Each model file adds its public names to the imports below, and its config → model pair to
``MODELS``, so that :func:`build` makes a model from any config:

>>> model = build(dataclasses.replace(sizes.char, vocab_size=tokenizer.vocab_size))
"""
from __future__ import annotations

import torch

from .bert import BERT, BERTConfig, BertForPreTraining, mean_pool
from .extractive_qa import ExtractiveQA, best_span, encode_squad, predict_answers, span_loss
from .clip import CLIPConfig, TinyCLIP, clip_loss
from .classifier import LSTMClassifier, LSTMClassifierConfig, SequenceClassifier, classification_loss, predict
from .gpt import GPT, GPTConfig
from .mlp_lm import MLPLM, MLPLMConfig
from .rnn_lm import RNNLM, RNNLMConfig
from .seq2seq import Seq2Seq, Seq2SeqConfig, seq2seq_example, seq2seq_loss
from .t5 import T5, T5Config, shift_right

MODELS: dict[type, type[torch.nn.Module]] = {GPTConfig: GPT, MLPLMConfig: MLPLM, RNNLMConfig: RNNLM,
                                             BERTConfig: BERT, T5Config: T5, LSTMClassifierConfig: LSTMClassifier,
                                             Seq2SeqConfig: Seq2Seq}


def build(config: GPTConfig | MLPLMConfig | RNNLMConfig | BERTConfig | T5Config | LSTMClassifierConfig
          ) -> torch.nn.Module:
    """The model that ``config`` describes: ``GPT(config)`` for a ``GPTConfig``, and so on."""
    if type(config) not in MODELS:
        raise TypeError(f"no model for a {type(config).__name__}: give one of "
                        f"{', '.join(c.__name__ for c in MODELS)}")
    return MODELS[type(config)](config)
