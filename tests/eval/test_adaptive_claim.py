"""The core claim of issue 11: attacking *through* a quantising defense defeats it where the naive
attack (the seeds' method: attack the bare model, then apply the defense) reports robustness.

Measured on 100 held-out rendered signs (TEST_SEED) with the house PGD (L∞, seed 0), every ``x_adv``
scored on the deployed pipeline (exported engine, onnxruntime). Numbers measured while writing this
test (2-core dev machine), naive → adaptive accuracy:

* ``bits:3 → median:3x3`` at 8/255: 0.71 → 0.25 with PGD-5 (0.71 → 0.19 with PGD-10; the naive
  attack fools the bare model on 97 % of the images, the median removes that perturbation, the
  straight-through attack goes through both);
* ``bits:3`` alone at 4/255, PGD-10: 0.53 → 0.44. Rounding alone is no defense even against the naive
  attack: it turns a bare-model perturbation of ±ε into whole quantisation steps (1/7) for every
  pixel near a threshold, so the naive attack already transfers (0.07 at 8/255).
"""

from __future__ import annotations

import pytest
import torch

from edgeguard.attacks.pgd import PGD
from edgeguard.eval import Config, attackable, deploy
from edgeguard.eval.oracle import Oracle

from .signs import sign_images

N = 100


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@pytest.mark.slow
def test_adaptive_attack_defeats_bits3_where_the_naive_attack_fails(tmp_path):
    x, y = sign_images(N)
    c = Config("bits:3+median:3x3", "signs", ("bits:3", "median:3x3"))
    a = attackable(c)
    deployed = Oracle(deploy(c, tmp_path))
    pgd = PGD(eps=8 / 255, steps=5)
    naive = pgd(a.bare, x, y, torch.Generator().manual_seed(0))  # attack the bare model only
    adaptive = pgd(a.full, x, y, torch.Generator().manual_seed(0))  # through straight-through bits:3
    for adv in (naive, adaptive):
        assert (adv - x).abs().max() <= 8 / 255 + 1e-6
    clean = _accuracy(deployed, x, y)
    acc_naive, acc_adaptive = _accuracy(deployed, naive, y), _accuracy(deployed, adaptive, y)
    assert clean >= 0.9
    assert _accuracy(a.bare, naive, y) <= 0.05  # the naive attack did fool the model it attacked
    assert acc_naive >= 0.55  # ... yet the defended pipeline looks robust to it
    assert acc_adaptive <= 0.3  # attacking through the defense breaks it
    assert acc_adaptive <= acc_naive - 0.35


@pytest.mark.slow
def test_bits3_alone_adaptive_is_no_better_for_the_defense_than_naive():
    x, y = sign_images(N)
    a = attackable(Config("bits:3", "signs", ("bits:3",)))  # a.full equals the engine (test_attackable)
    pgd = PGD(eps=4 / 255, steps=10)
    naive = pgd(a.bare, x, y, torch.Generator().manual_seed(0))
    adaptive = pgd(a.full, x, y, torch.Generator().manual_seed(0))
    acc_naive, acc_adaptive = _accuracy(a.full, naive, y), _accuracy(a.full, adaptive, y)
    assert acc_adaptive <= acc_naive - 0.05
    assert acc_naive <= 0.7  # rounding alone already lets the naive attack through (see docstring)
