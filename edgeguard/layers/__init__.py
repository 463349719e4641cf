"""Layers that live inside networks (not in front of them): feature-denoising blocks (seed 004)."""

from __future__ import annotations

from .denoise import (
    KINDS,
    DenoiseBlock,
    add_denoise_blocks,
    bilateral_filter,
    mean_filter,
    median_filter,
    nonlocal_means,
)

__all__ = [
    "KINDS",
    "DenoiseBlock",
    "add_denoise_blocks",
    "bilateral_filter",
    "mean_filter",
    "median_filter",
    "nonlocal_means",
]
