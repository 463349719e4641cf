"""The house PGD (``attacks/pgd.py``, kept bit-identical for adversarial training) and torchattacks'
PGD give the same adversarial accuracy on the shipped sign model (issue 11: the house PGD may switch to
a library implementation only behind this test)."""

from __future__ import annotations

import math

import pytest
import torch


@pytest.mark.slow  # ~2 × 128 images × 4 PGD steps of the 64×64 sign ResNet on CPU
def test_house_pgd_and_torchattacks_pgd_agree_on_the_sign_model() -> None:
    import torchattacks

    from edgeguard.attacks import PGD, Normalized
    from edgeguard.attacks._torchattacks import attacking
    from edgeguard.data import dataset
    from edgeguard.models import build

    n, eps, steps = 128, 4 / 255, 4
    images, labels = dataset.render_arrays(dataset.SignDataset(n, dataset.TEST_SEED), workers=2)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
    y = torch.from_numpy(labels)
    net, info = build("signs")
    model = Normalized(net, info.mean, info.std).eval()
    house = PGD(eps, steps)
    adv_house = house(model, x, y, torch.Generator().manual_seed(0))
    with attacking(model), torch.random.fork_rng():
        torch.manual_seed(0)  # torchattacks draws its random start from the global RNG
        lib = torchattacks.PGD(model, eps=eps, alpha=house.step_size, steps=steps, random_start=True)
        adv_lib = lib(x, y)
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).float().mean())
        ok_house = model(adv_house).argmax(1) == y
        ok_lib = model(adv_lib).argmax(1) == y
    a_house, a_lib = float(ok_house.float().mean()), float(ok_lib.float().mean())
    assert clean > 0.9 and 0.1 < a_house < clean, (clean, a_house)  # a budget where PGD partly succeeds
    p = (a_house + a_lib) / 2
    noise = 3 * math.sqrt(2 * p * (1 - p) / n) + 1 / n  # 3 σ of the difference of two binomial rates
    assert abs(a_house - a_lib) <= noise, (a_house, a_lib, noise)
    # both stay inside the same budget
    for adv in (adv_house, adv_lib):
        assert float((adv - x).abs().max()) <= eps + torch.finfo(torch.float32).eps
