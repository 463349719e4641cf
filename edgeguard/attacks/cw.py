"""Carlini & Wagner's L2 attack (S&P'17): minimise ``‖δ‖₂² + c · max(Z_y − max_{k≠y} Z_k, −κ)`` over
``x + δ = (tanh(w) + 1)/2`` with Adam; from torchattacks (one fixed ``c``, no binary search over it,
keeps per example the smallest successful perturbation).

Fixed here: torchattacks starts ``w = atanh(2x − 1)``, which is ±∞ for saturated pixels (exactly 0 or
1, common in rendered signs), where tanh has zero gradient, so those pixels can never move. Carlini &
Wagner's own code scales by 0.999999 before atanh; :class:`_CW` does the same.

A minimal-perturbation attack: runs without a budget; given ``eps``, examples that needed more than
``eps`` (L2) keep their clean input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torchattacks
from torch import nn

from ..registry import ATTACKS
from . import _torchattacks as ta
from ._params import budget, real, whole


class _CW(torchattacks.CW):
    def inverse_tanh_space(self, x: torch.Tensor) -> torch.Tensor:
        return torch.atanh((x * 2 - 1).clamp(-1, 1) * 0.999999)


@dataclass(frozen=True)
class CW:
    """CW-L2 with constant ``c`` and confidence ``kappa`` (torchattacks.CW); ``eps=None``: unbounded."""

    name: ClassVar[str] = "cw"
    norm: ClassVar[str] = "l2"
    kind: ClassVar[str] = "white-box"
    random: ClassVar[bool] = False

    c: float = 1.0
    kappa: float = 0.0
    steps: int = 100
    lr: float = 0.01
    eps: float | None = None

    def spec(self) -> str:
        return ta.spec_of(self)

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        def build(m: nn.Module) -> _CW:
            return _CW(m, c=self.c, kappa=self.kappa, steps=self.steps, lr=self.lr)

        adv = ta.run(build, model, x, y, generator, norm="l2", eps=None)
        return ta.within(x.detach(), adv, "l2", self.eps)


@ATTACKS.register(
    "cw",
    summary="Carlini-Wagner L2: minimal perturbation by Adam in tanh space (torchattacks)",
    usage="cw:c=1,steps=100",
    source="Carlini & Wagner S&P'17; torchattacks 3.5.1 CW (saturated-pixel start fixed in edgeguard)",
    realtime=False,
    examples=({"c": 5.0, "steps": 20, "lr": 0.05}, {"c": 10.0, "steps": 20, "lr": 0.05, "eps": 2.0}),
    invalid=({"c": 0}, {"kappa": -1}, {"steps": 0}, {"lr": 0}, {"eps": -1}, {"c": "x"}),
    norm="l2",
    kind="white-box",
    minimal=True,
)
def cw(
    c: float = 1.0, kappa: float = 0.0, steps: int = 100, lr: float = 0.01, eps: float | None = None
) -> CW:
    """``attacks.from_spec("cw:c=1,steps=100")``.

    Args:
        c: weight of the misclassification term against ‖δ‖₂², > 0.
        kappa: confidence margin κ >= 0 of the misclassification.
        steps: Adam steps, >= 1.
        lr: Adam learning rate, > 0.
        eps: optional L2 budget: examples needing more keep their clean input.

    Raises:
        ConfigError: a value out of range or not a number.
    """
    return CW(
        real("cw", "c", c),
        real("cw", "kappa", kappa, closed=True),
        whole("cw", "steps", steps),
        real("cw", "lr", lr),
        None if eps is None else budget("cw", eps, "l2"),
    )


__all__ = ["CW", "cw"]
