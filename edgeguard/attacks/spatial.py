"""Spatial grid attack (Engstrom et al., "Exploring the landscape of spatial robustness", ICML 2019;
"A rotation and a translation suffice"), seed 002's attack: every rotation × translation on a grid is
tried, and each input is replaced by the mildest transformed version the model misclassifies.

No norm budget (``norm="none"``): the threat model is the grid's limits, which the spec states
(``spatial:rotation=30,translation=0.1``; Engstrom et al. used ±30° and ±3 px of 32 on CIFAR-10,
31 rotations × 5 × 5 translations). It only reads predictions (forwards under ``no_grad``).

Why not ART 1.20.1's ``SpatialTransformation`` (the maintained implementation we started from):
(1) it picks ONE transformation for the whole batch (the one fooling most inputs), not the per-input
worst case of the paper; (2) for channels-first arrays it reads the image size from ``shape[1:3]`` =
(channels, height), so translations become a fraction of 3 pixels; (3) its order-3 spline
``scipy.ndimage.shift`` with constant padding takes ~0.2 s per 64×64 image here, ~3 minutes per input
for the paper's 775-point grid. The grid loop is fifteen lines; the transformation is kornia's
batched ``warp_affine`` (bilinear, zero padding — the paper's TensorFlow attack also interpolates
bilinearly and fills with black), one call per grid point for the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import ConfigError
from ..registry import ATTACKS

Model = Callable[[torch.Tensor], torch.Tensor]


def _steps(limit: float, num: int, integer: bool = False) -> list[float]:
    values = np.linspace(-limit, limit, num) if num > 1 else np.zeros(1)
    return sorted({int(round(v)) if integer else float(v) for v in values})


@dataclass(frozen=True)
class SpatialGrid:
    """Rotations ``linspace(-rotation, rotation, rotations)`` degrees (counter-clockwise positive) ×
    shifts ``linspace(-t, t, translations)`` whole pixels per axis (``t = translation`` × height or
    width, rounded), mildest first; deterministic. Unfooled inputs come back unchanged."""

    name: ClassVar[str] = "spatial"
    norm: ClassVar[str] = "none"
    kind: ClassVar[str] = "white-box"
    random: ClassVar[bool] = False
    eps: ClassVar[float | None] = None

    rotation: float = 30.0
    translation: float = 0.1
    rotations: int = 31
    translations: int = 5

    def spec(self) -> str:
        return (
            f"{self.name}:rotation={self.rotation!r},translation={self.translation!r},"
            f"rotations={self.rotations},translations={self.translations}"
        )

    @property
    def grid_size(self) -> int:
        """Transformations tried per input at most (model calls), before duplicates are dropped."""
        return self.rotations * self.translations**2

    def grid(self, height: int, width: int) -> list[tuple[float, int, int]]:
        """``(degrees, dy, dx)`` for an image of ``height`` × ``width``, the mildest first: ordered by
        the largest of |angle|/rotation, |dy|/max dy, |dx|/max dx, then by their sum."""
        rots = _steps(self.rotation, self.rotations)
        dys = _steps(round(self.translation * height), self.translations, integer=True)
        dxs = _steps(round(self.translation * width), self.translations, integer=True)
        scale = (max(self.rotation, 1e-12), max(max(dys), 1), max(max(dxs), 1))

        def size(t: tuple[float, int, int]) -> tuple[float, float]:
            parts = [abs(v) / s for v, s in zip(t, scale)]
            return max(parts), sum(parts)

        return sorted(((a, dy, dx) for a in rots for dy in dys for dx in dxs), key=size)

    def __call__(
        self, model: Model, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        from kornia.geometry.transform import get_rotation_matrix2d, warp_affine

        b, _, h, w = x.shape
        out = x.detach().clone()
        with torch.no_grad():
            todo = model(x).argmax(1) == y  # misclassified inputs need no transformation
            centre = torch.tensor([[(w - 1) / 2, (h - 1) / 2]], dtype=torch.float32, device=x.device)
            for angle, dy, dx in self.grid(h, w):
                idx = todo.nonzero()[:, 0]
                if not len(idx):
                    break
                n = len(idx)
                m = get_rotation_matrix2d(
                    centre.expand(n, 2),
                    torch.full((n,), float(angle), device=x.device),
                    torch.ones(n, 2, device=x.device),
                )
                m[:, 0, 2] += dx
                m[:, 1, 2] += dy
                moved = warp_affine(x[idx].float(), m, dsize=(h, w), mode="bilinear", padding_mode="zeros")
                moved = moved.clamp(0, 1).to(x.dtype)
                fooled = model(moved).argmax(1) != y[idx]
                out[idx[fooled]] = moved[fooled]
                todo[idx[fooled]] = False
        return out


def _number(key: str, v: Any, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ConfigError(f"spatial: {key} must be a number in [{lo:g}, {hi:g}], got {v!r}")
    return float(v)


def _count(key: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"spatial: {key} must be a whole number >= 1, got {v!r}")
    return v


@ATTACKS.register(
    "spatial",
    summary="rotation + translation grid search, mildest transform that fools each input (kornia)",
    usage="spatial:rotation=30,translation=0.1",
    source="Engstrom et al. ICML'19; seed 002; kornia 0.9 warp_affine (ART's version: see module doc)",
    realtime=False,
    random=False,
    examples=({"rotation": 90, "translation": 0.25, "rotations": 3, "translations": 3},),
    invalid=(
        {"rotation": -1},
        {"rotation": 200},
        {"translation": 1.5},
        {"rotations": 0},
        {"translations": 2.5},
        {"rotation": "x"},
    ),
    norm="none",
    kind="white-box",
    minimal=False,
)
def spatial(
    rotation: float = 30.0, translation: float = 0.1, rotations: int = 31, translations: int = 5
) -> SpatialGrid:
    """``spatial:rotation=30,translation=0.1[,rotations=31,translations=5]``.

    Args:
        rotation: largest rotation either way, degrees in [0, 180].
        translation: largest shift either way as a fraction of height/width, in [0, 1].
        rotations: grid points over the rotation range.
        translations: grid points per axis over the translation range.
    """
    return SpatialGrid(
        _number("rotation", rotation, 0, 180),
        _number("translation", translation, 0, 1),
        _count("rotations", rotations),
        _count("translations", translations),
    )


__all__ = ["SpatialGrid", "spatial"]
