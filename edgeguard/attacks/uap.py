"""Universal adversarial perturbation (Moosavi-Dezfooli et al., CVPR 2017), seed 003's attack, from
ART 1.20.1 (``UniversalPerturbation`` with its DeepFool inner attack, the paper's choice).

One perturbation ``v`` with ``‖v‖ ≤ eps`` is learned on a fitting set — passes over the set in random
order, each still-correct input pushed across its boundary by DeepFool from ``x + v`` and ``v``
projected back onto the ball — until it fools ``1 − delta`` of the set or ``iters`` passes are done.
It is then added to every input: ``clip(x + v, 0, 1)``. The evaluation fits it on a set disjoint from
the one it reports on (``fit``), as seed 003 did (trained on 10K images, tested on 10K others).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import ConfigError, InputError
from ..registry import ATTACKS
from .adapters import art_classifier, kept_modes, no_param_grads, num_classes
from .seeding import seeded

Model = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class UniversalPerturbation:
    """A fitted-once perturbation (``fit``), added to any batch (``__call__``).

    Attributes after :meth:`fit`: ``perturbation`` (``(1, C, H, W)`` float32, inside the budget),
    ``fooling_rate`` on the fitting set and ``converged`` (ART's values).
    """

    kind: ClassVar[str] = "universal"
    random: ClassVar[bool] = True  # the order the fitting set is visited in

    norm: str = "linf"
    eps: float = 10 / 255
    iters: int = 5
    delta: float = 0.2
    overshoot: float = 0.02
    candidates: int = 10
    _fitted: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return "uap" if self.norm == "linf" else "uap-l2"

    def spec(self) -> str:
        tail = f"delta={self.delta!r},overshoot={self.overshoot!r},candidates={self.candidates}"
        return f"{self.name}:eps={self.eps!r},iters={self.iters},{tail}"

    @property
    def perturbation(self) -> torch.Tensor | None:
        return self._fitted.get("v")

    @property
    def fooling_rate(self) -> float | None:
        return self._fitted.get("fooling_rate")

    @property
    def converged(self) -> bool | None:
        return self._fitted.get("converged")

    def fit(
        self, model: Model, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> None:
        """Learn the perturbation on the fitting set ``(x, y)`` (true labels; the order of visits is
        drawn from ``generator``). Replaces an earlier fit."""
        from art.attacks.evasion.universal_perturbation import UniversalPerturbation as ArtUAP

        classifier = art_classifier(model, x)
        k = num_classes(model, x)
        attack = ArtUAP(
            classifier,
            attacker="deepfool",
            # DeepFool's 10 iterations and 0.02 overshoot: the paper's reference code (max_iter_df)
            attacker_params={
                "epsilon": self.overshoot,
                "max_iter": 10,
                "nb_grads": min(self.candidates, k),
                "verbose": False,
            },
            delta=self.delta,
            max_iter=self.iters,
            eps=self.eps,
            norm=np.inf if self.norm == "linf" else 2,
            batch_size=max(1, len(x)),
            verbose=False,
        )
        labels = np.eye(k, dtype=np.float32)[y.detach().cpu().numpy()]
        with seeded(generator), no_param_grads(model), kept_modes(model):
            attack.generate(x.detach().cpu().float().numpy(), y=labels)
        v = torch.as_tensor(attack.noise, dtype=torch.float64)
        # ART projects in float32 numpy; project again so the float32 result is inside the budget exactly
        if self.norm == "linf":
            e32 = torch.tensor(self.eps, dtype=torch.float32)
            if float(e32) > self.eps:
                e32 = torch.nextafter(e32, torch.zeros(()))
            v = v.float().clamp(-e32, e32)
        else:
            v = (v * min(1.0, self.eps / max(float(v.norm()), 1e-30))).float()
            while float(v.double().norm()) > self.eps:
                v = v * (1 - 1e-6)
        self._fitted.update(v=v, fooling_rate=attack.fooling_rate, converged=attack.converged)

    def __call__(
        self, model: Model, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``clip(x + v, 0, 1)``. Not fitted yet: fits on this very batch first (then the result is
        not a held-out measurement — the evaluation runner fits on a disjoint set)."""
        if self.perturbation is None:
            self.fit(model, x, y, generator)
        v = self.perturbation
        assert v is not None
        if tuple(v.shape[1:]) != tuple(x.shape[1:]):
            raise InputError(f"{self.name}: fitted on inputs {tuple(v.shape[1:])}, got {tuple(x.shape[1:])}")
        return (x + v.to(device=x.device, dtype=x.dtype)).clamp(0, 1).detach()


def _make(
    name: str, norm: str, eps: Any, iters: Any, delta: Any, overshoot: Any, candidates: Any
) -> UniversalPerturbation:
    def number(key: str, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{name}: {key} must be a number, got {v!r}")
        return float(v)

    e, d, o = number("eps", eps), number("delta", delta), number("overshoot", overshoot)
    if not (0 < e <= (1 if norm == "linf" else float("inf"))):
        raise ConfigError(f"{name}: need 0 < eps" + (" <= 1" if norm == "linf" else "") + f", got {eps!r}")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ConfigError(f"{name}: iters must be a whole number >= 1, got {iters!r}")
    if not 0 <= d < 1:
        raise ConfigError(f"{name}: need 0 <= delta < 1 (target fooling rate 1 - delta), got {delta!r}")
    if not o >= 0:
        raise ConfigError(f"{name}: need overshoot >= 0, got {overshoot!r}")
    if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
        raise ConfigError(f"{name}: candidates must be a whole number >= 1, got {candidates!r}")
    return UniversalPerturbation(norm, e, iters, d, o, candidates)


_SOURCE = (
    "ART 1.20.1 UniversalPerturbation (DeepFool inner attack); Moosavi-Dezfooli et al. CVPR'17; seed 003"
)


@ATTACKS.register(
    "uap",
    summary="universal perturbation, L∞: one v for all inputs, fitted on a disjoint set (ART)",
    usage="uap:eps=10/255,iters=5",
    source=_SOURCE,
    realtime=False,
    random=True,
    examples=({"eps": 0.1, "iters": 1, "candidates": 3},),
    invalid=({"eps": 0}, {"eps": 1.5}, {"iters": 0}, {"delta": 1.0}, {"overshoot": -1.0}, {"candidates": 0}),
    norm="linf",
    kind="universal",
    minimal=False,
)
def uap(
    eps: float = 10 / 255, iters: int = 5, delta: float = 0.2, overshoot: float = 0.02, candidates: int = 10
) -> UniversalPerturbation:
    """``uap:eps=10/255,iters=5[,delta=0.2,overshoot=0.02]``.

    Args:
        eps: L∞ budget of the perturbation on [0, 1] pixels, in (0, 1].
        iters: passes over the fitting set at most (ART's ``max_iter``).
        delta: stop once the fitting set is fooled at rate ``1 - delta``.
        overshoot: DeepFool's overshoot past each boundary.
        candidates: classes DeepFool linearises per step (ART's ``nb_grads``; the paper's code: 10).
            Each costs a forward and a backward pass per step and fitting input (ART runs DeepFool
            one fitting input at a time): lower it for big models.
    """
    return _make("uap", "linf", eps, iters, delta, overshoot, candidates)


@ATTACKS.register(
    "uap-l2",
    summary="universal perturbation, L2: one v for all inputs, fitted on a disjoint set (ART)",
    usage="uap-l2:eps=2,iters=5",
    source=_SOURCE,
    realtime=False,
    random=True,
    examples=({"eps": 1.0, "iters": 1, "candidates": 3},),
    invalid=({"eps": 0}, {"eps": -1.0}, {"iters": 0}, {"delta": -0.1}, {"eps": "x"}, {"candidates": 1.5}),
    norm="l2",
    kind="universal",
    minimal=False,
)
def uap_l2(
    eps: float = 2.0, iters: int = 5, delta: float = 0.2, overshoot: float = 0.02, candidates: int = 10
) -> UniversalPerturbation:
    """``uap-l2:eps=2,iters=5``: as ``uap`` with an L2 budget (any positive size)."""
    return _make("uap-l2", "l2", eps, iters, delta, overshoot, candidates)


__all__ = ["UniversalPerturbation", "uap", "uap_l2"]
