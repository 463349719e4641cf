"""Validation of attack parameters: every bad value is a one-line :class:`ConfigError` naming the
attack and the parameter (specs come from users: ``pgd-l2:eps=-1`` must not reach a library)."""

from __future__ import annotations

import math
from typing import Any

from ..errors import ConfigError


def real(
    attack: str, key: str, value: Any, *, lo: float = 0.0, hi: float | None = None, closed: bool = False
) -> float:
    """``value`` as a finite float with ``lo < value`` (``lo <= value`` when ``closed``) and
    ``value <= hi``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{attack}: {key} must be a number, got {value!r}")
    v = float(value)
    low_ok = v >= lo if closed else v > lo
    if not math.isfinite(v) or not low_ok or (hi is not None and v > hi):
        lower = f"{key} >= {lo:g}" if closed else f"{key} > {lo:g}"
        rng = f"{lower}" + (f" and {key} <= {hi:g}" if hi is not None else "")
        raise ConfigError(f"{attack}: need {rng}, got {value!r}")
    return v


def whole(attack: str, key: str, value: Any, *, lo: int = 1, hi: int | None = None) -> int:
    """``value`` as an int in ``[lo, hi]`` (a float or bool is refused, 2.5 steps mean nothing)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{attack}: {key} must be a whole number, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f"{key} >= {lo}" + (f" and {key} <= {hi}" if hi is not None else "")
        raise ConfigError(f"{attack}: need {rng}, got {value!r}")
    return value


def budget(attack: str, eps: Any, norm: str) -> float:
    """The ε of a budgeted attack: L∞ in (0, 1] (pixels in [0, 1]); L2 any positive size."""
    return real(attack, "eps", eps, hi=1.0 if norm == "linf" else None)


def choice(attack: str, key: str, value: Any, options: tuple[str, ...]) -> str:
    """``value`` as one of ``options`` (case-insensitive)."""
    v = str(value).lower()
    if v not in options:
        raise ConfigError(f"{attack}: {key} must be one of {', '.join(options)}, got {value!r}")
    return v
