"""Write a Triton Inference Server model repository from an exported engine and its manifest.

Layout (Triton docs, "Model Repository")::

    REPO/NAME/config.pbtxt              platform, tensors, max_batch_size, dynamic_batching, manifest
    REPO/NAME/labels.txt                one label a line (classification: label_filename of the logits)
    REPO/NAME/README.md                 what the server runs, and the host stages the client must run
    REPO/NAME/1/model.onnx | model.plan the engine, byte for byte
    REPO/NAME/1/model.edgeguard.json    its manifest (sidecar), ``engine`` naming the copied file

The model folder is built under a temporary name inside REPO and renamed into place when complete, so
a server polling the repository never sees half a model. An existing ``REPO/NAME`` is never changed: the
same content again is a no-op, a different one is refused (choose another ``--name`` or remove it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import manifest as mf
from ..checks import check_path
from ..engines.onnxruntime import read_onnx_manifest
from ..engines.tensorrt import TENSORRT_SUFFIXES
from ..errors import ConfigError
from ..provenance import file_sha256
from .triton_config import (
    LABELS_FILE,
    PLATFORMS,
    Tensor,
    batch_axis_dynamic,
    check_max_batch,
    config_text,
    graph_tensors,
)

VERSION = "1"
# Triton model names become folder names and URL path parts: keep them to a portable alphabet.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class TritonRepository:
    """What :func:`write_repository` did: the model folder, its files, and whether it was already there."""

    folder: Path
    name: str
    platform: str
    max_batch: int
    files: tuple[str, ...]
    unchanged: bool


def check_name(name: str, what: str = "--name") -> str:
    """``name`` if it is a valid Triton model name, else a ConfigError naming ``what``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{what} {str(name)[:60]!r}: a Triton model name is 1-128 letters, digits, '_', '.', '-' "
            f"(not starting with '.' or '-')"
        )
    return name


def check_repository(repo: str | Path) -> Path:
    """Check ``repo`` can hold model folders (it may not exist yet; its parent must).

    Raises:
        ConfigError: the path is a file, its parent folder is missing, or it is not writable.
    """
    p = Path(os.path.abspath(check_path(repo, what="Triton repository")))
    if p.exists() and not p.is_dir():
        raise ConfigError(f"Triton repository {str(repo)!r} is a file, not a folder")
    folder = p if p.is_dir() else p.parent
    if not folder.is_dir():
        raise ConfigError(f"Triton repository {str(repo)!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"Triton repository {str(repo)!r}: {str(folder)!r} is not writable")
    return p


def _engine_facts(engine: Path) -> tuple[str, mf.Manifest | None, Path, int | None, tuple[int, ...]]:
    """(suffix key, manifest, ONNX file the tensors are read from, profile max, preferred batches)."""
    suffix = engine.suffix.lower()
    if suffix == ".onnx":
        return ".onnx", read_onnx_manifest(engine), engine, None, ()
    if suffix not in TENSORRT_SUFFIXES:
        raise ConfigError(
            f"--engine {engine.name}: expected an .onnx file or a TensorRT plan (.plan/.engine/.trt)"
        )
    side = mf.sidecar_path(engine)
    if not side.is_file():
        raise ConfigError(
            f"--engine {engine.name}: a TensorRT plan needs its sidecar {side.name} "
            "(batch profile, source ONNX)"
        )
    m = mf.load_sidecar(side)
    if m.tensorrt is None:
        raise ConfigError(f"--engine {engine.name}: {side.name} does not record how the plan was built")
    source = engine.with_name(m.tensorrt.onnx)
    if not source.is_file():
        raise ConfigError(
            f"--engine {engine.name}: its source ONNX {m.tensorrt.onnx} (tensor names and shapes) "
            "is not beside it"
        )
    prof = m.tensorrt.profile
    return ".plan", m, source, prof.max, tuple(sorted({prof.opt, prof.max}))


def _readme(
    name: str, platform: str, m: mf.Manifest | None, inputs: list[Tensor], outputs: list[Tensor]
) -> str:
    """The model folder's README: what runs in the server, and what the client must run around it."""
    lines = [f"# {name}", "", f"Triton model `{name}` ({platform}), written by `edgeguard triton`.", ""]
    if m is not None:
        lines += [
            f"- task: {m.task}; input `{m.input.name}` float32 (B, 3, {m.input.size[0]}, {m.input.size[1]}) "
            f"{m.input.color} in [{m.input.range[0]:g}, {m.input.range[1]:g}], resize: {m.input.resize}",
            f"- defenses inside the engine: {' → '.join(m.defenses) or 'none'}",
        ]
        if m.detector is not None:
            lines.append(
                f"- detector output `{m.detector.output}`: flag a frame when it exceeds "
                f"{m.detector.threshold:.6g}"
            )
    lines += ["", "## Host stages (not inside the engine: run them client-side)", ""]
    stages = m.host_stages if m is not None else ()
    if stages:
        lines += [f"- `{s}`" for s in stages]
        lines += [
            "",
            "The server runs only the engine. edgeguard's Pipeline runs these stages on the client",
            "before each request; the manifest (`1/model.edgeguard.json`, also in `config.pbtxt`'s",
            "parameters) names them, so `edgeguard.load` builds them:",
        ]
    else:
        lines += ["None: everything the manifest names runs inside the engine. Run it with edgeguard:"]
    lines += [
        "",
        "```",
        f"edgeguard camera --engine triton://HOST:8001/{name} --source rtsp://…",
        f"python -c \"import edgeguard; p = edgeguard.load('triton://HOST:8001/{name}')\"",
        "```",
        "",
        "Frame preprocessing (resize/letterbox to the input size, RGB, [0, 1]) and the decision",
        "(top-k, detector threshold, NMS for detectors) also run on the client, in the Pipeline.",
        "",
        "## Tensors",
        "",
    ]
    for kind, ts in (("input", inputs), ("output", outputs)):
        for t in ts:
            dims = ", ".join(
                "B" if i == 0 and d is None else ("?" if d is None else str(d)) for i, d in enumerate(t.shape)
            )
            lines.append(f"- {kind} `{t.name}`: {t.dtype} ({dims})")
    return "\n".join(lines) + "\n"


def _same(folder: Path, files: dict[str, bytes | Path]) -> bool:
    """Whether ``folder`` already holds exactly these files with this content."""
    for rel, content in files.items():
        p = folder / rel
        if not p.is_file():
            return False
        if isinstance(content, Path):
            if p.stat().st_size != content.stat().st_size or file_sha256(p) != file_sha256(content):
                return False
        elif p.read_bytes() != content:
            return False
    return True


def write_repository(
    engine: str | Path, repo: str | Path, *, name: str | None = None, max_batch: int | None = None
) -> TritonRepository:
    """Write ``REPO/NAME`` for ``engine`` (``.onnx`` or a TensorRT plan with its sidecar).

    Args:
        engine: the exported engine file.
        repo: the model repository folder (created if missing; its parent must exist).
        name: the model name (default: the engine's file stem).
        max_batch: ``max_batch_size`` (default: 8 for a dynamic-batch ONNX graph, the profile's max for
            a plan; a fixed-batch graph gets 0 and refuses one).

    Raises:
        ConfigError: a bad engine, name, batch size or repository, or ``REPO/NAME`` already holding a
            different model (nothing is written then).
    """
    src = check_path(engine, what="--engine")
    if not src.is_file():
        raise ConfigError(f"--engine {str(engine)!r} does not exist")
    root = check_repository(repo)
    name = check_name(name if name is not None else src.stem)
    key, m, graph, profile_max, preferred = _engine_facts(src)
    inputs, outputs = graph_tensors(graph)
    batch = check_max_batch(max_batch, dynamic=batch_axis_dynamic(inputs + outputs), profile_max=profile_max)
    platform, model_file = PLATFORMS[key]
    if m is not None:
        m = dataclasses.replace(m, engine=model_file)
    files: dict[str, bytes | Path] = {
        "config.pbtxt": config_text(
            name, platform, inputs, outputs, max_batch=batch, preferred=preferred, manifest=m
        ).encode(),
        "README.md": _readme(name, platform, m, inputs, outputs).encode(),
        f"{VERSION}/{model_file}": src,
    }
    if m is not None:
        files[f"{VERSION}/{mf.sidecar_path(model_file).name}"] = (mf.dumps(m) + "\n").encode()
        if m.labels is not None:
            files[LABELS_FILE] = ("\n".join(m.labels) + "\n").encode()
    folder = root / name
    result = TritonRepository(folder, name, platform, batch, tuple(files), unchanged=False)
    if folder.exists() or folder.is_symlink():
        if folder.is_dir() and _same(folder, files):
            return dataclasses.replace(result, unchanged=True)
        raise ConfigError(
            f"Triton repository {str(repo)!r} already holds a different model {name!r}; choose another "
            f"--name or remove {str(folder)!r} (it is never overwritten)"
        )
    root.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".eg-{name}-", dir=root))
    try:
        for rel, content in files.items():
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                shutil.copyfile(content, dest)
            else:
                dest.write_bytes(content)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp creates 0700; the server may run as another user
        os.rename(tmp, folder)  # fails (rather than merging) if NAME appeared meanwhile
    except OSError as exc:
        raise ConfigError(f"cannot write {str(folder)!r}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                shutil.rmtree(tmp)
    return result


__all__ = ["TritonRepository", "check_name", "check_repository", "write_repository"]
