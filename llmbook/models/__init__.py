"""Models, one readable file each (config dataclass + module), built on :mod:`llmbook.nn`.

Each model file adds its public names to the imports below, and its config → model pair to
``MODELS``, so that :func:`build` makes a model from any config:

>>> model = build(dataclasses.replace(sizes.char, vocab_size=tokenizer.vocab_size))
"""
from __future__ import annotations

import torch

from .bert import BERT, BERTConfig, BertForPreTraining, mean_pool
from .classifier import LSTMClassifier, LSTMClassifierConfig, SequenceClassifier, classification_loss, predict
from .gpt import GPT, GPTConfig
from .mlp_lm import MLPLM, MLPLMConfig
from .rnn_lm import RNNLM, RNNLMConfig
from .t5 import T5, T5Config, shift_right

MODELS: dict[type, type[torch.nn.Module]] = {GPTConfig: GPT, MLPLMConfig: MLPLM, RNNLMConfig: RNNLM,
                                             BERTConfig: BERT, T5Config: T5, LSTMClassifierConfig: LSTMClassifier}


def build(config: GPTConfig | MLPLMConfig | RNNLMConfig | BERTConfig | T5Config | LSTMClassifierConfig
          ) -> torch.nn.Module:
    """The model that ``config`` describes: ``GPT(config)`` for a ``GPTConfig``, and so on."""
    if type(config) not in MODELS:
        raise TypeError(f"no model for a {type(config).__name__}: give one of "
                        f"{', '.join(c.__name__ for c in MODELS)}")
    return MODELS[type(config)](config)
