"""Deep Image Prior: it removes noise and a perturbation; the loss curve, the stopping rules."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgeguard import stages
from edgeguard.samples import photo, photo_batch


@pytest.fixture(scope="module")
def small() -> np.ndarray:
    """Two real photos at 32×32 (a multiple of 2^scales, so no padding is involved)."""
    return photo_batch(3, (32, 32))[1:]


def returned_mse(out: np.ndarray, x: np.ndarray) -> list[float]:
    return np.square(out.astype(np.float64) - x).reshape(len(x), -1).mean(1).tolist()


def psnr(a: np.ndarray, clean: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.square(a.astype(np.float64) - clean).mean()))


def cat_crop(scale_to: int) -> np.ndarray:
    """The centre 32×32 of skimage's ``chelsea`` photo resized to ``scale_to``², as (1, 3, 32, 32).

    A crop of a larger resize keeps the photo's natural smoothness; the whole photo squeezed into
    32×32 is mostly edges, where a 3-scale DIP cannot beat even a small perturbation in 60 steps.
    """
    img = cv2.resize(photo("chelsea"), (scale_to, scale_to), interpolation=cv2.INTER_AREA)
    o = (scale_to - 32) // 2
    return img[o : o + 32, o : o + 32].transpose(2, 0, 1)[None].astype(np.float32) / 255.0


def test_removes_gaussian_noise_from_a_real_photo() -> None:
    clean = cat_crop(96)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 0.2, clean.shape), 0, 1).astype(np.float32)
    out = stages.create("dip", iters=60, seed=0)(noisy)
    before, after = psnr(noisy, clean), psnr(out, clean)
    assert before == pytest.approx(14.6, abs=0.3)  # the oracle: σ = 0.2 noise, clipped
    assert after > before + 5.0  # measured 23.7 dB: the prior fits the image long before the noise


def test_removes_an_linf_perturbation_from_a_real_photo() -> None:
    clean = cat_crop(128)
    sign = np.sign(np.random.default_rng(0).standard_normal(clean.shape))
    perturbed = np.clip(clean + 16 / 255 * sign, 0, 1).astype(np.float32)  # ‖δ‖∞ = 16/255
    out = stages.create("dip", iters=60, seed=0)(perturbed)
    before, after = psnr(perturbed, clean), psnr(out, clean)
    assert before == pytest.approx(24.1, abs=0.3)
    assert after > before + 2.0  # measured 27.5 dB
    assert np.abs(out - clean).mean() < np.abs(perturbed - clean).mean()


@pytest.mark.slow
def test_stopping_early_is_what_removes_the_noise() -> None:
    # seed 001 / Ulyanov et al.: given enough steps the network re-learns the noise, so the
    # iterate that fits the noisy input best (what a long run returns) is further from the clean one
    clean = cat_crop(96)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 0.2, clean.shape), 0, 1).astype(np.float32)
    early = psnr(stages.create("dip", iters=60, seed=0)(noisy), clean)
    late = psnr(stages.create("dip", iters=300, seed=0)(noisy), clean)
    assert early > late + 1.5  # measured 23.7 vs 17.8 dB


def test_loss_decreases_nearly_monotonically_at_first(small: np.ndarray) -> None:
    stage = stages.create("dip", iters=60, seed=0)
    stage(small[1:])
    losses = np.array(stage.last_info["losses"])
    assert len(losses) == 60 and stage.last_info["stopped_by"] == "iters"
    assert (np.diff(losses[:40]) > 0).mean() <= 0.25  # Adam + input noise: a few small bumps
    blocks = losses.reshape(6, 10).mean(1)
    assert np.all(np.diff(blocks) < 0)
    assert losses[-1] < losses[0] / 4


def test_returns_the_best_iterate(small: np.ndarray) -> None:
    stage = stages.create("dip", iters=40, seed=1)
    out = stage(small)
    info = stage.last_info
    np.testing.assert_allclose(returned_mse(out, small), info["best_loss"], rtol=1e-4)
    assert info["iterations"] == 40 and info["iterations_per_image"] == [40, 40]


def test_plateau_stops_on_a_flat_loss_curve(small: np.ndarray) -> None:
    # lr 1e-7: the loss cannot move, so the first comparison of two windows finds the plateau
    stage = stages.create("dip", stop="plateau", lr=1e-7, window=10, iters=500, seed=0)
    stage(small)
    assert stage.last_info["stopped_by"] == "plateau"
    assert stage.last_info["iterations"] == 20 and stage.last_info["iterations_per_image"] == [20, 20]


@pytest.mark.slow
def test_plateau_stops_before_the_fixed_count_on_real_photos(small: np.ndarray) -> None:
    stage = stages.create("dip", stop="plateau", window=25, iters=1750, seed=0)
    out = stage(small)
    info = stage.last_info
    assert info["stopped_by"] == "plateau"
    assert max(info["iterations_per_image"]) == info["iterations"] < 1750
    assert all(25 * 2 <= n < 1750 for n in info["iterations_per_image"])
    # each image returns its own best image up to its own stop
    np.testing.assert_allclose(returned_mse(out, small), info["best_loss"], rtol=1e-4)
    for i, n in enumerate(info["iterations_per_image"]):
        assert info["best_loss"][i] <= stage.last_info["losses"][n - 1] * 2


def test_budget_stop_returns_best_so_far(small: np.ndarray) -> None:
    stage = stages.create("dip", iters=10**5, budget_s=0.5, seed=0)
    out = stage(small[:1])
    info = stage.last_info
    assert info["stopped_by"] == "budget"
    assert 0 < info["iterations"] < 10**5 and info["iterations_per_image"] == [info["iterations"]]
    assert info["seconds"] < 0.5 + 5.0  # one iteration past the budget plus set-up, on a loaded machine
    assert info["best_loss"][0] == pytest.approx(min(info["losses"]), rel=1e-6)
    np.testing.assert_allclose(returned_mse(out, small[:1]), info["best_loss"], rtol=1e-4)


def test_odd_sizes_are_padded_and_cropped() -> None:
    x = photo_batch(1, (13, 21))
    out = stages.create("dip", iters=5, seed=0)(x)
    assert out.shape == x.shape and out.dtype == x.dtype
