"""Symmetric ("scipy reflect") padding built from Slice + Concat.

scipy.ndimage's ``mode="reflect"`` repeats the edge sample (d c b a | a b c d). ONNX ``Pad`` has no
such mode (its ``reflect`` is scipy's ``mirror``, d c b | a b c d), and neither does
``torch.nn.functional.pad``. For a pad width of 1 the two agree with ``edge``/``replicate``; wider
pads are assembled from single-row slices so the graph only uses Slice/Concat, which TensorRT accepts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _take(x: torch.Tensor, dim: int, start: int, stop: int | None) -> torch.Tensor:
    index = [slice(None)] * x.dim()
    index[dim] = slice(start, stop)
    return x[tuple(index)]


def _pad_axis(x: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
    if before == 0 and after == 0:
        return x
    if before <= 1 and after <= 1:
        # Width 1: symmetric == replicate, which exports as a single Pad(mode=edge).
        pads = [0, 0, 0, 0]
        idx = 0 if dim == -1 else 2
        pads[idx], pads[idx + 1] = before, after
        return F.pad(x, pads, mode="replicate")
    # Sample i of the left pad (counting outward) is x[i]; of the right pad x[-1-i]. Negative starts
    # keep every Slice constant in the exported graph (no Shape arithmetic).
    left = [_take(x, dim, i, i + 1) for i in reversed(range(before))]
    right = [_take(x, dim, -1 - i, -i or None) for i in range(after)]
    return torch.cat([*left, x, *right], dim=dim)


def pad_symmetric(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Pad the last two axes of ``x`` like ``numpy.pad(mode="symmetric")`` / scipy ``reflect``."""
    x = _pad_axis(x, top, bottom, dim=-2)
    return _pad_axis(x, left, right, dim=-1)
