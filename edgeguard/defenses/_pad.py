"""Symmetric ("scipy reflect") padding built from Slice + Concat.

scipy.ndimage's ``mode="reflect"`` repeats the edge sample (d c b a | a b c d). ONNX ``Pad`` has no
such mode (its ``reflect`` is scipy's ``mirror``, d c b | a b c d), and neither does
``torch.nn.functional.pad``. For a pad width of 1 the two agree with ``edge``/``replicate``; wider
pads are assembled from single-row slices so the graph only uses Slice/Concat, which TensorRT accepts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError


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
    """Pad the last two axes of ``x`` like ``numpy.pad(mode="symmetric")`` / scipy ``reflect``.

    Raises:
        InputError: a pad wider than the image (one reflection cannot fill it; slicing would silently
            return a smaller output — a 31-tap gaussian on a 12×12 batch came back 6×6).
    """
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if max(top, bottom) > h or max(left, right) > w:
        need_h, need_w = max(top, bottom), max(left, right)
        raise InputError(
            f"filter input: {h}x{w} pixels is smaller than the filter reaches ({need_h} rows, {need_w} "
            f"columns on each side); use a smaller window or a larger image"
        )
    if max(top, bottom, left, right) <= 1:  # width ≤ 1 on every side: one Pad(mode=edge) for both axes
        return F.pad(x, [left, right, top, bottom], mode="replicate") if top or bottom or left or right else x
    x = _pad_axis(x, top, bottom, dim=-2)
    return _pad_axis(x, left, right, dim=-1)
