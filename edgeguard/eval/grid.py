"""Evaluation grids: configurations × attacks × ε, read from TOML and checked before anything runs.

::

    [eval]                      # defaults for every cell
    data = "signs"              # signs | gtsrb:PATH | folder:PATH
    n = 500
    seed = 0
    eot = 20                    # draws per gradient for random configurations
    eps = ["2/255", "4/255", "8/255", "16/255"]
    detector_fpr = 0.05

    [[config]]
    name = "demo"
    model = "signs"             # a model registry name or an .onnx engine (relative to this file)
    defenses = ["bits:5", "median:3x3"]
    stages = []
    detector = "squeeze:bits=5,median=2x2"   # optional

    [[attack]]
    spec = "pgd:steps=20"
    eps = ["8/255"]             # optional per-attack overrides of n, eps, eot, seed
    n = 100

Cells = configs × attacks × ε (a minimal-perturbation attack, registered ``minimal=True``, is one
cell without ε). Every problem is a :class:`ConfigError` whose one line names the file, the line and
the key, and what was expected (the export recipes' convention, :mod:`edgeguard.recipe`). The value
checks live in :mod:`edgeguard.eval.values`, the attack plan and cells in :mod:`edgeguard.eval.plan`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .plan import AttackPlan, Cell, plan_attack
from .values import (
    _ATTACK,
    _CONFIG,
    _EVAL,
    check_config,
    parse_eps_list,
)

MAX_BYTES = 1 << 20
DEFAULT_EPS = ("2/255", "4/255", "8/255", "16/255")


@dataclass(frozen=True)
class Grid:
    """A checked grid. ``configs`` are dicts with Config's keys (``eval.config.Config.from_dict``)."""

    data: str = "signs"
    n: int = 500
    seed: int = 0
    eot: int = 20
    eps: tuple[float, ...] = ()
    detector_fpr: float = 0.05
    certify: float | None = None  # sticker side / sign face: certified accuracy per config (masking)
    configs: tuple[Mapping[str, Any], ...] = ()
    attacks: tuple[AttackPlan, ...] = ()
    path: Path | None = None
    notes: tuple[str, ...] = field(default=())

    def cells(self) -> list[Cell]:
        """Every cell of the grid, configs outermost, in file order."""
        out = []
        for c in self.configs:
            for a in self.attacks:
                for e in a.eps or (None,):
                    out.append(Cell(c, a, e, a.n, a.seed, a.eot))
        return out


# -- the file ----------------------------------------------------------------------------------------


def load_grid(path: str | Path, **overrides: Any) -> Grid:
    """Read and check a grid file. ``overrides`` (``n=``, ``seed=``, ``data=`` …) replace ``[eval]``.

    Raises:
        ConfigError: missing/unreadable file, invalid TOML, unknown table or key, wrong type or value,
            unknown model/defense/stage/attack; the message names the file, the line and the key.
    """
    from ..recipe import _toml

    p = Path(path)
    where = f"grid {str(p)!r}"
    if not p.is_file():
        raise ConfigError(f"{where} does not exist" if not p.exists() else f"{where} is not a file")
    try:
        raw = p.read_bytes()[: MAX_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read ({exc.strerror})") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{where} is larger than {MAX_BYTES // 1024} KiB")
    tomllib = _toml()
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"{where} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    return parse_grid(data, text=text, where=where, base=p.parent, path=p, **overrides)


def parse_grid(
    data: Mapping[str, Any],
    *,
    text: str = "",
    where: str = "grid",
    base: Path | None = None,
    path: Path | None = None,
    **overrides: Any,
) -> Grid:
    """Check a grid given as a dict (what :func:`load_grid` read); see :func:`load_grid`."""

    def fail(table: str, index: int | None, key: str, why: str) -> ConfigError:
        line = _line_of(text, table, index, key)
        at = f" line {line}:" if line else ":"
        name = f"{table}[{index}].{key}" if index is not None else f"{table}.{key}" if table else key
        return ConfigError(f"{where}{at} {name}: {why}")

    def check(
        table: Mapping[str, Any], schema: dict[str, Callable[[Any], Any]], name: str, i: int | None
    ) -> dict:
        out = {}
        for key, value in table.items():
            if key not in schema:
                close = difflib.get_close_matches(key, list(schema), 1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise fail(name, i, key, f"unknown key{hint} (known: {', '.join(schema)})")
            try:
                out[key] = schema[key](value)
            except ValueError as exc:
                raise fail(name, i, key, str(exc)) from None
        return out

    for key in data:
        if key not in ("eval", "config", "attack"):
            close = difflib.get_close_matches(key, ["eval", "config", "attack"], 1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise fail("", None, key, f"unknown table{hint} (known: [eval], [[config]], [[attack]])")
    ev = data.get("eval", {})
    if not isinstance(ev, Mapping):
        raise fail("", None, "eval", "expected a table [eval]")
    defaults = {"data": "signs", "n": 500, "seed": 0, "eot": 20, "eps": parse_eps_list(list(DEFAULT_EPS))}
    defaults["detector_fpr"] = 0.05
    defaults.update(check(ev, _EVAL, "eval", None))
    defaults.update({k: v for k, v in overrides.items() if v is not None})
    configs, attacks = [], []
    for name, items, schema in (
        ("config", data.get("config"), _CONFIG),
        ("attack", data.get("attack"), _ATTACK),
    ):
        if not isinstance(items, list) or not items or not all(isinstance(t, Mapping) for t in items):
            raise fail("", None, name, f"expected at least one [[{name}]] table")
        for i, table in enumerate(items):
            values = check(table, schema, name, i)
            if name == "config":
                try:
                    configs.append(check_config(values, base))
                except ValueError as err:
                    key, _, why = str(err).partition(": ")
                    raise fail(name, i, key, why) from None
                continue
            if "spec" not in values:
                raise fail(name, i, "spec", "missing (an attack spec such as 'pgd:steps=20')")
            try:
                attacks.append(
                    plan_attack(
                        values["spec"],
                        values.get("eps", defaults["eps"]),
                        n=values.get("n", defaults["n"]),
                        seed=values.get("seed", defaults["seed"]),
                        eot=values.get("eot", defaults["eot"]),
                    )
                )
            except ConfigError as err:
                raise fail(name, i, "spec", str(err)) from None
    seen: set[str] = set()
    for i, c in enumerate(configs):
        if c["name"] in seen:
            raise fail("config", i, "name", f"{c['name']!r} is used by two configurations")
        seen.add(c["name"])
    specs = [a.spec for a in attacks]
    for i, s in enumerate(specs):
        if s in specs[:i]:
            raise fail("attack", i, "spec", f"{s!r} is listed twice (give one [[attack]] several eps)")
    return Grid(configs=tuple(configs), attacks=tuple(attacks), path=path, **defaults)


def _line_of(text: str, table: str, index: int | None, key: str) -> int | None:
    """1-based line of ``key = …`` in ``[table]`` (or the ``index``-th ``[[table]]``); None if absent."""
    header = re.compile(r"^\s*\[(\[?)\s*([^\[\]]+?)\s*\]")
    assign = re.compile(rf"^\s*(?:\"{re.escape(key)}\"|'{re.escape(key)}'|{re.escape(key)})\s*=")
    current, count = "", -1
    for n, line in enumerate(text.splitlines(), 1):
        m = header.match(line)
        if m:
            current = m.group(2).strip("\"'")
            if m.group(1) and current == table:
                count += 1
            if not table and current == key:
                return n
            continue
        if current == table and (index is None or count == index) and assign.match(line):
            return n
    return None


__all__ = ["DEFAULT_EPS", "Grid", "load_grid", "parse_grid"]
