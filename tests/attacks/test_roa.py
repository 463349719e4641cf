"""ROA (Wu et al. ICLR'20): the perturbation is one rectangle of the stated size, nothing outside
moves, and the gradient-guided placement finds the one region a hand-built model reads.

Budget, box, reproducibility and spec round trips over the registry's examples are in
``test_registry_contract.py``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgeguard import attacks
from edgeguard.attacks.roa import ROA, positions, side_px
from edgeguard.errors import ConfigError, InputError
from tests.attacks.tiny import data, one_thread, trained_model

pytestmark = pytest.mark.usefixtures("one_thread")
assert one_thread

REGION = (8, 12)  # top, left of the 4×4 region the hand-built model reads, on 24×24 images


class ReadsOneRegion(nn.Module):
    """Two classes; class 1 wins only when the mean of the 4×4 region at ``REGION`` exceeds 0.95.

    On a flat 0.3 image, a rectangle of 4×4 whose pixels are all 1 covering a share ``f`` of the
    region raises its mean to ``0.3 + 0.7 f``: above 0.95 only at ``f = 1`` (one row or column off
    gives ``f = 0.75``). So the model is fooled exactly when the rectangle lands on the region.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, l_ = REGION
        score = x[:, :, t : t + 4, l_ : l_ + 4].mean((1, 2, 3))
        return torch.stack([torch.zeros_like(score), 10 * (score - 0.95)], 1)


def _flat(n: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((n, 3, 24, 24), 0.3), torch.zeros(n, dtype=torch.long)


def test_grid_positions_and_sizes() -> None:
    assert positions(24, 4, 4) == [0, 4, 8, 12, 16, 20]
    assert positions(24, 4, 6) == [0, 6, 12, 18, 20]  # the last one flush with the far edge
    assert positions(4, 4, 3) == [0]
    assert side_px(0.25, 64) == 16 and side_px(0.01, 64) == 1 and side_px(5.0, 64) == 5
    atk = attacks.from_spec("roa:height=3,width=0.5,stride=2")
    assert atk.rectangle(24, 24) == (3, 12) and attacks.from_spec(atk.spec()) == atk
    assert attacks.from_spec("roa:size=0.25") == ROA(0.25, 0.25)
    with pytest.raises(InputError, match="does not fit"):
        attacks.create("roa", height=30)(ReadsOneRegion(), *_flat())
    with pytest.raises(ConfigError, match="whole pixels"):
        attacks.create("roa", width=2.5)


@pytest.mark.parametrize(
    "spec", ["roa:size=0.3,stride=3,candidates=4,steps=3", "roa:height=5,width=2,stride=1"]
)
def test_perturbation_is_one_rectangle_of_the_stated_size(spec: str) -> None:
    model = trained_model()
    x, y = data(16, 3)
    atk = attacks.from_spec(spec)
    adv = atk(model, x, y, torch.Generator().manual_seed(0))
    h, w = atk.rectangle(8, 8)
    rows, cols = atk.grid(8, 8)
    changed = (adv != x).any(1)  # (B, H, W)
    for b in range(len(x)):
        fits = []
        for t in rows:
            for l_ in cols:
                inside = torch.zeros(8, 8, dtype=torch.bool)
                inside[t : t + h, l_ : l_ + w] = True
                fits.append(not bool((changed[b] & ~inside).any()))
        assert any(fits), f"example {b}: changed pixels outside every {h}x{w} rectangle of the grid"
        # random start + steps: (almost) every pixel of the rectangle moved, none outside
        assert h * w - 1 <= int(changed[b].sum()) <= h * w
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1


def test_model_reading_one_region_is_fooled_only_there_and_the_gradient_finds_it() -> None:
    model = ReadsOneRegion()
    x, y = _flat()
    atk = ROA(height=4, width=4, stride=2, candidates=1, steps=5, alpha=0.25)
    rows, cols = atk.grid(24, 24)
    fooled_at = set()
    for t in rows:
        for l_ in cols:
            top, left = torch.full((3,), t), torch.full((3,), l_)
            adv = atk.fill(model, x, y, top, left, 4, 4, torch.Generator().manual_seed(0))
            if bool((model(adv).argmax(1) == 1).all()):
                fooled_at.add((t, l_))
    assert fooled_at == {REGION}  # fooled only when the rectangle covers the region the model reads
    # gradient-guided placement, with a single candidate, lands there; and so the attack fools it
    top, left = atk.place(model, x, y)
    assert top.tolist() == [REGION[0]] * 3 and left.tolist() == [REGION[1]] * 3
    adv = atk(model, x, y, torch.Generator().manual_seed(1))
    assert bool((model(adv).argmax(1) == 1).all())
    # exhaustive search (candidates >= positions, no gradient) agrees
    exhaustive = ROA(height=4, width=4, stride=2, candidates=len(rows) * len(cols), steps=5, alpha=0.25)
    assert [v.tolist() for v in exhaustive.place(model, x, y)] == [[REGION[0]] * 3, [REGION[1]] * 3]


def test_placement_against_the_exhaustive_oracle_on_a_trained_model() -> None:
    """Oracle: the grey-filled loss at every grid position. Exhaustive placement picks its argmax;
    the gradient's top-3 of 25 positions lands on positions above the median loss on average."""
    model = trained_model()
    x, y = data(32, 5)
    every = ROA(height=0.5, width=0.5, stride=1, candidates=25)
    rows, cols = every.grid(8, 8)
    table = torch.empty(len(x), len(rows), len(cols))
    with torch.no_grad():
        for i, t in enumerate(rows):
            for j, l_ in enumerate(cols):
                trial = x.clone()
                trial[:, :, t : t + 4, l_ : l_ + 4] = 0.5
                table[:, i, j] = nn.functional.cross_entropy(model(trial), y, reduction="none")
    top, left = every.place(model, x, y)
    flat = table.flatten(1)
    picked = table[torch.arange(len(x)), top, left]
    assert torch.equal(picked, flat.amax(1))
    gtop, gleft = ROA(height=0.5, width=0.5, stride=1, candidates=3).place(model, x, y)
    guided = table[torch.arange(len(x)), gtop, gleft]
    assert float(guided.mean()) > float(flat.median(1).values.mean())
    assert bool((guided <= flat.amax(1)).all())
