"""Detector-aware L∞ PGD: fool the classifier while keeping the detector's score under its threshold.

He et al. (WOOT'17, "Adversarial example defenses: ensembles of weak defenses are not strong") break
feature squeezing by optimising one loss over the classifier and the detector together. Here the
model returns ``(logits, adv_score)`` (a :class:`~edgeguard.defenses.squeeze.SqueezeDetector`, or the
evaluation's differentiable copy of a deployed engine with its detector) and PGD ascends::

    CE(logits, y) − weight · relu(adv_score − tau)

per example, with sign steps, projection onto the ε-ball and a uniform random start, like the house
PGD. The returned image of each example is its last iterate that was both misclassified and not
flagged (``adv_score ≤ tau``), else the final iterate: the attacker keeps its best success.
Hand-written: torchattacks, ART and foolbox attack classifiers, not classifier + detector pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..registry import ATTACKS


@dataclass(frozen=True)
class DetectorPGD:
    """L∞ PGD against classifier + detector. ``alpha=None`` → 2.5·eps/steps; ``tau`` the detector's τ."""

    name: ClassVar[str] = "pgd-detector"
    norm: ClassVar[str] = "linf"
    kind: ClassVar[str] = "white-box"
    random: ClassVar[bool] = True  # uniform random start
    needs_score: ClassVar[bool] = True

    eps: float = 8 / 255
    steps: int = 20
    alpha: float | None = None
    tau: float = 0.0
    weight: float = 10.0

    @property
    def step_size(self) -> float:
        return self.alpha if self.alpha is not None else 2.5 * self.eps / max(self.steps, 1)

    def spec(self) -> str:
        """Canonical spec; round-trips through ``attacks.from_spec`` (floats by their shortest repr)."""
        alpha = f",alpha={self.alpha!r}" if self.alpha is not None else ""
        tail = f"tau={self.tau!r},weight={self.weight!r}"
        return f"pgd-detector:eps={self.eps!r},steps={self.steps}{alpha},{tail}"

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``model(x) -> (logits, adv_score)``; returns ``x_adv`` with ``‖x_adv − x‖∞ ≤ eps`` in [0, 1].

        A model returning logits alone (no detector) is attacked as by plain PGD (score 0).
        """
        model = _joint(model)
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype) * 2 - 1
        adv = (x + noise * self.eps).clamp(0, 1).detach()
        best, found = adv.clone(), torch.zeros(len(x), dtype=torch.bool)
        for _ in range(self.steps):
            adv.requires_grad_(True)
            logits, score = model(adv)
            loss = F.cross_entropy(logits, y, reduction="none") - self.weight * F.relu(score - self.tau)
            (grad,) = torch.autograd.grad(loss.sum(), adv)
            with torch.no_grad():
                won = (logits.argmax(-1) != y) & (score <= self.tau)
                best[won], found = adv.detach()[won], found | won
            adv = adv.detach() + self.step_size * grad.sign()
            adv = (x + (adv - x).clamp(-self.eps, self.eps)).clamp(0, 1).detach()
        with torch.no_grad():
            logits, score = model(adv)
            won = (logits.argmax(-1) != y) & (score <= self.tau)
            best[won], found = adv[won], found | won
        return torch.where(found.view(-1, 1, 1, 1), best, adv).detach()


def _joint(model: nn.Module) -> nn.Module:
    def forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = model(x)
        if isinstance(out, (tuple, list)):
            return out[0], out[1]
        return out, out.new_zeros(out.shape[0])

    return forward  # type: ignore[return-value]


def _check(attack: DetectorPGD) -> DetectorPGD:
    if not (0 < attack.eps <= 1) or attack.steps < 1:
        raise ConfigError("pgd-detector: need 0 < eps <= 1 (pixels in [0, 1]) and steps >= 1")
    if attack.alpha is not None and not attack.alpha > 0:
        raise ConfigError("pgd-detector: need alpha > 0")
    if not attack.weight >= 0 or not attack.tau >= 0:
        raise ConfigError("pgd-detector: need weight >= 0 and tau >= 0 (the detector's threshold)")
    return attack


@ATTACKS.register(
    "pgd-detector",
    summary="L∞ PGD on CE minus a penalty on the detector score above τ (needs the adv_score output)",
    usage="pgd-detector:eps=8/255,steps=20,tau=0.3,weight=10",
    source="He et al. WOOT'17 (adaptive attack on feature squeezing); Madry et al. ICLR'18",
    random=True,
    examples=({"eps": 8 / 255, "steps": 3, "tau": 0.3}, {"eps": 0.1, "steps": 1, "alpha": 0.1, "weight": 0}),
    invalid=({"eps": 0}, {"steps": 0}, {"tau": -1}, {"weight": -1}, {"eps": "x"}),
    norm="linf",
    kind="white-box",
    minimal=False,
    needs_score=True,
)
def pgd_detector(
    eps: float = 8 / 255, steps: int = 20, alpha: float | None = None, tau: float = 0.0, weight: float = 10.0
) -> DetectorPGD:
    """The registry factory: ``attacks.from_spec("pgd-detector:eps=8/255,tau=0.3")``.

    Args:
        eps: L∞ budget on [0, 1] pixels, in (0, 1].
        steps: gradient steps, >= 1.
        alpha: step size; ``None`` → 2.5·eps/steps.
        tau: the detector's threshold (the manifest's ``detector.threshold``).
        weight: penalty weight on ``relu(adv_score − tau)`` (0: plain PGD on the classifier).

    Raises:
        ConfigError: a parameter out of range or not a number.
    """
    try:
        made = DetectorPGD(
            float(eps), int(steps), None if alpha is None else float(alpha), float(tau), float(weight)
        )
    except (TypeError, ValueError):
        raise ConfigError(
            f"pgd-detector: eps, steps, alpha, tau and weight must be numbers, got "
            f"{eps!r}, {steps!r}, {alpha!r}, {tau!r}, {weight!r}"
        ) from None
    if made.steps != steps:
        raise ConfigError(f"pgd-detector: steps must be a whole number, got {steps!r}")
    return _check(made)


__all__ = ["DetectorPGD", "pgd_detector"]
