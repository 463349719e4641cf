"""Inference engines behind one protocol. Heavy backends (TensorRT) are imported lazily.

Each backend registers itself beside its definition with ``@ENGINES.register(name, suffixes=(...))``
(a file kind) or ``schemes=(...)`` (a URI such as ``triton://host/model``); :func:`open_engine` is a
registry lookup, so a new backend is one new module here.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EngineError
from ..registry import ENGINES, Entry, uri_scheme
from .base import Engine, TensorSpec
from .tensorrt import TENSORRT_SUFFIXES


def engine_for(target: str | Path) -> Entry:
    """The registered backend for ``target``: by URI scheme (``triton://…``), else by file suffix.

    Raises:
        EngineError: no backend takes that scheme or suffix (the message lists those that exist).
    """
    text = str(target)
    scheme = uri_scheme(text) if "://" in text else ""
    if scheme:
        entry = ENGINES.find("schemes", scheme)
        if entry is None:
            known = ", ".join(f"{s}://" for s in ENGINES.values_of("schemes")) or "none"
            raise EngineError(f"{text}: no engine for URI scheme {scheme}:// (registered schemes: {known})")
        return entry
    suffix = Path(text).suffix.lower()
    entry = ENGINES.find("suffixes", suffix)
    if entry is None:
        raise EngineError(
            f"{Path(text).name}: unknown engine type {suffix or '(no suffix)'!r}; expected "
            f"{'/'.join(ENGINES.values_of('suffixes'))}"
        )
    return entry


def open_engine(path: str | Path, provider: str | None = None, threads: int = 0) -> Engine:
    """Open an engine by file kind (``.onnx``, ``.trt/.engine/.plan``) or URI scheme (``SCHEME://…``)."""
    entry = engine_for(path)
    target = path if uri_scheme(str(path)) and "://" in str(path) else Path(path)
    return entry.factory(target, provider=provider, threads=threads)


__all__ = ["Engine", "TensorSpec", "engine_for", "open_engine", "TENSORRT_SUFFIXES"]
