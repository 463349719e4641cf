"""FGSM (Goodfellow et al. ICLR'15): one signed-gradient step of size ε, from torchattacks.

``x_adv = clip₀¹(x + ε · sign(∇ₓ CE(f(x), y)))``. The single-step baseline of the Carlini et al. 2019
checklist (iterative attacks must do at least as well) and seed 002's adversarial-training attack
(``edgeguard train --adv fgsm:eps=8/255``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torchattacks
from torch import nn

from ..registry import ATTACKS
from . import _torchattacks as ta
from ._params import budget


@dataclass(frozen=True)
class FGSM:
    """Fast gradient sign method, L∞ budget ``eps`` (torchattacks.FGSM)."""

    name: ClassVar[str] = "fgsm"
    norm: ClassVar[str] = "linf"
    kind: ClassVar[str] = "white-box"
    random: ClassVar[bool] = False

    eps: float = 8 / 255

    def spec(self) -> str:
        return ta.spec_of(self)

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return ta.run(
            lambda m: torchattacks.FGSM(m, eps=self.eps), model, x, y, generator, norm="linf", eps=self.eps
        )


@ATTACKS.register(
    "fgsm",
    summary="FGSM: one L∞ signed-gradient step (torchattacks)",
    usage="fgsm:eps=8/255",
    source="Goodfellow et al. ICLR'15; torchattacks 3.5.1 FGSM",
    realtime=False,
    examples=({"eps": 8 / 255}, {"eps": 0.1}),
    invalid=({"eps": 0}, {"eps": 1.5}, {"eps": "x"}, {"eps": -0.1}),
    norm="linf",
    kind="white-box",
    minimal=False,
)
def fgsm(eps: float = 8 / 255) -> FGSM:
    """``attacks.from_spec("fgsm:eps=8/255")``.

    Args:
        eps: L∞ budget on [0, 1] pixels, in (0, 1].

    Raises:
        ConfigError: eps out of range or not a number.
    """
    return FGSM(budget("fgsm", eps, "linf"))


__all__ = ["FGSM", "fgsm"]
