"""Models, one readable file each (config dataclass + module), built on :mod:`llmbook.nn`.

Each model file adds its public names to the imports below.
"""
from __future__ import annotations

from .gpt import GPT, GPTConfig
from .mlp_lm import MLPLM, MLPLMConfig
from .rnn_lm import RNNLM, RNNLMConfig
