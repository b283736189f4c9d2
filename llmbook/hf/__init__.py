"""Conversions between ``llmbook.models`` and Hugging Face ``transformers``, one module per family.

Each conversion reads one weight table in both directions, so export and import cannot drift apart,
and each is tested by giving the same outputs as the Hugging Face model.

* :mod:`.gpt2`: :class:`~llmbook.models.GPT` <-> ``GPT2LMHeadModel``;
* :mod:`.bert`: :class:`~llmbook.models.BERT` <-> ``BertModel`` and :class:`~llmbook.models.BertForPreTraining`
  <-> ``BertForPreTraining`` (all-MiniLM-L6-v2 loads into ours);
* :mod:`.t5`: :class:`~llmbook.models.T5` <-> ``T5ForConditionalGeneration``;
* :mod:`.mixtral`: :class:`~llmbook.nn.MixtureOfExperts` <-> ``MixtralSparseMoeBlock``.
"""
from .bert import from_hf_bert, hf_bert_config, to_hf_bert
from .gpt2 import from_hf_gpt2, hf_gpt2_config, to_hf_gpt2
from .mixtral import from_hf_moe, to_hf_moe
from .t5 import from_hf_t5, hf_t5_config, to_hf_t5

__all__ = ["to_hf_gpt2", "from_hf_gpt2", "hf_gpt2_config", "to_hf_bert", "from_hf_bert", "hf_bert_config",
           "to_hf_t5", "from_hf_t5", "hf_t5_config",
           "from_hf_moe", "to_hf_moe"]
