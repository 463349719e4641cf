"""eval.attackable: the differentiable copy equals the deployed engine; ST rounding, BPDA, EOT draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgeguard import stages
from edgeguard.defenses import bit_depth_reduce, median_smooth
from edgeguard.errors import ConfigError
from edgeguard.eval import Config, attackable, deploy
from edgeguard.eval.oracle import Oracle

from .signs import SHIPPED, sign_images


def _grad(module, x, y):
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(module(xg), y), xg)
    return g


@pytest.mark.slow
def test_full_equals_the_deployed_onnxruntime_pipeline(tmp_path):
    """Registry model: export + onnxruntime + host stage vs the torch copy, on rendered signs."""
    x, y = sign_images()
    c = Config("d", "signs", ("bits:5", "median:3x3"), ("jpeg:75",))
    a = attackable(c)
    with torch.no_grad():
        ours = a.full(x)
    ref = Oracle(deploy(c, tmp_path))(x)
    assert (ours - ref).abs().max() < 1e-4
    assert (ref.argmax(1) == y).float().mean() > 0.8  # a working classifier, not two equal wrong ones
    assert a.white_box and not a.random and a.eot == 1 and a.joint is None


def test_engine_with_a_torch_source_uses_it_and_matches_onnxruntime():
    x, _ = sign_images()
    a = attackable(Config("e", str(SHIPPED)))
    with torch.no_grad():
        ours = a.full(x)
    ref = Oracle(deploy(Config("e", str(SHIPPED)), "unused"))(x)
    assert (ours - ref).abs().max() < 1e-4
    assert any("torch source signs" in n and "sha256 matches" in n for n in a.notes)
    # naive mode: the bare model, no defenses (differs from the defended output)
    with torch.no_grad():
        assert not torch.allclose(a.bare(x), ours, atol=1e-3)


def test_rounding_is_straight_through_and_median_differentiates_itself():
    """d/dx CE(f(median(bits(x)))) with ST = the true gradient of CE(f(median(z))) at z = bits(x)."""
    x, y = (t[:4] for t in sign_images())
    a = attackable(Config("b", "signs", ("bits:5", "median:3x3")))
    z = bit_depth_reduce(x, 5)
    expected = _grad(lambda t: a.bare(median_smooth(t, (3, 3))), z, y)
    got = _grad(a.full, x, y)
    assert got.abs().sum() > 0
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-8)
    assert any("straight-through" in n for n in a.notes)


def test_without_straight_through_the_rounding_masks_the_gradient():
    x, y = sign_images()
    a = attackable(Config("b", "signs", ("bits:5",)), straight_through=False)
    assert torch.count_nonzero(_grad(a.full, x[:4], y[:4])) == 0
    assert any("gradient-masked" in n for n in a.notes)


def test_host_stage_runs_forward_and_passes_the_gradient_through():
    x, y = sign_images()
    x, y = x[:4], y[:4]
    a = attackable(Config("j", "signs", stages=("jpeg:50",)))
    purified = stages.from_spec("jpeg:50")(x)
    with torch.no_grad():
        torch.testing.assert_close(a.full(x), a.bare(purified))
    torch.testing.assert_close(_grad(a.full, x, y), _grad(a.bare, purified, y))


def test_random_stage_draws_a_fresh_seed_per_forward_and_repeats_per_seed():
    x, _ = sign_images()
    x = x[:2]
    c = Config("t", "signs", stages=("tvm:keep=0.5,iters=5",))
    a = attackable(c, eot=7, seed=3)
    assert a.random and a.eot == 7
    with torch.no_grad():
        first, second = a.full(x), a.full(x)
        tvm = stages.from_spec("tvm:keep=0.5,iters=5")
        # draw k of an attackable seeded s is the stage reseeded s + k (oracle: the stage itself)
        torch.testing.assert_close(first, a.bare(tvm.reseeded(3)(x)))
        torch.testing.assert_close(second, a.bare(tvm.reseeded(4)(x)))
        assert not torch.allclose(first, second)
        b = attackable(c, eot=7, seed=3)
        torch.testing.assert_close(b.full(x), first)
        torch.testing.assert_close(b.full(x), second)
        assert not torch.allclose(attackable(c, seed=4).full(x), first)
    assert attackable(Config("d", "signs", ("bits:5",)), eot=7).eot == 1  # deterministic: one draw


@pytest.mark.parametrize(
    ("kw", "match"), [({"eot": 0}, "eot"), ({"eot": 2.5}, "eot"), ({"seed": -1}, "seed")]
)
def test_bad_arguments_are_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        attackable(Config("d", "signs"), **kw)


def test_joint_gives_the_engines_logits_and_detector_score_with_a_gradient():
    """The shipped engine fuses squeeze:bits=4,median=2x2; joint = its torch copy, ST for bits:4."""
    x, _ = sign_images()
    a = attackable(Config("e", str(SHIPPED)))
    logits, score = Oracle(deploy(Config("e", str(SHIPPED)), "unused"), score=True)(x)
    with torch.no_grad():
        ours = a.joint(x)
    assert (ours[0] - logits).abs().max() < 1e-4 and (ours[1] - score).abs().max() < 1e-5
    xg = x[:2].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(a.joint(xg)[1].sum(), xg)
    assert g.abs().sum() > 0
    assert any("squeezer bits:bits=4: straight-through" in n for n in a.notes)


def test_a_deterministic_config_without_detector_has_no_joint():
    assert attackable(Config("d", "signs", ("bits:5",))).joint is None


@pytest.mark.slow
def test_registry_model_with_detector_joint_equals_the_deployed_engine(tmp_path):
    x, _ = sign_images()
    c = Config("d", "signs", ("median:3x3",), ("jpeg:75",), detector="squeeze:bits=4")
    a = attackable(c)
    logits, score = Oracle(deploy(c, tmp_path), score=True)(x)
    with torch.no_grad():
        ours = a.joint(x)
    assert (ours[0] - logits).abs().max() < 1e-4 and (ours[1] - score).abs().max() < 1e-5
    assert np.isfinite(score.numpy()).all() and score.max() > 0  # clean signs score low, not all 0
