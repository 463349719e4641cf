"""One registry type used by defenses, host stages, models and attacks (timm ``create_model`` style).

An :class:`Entry` couples a factory (usually an ``nn.Module`` class) with the plain function it wraps,
capability flags and a parameter table. ``Registry.create("median", kernel=(3, 3))`` and
``Registry.from_spec("median:3x3")`` build the same object.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .spec import format_spec, split_spec


@dataclass(frozen=True)
class Param:
    """A documented parameter of a registry entry."""

    name: str
    default: Any
    help: str


@dataclass(frozen=True)
class Entry:
    """A registered component.

    Attributes:
        name: registry key (lower case).
        factory: callable building the component from keyword params.
        function: the functional form (``median_smooth``) or ``None``.
        traceable: exports into an ONNX graph.
        differentiable: useful gradients flow through it (else BPDA is needed to attack it).
        realtime: cheap enough for the always-on path of a camera loop.
        random: output depends on a random draw (EOT is needed to attack it).
        params: the keyword parameters with defaults and help text.
        shorthand: converts ``median:3x3``'s ``"3x3"`` into keyword params.
        summary: one line for listings.
        source: the seed/paper the method comes from.
    """

    name: str
    factory: Callable[..., Any]
    function: Callable[..., Any] | None = None
    traceable: bool = False
    differentiable: bool = False
    realtime: bool = True
    random: bool = False
    params: tuple[Param, ...] = ()
    shorthand: Callable[[str], dict[str, Any]] | None = None
    summary: str = ""
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def flags(self) -> dict[str, bool]:
        return {
            "traceable": self.traceable,
            "differentiable": self.differentiable,
            "realtime": self.realtime,
            "random": self.random,
        }


class Registry:
    """A named collection of :class:`Entry` objects."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, entry: Entry) -> Entry:
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} registered twice")
        self._entries[entry.name] = entry
        return entry

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[n] for n in self.names())

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self.names(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"unknown {self.kind} {name!r}{hint} (known: {', '.join(self.names())})"
            ) from None

    def resolve(self, spec: str) -> tuple[Entry, dict[str, Any]]:
        """Parse a spec string into its entry and validated keyword params."""
        name, short, params = split_spec(spec)
        entry = self.get(name)
        if short is not None:
            if entry.shorthand is None:
                raise ConfigError(
                    f"{self.kind} spec {spec!r}: {name} takes key=value params "
                    f"({', '.join(p.name for p in entry.params) or 'none'})"
                )
            params = entry.shorthand(short)
        self._check_params(entry, params, spec)
        return entry, params

    def _check_params(self, entry: Entry, params: dict[str, Any], where: str) -> None:
        known = {p.name for p in entry.params}
        for key in params:
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=2)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise ConfigError(
                    f"{self.kind} {entry.name!r} ({where}): unknown parameter {key!r}{hint} "
                    f"(takes: {', '.join(sorted(known)) or 'none'})"
                )

    def create(self, name: str, **params: Any) -> Any:
        """Build the component ``name`` with keyword ``params`` (validated against the table)."""
        entry = self.get(name)
        self._check_params(entry, params, name)
        obj = entry.factory(**params)
        return obj

    def from_spec(self, spec: str) -> Any:
        entry, params = self.resolve(spec)
        return entry.factory(**params)

    def canonical(self, spec: str) -> str:
        """Normalise a spec to ``name:key=value`` form (stable text for manifests)."""
        entry, params = self.resolve(spec)
        return format_spec(entry.name, params)


def params_of(factory: Callable[..., Any], help: dict[str, str] | None = None) -> tuple[Param, ...]:
    """Derive the :class:`Param` table from a factory's keyword signature."""
    help = help or {}
    out = []
    for p in inspect.signature(factory).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "self":
            continue
        default = None if p.default is inspect.Parameter.empty else p.default
        out.append(Param(p.name, default, help.get(p.name, "")))
    return tuple(out)
