"""Sets of rendered surveillance scenes: bulk rendering (process pool), a ``.npz`` cache, contact sheets.

Seeds: scene ``i`` of a set with base seed ``s`` is ``render_surveillance((s, i))`` (numpy seeds the pair
through ``SeedSequence``: sets with different base seeds never share a draw). The shipped ``persons``
detector was trained on base seed :data:`PERSONS_TRAIN_SEED`, validated on :data:`PERSONS_VAL_SEED`;
its README numbers come from :data:`PERSONS_TEST_SEED`. Previews use :data:`PERSONS_PREVIEW_SEED`.
"""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

from ..errors import ConfigError
from .scenes import DEFAULT_SURVEILLANCE, Scene, SurveillanceConfig, render_surveillance

PERSONS_TRAIN_SEED, PERSONS_VAL_SEED, PERSONS_TEST_SEED, PERSONS_PREVIEW_SEED = 20, 21, 22, 24


@dataclass
class SceneSet:
    """Rendered scenes in memory: ``images`` uint8 (N, H, W, 3) RGB; per person (all images concatenated)
    ``boxes`` (M, 4) xyxy, ``heights``, ``occlusion``, ``ignore``; ``image_index`` (M,) its image."""

    images: np.ndarray
    boxes: np.ndarray
    heights: np.ndarray
    occlusion: np.ndarray
    ignore: np.ndarray
    image_index: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def targets(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (K, 4) and ignore flags (K,) of image ``i``."""
        sel = self.image_index == i
        return self.boxes[sel], self.ignore[sel]

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        tmp = p.with_name(p.name + ".part.npz")
        np.savez(tmp, **{k: getattr(self, k) for k in self.__dataclass_fields__})
        tmp.replace(p)
        return p

    @classmethod
    def load(cls, path: str | Path) -> SceneSet:
        with np.load(path) as z:
            return cls(**{k: z[k] for k in cls.__dataclass_fields__})


def _join(scenes: list[Scene], start: int, size: int) -> SceneSet:
    if not scenes:
        z = np.zeros((0, 4), np.float32)
        return SceneSet(
            np.zeros((0, size, size, 3), np.uint8),
            z,
            z[:, 0],
            z[:, 0],
            z[:, 0].astype(bool),
            np.zeros(0, np.int64),
        )
    return SceneSet(
        np.stack([s.image for s in scenes]),
        np.concatenate([s.boxes for s in scenes]).astype(np.float32),
        np.concatenate([s.heights for s in scenes]).astype(np.float32),
        np.concatenate([s.occlusion for s in scenes]).astype(np.float32),
        np.concatenate([s.ignore for s in scenes]).astype(bool),
        np.concatenate([np.full(len(s.boxes), start + k, np.int64) for k, s in enumerate(scenes)]),
    )


def _render_chunk(args: tuple[int, int, int, int, SurveillanceConfig]) -> SceneSet:
    seed, start, stop, size, cfg = args
    return _join([render_surveillance((seed, i), size, cfg) for i in range(start, stop)], start, size)


def render_scene_set(
    n: int,
    seed: int = PERSONS_TEST_SEED,
    size: int = 320,
    workers: int = 1,
    config: SurveillanceConfig = DEFAULT_SURVEILLANCE,
    chunk: int = 200,
) -> SceneSet:
    """Render scenes ``(seed, 0..n-1)`` (identical with any ``workers``: each depends only on its seed)."""
    if n < 0 or size < 64:
        raise ConfigError(f"render_scene_set: need n >= 0 and size >= 64, got n={n}, size={size}")
    bounds = [(seed, s, min(s + chunk, n), size, config) for s in range(0, n, chunk)]
    if workers > 1 and len(bounds) > 1:
        with get_context("fork").Pool(workers) as pool:
            parts = pool.map(_render_chunk, bounds)
    else:
        parts = [_render_chunk(b) for b in bounds]
    if not parts:
        return _join([], 0, size)
    return SceneSet(*(np.concatenate([getattr(p, k) for p in parts]) for k in SceneSet.__dataclass_fields__))


def draw_boxes(
    rgb: np.ndarray, boxes: np.ndarray, ignore: np.ndarray | None = None, scores: np.ndarray | None = None
) -> np.ndarray:
    """A copy of ``rgb`` with boxes drawn (green; ignored ones orange; scores printed when given)."""
    out = np.ascontiguousarray(rgb).copy()
    for k, b in enumerate(np.asarray(boxes, np.float64).reshape(-1, 4)):
        colour = (255, 150, 0) if ignore is not None and ignore[k] else (0, 230, 0)
        p0, p1 = (int(b[0]), int(b[1])), (int(np.ceil(b[2])) - 1, int(np.ceil(b[3])) - 1)
        cv2.rectangle(out, p0, p1, colour, 1)
        if scores is not None:
            cv2.putText(
                out,
                f"{scores[k]:.2f}",
                (p0[0], max(8, p0[1] - 2)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.3,
                colour,
                1,
                cv2.LINE_AA,
            )
    return out


def scenes_contact_sheet(
    n: int = 12,
    seed: int = PERSONS_PREVIEW_SEED,
    size: int = 320,
    cols: int = 4,
    config: SurveillanceConfig = DEFAULT_SURVEILLANCE,
) -> np.ndarray:
    """A grid of ``n`` rendered scenes with their person boxes drawn, uint8 RGB."""
    if n < 1 or cols < 1:
        raise ConfigError("scenes_contact_sheet: n and cols must be >= 1")
    rows = -(-n // cols)
    sheet = np.full((rows * (size + 4), min(n, cols) * (size + 4), 3), 255, np.uint8)
    for i in range(n):
        s = render_surveillance((seed, i), size, config)
        r, c = divmod(i, cols)
        y, x = r * (size + 4) + 2, c * (size + 4) + 2
        sheet[y : y + size, x : x + size] = draw_boxes(s.image, s.boxes, s.ignore)
    return sheet


__all__ = [
    "PERSONS_PREVIEW_SEED",
    "PERSONS_TEST_SEED",
    "PERSONS_TRAIN_SEED",
    "PERSONS_VAL_SEED",
    "SceneSet",
    "draw_boxes",
    "render_scene_set",
    "scenes_contact_sheet",
]
