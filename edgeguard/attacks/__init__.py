"""Attacks: what evaluation and adversarial training run against a model or a whole pipeline.

``attacks.from_spec("pgd:eps=8/255,steps=20")``, ``attacks.create("pgd", eps=0.03, steps=5)``,
``attacks.names()``, ``attacks.REGISTRY`` (``edgeguard.registry.ATTACKS``; each attack registers
beside its definition with ``@ATTACKS.register(...)``, with the example parameters the contract tests
run and ``norm``, the threat model its budget is checked in). An attack object is called as
``attack(model, x, y, generator=None) -> x_adv`` on ``(B, C, H, W)`` pixels in [0, 1]; wrap a model
that expects normalised input in :class:`Normalized`. :func:`bpda` (identity backward) and
:func:`eot_gradient` (mean gradient over random draws) let gradient attacks run through the host
stages (Athalye et al. ICML'18).

Only ``train.py`` and evaluation import this package; ``stages`` reaches ``bpda`` / ``eot_*`` lazily.
"""

from __future__ import annotations

from typing import Any

from ..registry import ATTACKS
from .adv import parse_adv
from .base import KINDS, NORMS, Attack, Normalized
from .bpda import BPDA, bpda
from .eot import eot_draws, eot_gradient
from .measure import Perturbation, perturbation
from .pgd import PGD, pgd_attack

REGISTRY = ATTACKS


def names() -> list[str]:
    """Registered attack names, sorted."""
    return REGISTRY.names()


def create(name: str, **params: Any) -> Any:
    """Build attack ``name`` with keyword params (``ConfigError`` on unknown names or parameters)."""
    return REGISTRY.create(name, **params)


def from_spec(spec: str) -> Any:
    """Build an attack from ``NAME:key=value,...`` (``pgd:eps=8/255,steps=20``)."""
    return REGISTRY.from_spec(spec)


__all__ = [
    "REGISTRY",
    "names",
    "create",
    "from_spec",
    "Attack",
    "KINDS",
    "NORMS",
    "Normalized",
    "Perturbation",
    "perturbation",
    "PGD",
    "parse_adv",
    "pgd_attack",
    "BPDA",
    "bpda",
    "eot_draws",
    "eot_gradient",
]
