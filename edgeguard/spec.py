"""The spec grammar shared by ``--defense`` and ``--stage``.

``NAME``, ``NAME:SHORTHAND`` or ``NAME:key=value,key=value``. Examples::

    bits:5                     -> ("bits", {"bits": 5})          (shorthand, registry-defined)
    median:3x3                 -> ("median", {"kernel": (3, 3)})
    gaussian:sigma=1.0,size=5  -> ("gaussian", {"sigma": 1.0, "size": 5})
    tvm:keep=0.1,lam=0.03      -> ("tvm", {"keep": 0.1, "lam": 0.03})
    pgd:eps=8/255,steps=7      -> fractions are evaluated: eps = 0.031372…

Values are parsed as int, float, fraction ``a/b``, ``AxB`` int tuple, bool (true/false) or kept as
strings. The registry entry converts the shorthand and validates the parameter names.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ConfigError

_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_FRAC = re.compile(r"^([+-]?\d+(?:\.\d*)?)/(\d+(?:\.\d*)?)$")
_TUPLE = re.compile(r"^\d+(x\d+)+$")
# No parameter needs more digits than this; Python refuses int() of > 4300 digits with a ValueError,
# and a 5000-digit spec (issue #10) must be a one-line ConfigError instead.
MAX_NUMBER_CHARS = 40


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:20] + "…" + text[-8:]) + f" ({len(text)} chars)"


def _finite(value: float, text: str) -> float:
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"value {_shown(text)}: not a finite number")
    return value


def parse_value(text: str) -> Any:
    """Parse one spec value (see module docstring).

    Raises:
        ConfigError: a number longer than :data:`MAX_NUMBER_CHARS`, one that overflows to infinity,
            or a fraction with a zero denominator.
    """
    t = text.strip()
    numeric = _INT.match(t) or _FLOAT.match(t) or _FRAC.match(t) or _TUPLE.match(t)
    if numeric and len(t) > MAX_NUMBER_CHARS:
        raise ConfigError(f"value {_shown(t)}: a number of more than {MAX_NUMBER_CHARS} characters")
    if _INT.match(t):
        return int(t)
    if _FLOAT.match(t):
        return _finite(float(t), t)
    m = _FRAC.match(t)
    if m:
        den = float(m.group(2))
        if den == 0:
            raise ConfigError(f"value {text!r}: division by zero")
        return _finite(float(m.group(1)) / den, t)
    if _TUPLE.match(t):
        return tuple(int(p) for p in t.split("x"))
    if t.lower() in ("true", "yes", "on"):
        return True
    if t.lower() in ("false", "no", "off"):
        return False
    return t


def split_spec(spec: str) -> tuple[str, str | None, dict[str, Any]]:
    """Split ``spec`` into ``(name, shorthand or None, keyword params)``.

    Raises:
        ConfigError: malformed spec (empty name, ``key=`` without value, repeated keys).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("empty spec; write NAME or NAME:PARAMS, e.g. median:3x3 or bits:5")
    name, _, rest = spec.strip().partition(":")
    name = name.strip().lower()
    if not _NAME.match(name):
        raise ConfigError(f"spec {spec!r}: {name!r} is not a valid name")
    if not rest:
        return name, None, {}
    if "=" not in rest:
        return name, rest.strip(), {}
    params: dict[str, Any] = {}
    for part in rest.split(","):
        key, eq, val = part.partition("=")
        key = key.strip()
        if not eq or not key or not val.strip():
            raise ConfigError(f"spec {spec!r}: expected key=value pairs separated by commas, got {part!r}")
        if key in params:
            raise ConfigError(f"spec {spec!r}: parameter {key!r} given twice")
        params[key] = parse_value(val)
    return name, None, params


def format_spec(name: str, params: dict[str, Any]) -> str:
    """Inverse of :func:`split_spec` for keyword specs (used in manifests and reports)."""
    if not params:
        return name

    def fmt(v: Any) -> str:
        if isinstance(v, (tuple, list)):
            return "x".join(str(int(p)) for p in v)
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return name + ":" + ",".join(f"{k}={fmt(v)}" for k, v in params.items())
