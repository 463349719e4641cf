"""Numeric oracles: scipy.ndimage for median and gaussian, numpy and hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from edgeguard.defenses import add_perturbation, bit_depth_reduce, gaussian_blur, median_smooth
from edgeguard.defenses.median import WINDOWS


@pytest.mark.parametrize("kernel", WINDOWS)
def test_median_equals_scipy_reflect_on_photos(kernel, photos):
    ref = ndi.median_filter(photos.numpy(), size=(1, 1, *kernel), mode="reflect")
    np.testing.assert_array_equal(median_smooth(photos, kernel).numpy(), ref)


@pytest.mark.parametrize("kernel", WINDOWS)
def test_median_equals_scipy_with_ties(kernel):
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 4, (2, 3, 11, 13), generator=g).float() / 3
    ref = ndi.median_filter(x.numpy(), size=(1, 1, *kernel), mode="reflect")
    np.testing.assert_array_equal(median_smooth(x, kernel).numpy(), ref)


def test_median_border_is_scipy_reflect_not_torch_reflect():
    # Hand-worked: row [1, 0, 0, 0] with a 1x3 window. scipy 'reflect' pads 1 | 1 0 0 0 | 0, so the
    # first output is median(1, 1, 0) = 1. torch's 'reflect' (scipy 'mirror') would pad 0 | 1 0 … → 0.
    x = torch.tensor([1.0, 0.0, 0.0, 0.0]).view(1, 1, 1, 4).repeat(1, 3, 1, 1)
    assert median_smooth(x, (1, 3))[0, 0, 0].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_median_2x2_anchor_and_rank():
    # scipy's 2x2 window covers the pixel, its upper and left neighbours and rank 2 of 4 (upper median).
    x = torch.tensor([[0.0, 0.2], [0.6, 1.0]]).view(1, 1, 2, 2).repeat(1, 3, 1, 1)
    out = median_smooth(x, (2, 2))[0, 0]
    # (1,1): window {0, .2, .6, 1} → sorted rank 2 = .6 ; (0,0): window all 0 (edge repeat) → 0
    assert out[1, 1].item() == pytest.approx(0.6)
    assert out[0, 0].item() == 0.0


@pytest.mark.parametrize("bits", range(1, 9))
def test_bits_matches_numpy_and_levels(bits, photos):
    levels = 2**bits - 1
    y = bit_depth_reduce(photos, bits).numpy()
    np.testing.assert_allclose(y, np.round(photos.numpy() * levels) / levels, atol=0)
    assert len(np.unique(y)) <= levels + 1


def test_bits_hand_worked():
    x = torch.tensor([0.0, 0.2, 0.5, 0.74, 1.0]).view(1, 1, 1, 5).repeat(1, 3, 1, 1)
    assert bit_depth_reduce(x, 1)[0, 0, 0].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]  # 0.5 rounds to even


@pytest.mark.parametrize(("sigma", "size"), [(1.0, 5), (0.8, 3), (2.0, 9)])
def test_gaussian_equals_scipy(sigma, size, photos):
    ref = ndi.gaussian_filter(
        photos.numpy().astype(np.float64),
        sigma=(0, 0, sigma, sigma),
        radius=(0, 0, size // 2, size // 2),
        mode="reflect",
    )
    np.testing.assert_allclose(gaussian_blur(photos, sigma, size).numpy(), ref, atol=2e-6)


def test_noise_adds_and_clamps():
    x = torch.tensor([0.0, 0.5, 0.99]).view(1, 1, 1, 3).repeat(1, 3, 1, 1)
    v = torch.tensor([-0.1, 0.1, 0.1]).view(1, 1, 1, 3).repeat(1, 3, 1, 1)
    out = add_perturbation(x, v, 1.0)[0, 0, 0].tolist()
    assert out == pytest.approx([0.0, 0.6, 1.0])
