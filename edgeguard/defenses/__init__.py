"""Traceable defenses: fused in front of the model inside the exported ONNX/TensorRT graph.

``defenses.create("median", kernel=(1, 3))``, ``defenses.from_spec("median:1x3")``,
``defenses.names()``, ``defenses.REGISTRY`` (entries carry traceable/differentiable/realtime/random).
Each defense registers itself beside its definition (``@DEFENSES.register(...)`` in its own module,
with its shorthand, summary and contract-test examples); adding one is adding one file here.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..registry import DEFENSES
from .bit_depth import BitDepth, bit_depth_reduce
from .defensive_noise import DefensiveNoise, add_perturbation
from .gaussian import GaussianBlur, gaussian_blur
from .median import MedianSmooth, median_smooth

REGISTRY = DEFENSES


def names() -> list[str]:
    return REGISTRY.names()


def create(name: str, **params: Any) -> nn.Module:
    return REGISTRY.create(name, **params)


def from_spec(spec: str) -> nn.Module:
    return REGISTRY.from_spec(spec)


def chain(specs: list[str]) -> nn.Sequential:
    """Compose several specs in order into one ``nn.Sequential`` (``--defense A --defense B``)."""
    return nn.Sequential(*[from_spec(s) for s in specs])


__all__ = [
    "REGISTRY",
    "names",
    "create",
    "from_spec",
    "chain",
    "BitDepth",
    "bit_depth_reduce",
    "MedianSmooth",
    "median_smooth",
    "GaussianBlur",
    "gaussian_blur",
    "DefensiveNoise",
    "add_perturbation",
]
