"""edgeguard: adversarially robust vision models for edge GPUs.

Public API: :func:`load` (engine → :class:`Pipeline`), :class:`Pipeline`, :func:`export`.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__


def __getattr__(name: str) -> Any:
    # Lazy: `import edgeguard` stays cheap (the CLI's --help must not import torch).
    if name in ("load", "Pipeline"):
        from . import pipeline

        return getattr(pipeline, name)
    if name == "export":
        from .exporter.onnx import export

        return export
    raise AttributeError(f"module 'edgeguard' has no attribute {name!r}")


__all__ = ["load", "Pipeline", "export", "__version__"]
