"""Generation: turning a model's next-token logits into text.

* :func:`process_logits`: repetition penalty, temperature, top-k, top-p, in Hugging Face's order;
* :func:`sample_logits`: one token from logits (greedy at ``temperature=0``); every language model
  of the package (``GPT``, ``MLPLM``, ``RNNLM``) decodes with it in its own ``generate``;
* :func:`generate`: greedy, sampling and beam search with a KV cache, for the book's GPT and
  Hugging Face causal LMs, token for token what Hugging Face's ``generate`` gives;
* :func:`speculative_generate`: greedy decoding of a GPT sped up by a small draft model's guesses;
* :class:`ChatSession`: a multi-turn conversation that keeps the KV cache across turns;
* ``python -m llmbook.generate "prompt"``: the command line (:mod:`llmbook.generate.cli`).
"""
from __future__ import annotations

# processors first: llmbook.models imports sample_logits from this package
from .processors import process_logits, sample_logits  # noqa: I001
from .decoding import context_length, generate, new_cache
from .speculative import SpeculativeResult, speculative_generate
from .chat import ChatSession, plain_template
from .cli import checkpoint_extra, load_gpt_checkpoint
from .seq2seq import generate_seq2seq

__all__ = ["process_logits", "sample_logits", "generate", "new_cache", "context_length",
           "speculative_generate", "SpeculativeResult",
           "ChatSession", "plain_template", "checkpoint_extra", "load_gpt_checkpoint",
           "generate_seq2seq"]
