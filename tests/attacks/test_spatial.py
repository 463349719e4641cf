"""Spatial grid attack: on models built to be rotation- or translation-sensitive it finds the mildest
grid transformation that fools them, and the image it returns is that exact transformation (90°
rotations and whole-pixel shifts are exact under bilinear warping: torch.rot90 / torch.roll oracles)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgeguard import attacks
from edgeguard.errors import ConfigError


class Orientation(nn.Module):
    """Class 0 while vertical intensity changes dominate (a horizontal bar), class 1 once horizontal
    ones do: a bar must turn by more than 45° to be misclassified."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = x.mean(1)
        ey = (g[:, 1:, :] - g[:, :-1, :]).pow(2).flatten(1).sum(1)
        ex = (g[:, :, 1:] - g[:, :, :-1]).pow(2).flatten(1).sum(1)
        return torch.stack([ey - ex, ex - ey], dim=1)


class Centred(nn.Module):
    """Class 0 while the bright dot lies within one pixel of the centre: a shift of 2 px fools it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centre = x[:, :, 7:10, 7:10].flatten(1).sum(1) - 0.5 * x.shape[1]
        return torch.stack([centre, -centre], dim=1)


def _bar() -> torch.Tensor:
    x = torch.zeros(2, 3, 16, 16)
    x[:, :, 7:9, 3:13] = 1.0
    return x


@pytest.mark.slow  # kornia's first import (seconds); the searches are tiny
def test_finds_the_mildest_rotation_on_the_grid_that_fools() -> None:
    model, x, y = Orientation().eval(), _bar(), torch.zeros(2, dtype=torch.long)
    assert model(x).argmax(1).tolist() == [0, 0]
    # ±30°: no rotation on the grid turns the bar past 45°, nothing changes
    small = attacks.from_spec("spatial:rotation=30,translation=0,rotations=7,translations=1")(model, x, y)
    assert torch.equal(small, x)
    # grid −90, 0, 90: 0 does not fool, −90 comes first among the equally mild ±90
    x_adv = attacks.from_spec("spatial:rotation=90,translation=0,rotations=3,translations=1")(model, x, y)
    assert model(x_adv).argmax(1).tolist() == [1, 1]
    torch.testing.assert_close(x_adv, torch.rot90(x, -1, dims=(2, 3)), rtol=0, atol=1e-5)
    # grid −60 … 60: ±30 are milder but do not fool; −60 does
    mid = attacks.from_spec("spatial:rotation=60,translation=0,rotations=5,translations=1")(model, x, y)
    assert model(mid).argmax(1).tolist() == [1, 1] and not torch.equal(mid, x_adv)


def test_translation_is_a_fraction_of_height_and_width() -> None:
    """12.5 % of 17 px rounds to 2 px, enough to move the dot out of the centre; the mildest fooling
    shift is a straight one (not diagonal), the first on the grid: two rows up. (ART's version reads
    the size of a channels-first array from its channel axis: 12.5 % of 3 = 0 px, nothing to find.)"""
    model = Centred().eval()
    x = torch.zeros(1, 3, 17, 17)
    x[:, :, 8, 8] = 1.0
    y = torch.zeros(1, dtype=torch.long)
    attack = attacks.from_spec("spatial:rotation=0,translation=0.125,rotations=1,translations=3")
    assert attack.grid(17, 17)[0] == (0.0, 0, 0) and len(attack.grid(17, 17)) == 9
    x_adv = attack(model, x, y)
    assert model(x_adv).argmax(1).tolist() == [1]
    torch.testing.assert_close(x_adv, torch.roll(x, -2, dims=2), rtol=0, atol=1e-6)
    assert x_adv.dtype == x.dtype and not x_adv.requires_grad


@pytest.mark.parametrize(
    "spec",
    ["spatial:rotation=181", "spatial:translation=-0.1", "spatial:rotations=0", "spatial:translations=1.5"],
)
def test_bad_grids_are_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError, match="spatial"):
        attacks.from_spec(spec)


def test_spec_states_the_grid() -> None:
    a = attacks.from_spec("spatial:rotation=30,translation=0.1")
    assert a.spec() == "spatial:rotation=30.0,translation=0.1,rotations=31,translations=5"
    assert (a.norm, a.eps, a.grid_size) == ("none", None, 31 * 25) and attacks.from_spec(a.spec()) == a


def test_the_runner_runs_budget_free_attacks_once_per_cell() -> None:
    """norm="none": the grid's ε sweep does not apply (the spec's limits are the threat model)."""
    from edgeguard.eval.plan import plan_attack

    for spec in ("spatial:rotation=30", "query-patch:size=0.2,queries=50"):
        plan = plan_attack(spec, (8 / 255, 16 / 255), n=10, seed=0, eot=1)
        assert plan.eps == () and plan.norm == "none"
