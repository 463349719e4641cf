"""Seed 001's noise attacks: Gaussian, blended uniform and salt-and-pepper noise of increasing strength
until the input is misclassified, from foolbox 3.3.4 (Rauber et al., JOSS 2020).

They are minimal-perturbation attacks: they report the noise each input needed, not a fixed budget;
an optional ``eps`` caps the L2 size (foolbox's ``epsilons``). They only read the model's decisions,
so they run on any engine (``kind="query"``). Inputs the attack does not misclassify come back
unchanged (foolbox's own convention for failed minimisation), so measured perturbations are what the
successful inputs needed.

Why foolbox and not twenty lines of torch: the seed ran exactly these attacks from foolbox, and two of
them carry details worth not re-deriving — the blended attack first searches for a uniform-noise
image that is itself misclassified before line-searching the blend; salt-and-pepper adapts its noise
probability per input. The Gaussian attack is the one that foolbox 3 only offers at a fixed size
(its "increasing σ" search of foolbox 1/2 is gone): we keep foolbox's clipping-aware Gaussian noise
(Rauber & Bethge 2020: the L2 size *after* clipping to [0, 1] is exactly the level) and step the
level up geometrically ourselves, so the L2 an input needed is known to within one level.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..errors import ConfigError
from ..registry import ATTACKS
from .adapters import foolbox_model
from .seeding import seeded

Model = Callable[[torch.Tensor], torch.Tensor]
_SOURCE = "foolbox 3.3.4 (Rauber et al. JOSS 2020); seed 001"


def _num(v: float) -> str:
    return repr(float(v))


def _whole(name: str, key: str, value: Any, low: int = 1) -> int:
    try:
        made = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {key} must be a whole number, got {value!r}") from None
    if made != value or made < low:
        raise ConfigError(f"{name}: {key} must be a whole number >= {low}, got {value!r}")
    return made


def _eps(name: str, eps: Any) -> float | None:
    if eps is None:
        return None
    try:
        made = float(eps)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: eps must be a number, got {eps!r}") from None
    if not made > 0 or not math.isfinite(made):
        raise ConfigError(f"{name}: need eps > 0 (an L2 cap on [0, 1] pixels), got {eps!r}")
    return made


def _finish(x: torch.Tensor, found: torch.Tensor, x_found: torch.Tensor) -> torch.Tensor:
    """Found inputs replaced by their adversarial version, in x's dtype, clamped against rounding."""
    out = torch.where(found.view(-1, *[1] * (x.dim() - 1)), x_found.to(x.dtype), x)
    return out.clamp(0, 1).detach()


@dataclass(frozen=True)
class GaussianNoise:
    """Additive Gaussian noise, its L2 size stepped up geometrically until the input is misclassified.

    Levels: ``queries`` sizes from ``top/1000`` to ``top`` (``top = eps``, or √D, the [0, 1] cube's
    diagonal, when uncapped), ratio ``1000^(1/(queries-1))`` between neighbours; a fresh draw per
    level (foolbox's ``L2ClippingAwareAdditiveGaussianNoiseAttack``: L2 after clipping = the level).
    """

    name: ClassVar[str] = "noise-gaussian"
    norm: ClassVar[str] = "l2"
    kind: ClassVar[str] = "query"
    random: ClassVar[bool] = True

    queries: int = 100
    eps: float | None = None

    def spec(self) -> str:
        return f"{self.name}:queries={self.queries}" + ("" if self.eps is None else f",eps={_num(self.eps)}")

    def levels(self, x: torch.Tensor) -> list[float]:
        top = self.eps if self.eps is not None else math.sqrt(x[0].numel())
        if self.queries == 1:
            return [top]
        return [top * 1000.0 ** (k / (self.queries - 1) - 1) for k in range(self.queries)]

    def __call__(
        self, model: Model, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        import foolbox

        fmodel = foolbox_model(model, x)
        attack = foolbox.attacks.L2ClippingAwareAdditiveGaussianNoiseAttack()
        with torch.no_grad():
            todo = model(x).argmax(1) == y  # misclassified already: needs no noise
        out = x.clone()
        found = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        with seeded(generator):
            for level in self.levels(x):
                idx = todo.nonzero()[:, 0]
                if not len(idx):
                    break
                _, clipped, success = attack(
                    fmodel, x[idx], foolbox.criteria.Misclassification(y[idx]), epsilons=level
                )
                hit = idx[success]
                out[hit] = clipped[success].to(x.dtype)
                found[hit] = True
                todo[hit] = False
        return _finish(x, found, out)


@ATTACKS.register(
    "noise-gaussian",
    summary="Gaussian noise, L2 size stepped up until misclassified (minimal; foolbox)",
    usage="noise-gaussian:queries=100",
    source=_SOURCE + "; clipping-aware rescaling: Rauber & Bethge 2020",
    realtime=False,
    random=True,
    examples=({"queries": 20}, {"queries": 10, "eps": 10.0}),
    invalid=({"queries": 0}, {"queries": 2.5}, {"eps": 0}, {"eps": -1.0}, {"eps": "x"}),
    norm="l2",
    kind="query",
    minimal=True,
)
def noise_gaussian(queries: int = 100, eps: float | None = None) -> GaussianNoise:
    """``noise-gaussian:queries=100[,eps=E]``.

    Args:
        queries: noise levels tried, one model call each (geometric, three decades up to the top).
        eps: optional L2 cap on [0, 1] pixels; ``None`` searches up to the whole cube.
    """
    return GaussianNoise(_whole("noise-gaussian", "queries", queries), _eps("noise-gaussian", eps))


@dataclass(frozen=True)
class BlendedUniformNoise:
    """``(1 − a)·x + a·u`` with uniform noise ``u`` misclassified on its own, ``a`` the smallest of
    ``0, 1/queries, …, 1`` that is misclassified (foolbox's ``LinearSearchBlendedUniformNoiseAttack``;
    ``directions`` draws of ``u`` at most)."""

    name: ClassVar[str] = "noise-blended"
    norm: ClassVar[str] = "l2"
    kind: ClassVar[str] = "query"
    random: ClassVar[bool] = True

    queries: int = 200
    directions: int = 1000
    eps: float | None = None

    def spec(self) -> str:
        tail = "" if self.eps is None else f",eps={_num(self.eps)}"
        return f"{self.name}:queries={self.queries},directions={self.directions}{tail}"

    def __call__(
        self, model: Model, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        import foolbox

        attack = foolbox.attacks.LinearSearchBlendedUniformNoiseAttack(
            distance=foolbox.distances.l2, directions=self.directions, steps=self.queries
        )
        with seeded(generator):
            _, clipped, success = attack(
                foolbox_model(model, x), x, foolbox.criteria.Misclassification(y), epsilons=self.eps
            )
        return _finish(x, success, clipped)


@ATTACKS.register(
    "noise-blended",
    summary="blend with uniform noise until misclassified (minimal; foolbox)",
    usage="noise-blended:queries=200",
    source=_SOURCE,
    realtime=False,
    random=True,
    examples=({"queries": 20, "directions": 20}, {"queries": 10, "directions": 10, "eps": 10.0}),
    invalid=({"queries": 0}, {"directions": 0}, {"directions": 1.5}, {"eps": 0}, {"eps": "x"}),
    norm="l2",
    kind="query",
    minimal=True,
)
def noise_blended(
    queries: int = 200, directions: int = 1000, eps: float | None = None
) -> BlendedUniformNoise:
    """``noise-blended:queries=200[,directions=1000,eps=E]``.

    Args:
        queries: blend factors tried, ``1/queries`` apart, one model call each (foolbox's ``steps``).
        directions: uniform-noise images drawn (one call each) at most, looking for a misclassified one
            before the blend search.
        eps: optional L2 cap (the blend is shrunk onto it, foolbox's ``epsilons``).
    """
    name = "noise-blended"
    return BlendedUniformNoise(
        _whole(name, "queries", queries), _whole(name, "directions", directions), _eps(name, eps)
    )


@dataclass(frozen=True)
class SaltAndPepperNoise:
    """Salt-and-pepper noise (a pixel's channels all set to 0 or all to 1) with probability raised
    until misclassified, then refined towards the smallest L2 found (foolbox's
    ``SaltAndPepperNoiseAttack``, ``queries`` model calls). No cap: shrinking it would no longer be
    salt-and-pepper noise."""

    name: ClassVar[str] = "noise-saltpepper"
    norm: ClassVar[str] = "l2"
    kind: ClassVar[str] = "query"
    random: ClassVar[bool] = True
    eps: ClassVar[float | None] = None

    queries: int = 200

    def spec(self) -> str:
        return f"{self.name}:queries={self.queries}"

    def __call__(
        self, model: Model, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        import foolbox

        attack = foolbox.attacks.SaltAndPepperNoiseAttack(
            steps=self.queries, across_channels=True, channel_axis=1
        )
        with seeded(generator):
            raw, _, success = attack(
                foolbox_model(model, x), x, foolbox.criteria.Misclassification(y), epsilons=None
            )
        return _finish(x, success, raw)


@ATTACKS.register(
    "noise-saltpepper",
    summary="salt-and-pepper noise raised until misclassified (minimal; foolbox)",
    usage="noise-saltpepper:queries=200",
    source=_SOURCE,
    realtime=False,
    random=True,
    examples=({"queries": 30},),
    invalid=({"queries": 0}, {"queries": 1.5}, {"queries": "x"}),
    norm="l2",
    kind="query",
    minimal=True,
)
def noise_saltpepper(queries: int = 200) -> SaltAndPepperNoise:
    """``noise-saltpepper:queries=200``.

    Args:
        queries: model calls per input (foolbox's ``steps``); the noise probability moves by ``1/queries``.
    """
    return SaltAndPepperNoise(_whole("noise-saltpepper", "queries", queries))


__all__ = [
    "BlendedUniformNoise",
    "GaussianNoise",
    "SaltAndPepperNoise",
    "noise_blended",
    "noise_gaussian",
    "noise_saltpepper",
]
