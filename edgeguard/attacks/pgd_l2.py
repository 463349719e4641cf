"""L2 PGD (Madry et al. ICLR'18): normalised-gradient steps, projection onto the L2 ball, random
start inside the ball; from torchattacks, with restarts added here (torchattacks.PGDL2 has none).

``alpha=None`` → 2.5·ε/steps, the step rule of the house L∞ PGD (``attacks/pgd.py``) and of Madry
et al.'s experiments (the path can cross the ball 2.5 times). ``restarts=R`` runs R random starts and
keeps, per example, one that misclassifies (else the highest loss).
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
class PGDL2:
    """L2 PGD with a random start and restarts (torchattacks.PGDL2)."""

    name: ClassVar[str] = "pgd-l2"
    norm: ClassVar[str] = "l2"
    kind: ClassVar[str] = "white-box"
    random: ClassVar[bool] = True  # random start in the L2 ball

    eps: float = 0.5
    steps: int = 10
    alpha: float | None = None
    restarts: int = 1

    @property
    def step_size(self) -> float:
        return self.alpha if self.alpha is not None else 2.5 * self.eps / self.steps

    def spec(self) -> str:
        return ta.spec_of(self)

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        def build(m: nn.Module) -> torchattacks.PGDL2:
            return torchattacks.PGDL2(
                m, eps=self.eps, alpha=self.step_size, steps=self.steps, random_start=True
            )

        def once() -> torch.Tensor:
            return ta.run(build, model, x, y, generator, norm="l2", eps=self.eps)

        return ta.best_of(model, x, y, (once for _ in range(self.restarts)))


@ATTACKS.register(
    "pgd-l2",
    summary="L2 PGD, random start, restarts (torchattacks)",
    usage="pgd-l2:eps=0.5,steps=20,restarts=2",
    source="Madry et al. ICLR'18; torchattacks 3.5.1 PGDL2 (restarts added in edgeguard)",
    realtime=False,
    random=True,
    examples=({"eps": 0.5, "steps": 3}, {"eps": 1.0, "steps": 2, "alpha": 0.5, "restarts": 2}),
    invalid=({"eps": 0}, {"eps": -1}, {"steps": 0}, {"steps": 1.5}, {"alpha": 0}, {"restarts": 0}),
    norm="l2",
    kind="white-box",
    minimal=False,
)
def pgd_l2(eps: float = 0.5, steps: int = 10, alpha: float | None = None, restarts: int = 1) -> PGDL2:
    """``attacks.from_spec("pgd-l2:eps=0.5,steps=20,restarts=2")``.

    Args:
        eps: L2 budget on [0, 1] pixels (over all C·H·W values), > 0.
        steps: iterations, >= 1.
        alpha: step size (L2 length of each step); ``None`` → 2.5·eps/steps.
        restarts: random starts, >= 1.

    Raises:
        ConfigError: a value out of range or not a number.
    """
    return PGDL2(
        budget("pgd-l2", eps, "l2"),
        whole("pgd-l2", "steps", steps),
        None if alpha is None else real("pgd-l2", "alpha", alpha),
        whole("pgd-l2", "restarts", restarts),
    )


__all__ = ["PGDL2", "pgd_l2"]
