"""Expectation over Transformation for random host stages (Athalye et al. ICML'18).

A random stage (``tvm``'s pixel mask, ``dip``'s initialisation) must be attacked through the
expected loss over its randomness: ``∇_x E_r[L(f(g_r(x)))] ≈ 1/N Σ_i ∇_x L(f(g_{r_i}(x)))`` with the
stage replaced by BPDA in each draw. Draw ``i`` uses ``stage.reseeded(seed + i)``, so the draws
differ from each other and an EOT run is reproducible; the caller's stage is not modified.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from .bpda import bpda

if TYPE_CHECKING:
    from ..stages.base import HostStage


def eot_draws(stage: HostStage, x: torch.Tensor, n: int = 20, seed: int = 0) -> torch.Tensor:
    """Outputs of ``n`` random draws of ``stage`` on ``x``, each differentiable by BPDA.

    Args:
        stage: a host stage (deterministic stages give ``n`` equal draws).
        x: ``(B, 3, H, W)`` float tensor in [0, 1], may require grad.
        n: number of draws (Athalye et al. use 20–30).
        seed: draw ``i`` uses seed ``seed + i``.

    Returns:
        ``(n, B, 3, H, W)`` tensor; gradients flow to ``x`` as identity per draw.

    Shape:
        (B, 3, H, W) → (n, B, 3, H, W)
    """
    return torch.stack([bpda(stage.reseeded(seed + i))(x) for i in range(n)])


def eot_gradient(
    stage: HostStage,
    x: torch.Tensor,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    n: int = 20,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """EOT gradient: the mean over ``n`` draws of ``∇_x loss_fn(bpda(stage_i)(x))``.

    Args:
        stage: a host stage.
        x: ``(B, 3, H, W)`` float tensor in [0, 1] (need not require grad).
        loss_fn: maps the purified batch to a scalar loss (e.g. cross-entropy of the model).
        n: number of draws.
        seed: draw ``i`` uses seed ``seed + i``.

    Returns:
        ``(grad, mean_loss)``: gradient like ``x`` and the mean loss over the draws (detached).

    Shape:
        (B, 3, H, W) → (B, 3, H, W), ()
    """
    xg = x.detach().clone().requires_grad_(True)
    grad = torch.zeros_like(xg)
    total = torch.zeros((), dtype=torch.float64)
    for i in range(n):
        loss = loss_fn(bpda(stage.reseeded(seed + i))(xg))
        (g,) = torch.autograd.grad(loss, xg)
        grad += g
        total += float(loss.detach())
    return grad / n, total / n
