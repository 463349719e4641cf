"""Bit-depth reduction (seeds 000 and 002; Xu et al., Feature Squeezing, NDSS'18).

``round(x · (2^b − 1)) / (2^b − 1)`` on [0, 1] images. Seed 000 phrases it as dropping 2/4/6 low bits
of 8-bit pixels (6/4/2 bits kept). Its gradient is zero almost everywhere, so attacking it needs
BPDA (Athalye et al. 2018). Exports as Mul → Round → Div (all TensorRT ops).
"""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_batch
from ..errors import ConfigError
from ..registry import DEFENSES, Param
from ..spec import parse_value


def _check_bits(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 8:
        raise ConfigError(f"bits: bit depth must be an integer in 1..8, got {bits!r} (e.g. bits:5)")
    return bits


def bit_depth_reduce(x: torch.Tensor, bits: int = 5) -> torch.Tensor:
    """Quantise each value of a [0, 1] batch to ``2**bits`` evenly spaced levels.

    Args:
        x: float batch in [0, 1].
        bits: bit depth kept, 1…8.

    Returns:
        Tensor of the same shape and dtype, values in {k / (2^bits − 1)}.

    Raises:
        ConfigError: ``bits`` outside 1…8.
        InputError: ``x`` is not ``(B, 3, H, W)``.

    Shape:
        (B, 3, H, W) → (B, 3, H, W)
    """
    levels = float(2 ** _check_bits(bits) - 1)
    check_batch(x, "B C H W", name="bits input", tensor=True)
    return torch.round(x * levels) / levels


def _shorthand(text: str) -> dict[str, int]:
    v = parse_value(text)
    if not isinstance(v, int):
        raise ConfigError(f"bits:{text}: expected an integer bit depth 1..8, e.g. bits:5")
    return {"bits": v}


@DEFENSES.register(
    "bits",
    function=bit_depth_reduce,
    traceable=True,
    differentiable=False,
    params=(Param("bits", 5, "bit depth kept, 1..8"),),
    shorthand=_shorthand,
    summary="bit-depth reduction round(x(2^b-1))/(2^b-1)",
    source="seeds 000/002; Xu et al. NDSS'18",
    usage="bits:5",
    examples=({"bits": 1}, {"bits": 5}, {"bits": 8}),
)
class BitDepth(nn.Module):
    """Module form of :func:`bit_depth_reduce`."""

    def __init__(self, bits: int = 5) -> None:
        super().__init__()
        self.bits = _check_bits(bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bit_depth_reduce(x, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"
