"""Contract over the attack registry: every entry, with each of its example parameters, keeps the
budget exactly, stays in [0, 1], and never raises a trained model's accuracy above clean."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgeguard import attacks
from edgeguard.errors import ConfigError

CASES = [(e.name, ex) for e in attacks.REGISTRY for ex in e.examples]
INVALID = [(e.name, bad) for e in attacks.REGISTRY for bad in e.invalid]
F32 = torch.finfo(torch.float32).eps  # one float32 ulp at 1.0: the rounding of x + δ in [0, 1]


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three classes, each a fixed random 3×8×8 template plus noise, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    templates = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 3, (n,), generator=g)
    x = (0.5 * templates[y] + 0.25 + 0.15 * torch.randn(n, 3, 8, 8, generator=g)).clamp(0, 1)
    return x, y


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = _data(256, 1)
    for _ in range(60):  # plain full-batch gradient descent (no torch.optim: its import costs seconds)
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    xt, yt = _data(128, 2)
    assert float((model(xt).argmax(1) == yt).float().mean()) > 0.9  # really trained
    return model.eval(), xt, yt


def test_registry_lists_pgd_with_examples() -> None:
    assert "pgd" in attacks.names()
    for entry in attacks.REGISTRY:
        assert entry.extra["norm"] == "linf" and entry.examples and entry.invalid, entry.name
        assert {p.name for p in entry.params} >= {"eps"}


@pytest.mark.parametrize(("name", "params"), CASES)
def test_budget_box_and_accuracy(name: str, params: dict, trained) -> None:
    model, x, y = trained
    attack = attacks.create(name, **params)
    x_adv = attack(model, x, y, torch.Generator().manual_seed(1))
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    eps = params["eps"]
    assert float((x_adv - x).abs().max()) <= eps + F32, "L∞ budget exceeded"
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    with torch.no_grad():
        clean, adv = model(x), model(x_adv)
    assert float((adv.argmax(1) == y).float().mean()) <= float((clean.argmax(1) == y).float().mean())
    assert float(F.cross_entropy(adv, y)) > float(F.cross_entropy(clean, y))
    # reproducible: the generator seeds every random draw
    assert torch.equal(x_adv, attack(model, x, y, torch.Generator().manual_seed(1)))


@pytest.mark.parametrize(("name", "params"), CASES)
def test_spec_and_create_agree(name: str, params: dict) -> None:
    spec = name + ":" + ",".join(f"{k}={v!r}" for k, v in params.items())
    assert attacks.from_spec(spec) == attacks.create(name, **params)


@pytest.mark.parametrize(("name", "params"), INVALID)
def test_invalid_params_are_config_errors(name: str, params: dict) -> None:
    with pytest.raises(ConfigError):
        attacks.create(name, **params)


def test_listing_from_source_equals_the_live_registry() -> None:
    """`--help` texts are generated from the source listing; it must say what the registry says."""
    listed = {x.name: (x.summary, x.usage) for x in attacks.REGISTRY.listing()}
    assert listed == {e.name: (e.summary, e.usage) for e in attacks.REGISTRY} and listed


def test_pgd_spec_parses_fractions() -> None:
    assert attacks.from_spec("pgd:eps=8/255,steps=20") == attacks.PGD(8 / 255, 20)
    assert attacks.from_spec("pgd:eps=8/255,steps=20,alpha=2/255").step_size == 2 / 255


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fgsm:eps=1", "unknown attack 'fgsm'"),
        ("pgd:eps=8/255,stpes=3", "did you mean steps"),
        ("pgd:eps=0,steps=3", "0 < eps <= 1"),
        ("pgd:eps=2,steps=3", "0 < eps <= 1"),
        ("pgd:eps=0.1,steps=0", "steps >= 1"),
        ("pgd:eps=0.1,steps=2.5", "whole number"),
        ("pgd:eps=abc", "must be numbers"),
        ("pgd:eps=0.1,alpha=0", "alpha > 0"),
        ("pgd:eps=0.1,alpha=-1/255", "alpha > 0"),
    ],
)
def test_bad_specs_are_config_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        attacks.from_spec(spec)


def test_one_pgd_step_on_a_linear_model_is_eps_sign_of_the_weight_difference() -> None:
    """Hand-worked: two classes, logits = W x + b, true class 0. ∇ₓ CE = p₁ (w₁ − w₀), so every sign
    step is sign(w₁ − w₀) wherever x is. With α = 2ε the step from any random start in the ε-ball
    lands outside it and projection clamps it to exactly x + ε·sign(w₁ − w₀)."""
    torch.manual_seed(3)
    lin = nn.Linear(3 * 4 * 4, 2)
    model = nn.Sequential(nn.Flatten(), lin)
    eps = 0.05
    x = 0.1 + 0.8 * torch.rand(6, 3, 4, 4)  # inside [eps, 1 - eps]: the [0, 1] clamp never bites
    y = torch.zeros(6, dtype=torch.long)
    x_adv = attacks.create("pgd", eps=eps, steps=1, alpha=2 * eps)(
        model, x, y, torch.Generator().manual_seed(0)
    )
    direction = torch.sign(lin.weight[1] - lin.weight[0]).detach().view(1, 3, 4, 4).expand_as(x)
    assert bool((direction != 0).all())
    assert torch.equal(torch.sign(x_adv - x), direction)
    torch.testing.assert_close(x_adv - x, eps * direction, rtol=0, atol=F32)
