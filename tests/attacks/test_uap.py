"""Universal adversarial perturbation (ART): one perturbation fitted on one set fools held-out inputs
far more than random noise of the same size, inside its budget, reproducibly."""

from __future__ import annotations

import pytest
import torch

from edgeguard import attacks
from edgeguard.errors import InputError
from tests.attacks.trained import accuracy, data, trained_model

K = 10  # classes: a universal direction towards one dominant class exists


@pytest.fixture(scope="module")
def setup():
    model = trained_model(K)
    fit, held_out = data(48, 7, K), data(200, 2, K)
    assert accuracy(model, *held_out) == 1.0
    return model, fit, held_out


def _random_noise(x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    if norm == "linf":
        return (x + eps * torch.sign(torch.rand(x.shape, generator=g) - 0.5)).clamp(0, 1)
    d = torch.randn(x.shape, generator=g)
    return (x + eps * d / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)).clamp(0, 1)


@pytest.mark.slow  # two ART fits (DeepFool per fitting input), ~15 s on 2 cores with ART's import
@pytest.mark.parametrize(
    ("spec", "at_most", "measured"),
    [("uap-l2:eps=2,iters=3", 0.4, 0.175), ("uap:eps=0.2,iters=3", 0.6, 0.355)],
)
def test_fitted_perturbation_fools_held_out_inputs(setup, spec: str, at_most: float, measured: float) -> None:
    """Held-out accuracy under the UAP ≤ ``at_most`` (``measured`` when written), while random noise
    of the same norm and size leaves every held-out input correct."""
    model, (xf, yf), (xt, yt) = setup
    uap = attacks.from_spec(spec)
    uap.fit(model, xf, yf, torch.Generator().manual_seed(0))
    v = uap.perturbation
    assert v is not None and v.shape == (1, 3, 8, 8)
    x_adv = uap(model, xt, yt)
    d = (x_adv - xt).double().flatten(1)
    if uap.norm == "linf":
        assert float(v.abs().max()) <= uap.eps and float(d.abs().max()) <= uap.eps + 1e-7
    else:
        assert float(v.double().norm()) <= uap.eps and float(d.norm(dim=1).max()) <= uap.eps * (1 + 1e-6)
    # one perturbation for all: wherever clipping did not bite, x_adv − x is v itself
    inside = ((xt + v) >= 0) & ((xt + v) <= 1)
    torch.testing.assert_close((x_adv - xt)[inside], v.expand_as(xt)[inside], rtol=0, atol=1e-7)
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    assert accuracy(model, x_adv, yt) <= at_most
    assert accuracy(model, _random_noise(xt, uap.eps, uap.norm), yt) >= 0.95
    assert uap.fooling_rate is not None and uap.fooling_rate > 0.5  # on its own fitting set


@pytest.mark.slow  # three small ART fits
def test_fit_is_reproducible_and_unfitted_call_fits_on_the_batch(setup) -> None:
    model, (xf, yf), (xt, yt) = setup
    a, b, c = (attacks.from_spec("uap-l2:eps=1,iters=1") for _ in range(3))
    a.fit(model, xf[:16], yf[:16], torch.Generator().manual_seed(3))
    b.fit(model, xf[:16], yf[:16], torch.Generator().manual_seed(3))
    assert torch.equal(a.perturbation, b.perturbation) and a == b
    assert c.perturbation is None
    out = c(model, xf[:16], yf[:16], torch.Generator().manual_seed(3))  # not fitted: fits on this batch
    assert torch.equal(c.perturbation, a.perturbation)
    torch.testing.assert_close(out, (xf[:16] + a.perturbation).clamp(0, 1))
    with pytest.raises(InputError, match="fitted on inputs"):
        a(model, torch.rand(2, 3, 16, 16), torch.zeros(2, dtype=torch.long))


def test_spec_round_trips_and_states_its_kind() -> None:
    u = attacks.from_spec("uap:eps=8/255,iters=2")
    assert (u.name, u.norm, u.kind, u.eps) == ("uap", "linf", "universal", 8 / 255)
    assert attacks.from_spec(u.spec()) == u
    l2 = attacks.from_spec("uap-l2:eps=2")
    assert (l2.name, l2.norm) == ("uap-l2", "l2") and attacks.from_spec(l2.spec()) == l2
