"""The evaluation record schema, the Wilson interval, and ``results.json`` read/write.

One flat dict per configuration × attack × ε × mode (``naive`` | ``adaptive`` | ``worst``), so a
user loads ``results["records"]`` straight into ``pandas.DataFrame``. The report, the plots, the
scenarios, the seed experiments and the benchmarks all read these dicts (DESIGN11.md)::

    {"format": "edgeguard-eval", "version": 1, "created": "…Z", "command": [...], "versions": {...},
     "data": {"spec": "signs", "n": 500, "sha256": "…"}, "seed": 0,
     "configs": [{"name", "model", "defenses", "stages", "detector", "clean_accuracy", "clean_ci",
                  "latency_ms", "detector", "white_box", "notes",
                  (--certify:) "certified_accuracy", "certified_ci", "certified_patch",
                  "certified_masks"}],
     "records": [...], "sanity": [{"check", "config", "attack", "passed", "detail"}]}

Every accuracy carries a 95 % Wilson score interval (Wilson 1927; Brown, Cai & DasGupta 2001 show it
keeps its coverage at the small n and extreme proportions robust accuracy lives at, where the normal
approximation collapses to a zero-width interval at 0 %).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ConfigError

FORMAT = "edgeguard-eval"
VERSION = 1
MODES = ("naive", "adaptive", "worst")
Z95 = 1.959963984540054  # the 0.975 quantile of the standard normal

# key → accepted types ("number" = int or float, not bool); None allowed where listed in _NULLABLE
RECORD_FIELDS: dict[str, str] = {
    "config": "str",
    "attack": "str",
    "eps": "number",
    "norm": "str",
    "mode": "str",
    "n": "int",
    "clean_accuracy": "number",
    "robust_accuracy": "number",
    "robust_ci": "interval",
    "clean_ci": "interval",
    "norm_l2": "number",
    "norm_linf": "number",
    "l2": "number",
    "latency_ms": "number",
    "detection_rate": "number",
    "seconds": "number",
    "seed": "int",
    "eot": "int",
    "kind": "str",
    "white_box": "bool",
}
_NULLABLE = {"eps", "norm_l2", "norm_linf", "l2", "latency_ms", "detection_rate", "seconds"}
_TOP_FIELDS = ("format", "version", "created", "command", "versions", "data", "seed", "configs", "records")


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials (95 % by default).

    ``(0.0, 1.0)`` for ``n == 0`` (nothing measured: nothing excluded).

    Raises:
        ValueError: ``k`` outside ``0..n`` or negative ``n``.
    """
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"wilson: need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # the exact bounds at k = 0 and k = n are 0 and 1; floating point lands a few ulps off
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def accuracy(correct: Iterable[bool]) -> tuple[float, list[float]]:
    """Mean of per-example correctness and its Wilson interval (``nan`` accuracy for none)."""
    c = [bool(v) for v in correct]
    k, n = sum(c), len(c)
    lo, hi = wilson(k, n)
    return (k / n if n else float("nan")), [lo, hi]


def now() -> str:
    """UTC time stamp ``2026-11-25T03:18:04Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "interval":
        return (
            isinstance(value, (list, tuple))
            and len(value) == 2
            and all(_type_ok(v, "number") for v in value)
            and 0 <= value[0] <= value[1] <= 1
        )
    raise ValueError(kind)


def validate_record(rec: Any, where: str = "record") -> dict[str, Any]:
    """Check one record against :data:`RECORD_FIELDS`; return it.

    Raises:
        ConfigError: a missing key, a wrong type, an unknown mode or an accuracy outside [0, 1].
    """
    if not isinstance(rec, Mapping):
        raise ConfigError(f"{where}: expected an object, got {type(rec).__name__}")
    for key, kind in RECORD_FIELDS.items():
        if key not in rec:
            raise ConfigError(f"{where}: missing key {key!r}")
        value = rec[key]
        if value is None and key in _NULLABLE:
            continue
        if not _type_ok(value, kind):
            raise ConfigError(f"{where}: {key} = {str(value)[:40]!r} is not a valid {kind}")
    if rec["mode"] not in MODES:
        raise ConfigError(f"{where}: mode {rec['mode']!r} is not one of {', '.join(MODES)}")
    for key in ("clean_accuracy", "robust_accuracy"):
        v = rec[key]
        if not (v != v or 0 <= v <= 1):  # nan allowed for n == 0
            raise ConfigError(f"{where}: {key} = {v} is outside [0, 1]")
    if rec["n"] < 0:
        raise ConfigError(f"{where}: n = {rec['n']} is negative")
    return dict(rec)


def validate_results(data: Any, where: str = "results") -> dict[str, Any]:
    """Check a whole ``results.json`` object (format, version, top-level keys, every record).

    Raises:
        ConfigError: naming the file and the first problem found.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a JSON object")
    if data.get("format") != FORMAT:
        raise ConfigError(f"{where}: not an edgeguard evaluation (format {data.get('format')!r})")
    if data.get("version") != VERSION:
        raise ConfigError(
            f"{where}: results version {data.get('version')!r}; this edgeguard reads version {VERSION}"
        )
    for key in _TOP_FIELDS:
        if key not in data:
            raise ConfigError(f"{where}: missing key {key!r}")
    for key in ("configs", "records"):
        if not isinstance(data[key], list):
            raise ConfigError(f"{where}: {key} must be a list")
    names = set()
    for i, c in enumerate(data["configs"]):
        if not isinstance(c, Mapping) or not isinstance(c.get("name"), str):
            raise ConfigError(f"{where}: configs[{i}] needs a string 'name'")
        names.add(c["name"])
    for i, rec in enumerate(data["records"]):
        validate_record(rec, f"{where}: records[{i}]")
        if rec["config"] not in names:
            raise ConfigError(f"{where}: records[{i}] names config {rec['config']!r}, not in configs")
    for i, s in enumerate(data.get("sanity", [])):
        if not isinstance(s, Mapping) or not {"check", "passed", "detail"} <= set(s):
            raise ConfigError(f"{where}: sanity[{i}] needs check, passed and detail")
    return dict(data)


def results(
    *,
    command: list[str],
    data: Mapping[str, Any],
    seed: int,
    configs: list[dict[str, Any]],
    records: list[dict[str, Any]],
    sanity: list[dict[str, Any]] | None = None,
    versions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Assemble a validated ``results.json`` object (``versions`` default: provenance.versions())."""
    from ..provenance import versions as pkg_versions

    out = {
        "format": FORMAT,
        "version": VERSION,
        "created": now(),
        "command": list(command),
        "versions": dict(versions) if versions is not None else pkg_versions(_EVAL_PACKAGES),
        "data": dict(data),
        "seed": int(seed),
        "configs": configs,
        "records": records,
        "sanity": list(sanity or []),
    }
    return validate_results(out)


_EVAL_PACKAGES = (
    "torch",
    "torchvision",
    "onnx",
    "onnxruntime",
    "torchattacks",
    "adversarial-robustness-toolbox",
    "foolbox",
    "onnx2torch",
)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(data: Mapping[str, Any]) -> str:
    """JSON text (NaN written as ``null``: JSON has no NaN and pandas reads null as NaN)."""
    return json.dumps(_nan_to_none(data), indent=1, default=_json_default, allow_nan=False) + "\n"


def _nan_to_none(v: Any) -> Any:
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, Mapping):
        return {k: _nan_to_none(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_nan_to_none(x) for x in v]
    return v


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> Path:
    """Write ``data`` as JSON to a temp file beside ``path`` and rename it over ``path``."""
    p = Path(path)
    tmp = p.with_name(f".eg-{p.name}.{os.getpid()}.tmp")
    tmp.write_text(dumps(data), encoding="utf-8")
    os.replace(tmp, p)
    return p


def write_results(path: str | os.PathLike[str], data: Mapping[str, Any]) -> Path:
    """Validate and write ``results.json`` (temp then rename)."""
    return write_json(path, validate_results(data, str(path)))


def read_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate ``results.json``; ``null`` accuracies come back as ``nan``.

    Raises:
        ConfigError: missing, unreadable, not JSON, or not a valid results file.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"results {str(p)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"results {str(p)!r} cannot be read: {exc}") from None
    for rec in data.get("records", []) if isinstance(data, dict) else []:
        for key in ("clean_accuracy", "robust_accuracy"):
            if isinstance(rec, dict) and rec.get(key) is None:
                rec[key] = float("nan")
    return validate_results(data, f"results {str(p)!r}")


__all__ = [
    "FORMAT",
    "MODES",
    "RECORD_FIELDS",
    "VERSION",
    "accuracy",
    "dumps",
    "now",
    "read_results",
    "results",
    "validate_record",
    "validate_results",
    "wilson",
    "write_json",
    "write_results",
]
