"""Provenance helpers shared by the build side and the runtime: file digests and package versions.

Standard library only (no torch, no onnx import), so the runtime install — which has no torch — can
check a cached engine against the weights it came from (``camera``'s default engine), and
``engines/`` can check a TensorRT plan against its source ONNX, without importing ``exporter``.
"""

from __future__ import annotations

import hashlib
import sys
from importlib import metadata
from pathlib import Path

from ._version import __version__

# What an export records in the manifest's ``versions``: the packages whose behaviour shapes the graph.
EXPORT_PACKAGES = ("torch", "torchvision", "onnx", "onnxruntime", "onnxslim")


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (weights and engines can be hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def versions(packages: tuple[str, ...] = EXPORT_PACKAGES) -> dict[str, str]:
    """``{"edgeguard": …, package: version}`` for each installed package in ``packages``.

    An already imported package reports its own ``__version__`` (torch's carries the build tag,
    ``2.5.1+cu124``, which its distribution metadata may lack); others are read from the installed
    distributions' metadata, so nothing is imported (importing torch for its version costs seconds and
    is impossible on a runtime-only install). A package that is not installed is left out: onnxslim,
    for one, is optional (export then skips simplification).
    """
    out = {"edgeguard": __version__}
    for name in packages:
        version = getattr(sys.modules.get(name), "__version__", None)
        if version is None:
            try:
                version = metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        out[name] = str(version)
    return out


__all__ = ["EXPORT_PACKAGES", "file_sha256", "versions"]
