"""Checks for chapter 9, "Instruction tuning, preference optimisation and in-context learning". Each
checker runs the learner's code or recomputes the answer with the package (llmbook.finetune)."""
from __future__ import annotations

import math

import torch

from ...finetune import chat_tokens, dpo_loss
from . import exercise, number

# The pair of exercises 09.2 and 09.3: summed log-probabilities of the chosen and rejected replies
# under the policy and the reference, and beta.
_PAIR = dict(policy_chosen=-42.0, policy_rejected=-55.0, ref_chosen=-45.0, ref_rejected=-50.0,
             beta=0.1)

_CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}],
    [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "4."},
     {"role": "user", "content": "And 3 + 3?"}, {"role": "assistant", "content": "6, of course."}],
    [{"role": "system", "content": "You answer in one word."},
     {"role": "user", "content": "Colour of the sky?"}, {"role": "assistant", "content": "Blue"},
     {"role": "user", "content": "Of grass?"}, {"role": "assistant", "content": "Green"},
     {"role": "user", "content": "Thanks!"}, {"role": "assistant", "content": "Welcome"}],
    [{"role": "user", "content": "Write a list.\n- a\n- b"},
     {"role": "assistant", "content": "- first line\n- second line\n\nDone."}],
]


@exercise("09.1", hint="The reply starts after the tokens of '<|im_start|>assistant\\n' "
                       "(tokenizer.encode it with add_special_tokens=False) and runs up to and "
                       "including the next <|im_end|> (tokenizer.convert_tokens_to_ids("
                       "'<|im_end|>')); label those tokens with their id.")
def _label_mask(answer) -> bool:
    assistant_labels, tokenizer = answer
    for messages in _CONVERSATIONS:
        ids, labels = chat_tokens(tokenizer, messages)
        if [int(x) for x in assistant_labels(list(ids))] != labels:
            return False
    return True


def _pair_loss_and_gradient(policy_chosen: float) -> tuple[float, float]:
    chosen = torch.tensor([policy_chosen], dtype=torch.float64, requires_grad=True)
    p = _PAIR
    losses, _, _ = dpo_loss(chosen, torch.tensor([p["policy_rejected"]], dtype=torch.float64),
                            torch.tensor([p["ref_chosen"]], dtype=torch.float64),
                            torch.tensor([p["ref_rejected"]], dtype=torch.float64), beta=p["beta"])
    losses.sum().backward()
    return losses.item(), chosen.grad.item()


@exercise("09.2", hint="margin = beta * ((policy_chosen - ref_chosen) - (policy_rejected - "
                       "ref_rejected)); the loss is -log(sigmoid(margin)) = log(1 + exp(-margin)).")
def _dpo_value(answer) -> bool:
    expected, _ = _pair_loss_and_gradient(_PAIR["policy_chosen"])
    return math.isclose(number(answer), expected, rel_tol=1e-4, abs_tol=1e-6)


@exercise("09.3", hint="d loss / d log pi(y_w|x) = -beta * sigmoid(-margin): the more negative "
                       "the margin (the more wrongly ranked the pair), the larger the push.")
def _dpo_gradient(answer) -> bool:
    first, second = (number(a) for a in answer)
    expected = (_pair_loss_and_gradient(_PAIR["policy_chosen"])[1],
                _pair_loss_and_gradient(-30.0)[1])
    return all(math.isclose(a, e, rel_tol=1e-4, abs_tol=1e-7)
               for a, e in zip((first, second), expected))


@exercise("09.4", hint="pi*(y) = pi_ref(y) * exp(r(y) / beta) / Z, with Z = sum_y pi_ref(y) * "
                       "exp(r(y) / beta); the best value of E[r] - beta * KL is beta * log Z.")
def _kl_optimum(answer) -> bool:
    pi_star, best = answer
    pi_star = [number(p) for p in pi_star]
    ref = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    rewards, beta = torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64), 0.5
    unnormalised = ref * torch.exp(rewards / beta)
    expected = (unnormalised / unnormalised.sum()).tolist()
    expected_best = beta * math.log(unnormalised.sum().item())
    return (len(pi_star) == 3
            and all(math.isclose(a, e, abs_tol=1e-4) for a, e in zip(pi_star, expected))
            and math.isclose(number(best), expected_best, rel_tol=1e-4, abs_tol=1e-6))
