"""Typed manifest parts: JSON values → dataclass fields, each error naming the dotted field.

A part is a frozen, keyword-only dataclass deriving from :class:`Part`. Its type hints *are* its schema:
``__post_init__`` coerces every field to its hint (``list`` → ``tuple``, ``int`` → ``float``, ``dict`` →
nested part) and rejects the wrong type, then :meth:`Part.check` applies ranges and cross-field rules.
So a part built in Python and a part read from JSON pass the same checks, and adding a field is one
annotated line (plus a migration, see ``versions.py``). The idea follows timm's ``PretrainedCfg``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import types
import typing
from typing import Any, ClassVar, Literal, TypeVar, get_args, get_origin

from ..errors import ConfigError

# Bound on nesting inside free-form values (``extra``): a hostile file must not reach Python's recursion
# limit (json itself raises RecursionError near depth 1000; we stop long before, with a ConfigError).
MAX_DEPTH = 32

P = TypeVar("P", bound="Part")

_NAMES = {
    dict: "an object",
    list: "a list",
    tuple: "a list",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


def fail(field: str, msg: str) -> ConfigError:
    """The one error shape: ``manifest field 'input.size': expected …``."""
    return ConfigError(f"manifest field {field!r}: {msg}")


def show(value: Any, limit: int = 60) -> str:
    """Short description of a value for an error (a 1 MB label must not end up in the message)."""
    kind = _NAMES.get(type(value), type(value).__name__)
    if isinstance(value, (list, tuple, dict)):
        return f"{kind} of {len(value)} item{'s' if len(value) != 1 else ''}"
    if value is None:
        return "null"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "an integer beyond 64 bits"  # repr() of a huge int is slow, or refused past 4300 digits
    text = repr(value)
    return f"{kind} {text if len(text) <= limit else text[: limit - 1] + '…'}"


def json_value(value: Any, where: str, depth: int = 0) -> Any:
    """A normalised copy of a free-form JSON value (tuples → lists); refuse non-JSON, non-finite, too deep."""
    if depth > MAX_DEPTH:
        raise fail(where, f"nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise fail(where, f"expected a finite number, got {value!r}")
        return value
    if isinstance(value, (list, tuple)):
        return [json_value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise fail(where, f"object keys must be strings, got {show(k)}")
            out[k] = json_value(v, f"{where}.{_key(k)}", depth + 1)
        return out
    raise fail(where, f"expected a JSON value, got {show(value)}")


def _key(k: Any) -> str:
    """A key as it appears in a dotted field name (a hostile 1 MB key must not fill the message)."""
    text = str(k)
    return text if len(text) <= 40 else text[:39] + "…"


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(where, f"expected a number, got {show(value)}")
    try:
        out = float(value)
    except OverflowError:  # an integer beyond float range (JSON allows 10**400)
        out = math.inf
    if not math.isfinite(out):
        raise fail(where, f"expected a finite number, got {show(value)}")
    return out


def coerce(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against the type ``hint`` and return it normalised (see the module docstring)."""
    origin = get_origin(hint)
    if hint is Any:
        return json_value(value, where)
    if origin in (typing.Union, types.UnionType):
        args = get_args(hint)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return coerce(value, inner, where)
    if origin is Literal:
        allowed = get_args(hint)
        if isinstance(value, str) and value in allowed:
            return value
        raise fail(where, f"expected one of {', '.join(map(repr, allowed))}, got {show(value)}")
    if hint is str:
        if not isinstance(value, str):
            raise fail(where, f"expected a string, got {show(value)}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise fail(where, f"expected true or false, got {show(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(where, f"expected an integer, got {show(value)}")
        return value
    if hint is float:
        return _number(value, where)
    if origin is tuple:
        args = get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise fail(where, f"expected a list, got {show(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise fail(where, f"expected a list of {len(args)} items, got {show(value)}")
        return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        key_hint, value_hint = get_args(hint)
        if not isinstance(value, dict):
            raise fail(where, f"expected an object, got {show(value)}")
        return {
            coerce(k, key_hint, where): coerce(v, value_hint, f"{where}.{_key(k)}") for k, v in value.items()
        }
    if isinstance(hint, type) and issubclass(hint, Part):
        if isinstance(value, hint):
            return value
        return hint.from_dict(value)
    raise TypeError(f"manifest field {where!r}: unsupported type hint {hint!r}")  # a schema bug, not input


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


class Part:
    """Base of every manifest part. Subclasses are ``@dataclass(frozen=True, kw_only=True)``."""

    WHERE: ClassVar[str] = ""  # the part's dotted path in a manifest ("" for the manifest itself)

    def __post_init__(self) -> None:
        for name, hint in _hints(type(self)).items():
            object.__setattr__(self, name, coerce(getattr(self, name), hint, self.field(name)))
        self.check()

    def check(self) -> None:
        """Ranges and cross-field rules, after every field has its type. Raise :meth:`fail`."""

    @classmethod
    def field(cls, name: str) -> str:
        return f"{cls.WHERE}.{name}" if cls.WHERE else name

    @classmethod
    def fail(cls, name: str, msg: str) -> ConfigError:
        return fail(cls.field(name), msg)

    @classmethod
    def from_dict(cls: type[P], data: Any) -> P:
        """Build from a JSON object holding exactly this part's fields (all of them: files are complete)."""
        names = list(_hints(cls))
        if not isinstance(data, dict):
            raise fail(
                cls.WHERE or "manifest", f"expected an object with {', '.join(names)}, got {show(data)}"
            )
        for key in data:
            if key not in names:
                near = difflib.get_close_matches(_key(key), names, n=1)
                hint = f"did you mean {near[0]!r}? " if near else ""
                raise fail(
                    cls.field(_key(key)),
                    f"unknown field ({hint}known: {', '.join(names)}){cls.UNKNOWN_HINT}",
                )
        for name in names:
            if name not in data:
                raise cls.fail(name, "missing")
        return cls(**data)

    UNKNOWN_HINT: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, fields in declaration order (so the file layout is stable)."""
        return {name: _plain(getattr(self, name)) for name in _hints(type(self))}


def _plain(value: Any) -> Any:
    if isinstance(value, Part):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def bare_file_name(value: str, field: str) -> None:
    """A file name next to the manifest: no folders, no ``.``/``..``, no NUL (a sidecar cannot point away)."""
    if (
        not value
        or value in (".", "..")
        or any(c in value for c in "/\\\0")
        or len(value.encode("utf-8", "surrogatepass")) > 255
    ):
        raise fail(field, f"expected a bare file name next to the manifest, got {show(value)}")


def sha256_hex(value: str | None, field: str) -> None:
    if value is not None and (len(value) != 64 or any(c not in "0123456789abcdef" for c in value)):
        raise fail(field, f"expected 64 lowercase hex digits (a sha256), got {show(value)}")
