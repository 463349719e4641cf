"""NewtonFool (ART) on a two-class linear model: it walks straight to the decision boundary, so its
perturbation is the known minimal one, ``|margin| / ‖w₁ − w₀‖`` along ``w₁ − w₀``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgeguard import attacks


@pytest.mark.slow  # ART's import (seconds); ten Newton steps on six inputs
def test_newtonfool_reaches_the_boundary_along_the_normal() -> None:
    torch.manual_seed(3)
    lin = nn.Linear(48, 2)
    model = nn.Sequential(nn.Flatten(), lin).eval()
    x = 0.3 + 0.4 * torch.rand(6, 3, 4, 4)  # far enough inside [0, 1] that clipping never bites
    y = model(x).argmax(1)
    w = (lin.weight[1] - lin.weight[0]).detach()
    b = (lin.bias[1] - lin.bias[0]).detach()
    needed = (x.flatten(1) @ w + b).abs() / w.norm()  # L2 distance to the boundary

    x_adv = attacks.from_spec("newtonfool:steps=10,eta=0.5")(model, x, y)
    d = (x_adv - x).flatten(1)
    l2 = d.norm(dim=1)
    # never past the boundary (NewtonFool stops at probability 1/2, no overshoot), and nearly on it
    assert bool((l2 <= needed * (1 + 1e-4)).all()) and bool((l2 >= 0.98 * needed).all())
    cos = (d @ w).abs() / (l2 * w.norm())
    assert bool((cos > 0.998).all())  # along the boundary's normal
    with torch.no_grad():
        p = model(x_adv).softmax(1)
    torch.testing.assert_close(p, torch.full_like(p, 0.5), rtol=0, atol=0.01)
    assert all(q.grad is None for q in model.parameters())  # ART's backward left no parameter gradients
    assert torch.equal(x_adv, attacks.from_spec("newtonfool:steps=10,eta=0.5")(model, x, y))  # deterministic
