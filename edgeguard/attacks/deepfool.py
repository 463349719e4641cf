"""DeepFool (Moosavi-Dezfooli et al. CVPR'16): the minimal L2 perturbation that crosses the nearest
linearised decision boundary, iterated; from torchattacks.

A minimal-perturbation attack: it runs without a budget and the evaluation reports the perturbation
it needed (``attacks/measure.py``). For an affine classifier one step lands exactly on the nearest
boundary, at distance ``min_k |f_k(x) − f_y(x)| / ‖w_k − w_y‖``, times ``1 + overshoot``.
Given ``eps``, examples that needed more than ``eps`` (L2) keep their clean input: accuracy at ε.
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
class DeepFool:
    """DeepFool, L2 minimal perturbation (torchattacks.DeepFool); ``eps=None``: unbounded."""

    name: ClassVar[str] = "deepfool"
    norm: ClassVar[str] = "l2"
    kind: ClassVar[str] = "white-box"
    random: ClassVar[bool] = False

    steps: int = 50
    overshoot: float = 0.02
    eps: float | None = None

    def spec(self) -> str:
        return ta.spec_of(self)

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        def build(m: nn.Module) -> torchattacks.DeepFool:
            return torchattacks.DeepFool(m, steps=self.steps, overshoot=self.overshoot)

        adv = ta.run(build, model, x, y, generator, norm="l2", eps=None)
        return ta.within(x.detach(), adv, "l2", self.eps)


@ATTACKS.register(
    "deepfool",
    summary="DeepFool: minimal L2 perturbation to the nearest linearised boundary (torchattacks)",
    usage="deepfool:steps=50",
    source="Moosavi-Dezfooli et al. CVPR'16; torchattacks 3.5.1 DeepFool",
    realtime=False,
    examples=({"steps": 10}, {"steps": 5, "overshoot": 0.1, "eps": 1.5}),
    invalid=({"steps": 0}, {"steps": 1.5}, {"overshoot": -0.1}, {"eps": 0}, {"overshoot": "x"}),
    norm="l2",
    kind="white-box",
    minimal=True,
)
def deepfool(steps: int = 50, overshoot: float = 0.02, eps: float | None = None) -> DeepFool:
    """``attacks.from_spec("deepfool:steps=50")``.

    Args:
        steps: at most this many linearisation steps per example, >= 1.
        overshoot: each step goes ``1 + overshoot`` times the distance to the boundary, >= 0.
        eps: optional L2 budget: examples needing more keep their clean input.

    Raises:
        ConfigError: a value out of range or not a number.
    """
    return DeepFool(
        whole("deepfool", "steps", steps),
        real("deepfool", "overshoot", overshoot, closed=True),
        None if eps is None else budget("deepfool", eps, "l2"),
    )


__all__ = ["DeepFool", "deepfool"]
