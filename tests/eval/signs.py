"""Shared data of the adaptive-evaluation tests: rendered sign images and the shipped sign engine."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

import edgeguard

SHIPPED = Path(edgeguard.__file__).parent / "models" / "engines" / "signs-bits5-median3x3.onnx"


@functools.cache
def sign_images(n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` held-out rendered sign images (TEST_SEED) in [0, 1] and their labels."""
    from edgeguard.data import TEST_SEED, SignDataset

    ds = SignDataset(n, TEST_SEED)
    return torch.stack([ds[i][0] for i in range(n)]), torch.tensor([ds[i][1] for i in range(n)])
