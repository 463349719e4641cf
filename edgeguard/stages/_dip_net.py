"""The Deep Image Prior network of the ``dip`` stage: B independent skip networks as one grouped net.

Split from ``dip.py`` so that the stage class (and the stage registry) import without torch; this
module is imported when a DIP stage runs. Architecture notes are in ``dip.py``'s docstring.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _gcat(a: torch.Tensor, b: torch.Tensor, groups: int) -> torch.Tensor:
    """Concatenate channels image by image in the grouped ``(1, G·C, H, W)`` layout."""
    _, ca, h, w = a.shape
    cb = b.shape[1]
    return torch.cat([a.view(groups, ca // groups, h, w), b.view(groups, cb // groups, h, w)], 1).view(
        1, -1, h, w
    )


class _Block(nn.Sequential):
    """conv (grouped, reflection padding) → BN → SiLU."""

    def __init__(self, groups: int, cin: int, cout: int, k: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(groups * cin, groups * cout, k, stride, k // 2, groups=groups, padding_mode="reflect"),
            nn.BatchNorm2d(groups * cout),
            nn.SiLU(),
        )


class SkipNet(nn.Module):
    """``groups`` independent DIP skip networks evaluated as one grouped network.

    Args:
        groups: number of images (independent networks).
        in_ch: channels of the random input.
        ch: channels of the encoder/decoder.
        skip: channels of each skip branch.
        scales: number of down/up-sampling levels.

    Shape:
        (1, groups·in_ch, H, W) → (1, groups·3, H, W) with H, W multiples of 2^scales.
    """

    def __init__(self, groups: int, in_ch: int = 8, ch: int = 16, skip: int = 4, scales: int = 3) -> None:
        super().__init__()
        self.groups = groups
        self.skips = nn.ModuleList()
        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.up_bn = nn.ModuleList()
        cin = in_ch
        for _ in range(scales):
            self.skips.append(_Block(groups, cin, skip, 1))
            self.downs.append(nn.Sequential(_Block(groups, cin, ch, 3, 2), _Block(groups, ch, ch, 3)))
            self.up_bn.append(nn.BatchNorm2d(groups * (skip + ch)))
            self.ups.append(nn.Sequential(_Block(groups, skip + ch, ch, 3), _Block(groups, ch, ch, 1)))
            cin = ch
        self.head = nn.Conv2d(groups * ch, groups * 3, 1, groups=groups)

    def init_weights(self, generator: torch.Generator) -> None:
        """Kaiming-uniform conv weights and zero biases drawn from ``generator`` (reproducible)."""
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_uniform_(mod.weight, a=math.sqrt(5), generator=generator)
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias)

    def _level(self, x: torch.Tensor, i: int) -> torch.Tensor:
        s = self.skips[i](x)
        d = self.downs[i](x)
        if i + 1 < len(self.downs):
            d = self._level(d, i + 1)
        d = F.interpolate(d, size=s.shape[-2:], mode="bilinear", align_corners=False)
        return self.ups[i](self.up_bn[i](_gcat(s, d, self.groups)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(self._level(z, 0)))
