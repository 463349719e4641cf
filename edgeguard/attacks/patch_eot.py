"""Expectation over Transformation for a printed patch worn by a person (Thys et al. CVPRW'19).

A patch printed on a shirt or held in front of the torso reaches the camera under lighting, printer
and sensor variation and at a small tilt. Thys et al. (seed 004: "Fooling automated surveillance
cameras") optimise their patch over random contrast (0.8–1.2), brightness (±0.1), uniform pixel noise
(±0.1) and rotation (±20°); :class:`PatchConditions` states exactly those ranges and
:func:`draw` draws one condition per pasted patch from the caller's ``torch.Generator`` (kornia's
augmentation modules draw from torch's global generator, so the functional ops are fed parameters
drawn here, as :mod:`~.physical` does for stickers). :func:`recolour` applies the photometric part
(differentiable); the rotation is applied when the patch is warped onto the person
(:func:`edgeguard.attacks.patch_place.paste`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from ..errors import ConfigError


@dataclass(frozen=True)
class PatchConditions:
    """Ranges of the per-patch conditions (uniform draws)."""

    contrast: tuple[float, float] = (0.8, 1.2)
    brightness: tuple[float, float] = (-0.1, 0.1)
    noise: float = 0.1  # per-pixel uniform noise in [-noise, noise]
    rotation: float = 20.0  # degrees, either way

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            pair = v if isinstance(v, tuple) else (v,)
            if not all(isinstance(u, (int, float)) and math.isfinite(u) for u in pair):
                raise ConfigError(f"patch conditions: {f.name} must be finite numbers, got {v!r}")
            if isinstance(v, tuple) and (len(v) != 2 or v[0] > v[1]):
                raise ConfigError(f"patch conditions: {f.name} must be a (low, high) pair, got {v!r}")
        if self.contrast[0] <= 0 or self.noise < 0 or not 0 <= self.rotation < 90:
            raise ConfigError("patch conditions: need contrast > 0, noise >= 0 and 0 <= rotation < 90°")
        if not -1 <= self.brightness[0] <= self.brightness[1] <= 1:
            raise ConfigError("patch conditions: brightness must lie in [-1, 1]")

    @classmethod
    def none(cls) -> PatchConditions:
        """No variation: the patch pasted exactly as optimised (previews, sanity checks)."""
        return cls(contrast=(1.0, 1.0), brightness=(0.0, 0.0), noise=0.0, rotation=0.0)


THYS = PatchConditions()


def _u(n: int, lo: float, hi: float, g: torch.Generator | None) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def draw(n: int, cond: PatchConditions, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    """``n`` independent conditions: ``contrast``, ``brightness``, ``rotation`` (degrees) of length
    ``n`` and ``seed`` (the noise's seed, so the noise is drawn once per call and reproducible)."""
    return {
        "contrast": _u(n, *cond.contrast, generator),
        "brightness": _u(n, *cond.brightness, generator),
        "rotation": _u(n, -cond.rotation, cond.rotation, generator),
        "noise": torch.full((n,), float(cond.noise)),
        "seed": torch.randint(0, 2**31 - 1, (1,), generator=generator),
    }


def recolour(patch: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """The photometric part of the conditions on ``n`` copies of the patch: ``contrast · p +
    brightness + U(−noise, noise)`` clipped to [0, 1] (Thys et al.'s ``PatchTransformer`` order).

    Args:
        patch: ``(3, h, w)`` or ``(n, 3, h, w)`` in [0, 1] (differentiable).
        params: from :func:`draw` with ``n`` conditions.

    Shape:
        (3, h, w) | (n, 3, h, w) → (n, 3, h, w)
    """
    n = len(params["contrast"])
    p = patch.expand(n, *patch.shape[-3:]) if patch.dim() == 3 else patch
    f = lambda k: params[k].to(p.dtype).view(n, 1, 1, 1)  # noqa: E731
    gen = torch.Generator().manual_seed(int(params["seed"][0]))
    noise = (torch.rand(p.shape, generator=gen, dtype=p.dtype) * 2 - 1) * f("noise")
    return (p * f("contrast") + f("brightness") + noise).clamp(0, 1)


__all__ = ["THYS", "PatchConditions", "draw", "recolour"]
