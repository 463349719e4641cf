"""JSMA (Papernot et al. EuroS&P'16): an L0 attack that raises, two input values at a time, the pair
with the largest Jacobian saliency towards a target class; from torchattacks.

**Small inputs only.** The saliency map scores every *pair* of input values: memory and time grow
with (C·H·W)², about 0.2 GB of float32 per example already at 3×32×32 (3072 values) and 2.4 GB at
the signs' 3×64×64. :data:`MAX_VALUES` is the largest input it accepts; larger inputs are refused
with an :class:`~edgeguard.errors.InputError` (use an L2/L∞ attack there, or downscale).

JSMA is targeted; untargeted use attacks class ``(y + 1) mod K``. torchattacks' untargeted default
hard-codes ``mod 10`` (an invalid class for K < 10, a fixed subset for K > 10), so the target map is
set here from the model's K. Examples the model already misclassifies are returned unchanged.
A minimal-perturbation attack: ``gamma`` caps the fraction of values changed; given ``eps`` (a count
of changed values), examples that needed more keep their clean input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torchattacks
from torch import nn

from ..errors import ConfigError, InputError
from ..registry import ATTACKS
from . import _torchattacks as ta
from ._params import real

MAX_VALUES = 3 * 32 * 32  # C·H·W; the pairwise saliency map is MAX_VALUES² floats per example


@dataclass(frozen=True)
class JSMA:
    """Jacobian saliency map attack, L0 (torchattacks.JSMA); ``eps=None``: up to ``gamma`` of the values."""

    name: ClassVar[str] = "jsma"
    norm: ClassVar[str] = "l0"
    kind: ClassVar[str] = "white-box"
    random: ClassVar[bool] = False

    theta: float = 1.0
    gamma: float = 0.1
    eps: float | None = None

    def spec(self) -> str:
        return ta.spec_of(self)

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        ta.check_inputs(x, y)
        values = x[0].numel() if len(x) else 0
        if values > MAX_VALUES:
            raise InputError(
                f"jsma: input {tuple(x.shape[1:])} has {values} values; JSMA's pairwise saliency map "
                f"needs (C·H·W)² memory and runs on inputs up to {MAX_VALUES} values (e.g. 3×32×32): "
                "downscale, or use an L2/L∞ attack (pgd, pgd-l2, deepfool, cw)"
            )
        k = ta.n_classes(model, x)

        def build(m: nn.Module) -> torchattacks.JSMA:
            atk = torchattacks.JSMA(m, theta=self.theta, gamma=self.gamma)
            atk.set_mode_targeted_by_function(lambda _x, lab: (lab + 1) % k, quiet=True)
            return atk

        adv = ta.run(build, model, x, y, generator, norm="l0", eps=None)
        adv = ta.clean_misclassified(model, x.detach(), y, adv)
        return ta.within(x.detach(), adv, "l0", self.eps)


@ATTACKS.register(
    "jsma",
    summary="JSMA: L0 saliency-map attack; small inputs only (up to 3x32x32 values) (torchattacks)",
    usage="jsma:theta=1,gamma=0.1",
    source="Papernot et al. EuroS&P'16; torchattacks 3.5.1 JSMA (target class mod K fixed in edgeguard)",
    realtime=False,
    examples=({"theta": 1.0, "gamma": 0.05}, {"theta": -1.0, "gamma": 0.05, "eps": 10}),
    invalid=({"theta": 0}, {"gamma": 0}, {"gamma": 1.5}, {"eps": 0}, {"theta": "x"}),
    norm="l0",
    kind="white-box",
    minimal=True,
    max_input_values=MAX_VALUES,  # C·H·W beyond which a call raises InputError
)
def jsma(theta: float = 1.0, gamma: float = 0.1, eps: float | None = None) -> JSMA:
    """``attacks.from_spec("jsma:theta=1,gamma=0.1")``. Small inputs only (``MAX_VALUES``).

    Args:
        theta: change applied to each chosen value (+ raises, − lowers), non-zero.
        gamma: largest fraction of input values changed, in (0, 1].
        eps: optional L0 budget (number of changed values): examples needing more keep their input.

    Raises:
        ConfigError: a value out of range or not a number.
    """
    t = real("jsma", "theta", theta, lo=float("-inf"))
    if t == 0:
        raise ConfigError("jsma: need theta != 0 (the change applied to each chosen value)")
    return JSMA(t, real("jsma", "gamma", gamma, hi=1.0), None if eps is None else real("jsma", "eps", eps))


__all__ = ["JSMA", "MAX_VALUES", "jsma"]
