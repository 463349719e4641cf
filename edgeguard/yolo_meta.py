"""A manifest for a bare ONNX file (no edgeguard manifest), from Ultralytics' metadata when it has some.

Ultralytics' exporter writes ``names`` (a Python dict literal ``{0: 'person', …}``), ``imgsz``
(``[640, 640]``), ``stride`` (``32``) and ``task`` (``detect``) into the ONNX ``metadata_props``. A YOLO
file a user brings (``yolov8n.onnx``) therefore carries what edgeguard needs to letterbox its input and
name its boxes. What is absent is assumed — Ultralytics' own defaults: a 640×640 letterboxed input
padded with 114, stride 32, labels = class indices — and every assumption is written to ``notes``,
which the CLI prints once, so a user is never surprised by a silent guess.
"""

from __future__ import annotations

import ast
from typing import Any

from .errors import ConfigError
from .manifest import InputSpec, Manifest

TASKS = {"detect": "detection", "classify": "classification"}
DEFAULT_SIZE = 640  # Ultralytics' default imgsz
DEFAULT_STRIDE = 32


def literal(text: str | None) -> Any:
    """A metadata value parsed as a Python literal (never evaluated as code), or None when it is not one."""
    if text is None or len(text) > 1 << 20:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None


def names_of(meta: dict[str, str]) -> tuple[str, ...] | None:
    """``names`` as a label tuple in class order (a dict ``{0: 'a', 1: 'b'}`` or a list), or None."""
    value = literal(meta.get("names"))
    if isinstance(value, dict) and value and all(isinstance(k, int) for k in value):
        keys = sorted(value)
        if keys == list(range(len(keys))):
            return tuple(str(value[k]) or str(k) for k in keys)
    if isinstance(value, (list, tuple)) and value:
        return tuple(str(v) or str(i) for i, v in enumerate(value))
    return None


def imgsz_of(meta: dict[str, str]) -> tuple[int, int] | None:
    value = literal(meta.get("imgsz"))
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    return None


def stride_of(meta: dict[str, str]) -> int | None:
    value = literal(meta.get("stride"))
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def bare_manifest(engine: Any, task: str | None, notes: list[str]) -> Manifest:
    """A manifest for ``engine`` (which has none): its input shape, its metadata, then the defaults.

    Raises:
        ConfigError: a classifier without a fixed input size, or values no manifest can hold.
    """
    meta: dict[str, str] = dict(getattr(engine, "metadata", {}) or {})
    spec = engine.inputs[0]
    shape = spec.shape
    outputs = tuple(o.name for o in engine.outputs) or ("logits",)
    task = task or TASKS.get(meta.get("task", ""), "classification")
    fixed = (shape[2], shape[3]) if len(shape) == 4 and shape[2] and shape[3] else None
    if task != "detection":
        if fixed is None:
            raise ConfigError(
                f"engine input {spec.describe()} has no fixed H, W and no edgeguard manifest; "
                f"re-export it with `edgeguard export MODEL.onnx --input-size N`"
            )
        try:
            return Manifest(input=InputSpec(name=spec.name, size=fixed), outputs=outputs)
        except ConfigError as err:
            raise ConfigError(f"engine without an edgeguard manifest: {err}") from None
    said = [k for k in ("names", "imgsz", "stride") if k in meta]
    labels = names_of(meta)
    size = fixed or imgsz_of(meta)
    stride = stride_of(meta)
    assumed = []
    if size is None:
        size = (DEFAULT_SIZE, DEFAULT_SIZE)
        assumed.append(f"input {DEFAULT_SIZE}x{DEFAULT_SIZE}")
    if stride is None:
        stride = DEFAULT_STRIDE if all(s % DEFAULT_STRIDE == 0 for s in size) else None
        assumed.append(f"stride {stride if stride else 'unknown'}")
    if labels is None:
        assumed.append("labels = class indices (no names)")
    where = (
        f"read {', '.join(said)} from its Ultralytics metadata" if said else "it has no Ultralytics metadata"
    )
    notes.append(
        f"no edgeguard manifest: {where}; letterbox padded with 114, RGB in [0, 1]"
        + (f"; assumed {', '.join(assumed)}" if assumed else "")
    )
    try:
        return Manifest(
            task="detection",
            input=InputSpec(name=spec.name, size=size, resize="letterbox", stride=stride),  # type: ignore[arg-type]
            outputs=outputs,
            labels=labels,  # type: ignore[arg-type]
        )
    except ConfigError as err:
        raise ConfigError(f"engine without an edgeguard manifest: {err}") from None


__all__ = ["bare_manifest", "imgsz_of", "literal", "names_of", "stride_of"]
