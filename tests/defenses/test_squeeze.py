"""The feature-squeezing detector module: hand-worked score, one batched call, redundant squeezers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from edgeguard import defenses
from edgeguard.defenses.squeeze import (
    SqueezeDetector,
    Squeezers,
    from_spec,
    refuse_redundant,
    squeeze_score,
    threshold_at_fpr,
)
from edgeguard.errors import ConfigError
from edgeguard.registry import DETECTORS


class MeanLogit(nn.Module):
    """Two classes: logits ``[k · mean(x), 0]``; counts its calls and the batch sizes it saw."""

    def __init__(self, k: float) -> None:
        super().__init__()
        self.k, self.calls = k, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(len(x))
        m = x.mean(dim=(1, 2, 3)) * self.k
        return torch.stack([m, torch.zeros_like(m)], dim=1)


def test_score_of_a_hand_worked_case():
    # Constant 0.3 image. Raw: logits [ln 3, 0] → p = (3/4, 1/4). bits=1 rounds 0.3 to 0: logits [0, 0]
    # → p = (1/2, 1/2), L1 = 1/4 + 1/4 = 1/2. The 2×2 median of a constant image is the image: L1 = 0.
    # Score = max(1/2, 0) = 1/2. A constant 1.0 image: bits=1 keeps it, the median keeps it → 0.
    f = MeanLogit(math.log(3) / 0.3)
    det = SqueezeDetector(f, Squeezers(bits=1, median=(2, 2)))
    x = torch.cat([torch.full((1, 3, 4, 4), 0.3), torch.ones(1, 3, 4, 4)])
    logits, score = det(x)
    torch.testing.assert_close(score, torch.tensor([0.5, 0.0]), rtol=0, atol=1e-6)
    torch.testing.assert_close(logits, f(x), rtol=0, atol=0)
    assert f.calls[0] == 6  # ONE call of f on the 2 raw + 2 × 2 squeezed views


def test_views_batched_equal_separate_calls(photos):
    torch.manual_seed(0)
    f = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5)).eval()
    sq = from_spec("squeeze:bits=3,median=2x2,gaussian=1.0")
    logits, score = SqueezeDetector(f, sq)(photos)
    with torch.no_grad():
        p0 = torch.softmax(f(photos), -1)
        dists = [(torch.softmax(f(v(photos)), -1) - p0).abs().sum(-1) for v in sq.views]
    torch.testing.assert_close(score, torch.stack(dists).amax(0), rtol=0, atol=1e-6)
    torch.testing.assert_close(logits, f(photos), rtol=0, atol=1e-6)
    assert (score >= 0).all() and (score <= 2).all()


def test_squeeze_score_is_zero_for_identical_views():
    parts = torch.randn(1, 3, 7).expand(3, 3, 7)
    assert torch.equal(squeeze_score(parts), torch.zeros(3))


def test_spec_parses_squeezers_in_order_and_is_canonical():
    sq = from_spec("squeeze:median=2x2,bits=4")
    assert sq.specs == ("median:kernel=2x2", "bits:bits=4") and sq.keys == ("median=2x2", "bits=4")
    assert sq.spec() == "squeeze:median=2x2,bits=4" == DETECTORS.canonical("squeeze:median=2x2,bits=4")
    assert DETECTORS.create("squeeze", bits=4).specs == ("bits:bits=4",)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("squeeze", "name at least one squeezer"),
        ("squeeze:noise=1", "unknown parameter 'noise'"),
        ("squeeze:bits=9", "bit depth must be an integer in 1..8"),
        ("squeeze:median=4x4", "window"),
        ("squeeze:4", "takes key=value params"),
        ("sqeeze:bits=4", "unknown detector 'sqeeze'; did you mean squeeze"),
    ],
)
def test_bad_specs_are_config_errors(spec, match):
    with pytest.raises(ConfigError, match=match):
        from_spec(spec)


@pytest.mark.parametrize("index", range(len(DETECTORS.get("squeeze").examples)))
def test_registry_examples_build_and_invalid_ones_refuse(index, photos):
    entry = DETECTORS.get("squeeze")
    sq = DETECTORS.create("squeeze", **entry.examples[index])
    assert all(v.shape == photos.shape for v in sq(photos))
    for bad in entry.invalid:
        with pytest.raises(ConfigError):
            DETECTORS.create("squeeze", **bad)


@pytest.mark.parametrize(
    ("spec", "fused"),
    [
        ("squeeze:bits=5", ["bits:5", "median:3x3"]),  # the demo's own bit depth: scores 0 always
        ("squeeze:median=2x2,bits=6", ["bits:5"]),  # finer than the fused depth
        ("squeeze:bits=4", ["median:3x3", "bits:3"]),
    ],
)
def test_a_bit_depth_the_engine_already_applies_is_refused(spec, fused):
    with pytest.raises(ConfigError, match=r"squeezer bits=\d is redundant: the engine already fuses bits:"):
        refuse_redundant(from_spec(spec), [defenses.REGISTRY.canonical(d) for d in fused])


def test_the_redundancy_is_real_scores_are_zero_behind_the_same_bits(photos):
    # What the refusal prevents: a 5-bit squeezer behind bits:5 → median:3x3 scores exactly 0.
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5))
    f = nn.Sequential(defenses.from_spec("bits:5"), defenses.from_spec("median:3x3"), net).eval()
    _, score = SqueezeDetector(f, from_spec("squeeze:bits=5"))(photos)
    assert torch.equal(score, torch.zeros(len(photos)))
    _, score = SqueezeDetector(f, from_spec("squeeze:bits=3,median=2x2"))(photos)
    assert (score > 0).all()


def test_a_squeezer_the_defenses_absorb_exactly_is_refused_by_the_probe():
    # A σ = 0.1 blur has off-centre weights ~e^-50: bits:5 rounds its output back to the input's levels.
    with pytest.raises(
        ConfigError, match="squeezer gaussian=0.1 is redundant: the fused defenses bits:bits=5"
    ):
        refuse_redundant(from_spec("squeeze:gaussian=0.1"), ["bits:bits=5"])


@pytest.mark.parametrize(
    ("spec", "fused"),
    [("squeeze:median=2x2", ["bits:bits=5", "median:kernel=3x3"]), ("squeeze:bits=4", ["bits:bits=5"])],
)
def test_useful_squeezers_pass(spec, fused):
    refuse_redundant(from_spec(spec), fused)


def test_threshold_at_fpr_is_the_order_statistic():
    s = np.arange(100, dtype=float)  # 0..99
    assert threshold_at_fpr(s, 0.05) == 94.0 and int((s > 94.0).sum()) == 5
    assert threshold_at_fpr(s, 0.0) == 99.0 and threshold_at_fpr(s, 0.999) == 0.0
    assert threshold_at_fpr(np.random.default_rng(0).permutation(s), 0.1) == 89.0
    for bad in (-0.1, 1.0, True, "0.05"):
        with pytest.raises(ConfigError, match="--detector-fpr"):
            threshold_at_fpr(s, bad)
    with pytest.raises(ConfigError, match="no clean scores"):
        threshold_at_fpr([], 0.05)
    with pytest.raises(ConfigError, match="NaN"):
        threshold_at_fpr([0.1, float("nan")], 0.05)
