"""BPDA (identity backward) and EOT (averaging over random draws) for host stages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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


def test_bpda_inside_a_model_graph(x: torch.Tensor) -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 24 * 24, 4))
    xg = x.clone().requires_grad_(True)
    loss = model(bpda(stages.create("jpeg", quality=50))(xg)).logsumexp(1).sum()
    loss.backward()
    assert xg.grad is not None and float(xg.grad.abs().sum()) > 0


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


def test_eot_leaves_the_callers_stage_alone(x: torch.Tensor) -> None:
    stage = stages.create("tvm", keep=0.25, iters=10, seed=3)
    eot_draws(stage, x, n=2)
    assert np.array_equal(stage(x).numpy(), stages.create("tvm", keep=0.25, iters=10, seed=3)(x).numpy())
