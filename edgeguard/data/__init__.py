"""Data: the procedural traffic-sign renderer and loaders for local datasets (never downloads)."""

from __future__ import annotations

from .dataset import (
    TEST_SEED,
    TRAIN_SEED,
    VAL_SEED,
    SignDataset,
    contact_sheet,
    render_arrays,
    save_rgb,
    write_image_folder,
)
from .local import GTSRB, GTSRB_LABELS, GTSRB_TO_SIGNS, ImageFolder
from .render import DEFAULT_CONFIG, SceneConfig, render_scene
from .templates import CLASSES, LABELS, class_index, render_sign

__all__ = [
    "CLASSES",
    "DEFAULT_CONFIG",
    "GTSRB",
    "GTSRB_LABELS",
    "GTSRB_TO_SIGNS",
    "LABELS",
    "TEST_SEED",
    "TRAIN_SEED",
    "VAL_SEED",
    "ImageFolder",
    "SceneConfig",
    "SignDataset",
    "class_index",
    "contact_sheet",
    "render_arrays",
    "render_scene",
    "render_sign",
    "save_rgb",
    "write_image_folder",
]
