"""Adapting a pretrained model: LoRA, instruction tuning (chat templates) and preference optimisation.

* :mod:`~llmbook.finetune.lora`: :class:`LoRALinear`, :func:`apply_lora`, :func:`merge_lora`,
  :func:`lora_state_dict`, :func:`lora_disabled` (low-rank adapters on frozen linear layers, as ``peft``);
* :mod:`~llmbook.finetune.chat`: :func:`chat_tokens`, a conversation's token ids with labels on the
  assistant's turns only (supervised fine-tuning);
* :mod:`~llmbook.finetune.preference`: :func:`sequence_logps` and :func:`dpo_loss` (DPO, as TRL).

Training runs on :class:`llmbook.train.Trainer` with these as the model and the objective.
"""
from .chat import IGNORE_INDEX, chat_tokens
from .lora import (LoRALinear, apply_lora, lora_disabled, lora_layers, lora_state_dict, merge_lora,
                   trainable_parameters)
from .preference import dpo_loss, sequence_logps

__all__ = [
    "LoRALinear",
    "apply_lora",
    "merge_lora",
    "lora_state_dict",
    "lora_disabled",
    "lora_layers",
    "trainable_parameters",
    "chat_tokens",
    "IGNORE_INDEX",
    "sequence_logps",
    "dpo_loss",
]
