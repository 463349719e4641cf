"""edgeguard: adversarially robust vision models for edge GPUs.

Public API: :func:`load` (engine → :class:`Pipeline`), :class:`Pipeline`, :func:`export`.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy: `import edgeguard` stays cheap (the CLI's --help must not import torch).
    if name in ("load", "Pipeline"):
        from . import pipeline

        return getattr(pipeline, name)
    if name == "export":
        import importlib

        return importlib.import_module(".export", __name__)  # a callable package, see export/__init__
    raise AttributeError(f"module 'edgeguard' has no attribute {name!r}")


__all__ = ["load", "Pipeline", "export", "__version__"]
