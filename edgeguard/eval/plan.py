"""The plan of an evaluation: attacks resolved once (:class:`AttackPlan`) and the cells they make.

A cell (:class:`Cell`) is one unit of work — a configuration × an attack × one ε — whose naive and
adaptive records the runner writes as one file; its key hashes everything that shapes the result, so
``--resume`` knows which cells are done.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..spec import format_spec
from .values import parse_eps


@dataclass(frozen=True)
class AttackPlan:
    """One ``[[attack]]``: what to build, over which ε, with which n / seed / EOT draws."""

    spec: str  # canonical, without eps (the records' ``attack``)
    name: str
    params: tuple[tuple[str, Any], ...]
    eps: tuple[float, ...]  # () for a minimal attack
    n: int
    seed: int
    eot: int
    norm: str
    kind: str
    minimal: bool = False
    needs_score: bool = False
    random: bool = False

    def build(self, eps: float | None) -> Any:
        """The attack object for one cell (``eps=None`` for a minimal attack)."""
        from ..registry import ATTACKS

        params = dict(self.params)
        if eps is not None:
            params["eps"] = eps
        return ATTACKS.create(self.name, **params)


@dataclass(frozen=True)
class Cell:
    """One unit of work: a configuration × an attack × one ε (naive and adaptive records)."""

    config: Mapping[str, Any]
    attack: AttackPlan
    eps: float | None
    n: int
    seed: int
    eot: int
    extra: str = ""  # why the runner added this cell (sanity checks), "" for a grid cell

    @property
    def key(self) -> str:
        """A file-name-safe key, stable across runs (a hash of everything that shapes the result)."""
        ident = json.dumps(
            [dict(self.config), self.attack.spec, self.eps, self.n, self.seed, self.eot], sort_keys=True
        )
        digest = hashlib.sha256(ident.encode()).hexdigest()[:12]
        eps = "min" if self.eps is None else f"{self.eps:.4g}"
        slug = re.sub(r"[^A-Za-z0-9.+-]+", "_", f"{self.config['name']}_{self.attack.name}_{eps}")[:60]
        return f"{slug}-{digest}"


def plan_attack(spec: str, eps: tuple[float, ...], *, n: int, seed: int, eot: int) -> AttackPlan:
    """Resolve an attack spec; build it once per ε so every bad parameter fails now.

    An ``eps`` inside the spec replaces the sweep for that attack. A minimal attack gets no ε.

    Raises:
        ConfigError: unknown attack or parameter, a value the attack refuses, ε out of range.
    """
    from ..registry import ATTACKS

    entry, params = ATTACKS.resolve(spec)
    meta = entry.extra
    if meta.get("task", "classification") != "classification":
        raise ConfigError(
            f"attack {spec!r}: {entry.name} attacks a person detector (it needs person boxes); eval grids "
            "run classifiers: use `edgeguard attack patch` or `edgeguard scenario surveillance`"
        )
    minimal = bool(meta.get("minimal", False))
    params = dict(params)
    if "eps" in params:
        if minimal:
            raise ConfigError(
                f"attack {spec!r}: {entry.name} is a minimal-perturbation attack; it takes no eps"
            )
        try:
            eps = (parse_eps(params.pop("eps")),)
        except ValueError as err:
            raise ConfigError(f"attack {spec!r}: eps: {err}") from None
    norm = str(meta.get("norm", "none"))
    if minimal or norm == "none":  # no ε to sweep (spatial grid, patch search: the spec is the budget)
        eps = ()
    elif norm == "linf":
        bad = [e for e in eps if e > 1]
        if bad:
            raise ConfigError(f"attack {spec!r}: L∞ ε = {bad[0]:g} is larger than the pixel range [0, 1]")
    plan = AttackPlan(
        spec=format_spec(entry.name, dict(sorted(params.items()))),
        name=entry.name,
        params=tuple(sorted(params.items())),
        eps=tuple(eps),
        n=n,
        seed=seed,
        eot=eot,
        norm=norm,
        kind=str(meta.get("kind", "white-box")),
        minimal=minimal,
        needs_score=bool(meta.get("needs_score", False)),
        random=bool(entry.random),
    )
    for e in plan.eps or (None,):
        try:
            plan.build(e)
        except ConfigError as err:
            at = f" at eps={e:.6g}" if e is not None else ""
            raise ConfigError(f"attack {spec!r}{at}: {err}") from None
    return plan
