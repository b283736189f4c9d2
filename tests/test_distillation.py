"""distillation_loss against torch's KL divergence and cross-entropy, and by hand."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from llmbook.models import GPT, GPTConfig
from llmbook.objectives import IGNORE_INDEX, Distillation, distillation_loss
from llmbook.train import TrainConfig, Trainer


def logits(seed, shape=(3, 5, 11)):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("temperature,alpha", [(1.0, 1.0), (2.0, 0.5), (4.0, 0.9), (0.5, 0.0)])
def test_equals_torch_kl_div_and_cross_entropy(temperature, alpha):
    student, teacher = logits(0).requires_grad_(), logits(1)
    labels = torch.randint(0, 11, (3, 5), generator=torch.Generator().manual_seed(2))
    labels[0, :2] = IGNORE_INDEX
    ours = distillation_loss(student, teacher, labels, temperature, alpha)
    keep = labels.reshape(-1) != IGNORE_INDEX
    s, t = student.reshape(-1, 11)[keep], teacher.reshape(-1, 11)[keep]
    kl = F.kl_div(F.log_softmax(s / temperature, -1), F.log_softmax(t / temperature, -1),
                  reduction="batchmean", log_target=True)
    ce = F.cross_entropy(s, labels.reshape(-1)[keep])
    reference = alpha * temperature ** 2 * kl + (1 - alpha) * ce
    torch.testing.assert_close(ours, reference.float(), rtol=1e-6, atol=1e-7)
    ours.backward()
    assert teacher.grad is None and student.grad is not None


def test_by_hand_on_one_position():
    student, teacher = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([[1.0, 1.0, 0.0]])
    T, alpha = 2.0, 0.25
    p_s = [math.exp(z / T) for z in (2.0, 0.0, -1.0)]
    p_t = [math.exp(z / T) for z in (1.0, 1.0, 0.0)]
    p_s, p_t = [p / sum(p_s) for p in p_s], [p / sum(p_t) for p in p_t]
    kl = sum(t * math.log(t / s) for s, t in zip(p_s, p_t))
    ce = -math.log(math.exp(0.0) / sum(math.exp(z) for z in (2.0, 0.0, -1.0)))  # label 1
    expected = alpha * T * T * kl + (1 - alpha) * ce
    got = distillation_loss(student, teacher, torch.tensor([1]), T, alpha)
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_the_soft_term_is_zero_when_the_student_equals_the_teacher():
    z = logits(3)
    labels = torch.zeros(3, 5, dtype=torch.long)
    assert float(distillation_loss(z, z, labels, 3.0, 1.0)) == pytest.approx(0.0, abs=1e-7)


def test_as_a_trainer_objective():
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=13, block_size=16, n_layer=1, n_head=2, n_embd=16)
    teacher, student = GPT(config), GPT(config)
    ids = torch.randint(0, 13, (400,), generator=torch.Generator().manual_seed(0))
    train = TrainConfig(max_steps=3, batch_size=4, block_size=16, warmup_steps=1,
                        eval_interval=None, progress=False)
    before = [p.clone() for p in teacher.parameters()]
    Trainer(student, ids, None, train, device="cpu",
            objective=Distillation(teacher, temperature=2.0, alpha=0.7)).train()
    assert all(torch.equal(a, b) for a, b in zip(before, teacher.parameters()))  # frozen


def test_bad_input_is_a_clear_error():
    z = logits(0)
    labels = torch.zeros(3, 5, dtype=torch.long)
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(z, z[..., :4], labels)
    with pytest.raises(ValueError, match="labels of shape"):
        distillation_loss(z, z, labels[:, :3])
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        distillation_loss(z, z, labels, temperature=0)
    with pytest.raises(ValueError, match="alpha must be a number in"):
        distillation_loss(z, z, labels, alpha=1.5)
    with pytest.raises(ValueError, match="every label is -100"):
        distillation_loss(z, z, torch.full((3, 5), IGNORE_INDEX))
