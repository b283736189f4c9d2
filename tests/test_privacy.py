"""llmbook.privacy: membership inference and DP-SGD against direct computations."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from llmbook import privacy
from llmbook.models import GPT, GPTConfig


def gpt_loss(forward, x, y):
    return forward(x, y)[1]


def mlp_loss(forward, x, y):
    return nn.functional.cross_entropy(forward(x), y)


@pytest.fixture()
def gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=16)).eval()


@pytest.fixture()
def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))


def token_batch(n=6, seq=10, vocab=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab, (n, seq), generator=g)
    return x, torch.randint(0, vocab, (n, seq), generator=g)


def mlp_batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=g), torch.randint(0, 3, (n,), generator=g)


def single_backward(model, loss_fn, x, y):
    """Reference: one example at a time through loss.backward()."""
    rows = {name: [] for name, _ in model.named_parameters()}
    for i in range(len(x)):
        model.zero_grad()
        loss_fn(model, x[i:i + 1], y[i:i + 1]).backward()
        for name, p in model.named_parameters():
            rows[name].append(p.grad.clone())
    model.zero_grad()
    return {name: torch.stack(grads) for name, grads in rows.items()}


@pytest.mark.parametrize("method", ["vmap", "loop", "auto"])
def test_per_example_grads_of_an_mlp_equal_single_example_backward_passes(mlp, method):
    x, y = mlp_batch()
    expected = single_backward(mlp, mlp_loss, x, y)
    ours = privacy.per_example_grads(mlp, mlp_loss, x, y, method=method)
    assert set(ours) == set(expected)
    for name in expected:
        torch.testing.assert_close(ours[name], expected[name], rtol=1e-5, atol=1e-7)


def test_per_example_grads_of_the_books_gpt(gpt):
    x, y = token_batch()
    expected = single_backward(gpt, gpt_loss, x, y)
    ours = privacy.per_example_grads(gpt, gpt_loss, x, y)  # auto: vmap, or the loop if it fails
    assert ours.keys() == expected.keys()  # wte and the tied lm_head count once
    for name in expected:
        torch.testing.assert_close(ours[name], expected[name], rtol=1e-5, atol=1e-7)


def test_clipping_bounds_every_example_and_keeps_small_ones():
    g = torch.Generator().manual_seed(0)
    grads = {"w": torch.randn(10, 3, 4, generator=g), "b": torch.randn(10, 4, generator=g)}
    grads["w"][0] *= 0.01
    grads["b"][0] *= 0.01  # example 0 is far below the bound
    clipped, norms = privacy.clip_per_example(grads, 1.5)
    direct = torch.sqrt((grads["w"] ** 2).sum((1, 2)) + (grads["b"] ** 2).sum(1))
    torch.testing.assert_close(norms, direct)
    after = torch.sqrt((clipped["w"] ** 2).sum((1, 2)) + (clipped["b"] ** 2).sum(1))
    assert torch.all(after <= 1.5 * (1 + 1e-6))
    torch.testing.assert_close(after[norms > 1.5], torch.full_like(after[norms > 1.5], 1.5))
    assert torch.equal(clipped["w"][0], grads["w"][0])  # unclipped: unchanged
    with pytest.raises(ValueError, match="positive"):
        privacy.clip_per_example(grads, 0)


@pytest.mark.parametrize("which", ["mlp", "gpt"])
def test_dp_sgd_without_noise_and_with_a_huge_bound_is_plain_sgd(which, mlp, gpt):
    model, loss_fn = (mlp, mlp_loss) if which == "mlp" else (gpt, gpt_loss)
    x, y = mlp_batch() if which == "mlp" else token_batch()
    reference = copy.deepcopy(model)
    sgd = torch.optim.SGD(reference.parameters(), lr=0.5)
    loss_fn(reference, x, y).backward()  # the mean loss of the batch
    sgd.step()
    step = privacy.dp_sgd_step(model, torch.optim.SGD(model.parameters(), lr=0.5), loss_fn, x, y,
                               max_grad_norm=1e6, noise_multiplier=0.0)
    assert step.clipped_fraction == 0.0 and step.mean_grad_norm > 0
    for (name, ours), (_, theirs) in zip(model.named_parameters(), reference.named_parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7, msg=name)


def test_dp_sgd_noise_has_std_sigma_c_over_n_and_is_seeded(mlp):
    x, y = mlp_batch(n=4)
    sigma, bound, lr = 2.0, 0.5, 1.0
    clipped = privacy.clip_per_example(privacy.per_example_grads(mlp, mlp_loss, x, y), bound)[0]
    updates = []
    for seed in (0, 0, 1):
        model = copy.deepcopy(mlp)
        before = {name: p.detach().clone() for name, p in model.named_parameters()}
        privacy.dp_sgd_step(model, torch.optim.SGD(model.parameters(), lr=lr), mlp_loss, x, y,
                            max_grad_norm=bound, noise_multiplier=sigma,
                            generator=torch.Generator().manual_seed(seed))
        noise = [(before[name] - p.detach()) * len(x) / lr - clipped[name].sum(0)
                 for name, p in model.named_parameters()]
        updates.append(torch.cat([n.flatten() for n in noise]))
    assert torch.equal(updates[0], updates[1]) and not torch.equal(updates[0], updates[2])
    both = torch.cat([updates[0], updates[2]])  # 2 x 83 draws of N(0, (sigma C)^2)
    assert float(both.std()) == pytest.approx(sigma * bound, rel=0.2)


def test_example_losses_and_the_attacks_auc(gpt):
    x, y = token_batch(n=5)
    losses = privacy.example_losses(gpt, x, y, batch_size=2)
    with torch.no_grad():
        one_by_one = torch.stack([gpt(x[i:i + 1], y[i:i + 1])[1] for i in range(5)])
    torch.testing.assert_close(losses, one_by_one, rtol=1e-5, atol=1e-6)
    rng = np.random.default_rng(0)
    members, others = rng.normal(1.0, 0.5, 40), rng.normal(1.4, 0.5, 50)
    labels, scores = privacy.membership_scores(members, others)
    assert privacy.membership_auc(members, others) == pytest.approx(roc_auc_score(labels, scores),
                                                                    abs=1e-12)
    assert privacy.membership_auc([0.1, 0.2], [0.3, 0.4]) == 1.0
    assert privacy.membership_auc([0.3, 0.4], [0.1, 0.2]) == 0.0
    # threshold 0.25: members [0.1, 0.2] both below (TPR 1), non-members 1 of 2 (FPR 0.5)
    assert privacy.attack_advantage([0.1, 0.2], [0.2, 0.4], threshold=0.25) == 0.5
    with pytest.raises(ValueError, match="at least one member"):
        privacy.membership_auc([], [0.1])


def test_bad_dp_input_is_refused(mlp):
    x, y = mlp_batch()
    sgd = torch.optim.SGD(mlp.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="noise_multiplier"):
        privacy.dp_sgd_step(mlp, sgd, mlp_loss, x, y, max_grad_norm=1.0, noise_multiplier=-1)
    with pytest.raises(ValueError, match="same non-zero first dimension"):
        privacy.per_example_grads(mlp, mlp_loss, x, y[:3])
    with pytest.raises(ValueError, match="method"):
        privacy.per_example_grads(mlp, mlp_loss, x, y, method="opacus")
