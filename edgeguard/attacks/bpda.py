"""BPDA for host stages (Athalye, Carlini & Wagner ICML'18): forward = the stage, backward = identity.

The stages are not differentiable (rounding, OpenCV, inner optimisation loops). Backward Pass
Differentiable Approximation replaces their Jacobian with the identity, which is the standard
approximation for purifiers whose output stays close to their input, so any gradient attack can run
through the whole pipeline (ARCHITECTURE.md, host-stage convention).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:  # attacks/ depends on stages/ only for types; stages/ never imports attacks/
    from ..stages.base import HostStage


class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, stage: HostStage) -> torch.Tensor:
        return stage(x.detach())

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad_out, None


class BPDA(nn.Module):
    """Wrap a host stage so it can sit inside an attacked torch graph.

    Args:
        stage: any host stage.

    Shape:
        (B, 3, H, W) → (B, 3, H, W); ``d out / d x`` is taken as the identity.
    """

    def __init__(self, stage: HostStage) -> None:
        super().__init__()
        self.stage = stage

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _StraightThrough.apply(x, self.stage)

    def extra_repr(self) -> str:
        return self.stage.spec


def bpda(stage: HostStage) -> BPDA:
    """``bpda(stage)(x)``: the stage's output, with an identity gradient to ``x``."""
    return BPDA(stage)
