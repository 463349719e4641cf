"""BPDA (identity backward) and EOT (averaging over random draws) for host stages."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgeguard import stages
from edgeguard.samples import photo_batch
from edgeguard.stages import bpda, eot_draws, eot_gradient

CHEAP = {"tvm": {"iters": 10, "seed": 5}, "rof": {"iters": 10}, "dip": {"iters": 5, "seed": 5}}


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.from_numpy(photo_batch(2, (24, 24)))


@pytest.mark.parametrize("name", stages.names())
def test_bpda_forward_is_the_stage_and_backward_is_identity(name: str, x: torch.Tensor) -> None:
    stage = stages.create(name, **CHEAP.get(name, {}))
    xg = x.clone().requires_grad_(True)
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    out = bpda(stage)(xg)
    assert out.requires_grad
    (out * w).sum().backward()
    assert torch.equal(xg.grad, w)  # exactly the identity Jacobian
    fresh = stages.create(name, **CHEAP.get(name, {}))
    assert torch.equal(out.detach(), fresh(x))


def test_bpda_gradient_is_the_networks_gradient_at_the_purified_input(x: torch.Tensor) -> None:
    """Hand-worked: loss = Σ (W z + b)² with z = jpeg(x). The true ∂loss/∂z is 2 Wᵀ(W z + b); BPDA
    passes it straight through to x, so ∇ₓ must equal it evaluated at z = jpeg(x), not at x."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(3 * 24 * 24, 4)
    model = torch.nn.Sequential(torch.nn.Flatten(), lin)
    stage = stages.create("jpeg", quality=10)
    xg = x.clone().requires_grad_(True)
    (model(bpda(stage)(xg)) ** 2).sum().backward()

    def by_hand(inp: torch.Tensor) -> torch.Tensor:
        w, b = lin.weight.detach().double(), lin.bias.detach().double()
        return (2 * ((inp.flatten(1).double() @ w.T + b) @ w)).view_as(inp).float()

    z = stage(x)
    assert float((z - x).abs().mean()) > 0.01  # JPEG q10 really moves the pixels
    torch.testing.assert_close(xg.grad, by_hand(z), rtol=1e-4, atol=1e-6)
    at_x = by_hand(x)  # what a gradient that ignored the stage would give
    assert float((xg.grad - at_x).abs().max()) > 100 * float((xg.grad - by_hand(z)).abs().max() + 1e-9)


def test_eot_draws_differ_for_random_stage(x: torch.Tensor) -> None:
    stage = stages.create("tvm", keep=0.25, iters=10, seed=0)
    draws = eot_draws(stage, x, n=4, seed=100)
    assert draws.shape == (4, *x.shape)
    for i in range(4):
        for j in range(i + 1, 4):
            assert not torch.equal(draws[i], draws[j])
    # draw i is the stage reseeded with seed + i: reproducible
    assert torch.equal(draws[2], stage.reseeded(102)(x))


def test_eot_draws_equal_for_deterministic_stage(x: torch.Tensor) -> None:
    draws = eot_draws(stages.create("jpeg"), x, n=3)
    assert torch.equal(draws[0], draws[1]) and torch.equal(draws[1], draws[2])


def test_eot_gradient_is_the_mean_over_draws(x: torch.Tensor) -> None:
    stage = stages.create("tvm", keep=0.25, iters=10, seed=0)
    n = 5
    grad, mean_loss = eot_gradient(stage, x, lambda out: (out**2).sum(), n=n, seed=7)
    draws = eot_draws(stage, x, n=n, seed=7).detach()
    # d/dx sum(bpda(g_i(x))²) = 2·g_i(x) under the identity backward; EOT averages it over draws
    torch.testing.assert_close(grad, 2 * draws.mean(0), rtol=1e-6, atol=1e-6)
    assert float(mean_loss) == pytest.approx(float((draws**2).flatten(1).sum(1).double().mean()), rel=1e-6)
    # differs from any single draw's gradient: the average really mixes several masks
    assert not torch.allclose(grad, 2 * draws[0])


def test_eot_gradient_of_a_classifier_is_the_average_of_hand_worked_draws(x: torch.Tensor) -> None:
    """Hand-worked EOT: for logits W z + b and cross-entropy on labels y, ∂L/∂z = (softmax − onehot) W
    (summed over the batch). EOT with BPDA averages that over the draws z_i = tvm_{seed+i}(x), each
    computed here independently of eot_draws / eot_gradient."""
    torch.manual_seed(1)
    lin = torch.nn.Linear(3 * 24 * 24, 3)
    y = torch.tensor([0, 2])
    stage = stages.create("tvm", keep=0.3, iters=10, seed=0)

    def loss_fn(out: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(lin(out.flatten(1)), y, reduction="sum")

    n, seed = 4, 11
    grad, mean_loss = eot_gradient(stage, x, loss_fn, n=n, seed=seed)
    w, b = lin.weight.detach().double(), lin.bias.detach().double()
    per_draw, losses = [], []
    for i in range(n):
        z = stage.reseeded(seed + i)(x).flatten(1).double()
        logits = z @ w.T + b
        p = torch.softmax(logits, 1)
        per_draw.append(((p - F.one_hot(y, 3).double()) @ w).view_as(x))
        losses.append(float(-(torch.log_softmax(logits, 1)[torch.arange(2), y]).sum()))
    expected = torch.stack(per_draw).mean(0).float()
    torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-7)
    assert float(mean_loss) == pytest.approx(sum(losses) / n, rel=1e-5)
    # the draws differ, so the average differs from every single draw's gradient
    for g_i in per_draw:
        assert float((g_i.float() - expected).abs().max()) > 1e-4


def test_eot_leaves_the_callers_stage_alone(x: torch.Tensor) -> None:
    stage = stages.create("tvm", keep=0.25, iters=10, seed=3)
    eot_draws(stage, x, n=2)
    assert np.array_equal(stage(x).numpy(), stages.create("tvm", keep=0.25, iters=10, seed=3)(x).numpy())
