"""TVM and ROF against the references: skimage TV-Chambolle and scipy L-BFGS-B on the same objective."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from skimage.restoration import denoise_tv_chambolle

from edgeguard import stages
from edgeguard.samples import photo_batch
from edgeguard.stages._tv import div, grad, tv_minimize, tv_objective
from edgeguard.stages.tvm import total_variation_minimize


@pytest.fixture(scope="module")
def photo64() -> np.ndarray:
    return photo_batch(2, (64, 64))


def skimage_tv(x: np.ndarray, weight: float, long: bool = True) -> np.ndarray:
    """skimage's TV-Chambolle; ``long`` runs it far past its default stop (eps 2e-4, 200 iterations)."""
    kw = {"eps": 1e-9, "max_num_iter": 1000} if long else {}
    out = [
        denoise_tv_chambolle(img.transpose(1, 2, 0).astype(np.float64), weight=weight, channel_axis=-1, **kw)
        for img in x
    ]
    return np.stack(out).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("weight", [0.03, 0.1])
def test_rof_matches_skimage(photo64: np.ndarray, weight: float) -> None:
    # Tolerance: mean |Δ| < 1e-3 and max |Δ| < 1e-2 (0.26 grey levels / 2.6 levels). Both solvers stop
    # short of the exact minimiser; ours reaches the lower objective (asserted below).
    ref = skimage_tv(photo64, weight)
    out = stages.create("rof", weight=weight)(photo64).astype(np.float64)
    diff = np.abs(out - ref)
    assert diff.mean() < 1e-3 and diff.max() < 1e-2
    x = torch.from_numpy(photo64)
    e_ours = tv_objective(torch.from_numpy(out), x, None, weight)
    e_long = tv_objective(torch.from_numpy(ref), x, None, weight)
    e_default = tv_objective(torch.from_numpy(skimage_tv(photo64, weight, long=False)), x, None, weight)
    assert bool((e_ours <= e_default).all())
    assert bool((e_ours <= e_long * (1 + 1e-4)).all())


def test_tvm_keep_one_matches_skimage(photo64: np.ndarray) -> None:
    # keep=1 is plain TV denoising with skimage weight = lam (objective scaling in _tv.py).
    ref = skimage_tv(photo64, 0.03)
    out = stages.create("tvm", keep=1.0, lam=0.03, iters=100, seed=0)(photo64).astype(np.float64)
    diff = np.abs(out - ref)
    assert diff.mean() < 1e-3 and diff.max() < 5e-3


def lbfgs_reference(x: torch.Tensor, mask: torch.Tensor, lam: float, maxiter: int) -> torch.Tensor:
    """scipy L-BFGS-B (the solver ART's TotalVarMin uses) on the same masked objective.

    The TV term is smoothed by 1e-12 inside the square root only so that the gradient exists at
    zero; both results are scored on the exact objective.
    """
    x64, m64 = x.double(), mask.double()

    def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
        z = torch.from_numpy(v).reshape(x.shape)
        gx, gy = grad(z)
        norm = torch.sqrt(gx**2 + gy**2 + 1e-12)
        e = 0.5 * (m64 * (z - x64) ** 2).sum() + lam * norm.sum()
        g = m64 * (z - x64) - lam * div(gx / norm, gy / norm)  # ∇TV = −div(∇z / |∇z|)
        return float(e), g.numpy().ravel()

    res = minimize(fun, x64.numpy().ravel(), jac=True, method="L-BFGS-B", options={"maxiter": maxiter})
    return torch.from_numpy(res.x).reshape(x.shape)


@pytest.mark.slow
@pytest.mark.parametrize("keep", [0.1, 0.25])
def test_tvm_objective_not_above_lbfgs(photo64: np.ndarray, keep: float) -> None:
    x = torch.from_numpy(photo64[:1, :, 20:36, 20:36].copy())
    gen = torch.Generator().manual_seed(3)
    z, mask = total_variation_minimize(x, keep=keep, lam=0.03, iters=100, generator=gen)
    ours = float(tv_objective(z, x, mask, 0.03)[0])
    # equal settings (same λ, mask, 100 iterations), and L-BFGS-B with 3× the iterations
    for maxiter in (100, 300):
        ref = float(tv_objective(lbfgs_reference(x, mask, 0.03, maxiter), x, mask, 0.03)[0])
        assert ours <= ref, (maxiter, ours, ref)


def test_tvm_ignores_dropped_pixels(photo64: np.ndarray) -> None:
    x = torch.from_numpy(photo64)
    z1, mask = total_variation_minimize(x, 0.25, 0.03, 50, torch.Generator().manual_seed(7))
    scrambled = torch.where(mask > 0, x, torch.rand(x.shape, generator=torch.Generator().manual_seed(1)))
    z2, mask2 = total_variation_minimize(scrambled, 0.25, 0.03, 50, torch.Generator().manual_seed(7))
    assert torch.equal(mask, mask2)
    torch.testing.assert_close(z1, z2, rtol=0, atol=0)


def test_tvm_mask_fraction_and_fresh_draws(photo64: np.ndarray) -> None:
    stage = stages.create("tvm", keep=0.25, iters=10, seed=0)
    a = stage(photo64)
    assert abs(stage.last_info["keep_fraction"] - 0.25) < 0.01
    b = stage(photo64)  # the generator advances: a new mask per call (per camera frame)
    assert not np.array_equal(a, b)


def test_tvm_smooths_noise(photo64: np.ndarray) -> None:
    # the purpose: high-frequency perturbations are removed (error to the clean image shrinks)
    rng = np.random.default_rng(0)
    noisy = np.clip(photo64 + rng.choice([-8 / 255, 8 / 255], photo64.shape), 0, 1).astype(np.float32)
    out = stages.create("tvm", keep=1.0, lam=0.03, seed=0)(noisy)
    assert np.abs(out - photo64).mean() < 0.8 * np.abs(noisy - photo64).mean()


def test_solver_is_batched_per_channel(photo64: np.ndarray) -> None:
    x = torch.from_numpy(photo64)
    together = tv_minimize(x, 0.1, 40)
    alone = torch.cat([tv_minimize(x[i : i + 1, c : c + 1], 0.1, 40) for i in range(2) for c in range(3)])
    torch.testing.assert_close(together, alone.view_as(together), rtol=0, atol=1e-6)
