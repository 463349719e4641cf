"""Data: the procedural traffic-sign renderer and loaders for local datasets (never downloads)."""

from __future__ import annotations

import importlib
from typing import Any

from .looks import VARIETIES
from .render import DEFAULT_CONFIG, SceneConfig, render_scene
from .templates import CLASSES, LABELS, class_index, render_sign

# torch-backed parts (datasets, loaders), loaded on first use: the camera's synthetic source renders
# signs through `data.templates` on the runtime install, which has no torch.
_LAZY = {
    **dict.fromkeys(
        (
            "TEST_SEED",
            "TRAIN_SEED",
            "VAL_SEED",
            "SignDataset",
            "contact_sheet",
            "render_arrays",
            "save_rgb",
            "write_image_folder",
        ),
        ".dataset",
    ),
    **dict.fromkeys(("GTSRB", "GTSRB_LABELS", "GTSRB_TO_SIGNS", "ImageFolder"), ".local"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    "VARIETIES",
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
