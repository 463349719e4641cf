"""Separable gaussian smoothing (seed 002), boundary as scipy ``reflect`` (edge sample repeated).

The oracle is ``scipy.ndimage.gaussian_filter(x, sigma=(0, 0, σ, σ), radius=size // 2,
mode="reflect")``. Exports as Slice/Concat padding + two depthwise Conv nodes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_batch
from ..errors import ConfigError
from ..registry import DEFENSES, Param
from ..spec import parse_value
from ._pad import pad_symmetric

MAX_SIGMA = 100.0


def _check(sigma: float, size: int | None) -> tuple[float, int]:
    # size ≤ 31 taps (below): a sigma beyond MAX_SIGMA only turns the kernel into a box filter.
    ok = isinstance(sigma, (int, float)) and not isinstance(sigma, bool) and 0 < sigma <= MAX_SIGMA
    if not ok:
        raise ConfigError(f"gaussian: sigma must be a number in (0, {MAX_SIGMA:g}], got {sigma!r}")
    if size is None:
        size = 2 * int(math.ceil(3.0 * sigma)) + 1
    if isinstance(size, bool) or not isinstance(size, int) or size < 3 or size % 2 == 0 or size > 31:
        raise ConfigError(f"gaussian: size must be an odd integer in 3..31, got {size!r}")
    return float(sigma), size


def gaussian_kernel1d(sigma: float, size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised 1-D gaussian weights of odd length ``size`` (same weights as scipy's)."""
    r = size // 2
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (t / sigma) ** 2)
    return (w / w.sum()).to(dtype)


def gaussian_blur(x: torch.Tensor, sigma: float = 1.0, size: int | None = None) -> torch.Tensor:
    """Blur each channel with a separable gaussian.

    Args:
        x: float batch.
        sigma: standard deviation in pixels.
        size: odd kernel length; default ``2·ceil(3σ)+1``.

    Returns:
        Blurred batch, same shape/dtype; a convex combination so [0, 1] is kept.

    Raises:
        ConfigError: bad ``sigma``/``size``.
        InputError: ``x`` is not ``(B, 3, H, W)``.

    Shape:
        (B, 3, H, W) → (B, 3, H, W)
    """
    sigma, size = _check(sigma, size)
    check_batch(x, "B C H W", name="gaussian input", tensor=True)
    kh, kw = _kernels(gaussian_kernel1d(sigma, size, x.dtype).to(x.device))
    return _blur(x, kh, kw, size // 2)


def _kernels(k1d: torch.Tensor, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Depthwise vertical and horizontal kernels, materialised (constant initializers in ONNX)."""
    kh = k1d.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    kw = k1d.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    return kh, kw


def _blur(x: torch.Tensor, kh: torch.Tensor, kw: torch.Tensor, r: int) -> torch.Tensor:
    # ``r`` is a Python int on purpose: read from a tensor shape it would be traced as a tensor.
    xp = pad_symmetric(x, r, r, r, r)
    y = F.conv2d(xp, kh, groups=kh.shape[0])
    return F.conv2d(y, kw, groups=kw.shape[0])


def _shorthand(text: str) -> dict[str, float]:
    v = parse_value(text)
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise ConfigError(f"gaussian:{text}: expected sigma, e.g. gaussian:1.0 or gaussian:sigma=1,size=5")
    return {"sigma": float(v)}


@DEFENSES.register(
    "gaussian",
    function=gaussian_blur,
    traceable=True,
    differentiable=True,
    params=(Param("sigma", 1.0, "std-dev in pixels"), Param("size", None, "odd kernel length")),
    shorthand=_shorthand,
    summary="separable gaussian blur",
    source="seed 002",
    usage="gaussian:sigma=1.0,size=5",
    examples=({"sigma": 1.0, "size": 5}, {"sigma": 0.5}),
)
class GaussianBlur(nn.Module):
    """Module form of :func:`gaussian_blur`; the kernel is a buffer (a constant in ONNX)."""

    def __init__(self, sigma: float = 1.0, size: int | None = None) -> None:
        super().__init__()
        self.sigma, self.size = _check(sigma, size)
        kh, kw = _kernels(gaussian_kernel1d(self.sigma, self.size))
        self.register_buffer("kernel_v", kh, persistent=False)
        self.register_buffer("kernel_h", kw, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch(x, "B C H W", name="gaussian input", tensor=True)
        return _blur(x, self.kernel_v.to(x.dtype), self.kernel_h.to(x.dtype), self.size // 2)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, size={self.size}"
