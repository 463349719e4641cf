"""The gradient attacks against hand-worked answers: on affine models the FGSM/BIM/PGD steps, the
exact L∞/L2 budgets and the minimal perturbations (DeepFool, CW: the distance to the nearest decision
hyperplane ``|f_k(x) − f_y(x)| / ‖w_k − w_y‖``) are known in closed form; on a small trained model the
Carlini et al. 2019 orderings hold (iterative ≤ single-step, AutoAttack ≤ PGD)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from edgeguard import attacks
from edgeguard.errors import InputError
from tests.attacks.tiny import accuracy, data, one_thread, trained_model

pytestmark = pytest.mark.usefixtures("one_thread")
assert one_thread  # the fixture is used through pytestmark
F32 = torch.finfo(torch.float32).eps


def _affine(k: int, seed: int) -> tuple[nn.Module, nn.Linear]:
    torch.manual_seed(seed)
    lin = nn.Linear(3 * 4 * 4, k)
    return nn.Sequential(nn.Flatten(), lin).eval(), lin


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _mid(n: int, seed: int, spread: float = 0.1) -> torch.Tensor:
    """Inputs near 0.5, so a perturbation of the sizes below never meets the [0, 1] box."""
    return 0.5 + spread * (2 * torch.rand(n, 3, 4, 4, generator=_gen(seed)) - 1)


def test_fgsm_on_a_linear_model_is_eps_sign_of_the_weight_difference() -> None:
    """Two classes, true class 0: ∇ₓ CE = p₁ (w₁ − w₀), so FGSM moves every pixel by exactly
    ε·sign(w₁ − w₀)."""
    model, lin = _affine(2, 3)
    eps, x = 0.05, _mid(6, 1)
    y = torch.zeros(6, dtype=torch.long)
    direction = torch.sign(lin.weight[1] - lin.weight[0]).detach().view(1, 3, 4, 4).expand_as(x)
    assert bool((direction != 0).all())
    for spec in (f"fgsm:eps={eps}", f"bim:eps={eps},steps=2,alpha={eps}"):
        x_adv = attacks.from_spec(spec)(model, x, y, _gen())
        torch.testing.assert_close(x_adv - x, eps * direction, rtol=0, atol=F32, msg=spec)


@pytest.mark.parametrize(
    "spec", ["pgd-l2:eps=0.3,steps=30,alpha=0.3", "pgd-l2:eps=0.3,steps=30,alpha=0.3,restarts=2"]
)
def test_pgd_l2_on_a_linear_model_ends_on_the_ball_along_the_weight_difference(spec: str) -> None:
    """L2 PGD on a binary affine model: the normalised gradient is the constant u = (w₁ − w₀)/‖·‖, so
    from any start in the ball, steps of length ε followed by projection converge to exactly ε·u."""
    model, lin = _affine(2, 4)
    x, y = _mid(5, 2), torch.zeros(5, dtype=torch.long)
    u = (lin.weight[1] - lin.weight[0]).detach()
    u = u / u.norm()
    d = (attacks.from_spec(spec)(model, x, y, _gen(1)) - x).flatten(1).double()
    torch.testing.assert_close(d.norm(dim=1), torch.full((5,), 0.3, dtype=torch.float64), rtol=1e-6, atol=0)
    assert float((d @ u.double() / d.norm(dim=1)).min()) > 0.9999


@pytest.mark.parametrize("k", [2, 4])
def test_deepfool_finds_the_distance_to_the_nearest_hyperplane(k: int) -> None:
    """For an affine classifier DeepFool's first step is the exact minimal L2 perturbation,
    ``min_j |f_j − f_y| / ‖w_j − w_y‖`` (plus foolbox's 1e-4 margin), stretched by ``1 + overshoot``."""
    model, lin = _affine(k, 5)
    x = _mid(8, 3, spread=0.05)
    with torch.no_grad():
        f = model(x)
    y = f.argmax(1)
    w, dist = lin.weight.detach(), []
    for i in range(len(x)):
        others = [j for j in range(k) if j != int(y[i])]
        dist.append(min(float((f[i, y[i]] - f[i, j]) / (w[j] - w[y[i]]).norm()) for j in others))
    x_adv = attacks.from_spec("deepfool:steps=5,overshoot=0.02")(model, x, y, _gen())
    needed = (x_adv - x).flatten(1).norm(dim=1)
    torch.testing.assert_close(needed, 1.02 * (torch.tensor(dist) + 1e-4), rtol=1e-4, atol=1e-6)
    assert accuracy(model, x_adv, y) == 0.0
    # with a budget: examples that needed more than eps keep their clean input
    eps = float(torch.tensor(dist).median())
    bounded = attacks.from_spec(f"deepfool:steps=5,overshoot=0.02,eps={eps}")(model, x, y, _gen())
    kept = (bounded - x).flatten(1).norm(dim=1) > 0
    assert torch.equal(kept, 1.02 * (torch.tensor(dist) + 1e-4) <= eps) and 0 < int(kept.sum()) < len(x)


@pytest.mark.parametrize("k", [2, 4])
def test_cw_finds_the_minimal_perturbation_of_an_affine_model(k: int) -> None:
    """CW-L2's optimum for an affine model and a large enough c lies on the nearest decision
    hyperplane; Adam in tanh space ends within a few per cent beyond it (never inside: it keeps
    only misclassified points)."""
    model, lin = _affine(k, 6)
    x = _mid(8, 4, spread=0.05)
    with torch.no_grad():
        f = model(x)
    y = f.argmax(1)
    w = lin.weight.detach()
    dist = torch.tensor(
        [
            min(float((f[i, y[i]] - f[i, j]) / (w[j] - w[y[i]]).norm()) for j in range(k) if j != int(y[i]))
            for i in range(len(x))
        ]
    )
    x_adv = attacks.from_spec("cw:c=20,steps=300,lr=0.005")(model, x, y, _gen())
    needed = (x_adv - x).flatten(1).norm(dim=1)
    assert accuracy(model, x_adv, y) == 0.0
    assert bool((needed >= dist * (1 - 1e-4)).all()) and bool((needed <= dist * 1.05).all()), needed / dist


def test_restarts_never_do_worse_than_one_start() -> None:
    """The first restart uses the same draws as a single run; later ones only replace examples it
    did not fool."""
    model = trained_model()
    x, y = data(96, 3)
    for single, multi in (
        ("pgd:eps=0.08,steps=3", "pgd:eps=0.08,steps=3,restarts=3"),
        ("pgd-l2:eps=0.8,steps=3", "pgd-l2:eps=0.8,steps=3,restarts=3"),
    ):
        a1 = attacks.from_spec(single)(model, x, y, _gen(5))
        a3 = attacks.from_spec(multi)(model, x, y, _gen(5))
        with torch.no_grad():
            fooled1, fooled3 = model(a1).argmax(1) != y, model(a3).argmax(1) != y
        assert bool((fooled3 | ~fooled1).all()), multi


def test_iterative_attacks_do_at_least_as_well_as_fgsm() -> None:
    """Carlini et al. 2019: iterative ≤ single-step accuracy (on a model FGSM only partly breaks)."""
    model = trained_model()
    x, y = data(128, 2)
    acc = {
        s: accuracy(model, attacks.from_spec(s)(model, x, y, _gen()), y)
        for s in ("fgsm:eps=0.12", "bim:eps=0.12,steps=10", "pgd:eps=0.12,steps=10")
    }
    assert 0.1 < acc["fgsm:eps=0.12"] < 0.95, acc  # FGSM leaves something to improve on
    assert (
        acc["bim:eps=0.12,steps=10"] <= acc["fgsm:eps=0.12"]
        and acc["pgd:eps=0.12,steps=10"] <= acc["fgsm:eps=0.12"]
    ), acc


def test_autoattack_is_at_least_as_strong_as_pgd() -> None:
    model = trained_model()
    x, y = data(64, 2)
    pgd = accuracy(model, attacks.from_spec("pgd:eps=0.1,steps=20")(model, x, y, _gen()), y)
    aa = accuracy(model, attacks.from_spec("autoattack:eps=0.1,steps=20,queries=200")(model, x, y, _gen()), y)
    assert 0 < pgd < 1 and aa <= pgd, (aa, pgd)


def test_jsma_refuses_inputs_too_large_and_autoattack_too_few_classes() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64 * 64, 4))
    with pytest.raises(InputError, match="jsma: input .* 12288 values"):
        attacks.from_spec("jsma")(model, torch.rand(1, 3, 64, 64), torch.zeros(1, dtype=torch.long))
    three, _ = _affine(3, 0)
    with pytest.raises(InputError, match="at least 4 classes"):
        attacks.from_spec("autoattack:eps=0.1")(three, _mid(2, 0), torch.zeros(2, dtype=torch.long))


def test_jsma_l0_budget_keeps_clean_inputs_that_needed_more() -> None:
    model = trained_model()
    x, y = data(8, 4)
    free = attacks.from_spec("jsma:gamma=0.1")(model, x, y, _gen())
    changed = ((free - x).abs() > 1e-6).flatten(1).sum(1)
    assert int(changed.max()) <= 2 * math.ceil(3 * 8 * 8 * 0.1 / 2)  # two values a step, γ·C·H·W at most
    bound = int(changed.float().median())
    kept = attacks.from_spec(f"jsma:gamma=0.1,eps={bound}")(model, x, y, _gen())
    inside = changed <= bound
    assert torch.equal(kept[inside], free[inside]) and torch.equal(kept[~inside], x[~inside])


def test_channels_last_inputs_give_the_same_result() -> None:
    """Images decoded as NHWC and permuted to NCHW are not contiguous; FAB-T (inside AutoAttack)
    used to fail on them with a view error."""
    model = trained_model()
    x, y = data(16, 6)
    x_cl = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    assert not x_cl.is_contiguous()
    atk = attacks.from_spec("autoattack:eps=0.1,steps=3,queries=10")
    assert torch.equal(atk(model, x_cl, y, _gen()), atk(model, x, y, _gen()))
