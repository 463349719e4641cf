"""Provenance helpers shared by the build side and the runtime: file digests and package versions.

Standard library only (no torch, no onnx import), so the runtime install — which has no torch — can
check a cached engine against the weights it came from (``camera``'s default engine), and
``engines/`` can check a TensorRT plan against its source ONNX, without importing ``exporter``.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from importlib import metadata, util
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


def _version_file(name: str) -> str | None:
    """``__version__`` from a package's ``version.py``, read as text (the package is not imported)."""
    try:
        spec = util.find_spec(name)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "version.py"
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                return node.value.value
    return None


def versions(packages: tuple[str, ...] = EXPORT_PACKAGES) -> dict[str, str]:
    """``{"edgeguard": …, package: version}`` for each installed package in ``packages``.

    The same answer whether or not a package has been imported in this process: torch and
    torchvision carry a build tag (``2.5.1+cu124``) in their ``version.py`` that their distribution
    metadata lacks, so that file is read as text; otherwise the distribution metadata is used.
    Nothing is imported (importing torch for its version costs seconds and is impossible on a
    runtime-only install). A package that is not installed is left out: onnxslim, for one, is
    optional (export then skips simplification).
    """
    out = {"edgeguard": __version__}
    for name in packages:
        version = _version_file(name)
        if version is None:
            try:
                version = metadata.version(name)
            except metadata.PackageNotFoundError:
                version = getattr(sys.modules.get(name), "__version__", None)
        if version is not None:
            out[name] = str(version)
    return out


__all__ = ["EXPORT_PACKAGES", "file_sha256", "versions"]
