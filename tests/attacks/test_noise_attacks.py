"""Seed 001's noise attacks (foolbox): each finds the noise an input needs, and no more, on a model
whose needed noise is known by construction; caps, box, reproducibility."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from edgeguard import attacks
from edgeguard.attacks.measure import perturbation


class Radial(nn.Module):
    """Class 0 while ‖x − c‖₂ < r, class 1 beyond: misclassifying c needs L2 ≥ r, in any direction."""

    def __init__(self, c: torch.Tensor, r: float) -> None:
        super().__init__()
        self.c, self.r = c, r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = (x - self.c).flatten(1).norm(dim=1)
        return torch.stack([self.r - d, d - self.r], dim=1)


C = torch.full((3, 8, 8), 0.5)
R = 1.5


@pytest.fixture()
def radial() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    return Radial(C, R).eval(), C.expand(5, 3, 8, 8).clone(), torch.zeros(5, dtype=torch.long)


def _run(spec: str, model, x, y, seed: int = 0) -> torch.Tensor:
    return attacks.from_spec(spec)(model, x, y, torch.Generator().manual_seed(seed))


def test_gaussian_needs_no_more_than_one_level_step_beyond_the_radius(radial) -> None:
    model, x, y = radial
    steps = 100
    x_adv = _run(f"noise-gaussian:queries={steps}", model, x, y)
    l2 = perturbation(x, x_adv).l2
    ratio = 1000 ** (1 / (steps - 1))  # neighbouring levels
    assert bool((model(x_adv).argmax(1) == 1).all())
    assert float(l2.min()) >= R and float(l2.max()) <= R * ratio + 1e-5
    # the level actually used is the first one at or beyond R (clipping-aware: L2 = level exactly)
    levels = attacks.create("noise-gaussian", queries=steps).levels(x)
    first = min(v for v in levels if v > R)
    torch.testing.assert_close(l2, torch.full_like(l2, first), rtol=1e-5, atol=0)
    assert not torch.equal(x_adv[0], x_adv[1])  # a fresh draw per input


def test_gaussian_cap_is_respected_and_failures_come_back_unchanged(radial) -> None:
    model, x, y = radial
    below = _run("noise-gaussian:queries=30,eps=1.4", model, x, y)
    assert torch.equal(below, x)  # nothing within L2 1.4 misclassifies: nothing changed
    above = _run("noise-gaussian:queries=30,eps=2.0", model, x, y)
    l2 = perturbation(x, above).l2
    assert float(l2.max()) <= 2.0 + 1e-5 and float(l2.min()) >= R
    assert bool((model(above).argmax(1) == 1).all())


def test_blended_stops_at_the_first_blend_that_misclassifies(radial) -> None:
    model, x, y = radial
    steps = 200
    x_adv = _run(f"noise-blended:queries={steps}", model, x, y)
    l2 = perturbation(x, x_adv).l2
    # ‖u − c‖ ≤ 0.5·√D for uniform u in [0, 1] around c = 0.5: one blend step adds at most that / steps
    step = 0.5 * math.sqrt(C.numel()) / steps
    assert float(l2.min()) >= R and float(l2.max()) <= R + step + 1e-5
    assert bool((model(x_adv).argmax(1) == 1).all())
    capped = _run("noise-blended:queries=50,eps=1.0", model, x, y)
    assert torch.equal(capped, x)


def test_salt_and_pepper_finds_the_fewest_pixels(radial) -> None:
    """On mid-grey, a salt or pepper pixel moves its 3 channels by 0.5: L2² = 0.75 per pixel. d = r
    is still class 0 (a tie goes to the first logit), so 1.5² / 0.75 = 3 pixels are not enough: 4."""
    model, x, y = radial
    x_adv = _run("noise-saltpepper:queries=200", model, x, y)
    changed = (x_adv != x).any(dim=1).flatten(1).sum(dim=1)
    assert changed.tolist() == [4] * len(x)
    assert set(torch.unique(x_adv[x_adv != 0.5]).tolist()) <= {0.0, 1.0}  # salt or pepper
    assert bool(((x_adv != x).sum(dim=1) % 3 == 0).all())  # all channels of a pixel together
    torch.testing.assert_close(
        perturbation(x, x_adv).l2, torch.full((5,), math.sqrt(3.0), dtype=torch.float64)
    )


@pytest.mark.parametrize(
    "spec", ["noise-gaussian:queries=40", "noise-blended:queries=40", "noise-saltpepper:queries=40"]
)
def test_box_dtype_reproducible_and_global_rng_untouched(spec: str) -> None:
    torch.manual_seed(0)
    c = torch.rand(3, 8, 8)  # values near 0 and 1: clipping matters
    model = Radial(c, 1.0).eval()
    x = torch.cat([c.expand(3, 3, 8, 8), (c + 0.6).clamp(0, 1)[None]])  # the last is misclassified already
    y = torch.zeros(4, dtype=torch.long)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = _run(spec, model, x, y, seed=7)
    assert torch.equal(torch.rand(3), expected_next), "the attack consumed or reseeded the global generator"
    assert a.dtype == x.dtype and a.shape == x.shape and not a.requires_grad
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, _run(spec, model, x, y, seed=7))
    assert torch.equal(a[3], x[3])  # misclassified already: needs nothing
    assert bool((model(a[:3]).argmax(1) == 1).all())


def test_noise_attacks_take_a_plain_callable(radial) -> None:
    """An oracle around an onnxruntime pipeline is a callable, not an nn.Module."""
    model, x, y = radial
    out = _run("noise-gaussian:queries=30", lambda t: model(t), x, y)
    assert torch.equal(out, _run("noise-gaussian:queries=30", model, x, y))
