"""The manifest: everything that describes a deployed pipeline, validated before it is trusted.

It is embedded in the ONNX graph's ``metadata_props`` (key ``edgeguard.manifest``) and written as the
sidecar ``NAME.edgeguard.json`` next to every engine file (TensorRT plans stay plain files, so the
sidecar is their only carrier). :func:`validate` checks every field's type and range; a manifest that
fails is rejected with a :class:`~edgeguard.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .errors import ConfigError

FORMAT = "edgeguard-manifest"
VERSION = 1
METADATA_KEY = "edgeguard.manifest"
SIDECAR_SUFFIX = ".edgeguard.json"
TASKS = ("classification", "detection")
PRECISIONS = ("fp32", "fp16", "int8")


def sidecar_path(engine_path: str | Path) -> Path:
    """``model.onnx`` → ``model.edgeguard.json`` (same folder)."""
    p = Path(engine_path)
    return p.with_name(p.stem + SIDECAR_SUFFIX)


def _fail(field: str, msg: str) -> ConfigError:
    return ConfigError(f"manifest field {field!r}: {msg}")


def _num_list(d: dict, key: str, n: int, *, positive: bool = False) -> list[float]:
    v = d.get(key)
    if (
        not isinstance(v, list)
        or len(v) != n
        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)
    ):
        raise _fail(key, f"expected a list of {n} finite numbers, got {v!r}")
    if positive and not all(x > 0 for x in v):
        raise _fail(key, f"all values must be > 0, got {v!r}")
    return [float(x) for x in v]


def _str_list(d: dict, key: str, *, required: bool = True) -> list[str] | None:
    v = d.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _fail(key, f"expected a list of strings, got {type(v).__name__}")
    return v


def validate(data: Any) -> dict[str, Any]:
    """Validate a manifest mapping and return it (unchanged). Raises ConfigError naming the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"manifest: expected a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise _fail("format", f"expected {FORMAT!r}, got {data.get('format')!r} (not an edgeguard manifest)")
    if data.get("version") != VERSION:
        raise _fail("version", f"this edgeguard reads version {VERSION}, got {data.get('version')!r}")
    if data.get("task") not in TASKS:
        raise _fail("task", f"expected one of {', '.join(TASKS)}, got {data.get('task')!r}")
    inp = data.get("input")
    if not isinstance(inp, dict):
        raise _fail("input", "expected an object with name, size, color, layout")
    if not isinstance(inp.get("name"), str) or not inp["name"]:
        raise _fail("input.name", "expected a non-empty string")
    size = inp.get("size")
    if not (
        isinstance(size, list) and len(size) == 2 and all(isinstance(s, int) and 8 <= s <= 8192 for s in size)
    ):
        raise _fail("input.size", f"expected [H, W] integers in 8..8192, got {size!r}")
    if inp.get("color") not in ("RGB", "BGR"):
        raise _fail("input.color", f"expected 'RGB' or 'BGR', got {inp.get('color')!r}")
    if inp.get("layout") != "NCHW":
        raise _fail("input.layout", f"expected 'NCHW', got {inp.get('layout')!r}")
    norm = data.get("normalize")
    if not isinstance(norm, dict):
        raise _fail("normalize", "expected an object with mean and std")
    _num_list(norm, "mean", 3)
    _num_list(norm, "std", 3, positive=True)
    outputs = _str_list(data, "outputs")
    if not outputs:
        raise _fail("outputs", "expected at least one output name")
    labels = _str_list(data, "labels", required=False)
    if labels is not None and len(labels) == 0:
        raise _fail("labels", "expected null or a non-empty list")
    _str_list(data, "defenses")
    _str_list(data, "host_stages")
    if data.get("precision") not in PRECISIONS:
        raise _fail("precision", f"expected one of {', '.join(PRECISIONS)}, got {data.get('precision')!r}")
    opset = data.get("opset")
    if not isinstance(opset, int) or not 13 <= opset <= 30:
        raise _fail("opset", f"expected an integer opset 13..30, got {opset!r}")
    det = data.get("detector")
    if det is not None:
        if not isinstance(det, dict) or not isinstance(det.get("output"), str):
            raise _fail("detector", "expected null or an object with 'output' and 'threshold'")
        thr = det.get("threshold")
        if not isinstance(thr, (int, float)) or isinstance(thr, bool) or not math.isfinite(thr):
            raise _fail("detector.threshold", f"expected a finite number, got {thr!r}")
    for key in ("source", "versions"):
        if not isinstance(data.get(key), dict):
            raise _fail(key, "expected an object")
    engine = data.get("engine")
    if engine is not None and (not isinstance(engine, str) or "/" in engine or "\\" in engine):
        raise _fail("engine", f"expected a bare file name next to the manifest, got {engine!r}")
    return data


def new(
    *,
    input_size: tuple[int, int],
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    labels: list[str] | None,
    defenses: list[str],
    source: dict[str, Any],
    versions: dict[str, str],
    task: str = "classification",
    outputs: tuple[str, ...] = ("logits",),
    host_stages: list[str] | None = None,
    precision: str = "fp32",
    opset: int = 17,
    color: str = "RGB",
    input_name: str = "input",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build and validate a manifest dict."""
    data = {
        "format": FORMAT,
        "version": VERSION,
        "task": task,
        "input": {
            "name": input_name,
            "size": [int(input_size[0]), int(input_size[1])],
            "color": color,
            "layout": "NCHW",
            "range": [0.0, 1.0],
            "dtype": "float32",
            "dynamic_batch": True,
        },
        "normalize": {"mean": [float(m) for m in mean], "std": [float(s) for s in std]},
        "outputs": list(outputs),
        "labels": list(labels) if labels is not None else None,
        "defenses": list(defenses),
        "host_stages": list(host_stages or []),
        "detector": None,
        "precision": precision,
        "opset": int(opset),
        "source": dict(source),
        "versions": dict(versions),
    }
    data.update(extra or {})
    return validate(data)


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(validate(data), indent=2, sort_keys=False)


def loads(text: str, *, where: str = "manifest") -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        return validate(data)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def save_sidecar(data: dict[str, Any], engine_path: str | Path, *, to: str | Path | None = None) -> Path:
    """Write ``NAME.edgeguard.json`` beside ``engine_path`` (with ``engine`` set to its file name).

    ``to`` writes the same text to another file instead (a temp of an
    :class:`~edgeguard.outputs.OutputGroup`, renamed onto the sidecar path once everything succeeded).
    """
    data = dict(data, engine=Path(engine_path).name)
    out = Path(to) if to is not None else sidecar_path(engine_path)
    out.write_text(dumps(data) + "\n")
    return sidecar_path(engine_path)


def load_sidecar(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"manifest {str(p)!r} does not exist")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"manifest {p.name}: unreadable ({exc})") from None
    return loads(text, where=f"manifest {p.name}")


def embed(model: Any, data: dict[str, Any]) -> None:
    """Store the manifest in an ``onnx.ModelProto``'s ``metadata_props`` (replacing an old one)."""
    text = dumps(data)
    for prop in list(model.metadata_props):
        if prop.key == METADATA_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, text


def read_embedded(model: Any, *, where: str = "model") -> dict[str, Any] | None:
    """Return the manifest embedded in an ``onnx.ModelProto`` (or ``None`` if it has none)."""
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return loads(prop.value, where=f"{where} (embedded manifest)")
    return None
