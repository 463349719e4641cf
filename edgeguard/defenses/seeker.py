"""Certified masking for detection, the graph part: the frame and its split-masked copies in one call.

ObjectSeeker (Xiang et al., IEEE S&P'23): ``k`` split lines per axis, each giving two half-masked
copies of the frame (``4k`` copies; the paper uses ``k = 30``). The exported engine runs the frame and
every copy through the detector as ONE batch and outputs the copies' raw heads ``masked_heads``
(B, M, 4 + nc, N) beside the frame's own head; pruning, merging and the certificate are host-side
(:mod:`edgeguard.seeker`, numpy only). The masks are built in the graph from the ``(M, 4)`` masked
rectangles (rows ``y0 ≤ y < y1``, columns ``x0 ≤ x < x1``) rather than stored as an ``(M, H, W)``
constant: 120 masks of 320×320 would add 49 MB to the ONNX file.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

OUTPUT = "masked_heads"


class SplitCopies(nn.Module):
    """``x`` → ``(head, masked_heads)``: the detector ``f`` on ``x`` and on its ``M`` masked copies.

    ``splits``: an :class:`edgeguard.seeker.SplitSet` (``rects()`` (M, 4), ``fill``, ``size``).

    Shape:
        (B, 3, H, W) → ((B, 4 + nc, N), (B, M, 4 + nc, N))
    """

    def __init__(self, f: nn.Module, splits: Any) -> None:
        super().__init__()
        self.f = f
        self.fill = float(splits.fill)
        self.size = tuple(int(v) for v in splits.size)  # python ints: the traced graph keeps H, W static
        rects = torch.as_tensor(splits.rects(), dtype=torch.float32)  # (M, 4): y0, y1, x0, x1
        self.register_buffer("rects", rects.view(-1, 4, 1, 1))

    def keep(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """``(M, 1, H, W)``: 0 inside each copy's masked half, 1 elsewhere.

        With ``x`` the row and column indices are counted from the input (a cumulative sum of
        ``0 · x + 1``) instead of ``arange``: the graph simplifier folds anything built from constants
        or static shapes alone, and would store the whole (M, H, W) mask again. (A NaN frame gives NaN
        copies, which the pipeline refuses as it refuses any NaN output.)
        """
        h, w = self.size
        if x is None:
            ys = torch.arange(h, dtype=torch.float32, device=self.rects.device).view(1, h, 1)
            xs = torch.arange(w, dtype=torch.float32, device=self.rects.device).view(1, 1, w)
        else:
            ones = x[:1, 0] * 0.0 + 1.0  # (1, H, W), data-dependent: not folded
            ys = torch.cumsum(ones[:, :, :1], dim=1) - 1.0  # (1, H, 1)
            xs = torch.cumsum(ones[:, :1, :], dim=2) - 1.0  # (1, 1, W)
        r = self.rects
        inside = (ys >= r[:, 0]) & (ys < r[:, 1]) & (xs >= r[:, 2]) & (xs < r[:, 3])  # (M, H, W)
        return (~inside).to(torch.float32).unsqueeze(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keep = self.keep(x)
        m = keep.shape[0]
        copies = x.unsqueeze(1) * keep + self.fill * (1.0 - keep)  # (B, M, 3, H, W)
        views = torch.cat([x.unsqueeze(1), copies], dim=1).reshape(-1, 3, *self.size)
        out = self.f(views)
        out = out.reshape(-1, m + 1, *out.shape[1:])
        return out[:, 0], out[:, 1:]


__all__ = ["OUTPUT", "SplitCopies"]
