"""RP2's mask selection: an L1-regularised pass over the whole face shows where a sticker matters.

Eykholt et al. (CVPR'18, §4) first optimise a perturbation over the whole sign with an L1 penalty,
which concentrates it on the vulnerable regions, then place the sticker mask there. Here the face is
cut into an ``GRID`` × ``GRID`` grid of cells; the cells on the sign carrying the most |δ| after the L1
pass are kept, most first, until they cover ``AREA`` (a sixth, the size of RP2's poster bars) of the
sign — each kept cell is one rectangle of the mask.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import sticker as st
from .physical import Conditions, draw, view

GRID = 8
AREA = 1 / 6
L1_WEIGHT = 0.05


def l1_mask(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    face: torch.Tensor,
    y: torch.Tensor,
    alpha: torch.Tensor,
    size: int,
    *,
    steps: int,
    eot: int,
    conditions: Conditions,
    generator: torch.Generator | None,
) -> tuple[st.Rect, ...]:
    """The rectangles (grid cells) of the L1-chosen mask for these faces (shared by the batch).

    ``loss_fn(views, y) -> (per-view loss to minimise, per-view success)`` is the attack's loss."""
    b, _, h, w = face.shape
    on = (alpha > 0.5).to(face)
    delta = torch.zeros_like(face)
    steps = max(5, steps // 4)
    rep = lambda z: z.repeat_interleave(eot, 0)  # noqa: E731
    a_rep, y_rep = alpha.expand(b * eot, 1, h, w), rep(y)
    for _ in range(steps):
        delta.requires_grad_(True)
        params = draw(b * eot, conditions, generator)
        views = view(rep((face + delta * on).clamp(0, 1)), a_rep, params, size)
        loss, _ = loss_fn(views, y_rep)
        total = loss.mean() + L1_WEIGHT * delta.abs().mean()
        (grad,) = torch.autograd.grad(total, delta)
        delta = (delta.detach() - 0.02 * grad.sign()).clamp(-1, 1)
    mass = (delta.abs() * on).sum((0, 1))  # (h, w)
    cells = []
    for i in range(GRID):
        for j in range(GRID):
            rect = (j / GRID, i / GRID, (j + 1) / GRID, (i + 1) / GRID)
            m = st.rasterise((rect,), h, w)[0, 0]
            if float((alpha[0, 0] * m).sum() / m.sum().clamp(min=1)) >= 0.9:
                cells.append((float((mass * m).sum()), rect))
    cells.sort(key=lambda c: -c[0])
    need = AREA * float(on.mean()) * GRID * GRID  # cells covering a sixth of the sign
    keep = max(1, round(need))
    return tuple(rect for _, rect in cells[:keep])


__all__ = ["AREA", "GRID", "l1_mask"]
