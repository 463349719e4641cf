"""Median smoothing (seed 000; Xu et al. Feature Squeezing) that exports to TensorRT-legal ONNX.

Semantics are those of ``scipy.ndimage.median_filter(x, size=(1, 1, kh, kw), mode="reflect")``, the
call Feature Squeezing used:

* boundary: scipy ``reflect`` = edge sample repeated (d c b a | a b c d), see ``_pad.py``;
* window anchor: scipy's origin 0 puts the centre at index ``k // 2``, so a window of length ``k``
  covers offsets ``[-(k // 2), k - 1 - k // 2]``. For the even 2×2 window that is the pixel, its
  upper and left neighbours and the upper-left one;
* rank: scipy selects rank ``n // 2`` (0-based, ascending) of the ``n = kh·kw`` samples, so the
  2×2 window returns the *upper* median (3rd smallest of 4), not the mean of the two middles.

ONNX has no Sort/ReduceMedian, so the selection is built from Min/Max and MaxPool (TopK for 5×5):

* 3×3 — each column of three is sorted once (3 compare-swaps) and shared by the three windows that
  contain it; the median of nine is then ``med3(max of the column minima, med3 of the column
  medians, min of the column maxima)`` (the classic exact reduction used by fast 3×3 median
  filters). The max of three column minima and the min of three column maxima are 1×3 ``MaxPool``
  (a min is ``-MaxPool(-x)``): onnxruntime runs each op as one pass over memory, and a pool reads
  the three neighbours in one pass where Min/Max on shifted slices copies each slice first —
  faster than 18 Min/Max on 64² inputs (batch 1 and 32) and no slower at 224², bit for bit the
  same (``benchmarks/defense_overhead.py``, ``median_graphs``; the README's Benchmarks table).
  14 Min/Max + 2 MaxPool in all. Only the exported graph uses the pools; torch eager keeps
  18 Min/Max (faster there, same values).
* 1×3, 3×1 — ``med3`` of three shifted views (4 Min/Max).
* 2×2 — second largest of four (7 Min/Max).
* other odd windows (5×5) — TopK(sorted=1) over the stacked shifted views (TensorRT: K < 3840).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_batch
from ..errors import ConfigError
from ..registry import DEFENSES, Param
from ..spec import parse_value
from ._pad import pad_symmetric

WINDOWS: tuple[tuple[int, int], ...] = ((3, 3), (1, 3), (3, 1), (2, 2), (5, 5))


def _check_kernel(kernel: object) -> tuple[int, int]:
    if isinstance(kernel, int) and not isinstance(kernel, bool):
        kernel = (kernel, kernel)
    if isinstance(kernel, str):
        try:
            kernel = tuple(int(p) for p in kernel.lower().split("x"))
        except ValueError:
            kernel = None
    if isinstance(kernel, (list, tuple)) and len(kernel) == 2:
        k = (int(kernel[0]), int(kernel[1]))
        if k in WINDOWS:
            return k
    names = ", ".join(f"{h}x{w}" for h, w in WINDOWS)
    raise ConfigError(f"median: window {kernel!r} is not supported; windows that exist: {names}")


def _med3(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    return torch.maximum(torch.minimum(a, b), torch.minimum(torch.maximum(a, b), c))


def _shifts(xp: torch.Tensor, k: int, dim: int) -> list[torch.Tensor]:
    """The ``k`` windows' shifted views of a padded tensor along ``dim`` (static Slices in ONNX)."""
    out = []
    for i in range(k):
        index = [slice(None)] * xp.dim()
        index[dim] = slice(i, i - (k - 1) or None)
        out.append(xp[tuple(index)])
    return out


def _median_3x3(xp: torch.Tensor) -> torch.Tensor:
    a, b, c = _shifts(xp, 3, dim=-2)
    lo1, hi1 = torch.minimum(a, b), torch.maximum(a, b)
    hi = torch.maximum(hi1, c)
    t = torch.minimum(hi1, c)
    mid, lo = torch.maximum(lo1, t), torch.minimum(lo1, t)
    if torch.onnx.is_in_onnx_export():
        # In the graph: one pass each (see the module doc). In torch eager a 1×3 max_pool2d is ~3× slower
        # than the Min/Max below, and Min/Max keeps the gradient attacks have always seen (split at ties).
        max_lo = F.max_pool2d(lo, (1, 3), stride=1)
        min_hi = -F.max_pool2d(-hi, (1, 3), stride=1)  # negation is exact: this is the min
    else:
        l0, l1, l2 = _shifts(lo, 3, dim=-1)
        h0, h1, h2 = _shifts(hi, 3, dim=-1)
        max_lo = torch.maximum(torch.maximum(l0, l1), l2)
        min_hi = torch.minimum(torch.minimum(h0, h1), h2)
    return _med3(max_lo, _med3(*_shifts(mid, 3, dim=-1)), min_hi)


def _median_2x2(xp: torch.Tensor) -> torch.Tensor:
    top, bottom = _shifts(xp, 2, dim=-2)
    a, b = _shifts(top, 2, dim=-1)
    c, d = _shifts(bottom, 2, dim=-1)
    p, q = torch.maximum(a, b), torch.minimum(a, b)
    r, s = torch.maximum(c, d), torch.minimum(c, d)
    return torch.maximum(torch.minimum(p, r), torch.maximum(q, s))


def _median_topk(xp: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    views = [v for row in _shifts(xp, kh, dim=-2) for v in _shifts(row, kw, dim=-1)]
    n = len(views)
    k = n - n // 2  # rank n//2 ascending == rank k-1 descending
    stacked = torch.stack(views, dim=-1)
    return torch.topk(stacked, k, dim=-1, largest=True, sorted=True).values[..., k - 1]


def median_smooth(x: torch.Tensor, kernel: tuple[int, int] | int | str = (3, 3)) -> torch.Tensor:
    """Sliding-window median of each channel, equal to scipy's ``median_filter(mode="reflect")``.

    Args:
        x: float batch.
        kernel: window ``(kh, kw)``; one of 3×3, 1×3, 3×1, 2×2, 5×5.

    Returns:
        Filtered batch, same shape and dtype (values are input samples, so the range is kept).

    Raises:
        ConfigError: unsupported window.
        InputError: ``x`` is not ``(B, 3, H, W)``.

    Shape:
        (B, 3, H, W) → (B, 3, H, W)
    """
    kh, kw = _check_kernel(kernel)
    check_batch(x, "B C H W", name="median input", tensor=True)
    xp = pad_symmetric(x, kh // 2, kh - 1 - kh // 2, kw // 2, kw - 1 - kw // 2)
    if (kh, kw) == (3, 3):
        return _median_3x3(xp)
    if (kh, kw) == (2, 2):
        return _median_2x2(xp)
    if kh == 1 or kw == 1:
        return _med3(*_shifts(xp, 3, dim=-1 if kh == 1 else -2))
    return _median_topk(xp, kh, kw)


def _shorthand(text: str) -> dict[str, tuple[int, int]]:
    v = parse_value(text)
    if isinstance(v, int):
        v = (v, v)
    if not isinstance(v, tuple):
        names = ", ".join(f"{h}x{w}" for h, w in WINDOWS)
        raise ConfigError(f"median:{text}: expected a window HxW, one of {names}")
    return {"kernel": v}


@DEFENSES.register(
    "median",
    function=median_smooth,
    traceable=True,
    differentiable=True,
    params=(Param("kernel", (3, 3), "window: " + ", ".join(f"{h}x{w}" for h, w in WINDOWS)),),
    shorthand=_shorthand,
    summary="median smoothing, scipy 'reflect' border",
    source="seed 000; Xu et al. NDSS'18",
    usage="median:3x3",
    examples=tuple({"kernel": k} for k in WINDOWS),
)
class MedianSmooth(nn.Module):
    """Module form of :func:`median_smooth`."""

    def __init__(self, kernel: tuple[int, int] | int | str = (3, 3)) -> None:
        super().__init__()
        self.kernel = _check_kernel(kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return median_smooth(x, self.kernel)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel[0]}x{self.kernel[1]}"
