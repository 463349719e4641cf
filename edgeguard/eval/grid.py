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
the key, and what was expected (the export recipes' convention, :mod:`edgeguard.recipe`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..spec import format_spec, parse_value

MAX_BYTES = 1 << 20
MAX_N = 1_000_000
DEFAULT_EPS = ("2/255", "4/255", "8/255", "16/255")
DATA_KINDS = ("signs", "gtsrb", "folder")


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


# -- value checks ------------------------------------------------------------------------------------


def check_patch(value: Any) -> float:
    """``certify``/``--patch``: the sticker's side as a fraction of the sign face, 0 < patch < 1."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 < float(value) < 1.0
    if not ok:
        raise ValueError(
            f"expected the sticker side as a fraction of the sign face, 0 < patch < 1, got {value!r}"
        )
    return float(value)


def parse_eps(value: Any) -> float:
    """One ε: a number or a string such as ``"8/255"``; must be finite and > 0.

    Raises:
        ValueError: with what was expected.
    """
    v = value
    if isinstance(value, str):
        try:
            v = parse_value(value)
        except ConfigError as err:
            raise ValueError(str(err)) from None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"expected a number or a fraction such as '8/255', got {value!r}"[:120])
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"expected ε > 0, got {value!r}")
    return float(v)


def parse_eps_list(value: Any) -> tuple[float, ...]:
    """A list of ε (or one comma-separated string ``"2/255,4/255"``), sorted, duplicates removed."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise ValueError(f"expected a non-empty list of ε such as ['4/255', '8/255'], got {value!r}"[:120])
    return tuple(sorted({parse_eps(v) for v in items}))


def check_data_spec(spec: Any) -> str:
    """``signs``, ``gtsrb:PATH`` or ``folder:PATH`` (the path is checked when the data is loaded)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("expected signs, gtsrb:PATH or folder:PATH")
    kind, _, path = spec.partition(":")
    if kind not in DATA_KINDS or (kind == "signs") != (not path):
        raise ValueError(f"expected signs, gtsrb:PATH or folder:PATH, got {spec!r}"[:120])
    return spec


def _int(lo: int, hi: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"expected an integer in {lo}..{hi}, got {v!r}"[:120])
        return v

    return check


def _fpr(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
        raise ValueError(f"expected a number in (0, 1), got {v!r}"[:120])
    return float(v)


def _string(v: Any) -> str:
    if not isinstance(v, str) or not v.strip() or "\n" in v or "\x00" in v:
        raise ValueError(f"expected a non-empty one-line string, got {v!r}"[:120])
    return v


def _strings(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(s, str) and s.strip() for s in v):
        raise ValueError(f"expected a list of spec strings, got {v!r}"[:120])
    return tuple(v)


_EVAL: dict[str, Callable[[Any], Any]] = {
    "data": check_data_spec,
    "n": _int(1, MAX_N),
    "seed": _int(0, 2**31 - 1),
    "eot": _int(1, 1000),
    "eps": parse_eps_list,
    "detector_fpr": _fpr,
    "certify": check_patch,
}
_CONFIG: dict[str, Callable[[Any], Any]] = {
    "name": _string,
    "model": _string,
    "defenses": _strings,
    "stages": _strings,
    "detector": _string,
    "weights": _string,
}
_ATTACK: dict[str, Callable[[Any], Any]] = {
    "spec": _string,
    "eps": parse_eps_list,
    "n": _int(1, MAX_N),
    "seed": _int(0, 2**31 - 1),
    "eot": _int(1, 1000),
}


# -- building the pieces (shared with the CLI) --------------------------------------------------------


def config_name(d: Mapping[str, Any]) -> str:
    """Default label: ``signs+bits:5+median:3x3`` (model, defenses, stages, detector)."""
    model = str(d["model"])
    base = Path(model).name if model.endswith(".onnx") else model
    parts = [
        base,
        *d.get("defenses", ()),
        *d.get("stages", ()),
        *([d["detector"]] if d.get("detector") else []),
    ]
    return "+".join(parts)


def check_config(d: Mapping[str, Any], base: Path | None = None) -> dict[str, Any]:
    """Check one configuration's specs against the registries; resolve an .onnx path against ``base``.

    Raises:
        ValueError: ``"KEY: why"`` for the first problem (the caller adds file and line).
    """
    from ..registry import DEFENSES, MODELS, STAGES

    out = {k: v for k, v in d.items() if v is not None}
    if "model" not in out:
        raise ValueError("model: missing (a model name such as 'signs', or an .onnx engine)")
    model = out["model"]
    if model.endswith(".onnx"):
        p = Path(model).expanduser()
        p = base / p if base is not None and not p.is_absolute() else p
        if not p.is_file():
            raise ValueError(f"model: engine {str(p)!r} does not exist")
        out["model"] = str(p)
        check_engine(p, detector=out.get("detector"))
    elif model not in MODELS:
        close = difflib.get_close_matches(model, MODELS.names(), n=2)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"model: unknown model {model!r}{hint} (a registered name or an .onnx engine)")
    for key, reg in (("defenses", DEFENSES), ("stages", STAGES)):
        for i, spec in enumerate(out.get(key, ())):
            try:
                reg.from_spec(spec)
            except ConfigError as err:
                raise ValueError(f"{key}: item {i}: {err}") from None
        out[key] = list(out.get(key, ()))
    if "weights" in out:
        w = Path(out["weights"]).expanduser()
        w = base / w if base is not None and not w.is_absolute() else w
        if not w.is_file():
            raise ValueError(f"weights: {str(w)!r} does not exist")
        out["weights"] = str(w)
    out.setdefault("name", config_name(out))
    return out


def check_engine(path: Path, *, detector: str | None = None) -> None:
    """An engine can be evaluated: it opens, classifies, has (B, classes) logits, and an ``adv_score``
    output when a detector is asked for.

    Raises:
        ValueError: ``"model: why"``.
    """
    from ..errors import EdgeGuardError
    from ..pipeline import load

    try:
        pipe = load(path, threads=1)
    except EdgeGuardError as err:
        raise ValueError(f"model: {err}") from None
    m = pipe.manifest
    if m.task != "classification":
        raise ValueError(
            f"model: engine {path.name!r} is a {m.task} engine; edgeguard eval scores classifiers"
        )
    specs = {o.name: o for o in pipe.engine.outputs}
    name = m.outputs[0] if m.outputs and m.outputs[0] in specs else next(iter(specs), None)
    if name is None or len(specs[name].shape) != 2:
        shown = ", ".join(o.describe() for o in pipe.engine.outputs) or "none"
        raise ValueError(
            f"model: engine {path.name!r} has no (batch, classes) logits output (outputs: {shown}); "
            f"export a classifier with `edgeguard export`"
        )
    if detector is not None and (m.detector is None or m.detector.output not in specs):
        raise ValueError(
            f"model: engine {path.name!r} has no adv_score output for detector {detector!r}; "
            f"export it with `edgeguard export --detector {detector}`"
        )


def plan_attack(spec: str, eps: tuple[float, ...], *, n: int, seed: int, eot: int) -> AttackPlan:
    """Resolve an attack spec; build it once per ε so every bad parameter fails now.

    An ``eps`` inside the spec replaces the sweep for that attack. A minimal attack gets no ε.

    Raises:
        ConfigError: unknown attack or parameter, a value the attack refuses, ε out of range.
    """
    from ..registry import ATTACKS

    entry, params = ATTACKS.resolve(spec)
    meta = entry.extra
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


__all__ = [
    "DEFAULT_EPS",
    "AttackPlan",
    "Cell",
    "Grid",
    "check_config",
    "check_engine",
    "check_data_spec",
    "config_name",
    "load_grid",
    "parse_eps",
    "parse_eps_list",
    "parse_grid",
    "plan_attack",
]
