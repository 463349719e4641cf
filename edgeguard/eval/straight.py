"""Straight-through gradients for ops whose true gradient is zero almost everywhere (rounding, sign).

``round(x · L) / L`` (bit-depth reduction), ``floor``, ``ceil`` and ``sign`` are piecewise constant: their
derivative is 0 wherever it exists, so a gradient attack through them sees no signal and reports a
robustness that is only gradient masking. Athalye, Carlini & Wagner (ICML'18, "Obfuscated Gradients")
attack such layers with BPDA: keep the exact forward, take the backward of a close differentiable
approximation — for rounding the identity (``round(x) ≈ x``), the straight-through estimator.

Written by hand as a ``torch.autograd.Function``: the forward must stay the op itself bit for bit (it
is compared with the deployed onnxruntime engine), which ``x + (op(x) − x).detach()`` does not
guarantee (it adds and subtracts in float), and none of the attack libraries ships one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


class _StraightThrough(torch.autograd.Function):
    """Forward ``fn(x)`` exactly; backward the identity (gradient passed through unchanged)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            return fn(x)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad_out, None


def straight_through(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``fn(x)`` in the forward pass, ``d/dx = identity`` in the backward pass.

    Args:
        fn: an elementwise, shape-keeping op (rounding, bit-depth reduction, sign).
        x: input tensor (may require grad).

    Shape:
        (*) → (*)
    """
    return _StraightThrough.apply(x, fn)


class StraightThrough(nn.Module):
    """Wrap a shape-keeping module: same forward, identity backward (BPDA for rounding).

    Args:
        inner: the module whose gradient is zero or undefined (``BitDepth``, onnx2torch's ``OnnxRound``).
    """

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return straight_through(self.inner, x)


__all__ = ["StraightThrough", "straight_through"]
