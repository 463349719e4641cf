"""Traceable defenses: fused in front of the model inside the exported ONNX/TensorRT graph.

``defenses.create("median", kernel=(1, 3))``, ``defenses.from_spec("median:1x3")``,
``defenses.names()``, ``defenses.REGISTRY`` (entries carry traceable/differentiable/realtime/random).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import ConfigError
from ..registry import Entry, Param, Registry
from ..spec import parse_value
from .bit_depth import BitDepth, bit_depth_reduce
from .defensive_noise import DefensiveNoise, add_perturbation
from .gaussian import GaussianBlur, gaussian_blur
from .median import WINDOWS, MedianSmooth, median_smooth

REGISTRY = Registry("defense")


def _short_bits(text: str) -> dict[str, Any]:
    v = parse_value(text)
    if not isinstance(v, int):
        raise ConfigError(f"bits:{text}: expected an integer bit depth 1..8, e.g. bits:5")
    return {"bits": v}


def _short_median(text: str) -> dict[str, Any]:
    v = parse_value(text)
    if isinstance(v, int):
        v = (v, v)
    if not isinstance(v, tuple):
        names = ", ".join(f"{h}x{w}" for h, w in WINDOWS)
        raise ConfigError(f"median:{text}: expected a window HxW, one of {names}")
    return {"kernel": v}


def _short_gaussian(text: str) -> dict[str, Any]:
    v = parse_value(text)
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise ConfigError(f"gaussian:{text}: expected sigma, e.g. gaussian:1.0 or gaussian:sigma=1,size=5")
    return {"sigma": float(v)}


def _short_noise(text: str) -> dict[str, Any]:
    return {"path": text}


REGISTRY.register(
    Entry(
        "bits",
        BitDepth,
        bit_depth_reduce,
        traceable=True,
        differentiable=False,
        params=(Param("bits", 5, "bit depth kept, 1..8"),),
        shorthand=_short_bits,
        summary="bit-depth reduction round(x(2^b-1))/(2^b-1)",
        source="seeds 000/002; Xu et al. NDSS'18",
    )
)
REGISTRY.register(
    Entry(
        "median",
        MedianSmooth,
        median_smooth,
        traceable=True,
        differentiable=True,
        params=(Param("kernel", (3, 3), "window: " + ", ".join(f"{h}x{w}" for h, w in WINDOWS)),),
        shorthand=_short_median,
        summary="median smoothing, scipy 'reflect' border",
        source="seed 000; Xu et al. NDSS'18",
    )
)
REGISTRY.register(
    Entry(
        "gaussian",
        GaussianBlur,
        gaussian_blur,
        traceable=True,
        differentiable=True,
        params=(Param("sigma", 1.0, "std-dev in pixels"), Param("size", None, "odd kernel length")),
        shorthand=_short_gaussian,
        summary="separable gaussian blur",
        source="seed 002",
    )
)
REGISTRY.register(
    Entry(
        "noise",
        DefensiveNoise,
        add_perturbation,
        traceable=True,
        differentiable=True,
        params=(
            Param("path", None, "v_def file (.safetensors key v_def, or .npy)"),
            Param("scale", 1.0, "multiplier eps"),
        ),
        shorthand=_short_noise,
        summary="defensive perturbation v_def added to the input",
        source="seed 003 eq. 1",
    )
)


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
