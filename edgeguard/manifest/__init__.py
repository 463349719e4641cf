"""The manifest: everything that describes a deployed pipeline, typed and validated before it is trusted.

A :class:`Manifest` is a frozen dataclass with nested parts (``input``, ``normalize``, ``precision``,
``provenance``, ``detector``, ``tensorrt`` …, see ``schema.py``); code reads it by attribute
(``m.input.size``, ``m.precision.mode``, ``m.provenance.source.sha256``). It is embedded in the ONNX
graph's ``metadata_props`` (key ``edgeguard.manifest``) and written as the sidecar ``NAME.edgeguard.json``
next to every engine file (TensorRT plans stay plain files, so the sidecar is their only carrier).

On disk it is indented JSON with ``format`` and ``version`` first and every field present, in a fixed
order. This edgeguard writes version :data:`VERSION` and reads every older version (``versions.py``
migrates them; a newer one is refused, naming both versions). Unknown top-level keys are rejected with
a hint (a typo such as ``"lables"`` must not pass silently); free-form data belongs under ``extra``.
Every failure is a :class:`~edgeguard.errors.ConfigError` naming the dotted field.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, first_line
from ._fields import MAX_DEPTH, Part
from .schema import (
    PRECISIONS,
    TASKS,
    Calibration,
    Detector,
    DetectorCalibration,
    InputSpec,
    Manifest,
    Masking,
    Normalize,
    Parity,
    Precision,
    PrecisionParity,
    Provenance,
    Seeker,
    Source,
    TensorRTBuild,
    TensorRTDevice,
    TensorRTProfile,
)
from .versions import FORMAT, MIGRATIONS, OLDEST, VERSION, upgrade

__all__ = [
    "FORMAT",
    "MAX_BYTES",
    "MAX_DEPTH",
    "METADATA_KEY",
    "MIGRATIONS",
    "OLDEST",
    "PRECISIONS",
    "SIDECAR_SUFFIX",
    "TASKS",
    "VERSION",
    "Calibration",
    "Detector",
    "DetectorCalibration",
    "InputSpec",
    "Manifest",
    "Masking",
    "Seeker",
    "Normalize",
    "Parity",
    "Part",
    "Precision",
    "PrecisionParity",
    "Provenance",
    "Source",
    "TensorRTBuild",
    "TensorRTDevice",
    "TensorRTProfile",
    "dumps",
    "embed",
    "from_dict",
    "load_sidecar",
    "loads",
    "new",
    "read_embedded",
    "save_sidecar",
    "sidecar_path",
    "to_dict",
]

METADATA_KEY = "edgeguard.manifest"
SIDECAR_SUFFIX = ".edgeguard.json"
MAX_BYTES = 64 << 20  # 1 MB of labels is fine; a 64 MB manifest is not a manifest


def sidecar_path(engine_path: str | Path) -> Path:
    """``model.onnx`` → ``model.edgeguard.json`` (same folder)."""
    p = Path(engine_path)
    return p.with_name(p.stem + SIDECAR_SUFFIX)


_NO_SOURCE: dict[str, Any] = {"model": None, "weights": None, "init": None, "sha256": None}


def new(
    *,
    input_size: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
    labels: Sequence[str] | None,
    defenses: Sequence[str],
    source: dict[str, Any],
    versions: dict[str, str],
    task: str = "classification",
    outputs: Sequence[str] = ("logits",),
    host_stages: Sequence[str] = (),
    precision: str = "fp32",
    opset: int = 17,
    color: str = "RGB",
    input_name: str = "input",
    dynamic_batch: bool = True,
    extra: dict[str, Any] | None = None,
    resize: str = "stretch",
    stride: int | None = None,
) -> Manifest:
    """Build a manifest from an exporter's facts (raises ConfigError naming a bad field)."""
    return Manifest(
        task=task,  # type: ignore[arg-type]
        input=InputSpec(
            name=input_name,
            size=input_size,
            color=color,  # type: ignore[arg-type]
            dynamic_batch=dynamic_batch,
            resize=resize,  # type: ignore[arg-type]
            stride=stride,
        ),
        normalize=Normalize(mean=mean, std=std),  # type: ignore[arg-type]
        outputs=outputs,  # type: ignore[arg-type]
        labels=labels,  # type: ignore[arg-type]
        defenses=defenses,  # type: ignore[arg-type]
        host_stages=host_stages,  # type: ignore[arg-type]
        precision=Precision(mode=precision),  # type: ignore[arg-type]
        opset=opset,
        provenance=Provenance(source=Source.from_dict({**_NO_SOURCE, **source}), versions=versions),
        extra=dict(extra or {}),
    )


def from_dict(data: Any) -> Manifest:
    """A manifest mapping of any version this edgeguard reads (with ``format``/``version``) → Manifest."""
    return Manifest.from_dict(upgrade(data))


def to_dict(m: Manifest) -> dict[str, Any]:
    """The current on-disk layout as plain JSON types (``format`` and ``version`` first)."""
    if not isinstance(m, Manifest):
        raise ConfigError(f"manifest: expected a Manifest, got {type(m).__name__}")
    return {"format": FORMAT, "version": VERSION, **m.to_dict()}


def dumps(m: Manifest) -> str:
    return json.dumps(to_dict(m), indent=2, allow_nan=False)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str | bytes, *, where: str = "manifest") -> Manifest:
    """Parse and validate manifest JSON (any readable version). Raises ConfigError prefixed by ``where``."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{where}: not UTF-8 text") from None
    if not isinstance(text, str):
        raise ConfigError(f"{where}: expected JSON text, got {type(text).__name__}")
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{where}: {len(text)} characters is too large for a manifest (limit {MAX_BYTES})")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:  # json's C scanner recurses once per nested list/object
        raise ConfigError(f"{where}: not a manifest (JSON nested too deeply)") from None
    except ValueError as exc:  # NaN/Infinity, integers beyond Python's digit limit
        raise ConfigError(f"{where}: not valid JSON ({first_line(exc, 120)})") from None
    try:
        return from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def save_sidecar(m: Manifest, engine_path: str | Path, *, to: str | Path | None = None) -> Path:
    """Write ``NAME.edgeguard.json`` beside ``engine_path`` (``engine`` set to its file name), atomically.

    The text goes to a temporary file in the same folder that is renamed over the sidecar only when
    complete, so a crash or a full disk never leaves a half-written manifest. ``to`` writes the same
    text to that file instead (a temp of an :class:`~edgeguard.outputs.OutputGroup`, which renames it
    onto the sidecar once every output of the group succeeded). Returns the sidecar path.
    """
    m = dataclasses.replace(m, engine=Path(engine_path).name)
    text = dumps(m) + "\n"
    out = sidecar_path(engine_path)
    if to is not None:
        try:
            Path(to).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write the manifest {str(to)!r}: {first_line(exc)}") from None
        return out
    if out.is_dir():
        raise ConfigError(f"cannot write the manifest {str(out)!r}: a folder has that name")
    tmp = None
    try:
        fd, tmp_name = tempfile.mkstemp(suffix=".tmp", dir=out.parent, prefix=f".{out.name}.")
        tmp = Path(tmp_name)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, out)
        tmp = None
    except OSError as exc:
        raise ConfigError(f"cannot write the manifest {str(out)!r}: {first_line(exc)}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return out


def load_sidecar(path: str | Path) -> Manifest:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"manifest {str(p)!r} does not exist")
    try:
        if p.stat().st_size > MAX_BYTES:
            raise ConfigError(f"manifest {p.name}: {p.stat().st_size} bytes is too large (limit {MAX_BYTES})")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"manifest {p.name}: unreadable ({first_line(exc)})") from None
    return loads(text, where=f"manifest {p.name}")


def embed(model: Any, m: Manifest) -> None:
    """Store the manifest in an ``onnx.ModelProto``'s ``metadata_props`` (replacing an old one)."""
    text = dumps(m)
    for prop in list(model.metadata_props):
        if prop.key == METADATA_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, text


def read_embedded(model: Any, *, where: str = "model") -> Manifest | None:
    """Return the manifest embedded in an ``onnx.ModelProto`` (or ``None`` if it has none)."""
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return loads(prop.value, where=f"{where} (embedded manifest)")
    return None
