"""Reading ``VAR.register(...)`` calls from source, without importing the modules that make them.

:class:`~edgeguard.registry.Registry` uses this for two things: finding which modules of a package
register into it (so no package ``__init__`` has to list them), and listing names, summaries and usage
strings for help texts without importing torch. Standard library only.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .errors import ConfigError


@dataclass(frozen=True)
class Listing:
    """What :meth:`Registry.listing` reads from source without importing: enough for help texts."""

    name: str
    summary: str
    usage: str
    module: str


def _module_files(package: str) -> list[tuple[str, Path]]:
    """``(dotted name, file)`` of ``package`` (a package: its direct modules; a module: itself)."""
    spec = importlib.util.find_spec(package)  # imports the parents only, never ``package`` itself
    if spec is None or spec.origin is None:
        raise ConfigError(f"registry package {package!r} not found")
    if spec.submodule_search_locations is None:
        return [(package, Path(spec.origin))]
    files = []
    for folder in spec.submodule_search_locations:
        for path in sorted(Path(folder).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            files.append((name, path))
    return files


def _calls(path: Path, var: str) -> list[ast.Call]:
    """The module-level ``VAR.register(...)`` calls in ``path`` (decorators and plain lines).

    Only those calls are parsed, not the whole file (parsing every module of a package would cost
    the CLI tens of milliseconds): each starts a line with no indentation, and its text runs to the
    first line where it parses as an expression.
    """
    return list(_calls_cached(path, path.stat().st_mtime, var))


@cache
def _calls_cached(path: Path, mtime: float, var: str) -> tuple[ast.Call, ...]:
    text = path.read_text(encoding="utf-8")
    if f"{var}.register" not in text:
        return ()
    lines = text.splitlines()
    start = re.compile(rf"@?{re.escape(var)}\.register\(")
    out = []
    for i, line in enumerate(lines):
        if not start.match(line):
            continue
        for j in range(i, min(i + 200, len(lines))):
            try:
                node = ast.parse("\n".join(lines[i : j + 1]).lstrip("@"), mode="eval").body
            except SyntaxError:
                continue
            while isinstance(node, ast.Call) and isinstance(node.func, ast.Call):
                node = node.func  # VAR.register(...)(obj)
            if isinstance(node, ast.Call):
                out.append(node)
            break
    return tuple(out)


def all_modules(package: str) -> list[str]:
    """Every public module of ``package`` (or ``package`` itself when it is a module)."""
    mod = importlib.import_module(package)
    if not hasattr(mod, "__path__"):
        return [package]
    return [f"{package}.{m.name}" for m in pkgutil.iter_modules(mod.__path__) if not m.name.startswith("_")]


def registering_modules(package: str, var: str) -> list[tuple[str, Path]]:
    """``(module, file)`` of each module of ``package`` whose source calls ``VAR.register``."""
    if not package:
        return []
    return [(name, path) for name, path in _module_files(package) if _calls(path, var)]


def scan(module: str, path: Path, var: str) -> list[Listing]:
    out = []
    for call in _calls(path, var):
        if not call.args or not isinstance(call.args[0], ast.Constant):
            continue  # register(Entry(...)) form: not listed
        kw = {k.arg: k.value for k in call.keywords if k.arg in ("summary", "usage")}
        text = {}
        for key, node in kw.items():
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                raise ConfigError(f"{module}: {var}.register({key}=...) must be a string literal")
            text[key] = node.value
        out.append(Listing(str(call.args[0].value), text.get("summary", ""), text.get("usage", ""), module))
    return out


__all__ = ["Listing", "all_modules", "registering_modules", "scan"]
