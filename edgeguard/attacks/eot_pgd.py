"""EOT-PGD (Athalye et al. ICML'18): L∞ PGD whose every gradient is the mean over ``eot`` forward
passes, for models with randomness (a random stage or defense draws afresh on each forward: see
``eval.attackable``); from torchattacks.

On a deterministic model the ``eot`` gradients are equal and EOT-PGD is plain PGD at ``eot`` times
the cost. ``alpha=None`` → 2.5·ε/steps as for the house PGD.
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
class EOTPGD:
    """L∞ PGD with a random start and ``eot`` gradient draws per step (torchattacks.EOTPGD)."""

    name: ClassVar[str] = "eot-pgd"
    norm: ClassVar[str] = "linf"
    kind: ClassVar[str] = "white-box"
    random: ClassVar[bool] = True  # random start (and the model's own draws)

    eps: float = 8 / 255
    steps: int = 10
    alpha: float | None = None
    eot: int = 20

    @property
    def step_size(self) -> float:
        return self.alpha if self.alpha is not None else 2.5 * self.eps / self.steps

    def spec(self) -> str:
        return ta.spec_of(self)

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        def build(m: nn.Module) -> torchattacks.EOTPGD:
            return torchattacks.EOTPGD(
                m, eps=self.eps, alpha=self.step_size, steps=self.steps, eot_iter=self.eot, random_start=True
            )

        return ta.run(build, model, x, y, generator, norm="linf", eps=self.eps)


@ATTACKS.register(
    "eot-pgd",
    summary="EOT-PGD: L∞ PGD averaging each gradient over eot random draws of the model (torchattacks)",
    usage="eot-pgd:eps=8/255,steps=10,eot=20",
    source="Athalye et al. ICML'18 (EOT); torchattacks 3.5.1 EOTPGD",
    realtime=False,
    random=True,
    examples=({"eps": 8 / 255, "steps": 3, "eot": 2}, {"eps": 0.1, "steps": 2, "alpha": 0.05, "eot": 3}),
    invalid=({"eps": 0}, {"eps": 2}, {"steps": 0}, {"alpha": -1}, {"eot": 0}, {"eot": 2.5}),
    norm="linf",
    kind="white-box",
    minimal=False,
)
def eot_pgd(eps: float = 8 / 255, steps: int = 10, alpha: float | None = None, eot: int = 20) -> EOTPGD:
    """``attacks.from_spec("eot-pgd:eps=8/255,steps=10,eot=20")``.

    Args:
        eps: L∞ budget on [0, 1] pixels, in (0, 1].
        steps: iterations, >= 1.
        alpha: step size; ``None`` → 2.5·eps/steps.
        eot: forward/backward draws averaged per gradient, >= 1 (Athalye et al. use 20–30).

    Raises:
        ConfigError: a value out of range or not a number.
    """
    return EOTPGD(
        budget("eot-pgd", eps, "linf"),
        whole("eot-pgd", "steps", steps),
        None if alpha is None else real("eot-pgd", "alpha", alpha),
        whole("eot-pgd", "eot", eot),
    )


__all__ = ["EOTPGD", "eot_pgd"]
