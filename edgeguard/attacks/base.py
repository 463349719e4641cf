"""What every attack shares: models are attacked on [0, 1] pixels.

The shipped sign classifiers expect normalised input and do not normalise themselves, so an attack
whose budget is stated in pixels (ε = 8/255) runs against :class:`Normalized` ``(model, mean, std)``.
"""

from __future__ import annotations

import torch
from torch import nn


class Normalized(nn.Module):
    """``model((x - mean) / std)``: lets attacks work on [0, 1] pixels of a model that expects
    normalised input (the shipped sign models do not normalise themselves)."""

    def __init__(self, model: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)
