"""L∞ PGD with a uniform random start (Madry et al. ICLR'18), as used by adversarial training.

Moved here from ``edgeguard/train.py`` unchanged: the same ops and the same random draws in the same
order, so the shipped weights and ``edgeguard train --resume`` stay bit-reproducible
(``tests/test_train.py`` pins a tiny run's parameters recorded before the move).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..registry import ATTACKS
from ._torchattacks import attacking, best_of  # restarts: the bookkeeping shared with pgd-l2


@dataclass(frozen=True)
class PGD:
    """L∞ PGD with a uniform random start (Madry et al. 2018). ``alpha=None`` → 2.5·eps/steps.

    Calling it, ``PGD(eps, steps)(model, x, y, generator)``, runs :func:`pgd_attack`; with
    ``restarts=R > 1`` it runs R random starts and keeps, per example, one that misclassifies (else
    the highest loss). ``restarts=1`` (the default, and adversarial training's) is exactly one
    :func:`pgd_attack` call, so the pinned training bits do not move.
    """

    name: ClassVar[str] = "pgd"
    norm: ClassVar[str] = "linf"
    kind: ClassVar[str] = "white-box"
    random: ClassVar[bool] = True  # uniform random start

    eps: float = 8 / 255
    steps: int = 7
    alpha: float | None = None
    restarts: int = 1

    @property
    def step_size(self) -> float:
        return self.alpha if self.alpha is not None else 2.5 * self.eps / max(self.steps, 1)

    def spec(self) -> str:
        more = f",restarts={self.restarts}" if self.restarts != 1 else ""
        return f"pgd:eps={self.eps:.6g},steps={self.steps},alpha={self.step_size:.6g}{more}"

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if self.restarts == 1:
            return pgd_attack(model, x, y, self, generator)

        def once() -> torch.Tensor:
            with attacking(model):
                return pgd_attack(model, x, y, self, generator)

        return best_of(model, x, y, (once for _ in range(self.restarts)))


def _check(pgd: PGD, where: str) -> PGD:
    if not (0 < pgd.eps <= 1) or pgd.steps < 1:
        raise ConfigError(f"{where}: need 0 < eps <= 1 (pixels in [0, 1]) and steps >= 1")
    if pgd.alpha is not None and not pgd.alpha > 0:
        raise ConfigError(f"{where}: need alpha > 0")
    if pgd.restarts < 1:
        raise ConfigError(f"{where}: need restarts >= 1")
    return pgd


@ATTACKS.register(
    "pgd",
    summary="L∞ PGD, random start, restarts, sign steps on cross-entropy (house implementation)",
    usage="pgd:eps=8/255,steps=20",
    source="Madry et al. ICLR'18; seed 004 (Xie et al.) for adversarial training",
    traceable=False,
    differentiable=False,
    realtime=False,
    random=True,  # uniform random start
    examples=({"eps": 8 / 255, "steps": 3}, {"eps": 0.1, "steps": 1, "alpha": 0.1, "restarts": 2}),
    invalid=(
        {"eps": 0},
        {"eps": 1.5},
        {"steps": 0},
        {"steps": 2.5},
        {"alpha": -0.1},
        {"eps": "x"},
        {"restarts": 0},
        {"restarts": 1.5},
    ),
    norm="linf",
    kind="white-box",
    minimal=False,
)
def pgd(eps: float = 8 / 255, steps: int = 7, alpha: float | None = None, restarts: int = 1) -> PGD:
    """The registry factory: ``attacks.from_spec("pgd:eps=8/255,steps=20")``.

    Args:
        eps: L∞ budget on [0, 1] pixels, in (0, 1].
        steps: gradient steps, >= 1.
        alpha: step size; ``None`` → 2.5·eps/steps.
        restarts: random starts, >= 1 (the worst case per example is kept).

    Raises:
        ConfigError: a budget, step count, step size or restart count out of range.
    """
    try:
        made = PGD(float(eps), int(steps), None if alpha is None else float(alpha), int(restarts))
    except (TypeError, ValueError):
        raise ConfigError(
            f"pgd: eps, steps and alpha must be numbers, got {eps!r}, {steps!r}, {alpha!r}"
        ) from None
    if made.steps != steps:
        raise ConfigError(f"pgd: steps must be a whole number, got {steps!r}")
    if made.restarts != restarts:
        raise ConfigError(f"pgd: restarts must be a whole number, got {restarts!r}")
    return _check(made, "pgd")


def pgd_attack(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, pgd: PGD, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Untargeted L∞ PGD on [0, 1] images (cross-entropy ascent, sign steps, projection, clamp).

    Args:
        model: maps ``(B, C, H, W)`` pixels in [0, 1] to logits (wrap it in :class:`Normalized`).
        x: clean batch in [0, 1].
        y: ``(B,)`` int64 true labels.
        pgd: budget, steps, step size.
        generator: seeds the random start (``None``: torch's global generator).

    Returns:
        ``x_adv`` with ``‖x_adv − x‖∞ ≤ eps`` and values in [0, 1], detached.

    Shape:
        (B, C, H, W) → (B, C, H, W)
    """
    noise = torch.rand(x.shape, generator=generator) * 2 - 1
    adv = (x + noise * pgd.eps).clamp(0, 1).detach()
    for _ in range(pgd.steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y)
        (grad,) = torch.autograd.grad(loss, adv)
        adv = adv.detach() + pgd.step_size * grad.sign()
        adv = (x + (adv - x).clamp(-pgd.eps, pgd.eps)).clamp(0, 1).detach()
    return adv


__all__ = ["PGD", "pgd", "pgd_attack"]
