"""NewtonFool (Jang, Wu & Jha, ACSAC 2017), seed 001's gradient attack, from ART 1.20.1.

Newton steps that drive the softmax probability of the predicted class down towards ``1/classes``,
each step's size bounded by ``eta·‖x‖·‖∇p‖``. A minimal-perturbation attack: no budget; it reports the
perturbation it needed (``measure.perturbation``). Taken from ART's ``NewtonFool`` (seed 001 used
foolbox's; ART's is the maintained one with the same update). The model is wrapped with a softmax
because NewtonFool's score is a probability (ART reads the classifier's output as one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

from ..errors import ConfigError
from ..registry import ATTACKS
from .adapters import art_classifier, kept_modes, no_param_grads, to_torch
from .seeding import preserved

Model = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class NewtonFool:
    """ART's ``NewtonFool(max_iter=steps, eta=eta)`` on [0, 1] pixels; deterministic.

    It attacks the class the model predicts (ART's convention), which is ``y`` wherever the input
    is classified correctly — the only inputs whose robustness the result measures.
    """

    name: ClassVar[str] = "newtonfool"
    norm: ClassVar[str] = "none"
    kind: ClassVar[str] = "white-box"
    random: ClassVar[bool] = False
    eps: ClassVar[float | None] = None

    steps: int = 100
    eta: float = 0.01

    def spec(self) -> str:
        return f"{self.name}:steps={self.steps},eta={self.eta!r}"

    def __call__(
        self, model: Model, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        from art.attacks.evasion.newtonfool import NewtonFool as ArtNewtonFool

        classifier = art_classifier(model, x, probabilities=True)
        attack = ArtNewtonFool(
            classifier, max_iter=self.steps, eta=self.eta, batch_size=len(x), verbose=False
        )
        with preserved(), no_param_grads(model), kept_modes(model):
            out = attack.generate(x.detach().cpu().float().numpy())
        return to_torch(out, x)


@ATTACKS.register(
    "newtonfool",
    summary="NewtonFool: Newton steps on the predicted class's probability (minimal; ART)",
    usage="newtonfool:steps=100,eta=0.01",
    source="ART 1.20.1 NewtonFool; Jang, Wu & Jha ACSAC'17; seed 001",
    realtime=False,
    random=False,
    examples=({"steps": 20},),
    invalid=({"steps": 0}, {"steps": 1.5}, {"eta": 0}, {"eta": -0.1}, {"eta": "x"}),
    norm="none",
    kind="white-box",
    minimal=True,
)
def newtonfool(steps: int = 100, eta: float = 0.01) -> NewtonFool:
    """``newtonfool:steps=100,eta=0.01``.

    Args:
        steps: Newton iterations (ART's ``max_iter``; all are run).
        eta: step-size bound relative to ``‖x‖·‖∇p‖``, > 0.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"newtonfool: steps must be a whole number >= 1, got {steps!r}")
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not eta > 0:
        raise ConfigError(f"newtonfool: need eta > 0, got {eta!r}")
    return NewtonFool(steps, float(eta))


__all__ = ["NewtonFool", "newtonfool"]
