"""I-FGSM / BIM (Kurakin et al. ICLR'17 workshop): FGSM iterated with step α and clipped to the
ε-ball after every step, no random start; from torchattacks.

Default step: Kurakin et al. take α = 1/255 for min(ε·255 + 4, 1.25·ε·255) steps, i.e. a total path
of ≈ 1.25 ε; ``alpha=None`` keeps that ratio for any ``steps`` (α = 1.25·ε/steps).
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


@dataclass(frozen=True)
class BIM:
    """Basic iterative method (I-FGSM), L∞ budget ``eps`` (torchattacks.BIM)."""

    name: ClassVar[str] = "bim"
    norm: ClassVar[str] = "linf"
    kind: ClassVar[str] = "white-box"
    random: ClassVar[bool] = False

    eps: float = 8 / 255
    steps: int = 10
    alpha: float | None = None

    @property
    def step_size(self) -> float:
        return self.alpha if self.alpha is not None else 1.25 * self.eps / self.steps

    def spec(self) -> str:
        return ta.spec_of(self)

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        def build(m: nn.Module) -> torchattacks.BIM:
            return torchattacks.BIM(m, eps=self.eps, alpha=self.step_size, steps=self.steps)

        return ta.run(build, model, x, y, generator, norm="linf", eps=self.eps)


@ATTACKS.register(
    "bim",
    summary="I-FGSM / BIM: iterated L∞ signed-gradient steps, no random start (torchattacks)",
    usage="bim:eps=8/255,steps=10",
    source="Kurakin et al. 2017 (arXiv:1607.02533); torchattacks 3.5.1 BIM",
    realtime=False,
    examples=({"eps": 8 / 255, "steps": 3}, {"eps": 0.1, "steps": 2, "alpha": 0.05}),
    invalid=({"eps": 0}, {"eps": 2}, {"steps": 0}, {"steps": 2.5}, {"alpha": 0}, {"alpha": "x"}),
    norm="linf",
    kind="white-box",
    minimal=False,
)
def bim(eps: float = 8 / 255, steps: int = 10, alpha: float | None = None) -> BIM:
    """``attacks.from_spec("bim:eps=8/255,steps=10")``.

    Args:
        eps: L∞ budget on [0, 1] pixels, in (0, 1].
        steps: iterations, >= 1.
        alpha: step size; ``None`` → 1.25·eps/steps (Kurakin et al.'s ratio).

    Raises:
        ConfigError: a value out of range or not a number.
    """
    return BIM(
        budget("bim", eps, "linf"),
        whole("bim", "steps", steps),
        None if alpha is None else real("bim", "alpha", alpha),
    )


__all__ = ["BIM", "bim"]
