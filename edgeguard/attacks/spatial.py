"""Spatial grid attack (Engstrom et al., "A rotation and a translation suffice", ICML 2019), seed
002's attack, from ART 1.20.1 (``SpatialTransformation``): every rotation and translation on a grid is
tried and an input is replaced by the first transformed version the model misclassifies.

No norm budget (``norm="none"``): the threat model is the grid's limits, which the spec states
(``spatial:rotation=30,translation=0.1``; Engstrom et al. used ±30° and ±10 % of the image on
CIFAR-10). The attack only reads predictions.

Two things around ART: (1) ART picks ONE transformation for the whole batch (the one fooling most
inputs); the paper's attack is per input, so each input gets its own ART search. (2) ART's grid
reads the image size from ``x.shape[1:3]``, which for channels-first arrays is (channels, height):
translations would be a fraction of 3 pixels. We hand ART channels-last arrays and a model that
permutes them back, so the grid is a fraction of height and width as documented.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import ConfigError
from ..registry import ATTACKS
from .adapters import art_classifier, kept_modes, to_torch
from .seeding import preserved

Model = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SpatialGrid:
    """Rotations ``linspace(-rotation, rotation, rotations)`` degrees × translations
    ``linspace(-t, t, translations)`` pixels per axis (``t = translation`` × height/width, rounded);
    deterministic. Unfooled inputs come back unchanged."""

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
        """Transformations tried per input at most (model calls)."""
        return self.rotations * self.translations**2

    def __call__(
        self, model: Model, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        from art.attacks.evasion.spatial_transformation import SpatialTransformation

        classifier = art_classifier(model, x, channels_last=True)
        nhwc = x.detach().cpu().float().permute(0, 2, 3, 1).contiguous().numpy()
        with torch.no_grad():
            correct = (model(x).argmax(1) == y).cpu().numpy()
        out = nhwc.copy()
        with preserved(), kept_modes(model):
            for i in np.flatnonzero(correct):  # misclassified inputs need no transformation
                attack = SpatialTransformation(
                    classifier,
                    max_translation=100.0 * self.translation,
                    num_translations=self.translations,
                    max_rotation=self.rotation,
                    num_rotations=self.rotations,
                    verbose=False,
                )
                out[i : i + 1] = attack.generate(nhwc[i : i + 1])
        return to_torch(np.ascontiguousarray(out.transpose(0, 3, 1, 2)), x)


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
    summary="rotation + translation grid search, first transform that fools each input (ART)",
    usage="spatial:rotation=30,translation=0.1",
    source="ART 1.20.1 SpatialTransformation; Engstrom et al. ICML'19; seed 002",
    realtime=False,
    random=False,
    examples=({"rotation": 90, "translation": 0.25, "rotations": 3, "translations": 2},),
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
