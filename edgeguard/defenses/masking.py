"""Certified masking, the graph part: the frame and its one-masked copies through the model in one call.

PatchCleanser double-masking (Xiang et al., USENIX Security'22): the exported engine evaluates every
one-masked copy of the frame as ONE batched call and outputs their logits (``mask_logits``, B × M × C)
beside the frame's own ``logits``. The mask geometry, the decision and the certificate live on the host
side in :mod:`edgeguard.certify` (numpy only, so the inference path needs no torch); this module is the
torch module the exporter traces (``edgeguard export … --masking patch=0.25``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

OUTPUT = "mask_logits"


class MaskedCopies(nn.Module):
    """``x`` → ``(logits, mask_logits)``: ``f`` on ``x`` and on its ``M`` one-masked copies, one batch.

    ``masks``: an :class:`edgeguard.certify.MaskSet` (``keep()`` (M, 1, H, W) and ``fill``, ``size``).

    Shape:
        (B, 3, H, W) → ((B, C), (B, M, C))
    """

    def __init__(self, f: nn.Module, masks: Any) -> None:
        super().__init__()
        self.f = f
        self.fill = float(masks.fill)
        self.size = tuple(masks.size)  # python ints: the traced graph keeps H and W static
        self.register_buffer("keep", torch.from_numpy(masks.keep()))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        copies = x.unsqueeze(1) * self.keep + self.fill * (1.0 - self.keep)  # (B, M, 3, H, W)
        views = torch.cat([x.unsqueeze(1), copies], dim=1)
        out = self.f(views.reshape(-1, 3, *self.size))
        out = out.reshape(-1, self.keep.shape[0] + 1, out.shape[-1])
        return out[:, 0], out[:, 1:]


__all__ = ["OUTPUT", "MaskedCopies"]
