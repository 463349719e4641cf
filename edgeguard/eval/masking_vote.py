"""A sticker attack that knows the certified-masking defense's mask set (issue 12, adaptive variant).

PatchCleanser (Xiang et al., USENIX Security'22) reads the frame through ``M`` one-masked copies: when
they all agree that label is output; when one mask covers the sticker, its copy disagrees and the
second round recovers the true label. A sticker survives only if every copy — including the one whose
mask covers part of it — is misread. :class:`MaskVote` gives the attack that objective: the mean
log-probability over the frame and its ``M`` one-masked copies (the mask geometry of
:class:`edgeguard.certify.MaskSet`, the fill the engine uses), so the loss pulls on every copy at once
and its argmax is the geometric-mean vote of the copies. Success is still judged by the real decision
(the deployed pipeline with the masking engine, or :func:`edgeguard.certify.decide`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class MaskVote(nn.Module):
    """``x`` → mean over {frame, one-masked copies} of ``log_softmax(model(copy))``.

    Shape:
        (B, 3, H, W) → (B, C)
    """

    def __init__(self, model: nn.Module, masks: Any) -> None:
        super().__init__()
        self.model = model
        self.fill = float(masks.fill)
        self.register_buffer("keep", torch.from_numpy(masks.keep()))  # (M, 1, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        copies = x.unsqueeze(1) * self.keep + self.fill * (1.0 - self.keep)  # (B, M, 3, H, W)
        views = torch.cat([x.unsqueeze(1), copies], 1)
        out = self.model(views.reshape(-1, *x.shape[1:]))
        if isinstance(out, (tuple, list)):
            out = out[0]
        logp = torch.log_softmax(out, -1).reshape(len(x), views.shape[1], -1)
        return logp.mean(1)


__all__ = ["MaskVote"]
