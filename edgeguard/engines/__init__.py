"""Inference engines behind one protocol. Heavy backends (TensorRT) are imported lazily."""

from __future__ import annotations

from pathlib import Path

from ..errors import EngineError
from .base import Engine, TensorSpec

TENSORRT_SUFFIXES = (".trt", ".engine", ".plan")


def open_engine(path: str | Path, provider: str | None = None, threads: int = 0) -> Engine:
    """Open an engine by file type: ``.onnx`` → onnxruntime; ``.trt/.engine/.plan`` → TensorRT."""
    p = Path(path)
    if p.suffix == ".onnx":
        from .onnxruntime import OnnxRuntimeEngine

        return OnnxRuntimeEngine(p, provider=provider, threads=threads)
    if p.suffix in TENSORRT_SUFFIXES:
        from .tensorrt import TensorRTEngine

        return TensorRTEngine(p)
    raise EngineError(
        f"{p.name}: unknown engine type {p.suffix or '(no suffix)'!r}; expected .onnx or "
        f"{'/'.join(TENSORRT_SUFFIXES)}"
    )


__all__ = ["Engine", "TensorSpec", "open_engine", "TENSORRT_SUFFIXES"]
