"""The attack registry (kind ``"attack"``): each attack registers beside its definition.

``@register("pgd", examples=(...), norm="linf")`` on a factory function adds an :class:`Entry` whose
parameter table comes from the factory's signature; ``examples`` (keyword params the contract tests
run) and ``norm`` (the threat model the budget is checked in) live in ``Entry.extra``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..registry import Entry, Registry, params_of

REGISTRY = Registry("attack")

F = TypeVar("F", bound=Callable[..., Any])

_HELP = {
    "eps": "L∞ budget on [0, 1] pixels (fractions allowed: 8/255)",
    "steps": "gradient steps",
    "alpha": "step size; default 2.5·eps/steps",
}


def register(
    name: str,
    *,
    summary: str,
    source: str,
    norm: str,
    examples: tuple[dict[str, Any], ...],
    random: bool = True,
) -> Callable[[F], F]:
    """Decorator: register ``factory`` (keyword params → a callable ``attack(model, x, y, generator)``)."""

    def deco(factory: F) -> F:
        REGISTRY.register(
            Entry(
                name,
                factory,
                traceable=False,
                differentiable=False,
                realtime=False,
                random=random,
                params=params_of(factory, _HELP),
                summary=summary,
                source=source,
                extra={"norm": norm, "examples": tuple(examples)},
            )
        )
        return factory

    return deco
