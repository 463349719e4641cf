"""``--adv`` / ``--attack`` specs of ``edgeguard train``: any registered white-box attack.

``pgd:…`` keeps its own parser and messages (adversarial training's default, pinned by
``tests/test_train.py``); every other name goes through the attack registry, so FGSM adversarial
training (seed 002: ``--adv fgsm:eps=8/255``) or a BIM evaluation need no code here.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..registry import ATTACKS
from ..spec import split_spec
from .pgd import pgd


def parse_adv(spec: str | None) -> Any:
    """Parse ``--adv`` (``pgd:eps=8/255,steps=7[,alpha=2/255]``, ``fgsm:eps=8/255``, any registered
    white-box attack; ``none`` → ``None``). The result is called as ``attack(model, x, y, generator)``.

    Raises:
        ConfigError: unknown attack or parameter, a value out of range, an attack that is not
            white-box (query, universal) or needs a detector score.
    """
    if spec is None or spec.strip().lower() in ("", "none", "off"):
        return None
    name, short, params = split_spec(spec)
    if name == "pgd" and short is None:
        unknown = set(params) - {"eps", "steps", "alpha", "restarts"}
        if unknown:
            raise ConfigError(
                f"--adv {spec!r}: unknown parameter(s) {', '.join(sorted(unknown))} "
                "(eps, steps, alpha, restarts)"
            )
        try:
            return pgd(**params)
        except ConfigError as e:
            raise ConfigError(f"--adv {spec!r}: {str(e).removeprefix('pgd: ')}") from None
    try:
        entry, params = ATTACKS.resolve(spec)
    except ConfigError as e:
        raise ConfigError(f"--adv {spec!r}: {e}") from None
    if entry.extra.get("kind") != "white-box" or entry.extra.get("needs_score"):
        usable = [
            e.name for e in ATTACKS if e.extra.get("kind") == "white-box" and not e.extra.get("needs_score")
        ]
        raise ConfigError(
            f"--adv {spec!r}: {entry.name} is not a plain white-box attack; use one of {', '.join(usable)}"
        )
    try:
        return entry.factory(**params)
    except ConfigError as e:
        raise ConfigError(f"--adv {spec!r}: {str(e).removeprefix(entry.name + ': ')}") from None


__all__ = ["parse_adv"]
