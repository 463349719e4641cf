"""Spatial grid attack (ART): on models built to be rotation- or translation-sensitive it finds the
transformation that fools them — and the one it returns is scipy's rotation/shift of the input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
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


def _rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """ART's transformation, on channels-last arrays as ART sees them (spline order 3, clipped)."""
    out = ndimage.rotate(x.permute(0, 2, 3, 1).numpy(), degrees, axes=(1, 2), reshape=False)
    return torch.from_numpy(np.clip(out, 0, 1)).permute(0, 3, 1, 2)


@pytest.mark.slow  # ART's import (seconds); the searches themselves are tiny
def test_finds_the_first_rotation_on_the_grid_that_fools() -> None:
    model, x, y = Orientation().eval(), _bar(), torch.zeros(2, dtype=torch.long)
    assert model(x).argmax(1).tolist() == [0, 0]
    # ±30°: no rotation on the grid turns the bar past 45°, nothing changes
    small = attacks.from_spec("spatial:rotation=30,translation=0,rotations=7,translations=1")(model, x, y)
    assert torch.equal(small, x)
    # grid −60, −30, 0, 30, 60: the first that fools (grid order) is −60°
    x_adv = attacks.from_spec("spatial:rotation=60,translation=0,rotations=5,translations=1")(model, x, y)
    assert model(x_adv).argmax(1).tolist() == [1, 1]
    torch.testing.assert_close(x_adv, _rotate(x, -60.0), rtol=0, atol=1e-6)


@pytest.mark.slow  # ART's import
def test_translation_is_a_fraction_of_height_and_width() -> None:
    """12.5 % of 16 px is 2 px, enough to move the dot out of the centre. (ART reading the size from
    a channels-first array would shift by 12.5 % of 3 channels = 0 px and fail.)"""
    model = Centred().eval()
    x = torch.zeros(1, 3, 17, 17)
    x[:, :, 8, 8] = 1.0
    y = torch.zeros(1, dtype=torch.long)
    x_adv = attacks.from_spec("spatial:rotation=0,translation=0.125,rotations=1,translations=3")(model, x, y)
    assert model(x_adv).argmax(1).tolist() == [1]
    moved = (x_adv[0, 0] > 0.5).nonzero()[0].tolist()
    assert max(abs(moved[0] - 8), abs(moved[1] - 8)) == 2 and x_adv.dtype == x.dtype


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
    from edgeguard.eval.grid import plan_attack

    for spec in ("spatial:rotation=30", "query-patch:size=0.2,queries=50"):
        plan = plan_attack(spec, (8 / 255, 16 / 255), n=10, seed=0, eot=1)
        assert plan.eps == () and plan.norm == "none"
