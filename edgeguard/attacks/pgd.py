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
from ..spec import split_spec


@dataclass(frozen=True)
class PGD:
    """L∞ PGD with a uniform random start (Madry et al. 2018). ``alpha=None`` → 2.5·eps/steps.

    Calling it, ``PGD(eps, steps)(model, x, y, generator)``, runs :func:`pgd_attack`.
    """

    name: ClassVar[str] = "pgd"
    norm: ClassVar[str] = "linf"
    kind: ClassVar[str] = "white-box"
    random: ClassVar[bool] = True  # uniform random start

    eps: float = 8 / 255
    steps: int = 7
    alpha: float | None = None

    @property
    def step_size(self) -> float:
        return self.alpha if self.alpha is not None else 2.5 * self.eps / max(self.steps, 1)

    def spec(self) -> str:
        return f"pgd:eps={self.eps:.6g},steps={self.steps},alpha={self.step_size:.6g}"

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return pgd_attack(model, x, y, self, generator)


def _check(pgd: PGD, where: str) -> PGD:
    if not (0 < pgd.eps <= 1) or pgd.steps < 1:
        raise ConfigError(f"{where}: need 0 < eps <= 1 (pixels in [0, 1]) and steps >= 1")
    if pgd.alpha is not None and not pgd.alpha > 0:
        raise ConfigError(f"{where}: need alpha > 0")
    return pgd


@ATTACKS.register(
    "pgd",
    summary="L∞ PGD, random start, sign steps on cross-entropy",
    usage="pgd:eps=8/255,steps=20",
    source="Madry et al. ICLR'18; seed 004 (Xie et al.) for adversarial training",
    traceable=False,
    differentiable=False,
    realtime=False,
    random=True,  # uniform random start
    examples=({"eps": 8 / 255, "steps": 3}, {"eps": 0.1, "steps": 1, "alpha": 0.1}),
    invalid=({"eps": 0}, {"eps": 1.5}, {"steps": 0}, {"steps": 2.5}, {"alpha": -0.1}, {"eps": "x"}),
    norm="linf",
)
def pgd(eps: float = 8 / 255, steps: int = 7, alpha: float | None = None) -> PGD:
    """The registry factory: ``attacks.from_spec("pgd:eps=8/255,steps=20")``.

    Args:
        eps: L∞ budget on [0, 1] pixels, in (0, 1].
        steps: gradient steps, >= 1.
        alpha: step size; ``None`` → 2.5·eps/steps.

    Raises:
        ConfigError: a budget, step count or step size out of range.
    """
    try:
        made = PGD(float(eps), int(steps), None if alpha is None else float(alpha))
    except (TypeError, ValueError):
        raise ConfigError(
            f"pgd: eps, steps and alpha must be numbers, got {eps!r}, {steps!r}, {alpha!r}"
        ) from None
    if made.steps != steps:
        raise ConfigError(f"pgd: steps must be a whole number, got {steps!r}")
    return _check(made, "pgd")


def parse_adv(spec: str | None) -> PGD | None:
    """Parse ``--adv`` (``pgd:eps=8/255,steps=7[,alpha=2/255]``; ``none`` → ``None``).

    Raises:
        ConfigError: unknown attack or parameter, non-positive eps/steps.
    """
    if spec is None or spec.strip().lower() in ("", "none", "off"):
        return None
    name, short, params = split_spec(spec)
    if name != "pgd" or short is not None:
        raise ConfigError(f"--adv {spec!r}: only 'pgd:eps=E,steps=N[,alpha=A]' is supported")
    unknown = set(params) - {"eps", "steps", "alpha"}
    if unknown:
        raise ConfigError(
            f"--adv {spec!r}: unknown parameter(s) {', '.join(sorted(unknown))} (eps, steps, alpha)"
        )
    try:
        return pgd(**params)
    except ConfigError as e:
        raise ConfigError(f"--adv {spec!r}: {str(e).removeprefix('pgd: ')}") from None


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


__all__ = ["PGD", "parse_adv", "pgd", "pgd_attack"]
