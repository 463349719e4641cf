"""One registry type for defenses, host stages, models, engines, decisions and camera sources.

Every op registers itself beside its definition (timm ``@register_model`` style)::

    @DEFENSES.register("bits", summary="bit-depth reduction", usage="bits:5", examples=({"bits": 5},))
    class BitDepth(nn.Module): ...

``DEFENSES.create("bits", bits=4)`` and ``DEFENSES.from_spec("bits:4")`` build the same object. An
entry carries flags, a parameter table and **example parameters** that the contract tests run
(``tests/*/test_contract.py`` iterate the registries; an entry without examples fails them).

The registries live here, not in the packages they list, so that listing them stays cheap: a
registry knows which package (or module) its ops live in, and

* a lookup (``get``, ``names``, iteration) imports the modules of that package that register into it
  (found by reading their source: no package ``__init__`` has to name them, and a module never has to
  import a sibling just so that it registers — ``camera/sources.py`` does not import
  ``camera/synthetic.py``);
* :meth:`Registry.listing` and :meth:`Registry.help` read names, summaries and usage strings straight
  from the ``@REG.register("name", summary=..., usage=...)`` calls in the source, without importing
  anything, so the CLI's help texts are generated from the registries without importing torch (the
  same trade-off as transformers' lazy import structure, which is also read from source). Those three
  arguments must therefore be literals; a contract test checks that the listing equals the registry.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ._registry_source import Listing, all_modules, registering_modules, scan
from .errors import ConfigError
from .extras import MODULE_EXTRA, MissingExtraError
from .spec import format_spec, split_spec

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


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
        summary: one line for listings and help texts.
        source: the seed/paper the method comes from.
        usage: a typical spec or URI for help texts (``median:3x3``, ``csi://0``).
        examples: keyword params the contract tests build the entry with (at least one).
        invalid: keyword params the entry must refuse with ConfigError (contract-tested).
        example_setup: ``f(folder) -> params`` writing the files an example needs (e.g. a v_def
            file) and returning the params that point at them; merged into every example.
        module: the module that registered the entry.
        extra: kind-specific data (engine ``suffixes``/``schemes``, model ``input_size`` …).
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
    usage: str = ""
    examples: tuple[dict[str, Any], ...] = ()
    invalid: tuple[dict[str, Any], ...] = ()
    example_setup: Callable[[Path], dict[str, Any]] | None = None
    module: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def flags(self) -> dict[str, bool]:
        return {
            "traceable": self.traceable,
            "differentiable": self.differentiable,
            "realtime": self.realtime,
            "random": self.random,
        }


_FLAGS = ("traceable", "differentiable", "realtime", "random")
_ENTRY_FIELDS = {
    "function",
    "shorthand",
    "summary",
    "source",
    "usage",
    "examples",
    "invalid",
    "example_setup",
}
_ENTRY_FIELDS |= set(_FLAGS)


class Registry:
    """A named collection of :class:`Entry` objects, filled by the modules of ``package``.

    Args:
        kind: what the entries are, for messages (``"defense"``).
        package: dotted package (or module) whose modules register into this registry.
        var: the name this registry is imported under in those modules (``DEFENSES``); the source
            scan looks for ``VAR.register(...)``.
        param_help: help text for parameters many entries share (``device``, ``seed``).
    """

    def __init__(
        self, kind: str, *, package: str = "", var: str = "", param_help: dict[str, str] | None = None
    ) -> None:
        self.kind = kind
        self.package = package
        self.var = var
        self.param_help = dict(param_help or {})
        self._entries: dict[str, Entry] = {}
        self._missing: dict[str, str] = {}  # module -> third-party package it could not import
        self._loaded = not package

    # -- registration -------------------------------------------------------------------------------

    def register(self, name: str | Entry, /, **meta: Any) -> Any:
        """Register an :class:`Entry`, or return a decorator that registers the decorated factory.

        ``meta`` takes the :class:`Entry` fields (``summary``, ``usage``, ``examples``, flags,
        ``function``, ``shorthand``, ``params``, ``help`` for parameter help texts, ``aliases``);
        any other keyword goes to ``entry.extra``. Flags not given are read from class attributes of
        the factory (``realtime``/``random`` on host stages). The decorator returns the factory
        unchanged.
        """
        if isinstance(name, Entry):
            return self._add(name)

        def deco(factory: Any) -> Any:
            opts = dict(meta)
            aliases = tuple(opts.pop("aliases", ()))
            help_ = {**self.param_help, **opts.pop("help", {})}
            params = opts.pop("params", None)
            if params is None:
                params = params_of(factory, help_)
            fields = {k: opts.pop(k) for k in list(opts) if k in _ENTRY_FIELDS}
            for flag in _FLAGS:
                if flag not in fields and isinstance(getattr(factory, flag, None), bool):
                    fields[flag] = getattr(factory, flag)
            for key in ("examples", "invalid"):
                if key in fields:
                    fields[key] = tuple(dict(e) for e in fields[key])
            entry = Entry(
                name,
                factory,
                params=tuple(params),
                module=getattr(factory, "__module__", ""),
                extra=opts,
                **fields,
            )
            self._add(entry)
            for alias in aliases:
                self._add(replace(entry, name=alias, extra={**opts, "alias_of": name}))
            return factory

        return deco

    def _add(self, entry: Entry) -> Entry:
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} registered twice")
        self._entries[entry.name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests register throwaway entries and remove them again)."""
        self._entries.pop(name, None)

    def load(self) -> None:
        """Import every module of ``package`` that registers into this registry (once)."""
        if self._loaded:
            return
        self._loaded = True  # set first: the imports below call back into this registry
        found = [m for m, _ in registering_modules(self.package, self.var)]
        if not found:  # no sources to read (a .pyc-only install): import every public module instead
            found = all_modules(self.package)
        for module in found:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                top = (exc.name or "").split(".")[0]
                if not top or top == "edgeguard":
                    raise
                self._missing[module] = top  # e.g. torch on a runtime-only install: said on lookup

    # -- lookup --------------------------------------------------------------------------------------

    def names(self) -> list[str]:
        self.load()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter([self._entries[n] for n in self.names()])

    def __len__(self) -> int:
        return len(self.names())

    def get(self, name: str) -> Entry:
        self.load()
        try:
            return self._entries[name]
        except KeyError:
            self._raise_missing(name)
            close = difflib.get_close_matches(str(name), self.names(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"unknown {self.kind} {name!r}{hint} (known: {', '.join(self.names())})"
            ) from None

    def _raise_missing(self, name: str) -> None:
        paths = dict(registering_modules(self.package, self.var))
        for module, top in self._missing.items():
            if any(x.name == name for x in scan(module, paths[module], self.var)):
                if top in MODULE_EXTRA:
                    raise MissingExtraError(f"{self.kind} {name!r}", MODULE_EXTRA[top], top)
                raise ConfigError(f"{self.kind} {name!r} needs {top}, which is not installed")

    def find(self, key: str, value: str) -> Entry | None:
        """The entry whose ``extra[key]`` (a tuple such as ``suffixes``) contains ``value``."""
        for entry in self:
            if value in entry.extra.get(key, ()):
                return entry
        return None

    def values_of(self, key: str) -> list[str]:
        """Every value of ``extra[key]`` over all entries, in entry order (``schemes`` …)."""
        return [v for e in self for v in e.extra.get(key, ())]

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
        return entry.factory(**params)

    def from_spec(self, spec: str) -> Any:
        entry, params = self.resolve(spec)
        return entry.factory(**params)

    def canonical(self, spec: str) -> str:
        """Normalise a spec to ``name:key=value`` form (stable text for manifests)."""
        entry, params = self.resolve(spec)
        return format_spec(entry.name, params)

    # -- listings without imports ----------------------------------------------------------------------

    def listing(self) -> list[Listing]:
        """Name, summary and usage of every entry, read from source without importing it.

        Aliases are not listed. Once the package is imported, prefer iterating the registry.
        """
        found = [x for m, p in registering_modules(self.package, self.var) for x in scan(m, p, self.var)]
        return sorted(found, key=lambda x: x.name)

    def help(self, lead: str, tail: str = "") -> str:
        """A help text: ``lead``, then ``name: summary`` per entry, usage examples, then ``tail``."""
        items = self.listing()
        known = "; ".join(f"{x.name}: {x.summary}" if x.summary else x.name for x in items)
        usages = ", ".join(x.usage for x in items if x.usage)
        text = f"{lead} Known: {known}."
        if usages:
            text += f" E.g. {usages}."
        return f"{text} {tail}".strip()


def uri_scheme(text: str) -> str:
    """The lower-case URI scheme of ``text`` (``"rtsp"`` for ``rtsp://…``), or ``""`` for none."""
    m = _SCHEME.match(text)
    return m.group(1).lower() if m and len(m.group(1)) > 1 else ""  # "C:" is a drive, not a scheme


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


# -- the registries (filled by the modules of each package when first used) ----------------------------

DEFENSES = Registry("defense", package="edgeguard.defenses", var="DEFENSES")
STAGES = Registry(
    "stage",
    package="edgeguard.stages",
    var="STAGES",
    param_help={"device": "cpu | cuda", "seed": "int for reproducible draws; none = fresh entropy"},
)
MODELS = Registry("model", package="edgeguard.models", var="MODELS")
ENGINES = Registry("engine", package="edgeguard.engines", var="ENGINES")
# decisions may live in any top-level module (decision.py today, a detection module later)
DECISIONS = Registry("decision", package="edgeguard", var="DECISIONS")
ATTACKS = Registry(
    "attack",
    package="edgeguard.attacks",
    var="ATTACKS",
    param_help={
        "eps": "budget on [0, 1] pixels (fractions allowed: 8/255)",
        "steps": "gradient steps",
        "alpha": "step size; default 2.5·eps/steps",
    },
)
SOURCES = Registry("source", package="edgeguard.camera", var="SOURCES")
# adversarial-input detectors fused into the engine as a second output (``--detector squeeze:…``): not
# prefix defenses (they add an output instead of transforming the input), so not in DEFENSES
DETECTORS = Registry("detector", package="edgeguard.defenses", var="DETECTORS")
