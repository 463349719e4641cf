"""Export recipes: a TOML file that says what to export for one scenario (``export/*.toml``).

A recipe names the model, the defenses fused into the graph, the host stages the deployed pipeline
runs, the precision, the ONNX opset, the output name and, for TensorRT, the batch profile::

    model = "signs"
    defenses = ["bits:5", "median:3x3"]
    out = "stop-sign.onnx"

    [tensorrt]            # optional: also build a TensorRT plan
    batch = [1, 4, 8]     # MIN, OPT, MAX

``edgeguard export --recipe export/stop-sign.toml`` exports it. Precedence, highest first: an option
given on the command line (a repeatable one such as ``--defense`` *replaces* the recipe's list), the
recipe, the built-in default. Paths a recipe reads (``weights``, ``calib``, an ``.onnx`` model) are
relative to the recipe's folder, so a recipe works from any current folder; ``out`` is relative to
the current folder, like ``--out``.

Every problem (a missing or unreadable file, invalid TOML, an unknown key, a wrong type, a value out
of range, an unknown defense or stage) is a :class:`~edgeguard.errors.ConfigError` whose one line
names the recipe file, the line and the key.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import ConfigError
from .exporter.graph import MAX_TORCH_OPSET, MIN_OPSET

MAX_BYTES = 1 << 20  # a recipe is a few lines; refuse to parse a mistaken multi-megabyte file


@dataclass(frozen=True)
class TensorRTRecipe:
    """The ``[tensorrt]`` table: build a TensorRT plan next to the ONNX graph."""

    batch: tuple[int, int, int] = (1, 4, 8)
    workspace_mb: int = 1024

    @property
    def batch_text(self) -> str:
        """The profile as ``--batch`` spells it (``"1,4,8"``)."""
        return ",".join(str(b) for b in self.batch)


@dataclass(frozen=True)
class Recipe:
    """A parsed, checked recipe. Field names are the TOML keys; ``path`` is the recipe file."""

    path: Path
    model: str
    description: str = ""
    weights: Path | None = None
    input_size: int | None = None
    normalize: str | None = None
    defenses: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    precision: str = "fp32"
    calib: Path | None = None
    min_agreement: float = 0.9
    opset: int = 17
    tolerance: float = 1e-4
    out: Path | None = None
    tensorrt: TensorRTRecipe | None = None

    def export_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`edgeguard.exporter.onnx.export` that this recipe sets."""
        return {
            "model": self.model,
            "weights": self.weights,
            "input_size": self.input_size,
            "normalize": self.normalize,
            "defense": list(self.defenses),
            "stage": list(self.stages),
            "precision": self.precision,
            "calib": self.calib,
            "min_agreement": self.min_agreement,
            "opset": self.opset,
            "tolerance": self.tolerance,
            "out": self.out,
        }

    def cli_options(self) -> dict[str, Any]:
        """:meth:`export_options` plus the ``export`` command's ``engine``, ``batch`` and ``workspace``."""
        trt = self.tensorrt
        return {
            **self.export_options(),
            "engine": "trt" if trt else "onnx",
            "batch": trt.batch_text if trt else TensorRTRecipe().batch_text,
            "workspace": trt.workspace_mb if trt else TensorRTRecipe().workspace_mb,
        }


def merge(recipe_options: dict[str, Any], explicit: dict[str, Any]) -> dict[str, Any]:
    """Recipe options overridden by ``explicit`` (options the user gave on the command line).

    Raises:
        ConfigError: ``explicit`` names an option the recipe does not have (a programming error
            surfaced as a clear message rather than a silently ignored flag).
    """
    unknown = sorted(set(explicit) - set(recipe_options))
    if unknown:
        raise ConfigError(f"--recipe: cannot combine with {', '.join(unknown)}")
    return {**recipe_options, **explicit}


# -- parsing ---------------------------------------------------------------------------------------

_Check = Callable[[Any], Any]  # returns the converted value or raises ValueError("expected …")


def _string(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"expected a non-empty string, got {_show(v)}")
    if "\x00" in v or "\n" in v:
        raise ValueError("expected one line of text without NUL characters")
    return v


def _text(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string, got {_show(v)}")
    return v


def _strings(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise ValueError(f"expected a list of strings, got {_show(v)}")
    for i, item in enumerate(v):
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"item {i}: expected a non-empty string, got {_show(item)}")
    return tuple(v)


def _int(lo: int, hi: int) -> _Check:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"expected an integer, got {_show(v)}")
        if not lo <= v <= hi:
            raise ValueError(f"expected an integer in {lo}..{hi}, got {v}")
        return v

    return check


def _float(lo: float, hi: float, *, lo_open: bool = False) -> _Check:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"expected a number, got {_show(v)}")
        v = float(v)
        if not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo):
            low = f"({lo}" if lo_open else f"[{lo}"
            raise ValueError(f"expected a number in {low}, {hi}], got {v}")
        return v

    return check


def _batch(v: Any) -> tuple[int, int, int]:
    ok = (
        isinstance(v, list)
        and len(v) == 3
        and all(isinstance(b, int) and not isinstance(b, bool) for b in v)
        and 1 <= v[0] <= v[1] <= v[2] <= 4096
    )
    if not ok:
        raise ValueError(f"expected [MIN, OPT, MAX] with 1 ≤ MIN ≤ OPT ≤ MAX ≤ 4096, got {_show(v)}")
    return (v[0], v[1], v[2])


def _show(v: Any) -> str:
    kinds = {
        dict: "a table",
        list: "a list",
        bool: "a boolean",
        str: "a string",
        int: "an integer",
        float: "a number",
    }
    kind = kinds.get(type(v))
    text = repr(v)
    if kind == "a table" or len(text) > 40:
        return kind or type(v).__name__
    return f"{kind or type(v).__name__} {text}"


_TOP: dict[str, _Check] = {
    "model": _string,
    "description": _text,
    "weights": _string,
    "input_size": _int(16, 4096),
    "normalize": _string,
    "defenses": _strings,
    "stages": _strings,
    "precision": _string,
    "calib": _string,
    "min_agreement": _float(0.0, 1.0),
    "opset": _int(MIN_OPSET, MAX_TORCH_OPSET),  # what the exporter writes (exporter/graph.py)
    "tolerance": _float(0.0, 1.0, lo_open=True),
    "out": _string,
}
_TENSORRT: dict[str, _Check] = {"batch": _batch, "workspace_mb": _int(1, 1 << 20)}
_PATHS = ("weights", "calib")  # read by the export: relative to the recipe's folder


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a recipe file.

    Raises:
        ConfigError: missing/unreadable file, invalid TOML, unknown key, wrong type or value, unknown
            defense or stage; the message names the file, the line and the key.
    """
    p = Path(path)
    where = f"recipe {str(p)!r}"
    if not p.exists():
        raise ConfigError(f"{where} does not exist")
    if p.is_dir():
        raise ConfigError(f"{where} is a folder; pass a .toml file such as export/stop-sign.toml")
    try:
        raw = p.read_bytes()[: MAX_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read ({exc.strerror})") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{where} is larger than {MAX_BYTES // 1024} KiB; a recipe is a few lines of TOML")
    tomllib = _toml()
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"{where} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    return _build(p, text, data)


def _toml() -> ModuleType:
    """``tomllib`` (Python 3.11+) or its backport ``tomli`` (the export extra brings it on 3.10)."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:  # pragma: no cover - Python 3.10 only
        import tomli
    except ImportError:  # pragma: no cover
        from .extras import MissingExtraError

        raise MissingExtraError("export --recipe", "export", "tomli") from None
    return tomli  # pragma: no cover


def _build(p: Path, text: str, data: dict[str, Any]) -> Recipe:
    where = f"recipe {str(p)!r}"

    def fail(key: str, why: str, table: str | None = None) -> ConfigError:
        line = _line_of(text, key, table)
        name = f"{table}.{key}" if table else key
        at = f" line {line}:" if line else ":"
        return ConfigError(f"{where}{at} {name}: {why}")

    def check(table: dict[str, Any], schema: dict[str, _Check], prefix: str | None) -> dict[str, Any]:
        out = {}
        for key, value in table.items():
            if key not in schema:
                close = difflib.get_close_matches(key, list(schema) + (["tensorrt"] if not prefix else []), 1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                known = ", ".join(list(schema) + ([] if prefix else ["[tensorrt]"]))
                raise fail(key, f"unknown key{hint} (known: {known})", prefix)
            try:
                out[key] = schema[key](value)
            except ValueError as exc:
                raise fail(key, str(exc), prefix) from None
        return out

    top = {k: v for k, v in data.items() if k != "tensorrt"}
    values = check(top, _TOP, None)
    if "tensorrt" in data:
        if not isinstance(data["tensorrt"], dict):
            raise fail("tensorrt", f"expected a table ([tensorrt]), got {_show(data['tensorrt'])}")
        values["tensorrt"] = TensorRTRecipe(**check(data["tensorrt"], _TENSORRT, "tensorrt"))
    if "model" not in values:
        raise ConfigError(f"{where}: no 'model' key (a zoo or torchvision name, or an .onnx path)")
    base = p.parent
    for key in _PATHS:
        if key in values:
            values[key] = base / values[key]
    if values["model"].endswith(".onnx"):
        values["model"] = str(base / values["model"])
    if "out" in values:
        values["out"] = Path(values["out"])
    for key, registry_name in (("defenses", "DEFENSES"), ("stages", "STAGES")):
        for i, spec in enumerate(values.get(key, ())):
            try:
                _build_op(registry_name, spec)
            except ConfigError as err:
                raise fail(key, f"item {i}: {err}") from None
    known = {f.name for f in fields(Recipe)}
    return Recipe(path=p, **{k: v for k, v in values.items() if k in known})


def _build_op(registry_name: str, spec: str) -> None:
    """Build the op once so a bad parameter is reported with the recipe's line, not mid-export."""
    from . import registry

    getattr(registry, registry_name).from_spec(spec)


def _line_of(text: str, key: str, table: str | None) -> int | None:
    """1-based line of ``key = …`` inside ``[table]`` (top level when ``None``); ``None`` if not found."""
    current: str | None = None
    header = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]")
    assign = re.compile(rf"^\s*(?:\"{re.escape(key)}\"|'{re.escape(key)}'|{re.escape(key)})\s*=")
    for n, line in enumerate(text.splitlines(), 1):
        m = header.match(line)
        if m:
            current = m.group(1).strip("\"'")
            if table is None and current == key:
                return n  # a table where a value was expected: point at its header
            continue
        if current == table and assign.match(line):
            return n
    return None
