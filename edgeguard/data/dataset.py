"""Datasets over the procedural renderer: on-the-fly ``SignDataset``, bulk rendering, image folders,
contact sheets.

Seeds: image ``i`` of a dataset with base seed ``s`` is ``render_scene(i % n_classes, (s, i))``; numpy
seeds the two-word sequence ``(s, i)`` through ``SeedSequence``, so datasets with different base seeds
never share a draw. Conventions used for the shipped weights: training base seed ``TRAIN_SEED``,
validation ``VAL_SEED``, held-out test ``TEST_SEED``. ``variety`` (``classic`` | ``wide`` |
``unseen``, :mod:`edgeguard.data.looks`) picks how the signs are drawn; the same index and seed under
another variety is a different image, under ``classic`` always the shipped models' image.
"""

from __future__ import annotations

from collections.abc import Sequence
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError
from .looks import check_variety
from .render import DEFAULT_CONFIG, SceneConfig, render_scene
from .templates import CLASSES, LABELS, class_index

TRAIN_SEED, VAL_SEED, TEST_SEED = 0, 1, 2


class SignDataset(Dataset):
    """Rendered traffic-sign images, produced on the fly (index + base seed → image).

    Args:
        length: number of images. Labels cycle through the classes (balanced).
        seed: base seed (see module docstring).
        size: image side in pixels.
        classes: subset of classes (names or indices); label ``k`` is the k-th of these. Default all.
        config: pose/condition ranges.
        variety: how the signs are drawn: ``classic`` (default), ``wide`` (training variety) or
            ``unseen`` (held-out drawing choices for evaluation).

    Items are ``(image, label)``: float32 tensor ``(3, size, size)`` in [0, 1] (RGB) and an int.
    """

    def __init__(
        self,
        length: int,
        seed: int = TRAIN_SEED,
        size: int = 64,
        classes: Sequence[int | str] | None = None,
        config: SceneConfig = DEFAULT_CONFIG,
        variety: str = "classic",
    ) -> None:
        if int(length) < 0:
            raise ConfigError(f"SignDataset: length must be >= 0, got {length}")
        self.length, self.seed, self.size, self.config = int(length), int(seed), int(size), config
        self.variety = check_variety(variety)
        self.class_ids = (
            [class_index(c) for c in classes] if classes is not None else list(range(len(CLASSES)))
        )
        self.labels = [LABELS[i] for i in self.class_ids]

    def __len__(self) -> int:
        return self.length

    def label_of(self, index: int) -> int:
        return index % len(self.class_ids)

    def render(self, index: int) -> np.ndarray:
        """uint8 ``(size, size, 3)`` RGB image of item ``index``."""
        if not 0 <= index < self.length:
            raise IndexError(f"SignDataset index {index} out of range 0..{self.length - 1}")
        return render_scene(
            self.class_ids[self.label_of(index)],
            (self.seed, index),
            self.size,
            self.config,
            variety=self.variety,
        )

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        img = torch.from_numpy(self.render(index)).permute(2, 0, 1).float().div_(255.0)
        return img, self.label_of(index)


def _render_chunk(args: tuple[SignDataset, int, int]) -> np.ndarray:
    ds, start, stop = args
    return (
        np.stack([ds.render(i) for i in range(start, stop)]) if stop > start else np.zeros((0,) * 4, np.uint8)
    )


def render_arrays(ds: SignDataset, workers: int = 1, chunk: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Render every item of ``ds`` into memory: uint8 ``(N, H, W, 3)`` images and int64 labels.

    ``workers > 1`` uses a process pool (identical pixels: each item depends only on its own seed).
    """
    bounds = [(ds, s, min(s + chunk, len(ds))) for s in range(0, len(ds), chunk)]
    if workers > 1 and len(bounds) > 1:
        with get_context("fork").Pool(workers) as pool:
            parts = pool.map(_render_chunk, bounds)
    else:
        parts = [_render_chunk(b) for b in bounds]
    images = np.concatenate(parts) if parts else np.zeros((0, ds.size, ds.size, 3), np.uint8)
    labels = np.array([ds.label_of(i) for i in range(len(ds))], dtype=np.int64)
    return images, labels


def write_image_folder(
    out: str | Path,
    per_class: int,
    seed: int = TEST_SEED,
    size: int = 64,
    config: SceneConfig = DEFAULT_CONFIG,
    variety: str = "classic",
) -> Path:
    """Write ``per_class`` rendered PNGs per class into ``out/<class_id>/NNNNN.png`` (ImageFolder
    layout; used for calibration sets and to look at the data). Returns ``out``."""
    if per_class < 1:
        raise ConfigError(f"write_image_folder: per_class must be >= 1, got {per_class}")
    out = Path(out)
    ds = SignDataset(per_class * len(CLASSES), seed, size, config=config, variety=variety)
    for i in range(len(ds)):
        d = out / CLASSES[ds.label_of(i)]
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i:05d}.png"), cv2.cvtColor(ds.render(i), cv2.COLOR_RGB2BGR))
    return out


def contact_sheet(
    per_class: int = 10,
    seed: int = TEST_SEED,
    size: int = 64,
    zoom: int = 2,
    config: SceneConfig = DEFAULT_CONFIG,
    variety: str = "classic",
) -> np.ndarray:
    """A grid of rendered samples (one row per class, its name on the left), uint8 RGB."""
    if per_class < 1 or zoom < 1:
        raise ConfigError("contact_sheet: per_class and zoom must be >= 1")
    n = len(CLASSES)
    ds = SignDataset(per_class * n, seed, size, config=config, variety=variety)
    cell, label_w = size * zoom, 200
    sheet = np.full((n * (cell + 4), label_w + per_class * (cell + 4), 3), 255, np.uint8)
    for i in range(len(ds)):
        row, col = ds.label_of(i), i // n
        img = cv2.resize(ds.render(i), (cell, cell), interpolation=cv2.INTER_NEAREST)
        y, x = row * (cell + 4) + 2, label_w + col * (cell + 4) + 2
        sheet[y : y + cell, x : x + cell] = img
    for row, name in enumerate(LABELS):
        cv2.putText(
            sheet,
            name,
            (6, row * (cell + 4) + cell // 2 + 6),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.55,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return sheet


def save_rgb(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image (PNG/JPEG by suffix), creating parent folders."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise ConfigError(f"cannot write image {str(p)!r} (unknown suffix or unwritable folder)")
    return p
