"""The torch module that becomes the exported graph: defenses → normalisation → model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    """``(x − mean) / std`` per channel; mean/std are constants in the exported graph."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class DefendedModel(nn.Module):
    """Input ``(B, 3, H, W)`` in [0, 1] RGB → defenses (in order) → normalisation → model.

    This is the exact computation of the exported engine, so it is also the torch reference used by
    the parity check and by gradient attacks against the whole pipeline.
    """

    def __init__(self, model: nn.Module, defenses: Sequence[nn.Module], normalize: nn.Module | None) -> None:
        super().__init__()
        self.defenses = nn.Sequential(*defenses)
        self.normalize = normalize if normalize is not None else nn.Identity()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalize(self.defenses(x)))
